// Package handlers holds the route handlers that a configuration names under
// `handler:` — respond, static and proxy — and the small pieces of the request
// path that the host shares with them: the request body limit ([MaxBody]) and
// the JSON error body ([JSONError]).
//
// Every constructor validates its configuration and returns an error that names
// the offending key; nothing here panics on user input. Handlers are built once
// per configuration snapshot and hold no per-request state.
//
// # respond
//
// [Respond] answers with a fixed status, body and headers:
//
//	routes:
//	  - path: /hello
//	    handler:
//	      respond: {status: 200, body: "Hello, World!", headers: {Cache-Control: max-age=60}}
//
// Everything is computed when the handler is built: header values, the body,
// Content-Length, a strong ETag (a short hash of status, headers and body, so
// it is the same across reloads while the response is) and a Last-Modified of
// the build time. A 2xx response answers If-None-Match, If-Match,
// If-Modified-Since and If-Unmodified-Since exactly as [http.ServeContent]
// does (304 Not Modified, 412 Precondition Failed). Serving allocates nothing.
//
// # static
//
// [Static] serves the files under a root directory, confined with [os.Root]:
// no request can read a file outside it, whatever its dots, encodings,
// backslashes or symlinks. Directories serve their index.html (never a
// listing); ETag, Last-Modified, conditional requests and Range come from
// [http.ServeContent].
//
// # proxy
//
// [Proxy] forwards to an upstream with [httputil.ReverseProxy] over a
// transport from [NewTransport], which applies
// `performance.memory.connection_pool`. An unreachable upstream answers 502
// with a short JSON body at once; an upstream that does not answer in time, 504.
//
// # Request body limit
//
// [MaxBody] enforces `server.max_body_bytes`: a request whose body is larger
// gets 413, whether its length was announced or it was sent chunked.
package handlers
