// Package conditions compiles the conditions that decide whether a chain
// link applies to a request: the `when:` of a link, the named conditions of
// the `conditions:` block, and string-valued expressions such as the
// ratelimit plugin's key.
//
// It is a leaf package: it knows nothing of the host, which hands it the
// client-IP function and the result cache through [Options].
//
// # Two forms
//
// A condition is a CEL expression (github.com/google/cel-go) over a request
// object:
//
//	request.path.startsWith("/api/") && request.method in ["GET", "HEAD"]
//
// or a map of structured matchers, all of which must hold:
//
//	path: /api/*
//	method: [GET, HEAD]
//	header: {X-Api-Key: ""}      # "" means the header is present
//	any:
//	  - remote_ip: [10.0.0.0/8, "fd00::/8"]
//	  - is_internal              # the name of another condition
//
// A bare string names a condition of the `conditions:` block when there is
// one of that name, and is an expression otherwise; true and false are
// conditions too. Named conditions may reference each other; a reference
// cycle is a compile error.
//
// # The request object
//
// request.method, path (decoded), host (without port), scheme ("https" for a
// TLS connection, else "http"; X-Forwarded-Proto is not believed), remote_ip
// (the client IP from [Options.ClientIP]), header (canonical names to first
// values; lookups canonicalize the name), query (names to first values,
// decoded), content_length (-1 when unknown), proto and route (the chi route
// pattern) and vars (the request values that earlier links set with
// registry.SetValue, a map of names to values; the structured matcher
// vars: {NAME: glob} reads them too; an expression that reads them is never
// cached). The helpers are ip_in(ip, cidr), path_match(glob) (the path
// against the glob of the path matcher; path_match(s, glob) matches any
// string) and m.exists(key) (key in m).
//
// # Compilation
//
// Everything is checked when the configuration loads: syntax, types, fields,
// names, CIDRs, constant regular expressions. A failure is an [*Error] with
// the condition's key path and, for an expression, the line and column.
//
// Structured matchers compile to Go closures that allocate nothing. An
// expression in the common subset (comparisons of request fields with
// constants, prefix, glob and regexp tests, header and query lookups, ip_in,
// and their combinations with &&, ||, ! and ?:) is translated from the
// checked tree into Go closures that give CEL's exact answer, errors
// included. Other expressions run on the CEL interpreter; those with a
// comprehension over request data run under CEL's cost limit.
//
// # Caching
//
// The [Cache] (ristretto) stores the results of interpreted expressions,
// keyed by the condition and the exact values of the request attributes it
// reads, which the checked expression tells at compile time; the values are
// hashed and compared where they lie in the request, with no key string
// built. A stored entry keeps its whole key and is compared on every hit, so
// a cached answer always equals a fresh one. Each cached condition also keeps
// the entries it used last in a small lock-free table of its own, in front of
// ristretto. A lookup costs more than a structured matcher or a translated
// expression and less than an interpreted one, so only interpreted
// expressions whose reads are known are cached. See docs/conditions.md for
// the figures.
//
// The CEL environment is built on the first expression compiled: a
// configuration whose conditions are all structured, named or constant never
// builds it.
//
// # Chains
//
// [Condition.Wrap] guards a middleware with a condition, built once with the
// chain: a request for which the condition does not hold goes straight to the
// next handler.
package conditions
