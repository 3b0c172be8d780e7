// Package ratelimit is Switchyard's rate-limiting plugin (type "ratelimit").
//
// A binary includes it by importing the package; its init function
// registers the type with the [registry]:
//
//	import _ "github.com/switchyard/switchyard/plugins/ratelimit"
//
// # Configuration
//
//	plugins:
//	  perip:
//	    type: ratelimit
//	    rate: 100          # requests ...
//	    per: 1m            # ... per minute, returning one every 600ms
//	    burst: 20          # a quiet client may send 20 at once (default: rate)
//	    key: ip            # ip | header:NAME | route | var:NAME | a CEL string expression
//	    store: memory      # memory | redis
//
// See [Config] for every key and docs/plugins/ratelimit.md for the full
// reference.
//
// # Algorithm
//
// The limiter is GCRA, the generic cell rate algorithm, which behaves as a
// token bucket that holds burst requests and refills at rate per per, but
// keeps a single integer per key: the theoretical arrival time (TAT), in
// nanoseconds. Every decision is made under a lock (memory) or inside one
// Lua script (Redis), so N parallel requests against a limit of L admit
// exactly L, and a refused request uses no quota.
//
// # Keys
//
// key: ip uses the client address the host determines (X-Forwarded-For is
// believed only from server.trusted_proxies), with IPv6 addresses grouped
// by ipv6_prefix (/64 by default). key: header:NAME uses the header's first
// value; a request without it is keyed by its address in a separate
// namespace, so such clients never share one bucket. key: route uses the
// matched route pattern. key: var:NAME uses the request value NAME that an
// earlier link set with registry.SetValue (the caller an auth plugin
// identified, say); a request without it falls back to its address, as a
// missing header does. Any other value is a CEL expression of type string
// over request (request.vars included); an empty result falls back to the
// address as well.
//
// # Stores
//
// The memory store is a sharded map of key hash to TAT, bounded by
// max_keys. A key whose bucket is full again is the same as an absent key,
// so idle keys are dropped as new ones arrive; when the map is full the
// sampled key closest to a full bucket makes room, so a client being
// limited stays limited. The Redis store runs one Lua script per decision
// with the Redis server's clock, keys hash-tagged for Redis Cluster, a
// per-call timeout, and on_error: allow|deny when Redis cannot answer.
//
// # Headers
//
// Every response carries the IETF RateLimit fields
// (draft-ietf-httpapi-ratelimit-headers):
//
//	RateLimit-Policy: "perip";q=100;w=60
//	RateLimit: "perip";r=42;t=17
//
// r is the requests left now; t is the whole seconds until the quota is
// full again, or, when nothing is left, until the next request will be
// allowed. A refusal is a 429 with Retry-After (whole seconds until a retry
// succeeds, at least 1, never less than t) and a JSON body:
//
//	{"error":"rate limit exceeded","retry_after":2}
//
// # Reloads
//
// The registry reuses an instance whose config did not change. When rate,
// burst or per change, the new instance copies every key's state from the
// one it replaces, keeping the fraction of each bucket in use: an exhausted
// client stays exhausted instead of every bucket refilling at once.
package ratelimit
