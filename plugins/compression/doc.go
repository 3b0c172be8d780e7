// Package compression is Switchyard's built-in response compression plugin,
// registered as plugin type "compression". It encodes responses with zstd, br
// (brotli) or gzip, whichever the client accepts with the highest weight,
// earlier entries of the configured server preference winning ties.
//
// # Configuration
//
//	plugins:
//	  gzip:
//	    type: compression
//	    level: 6              # gzip's 1..9 scale, mapped for zstd and br
//	    min_size: 1KB         # smaller bodies are sent as they are
//	    encodings: [zstd, br, gzip]
//	    content_types: [text/*, application/json, application/*+json]
//
// Every key is optional: level and min_size default to
// performance.response.compression, encodings to [zstd, br, gzip], and
// content_types to text, JSON, JavaScript, XML, SVG and WebAssembly. See
// [Config].
//
// # Negotiation
//
// Accept-Encoding is parsed as RFC 9110 §12.5.3 defines it: tokens compare
// exactly and without case (x-gzip is gzip), q=0 refuses a coding, "*" covers
// the codings not listed, and identity wins when the client weighs it above
// every coding it accepts. A request without Accept-Encoding gets identity.
// Parsing allocates nothing.
//
// # What is encoded
//
// A response is encoded when its Content-Type (sniffed from the uncompressed
// bytes when the handler set none) is on the allow list and its body reaches
// min_size, or when the handler flushes (a streamed response). It is never
// encoded when it is a 1xx, 204, 206 or 304, carries Content-Range or
// Content-Encoding, says Cache-Control: no-transform, answers CONNECT or a
// protocol upgrade such as a WebSocket handshake, or has an empty body. HEAD
// gets the headers GET would get and no body.
//
// An encoded response loses Content-Length and Accept-Ranges, gains
// Content-Encoding, and its strong ETag "x" becomes "x-gzip" (or -zstd, -br);
// weak ETags stay as they are. The suffix is removed from If-None-Match and
// If-Match before the handler sees them, and a 304 names the variant the
// client holds. Every response whose coding depended on Accept-Encoding gets
// Vary: Accept-Encoding, appended to any Vary already there, identity and 304
// responses included.
//
// # Streaming
//
// Bytes are held only until min_size is reached or the handler flushes. Flush
// flushes the encoder and then the connection. The response writer
// implements Unwrap, so http.ResponseController reaches Flush, Hijack and the
// deadline methods, and informational 1xx responses pass straight through.
//
// # Resources
//
// Encoders are pooled per instance and coding (the instance has one level)
// and reset between responses; per-request writers are pooled too. zstd runs
// single-threaded with a 1 MiB window (RFC 9659 allows at most 8 MB). A
// single write of 1 MB or more is compressed on the host's CPU worker pool
// when the host has one.
//
// # Metrics
//
// switchyard_compression_responses_total{plugin,encoding} counts every
// response by the coding it was sent with (gzip, zstd, br or identity), and
// switchyard_compression_bytes_total{plugin,direction} counts the body bytes
// of encoded responses before (in) and after (out) compression.
package compression
