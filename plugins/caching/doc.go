// Package caching is Switchyard's response cache: a shared HTTP cache as
// RFC 9111 defines one, registered as the plugin type "caching".
//
// A binary includes it by importing the package for its side effect:
//
//	import _ "github.com/switchyard/switchyard/plugins/caching"
//
// # Configuration
//
//	plugins:
//	  apicache:
//	    type: caching
//	    ttl: 300s                # longest time a response stays stored
//	    max_size: 64MB           # memory bound of the cache
//	    max_object_size: 1MB     # larger bodies stream through, unstored
//	    store_set_cookie: false  # responses with Set-Cookie are not stored
//	    targeted_fields: [CDN-Cache-Control]  # RFC 9213, in precedence order
//	    stale_while_revalidate: 0s
//	    stale_if_error: 0s
//	    store: memory            # or redis, for a tier shared by several hosts
//	    redis:
//	      addr: 127.0.0.1:6379
//	      timeout: 50ms
//
// See docs/plugins/caching.md for every key.
//
// # What is stored
//
// Responses to GET, with a status the cache understands, that a shared
// cache may store: not no-store, not private, not answering a request with
// Authorization unless public, s-maxage or must-revalidate allow it, without
// Set-Cookie (unless store_set_cookie), without Vary: *, with a body of at
// most max_object_size, and with something to keep: explicit freshness
// (s-maxage, max-age, Expires), a lifetime from Last-Modified for a
// heuristically cacheable status, or validators to revalidate with.
// Hop-by-hop fields are not stored. Nothing is decided by file extension.
//
// # How it answers
//
// A fresh stored response is served with Age, X-Cache: HIT and an RFC 9211
// Cache-Status; a request's conditional fields get a 304 from it. A stale one
// is revalidated with If-None-Match / If-Modified-Since (a 304 freshens it),
// served at once while revalidating in the background within
// stale-while-revalidate, or served instead of a 5xx within stale-if-error.
// A single byte range is served from a fresh stored 200 (206, or 416).
// Concurrent misses for one key make one upstream request. Unsafe methods,
// extension methods included, invalidate the URL and its same-origin
// Location and Content-Location: put the cache in front of every method (no
// when: condition) so that it sees them. A targeted field such as
// CDN-Cache-Control (RFC 9213) governs this cache over Cache-Control, and
// HTTP dates are read strictly (RFC 9110 §5.6.7).
// Requests carrying an unkeyed header (X-Forwarded-Host and the like) bypass
// the cache.
//
// # Memory and the shared tier
//
// Entries live in a ristretto cache whose cost is the stored bytes, bounded
// by max_size. With store: redis they are also written to Redis, which a
// cache on another host reads when its memory tier misses; a Redis failure
// only costs hits, never a request.
//
// # Purging
//
// [Cache.Purge] drops entries by URL or path prefix (the admin API's
// POST {prefix}/api/cache/purge calls it) and [Cache.Clear] drops them all.
// When Redis cannot be reached they return a [TierError], keep what they
// cover from being served from Redis, and retry until Redis confirms.
package caching
