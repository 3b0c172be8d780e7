package scenario

import (
	"fmt"
	"strings"
)

// common is the start of every Switchyard config of the suite: a loopback
// listener (the address is overridden by Start), no static directory, and
// the performance defaults of the specification.
const common = `server:
  addr: "127.0.0.1:0"
reload:
  watch: false
static:
  root: ""
`

// fullStack is the plugin and route part of the full-stack config: a global
// per-IP rate limit high enough never to refuse, then on the route a cache
// guarded by a structured condition and gzip guarded by a CEL expression.
// Metrics are always on in a Switchyard host.
const fullStack = `conditions:
  safe_method:
    method: [GET, HEAD]
plugins:
  limit:
    type: ratelimit
    rate: 1000000
    per: 1s
    burst: 1000000
    key: ip
  gzip:
    type: compression
    level: 5
    min_size: 1024
    encodings: [gzip]
  cache:
    type: caching
    ttl: 60s
    max_size: 16MB
middleware:
  - use: limit
routes:
  - path: /api/items/{id}
    methods: [GET, HEAD]
    middleware:
      - use: cache
        when: safe_method
      - use: gzip
        when: '!request.header.exists("X-No-Gzip")'
    handler: bench.item
`

// Config returns the Switchyard config of scenario name. For the reload
// scenario, version distinguishes the rewrites: each version is a real
// change (a route's body), so that every rewrite is a complete reload.
func Config(name string, version int) ([]byte, error) {
	var b strings.Builder
	b.WriteString(common)
	switch name {
	case Fast:
		b.WriteString(`routes:
  - path: /hello
    methods: [GET]
    handler:
      respond: {status: 200, body: "Hello, World!", headers: {Content-Type: text/plain}}
`)
	case Routed:
		b.WriteString("routes:\n")
		for k := range RouteCount {
			fmt.Fprintf(&b, "  - path: %s\n    methods: [GET]\n    handler:\n      respond: {status: 200, body: '%s', headers: {Content-Type: application/json}}\n",
				routedPattern(k), routedBody(k))
		}
	case Cached:
		b.WriteString(`plugins:
  cache:
    type: caching
    ttl: 300s
    max_size: 8MB
routes:
  - path: /api/doc
    methods: [GET, HEAD]
    middleware:
      - use: cache
    handler: bench.doc
`)
	case CachedGzip:
		b.WriteString(`plugins:
  cache:
    type: caching
    ttl: 300s
    max_size: 8MB
  gzip:
    type: compression
    level: 5
    min_size: 1024
    encodings: [gzip]
routes:
  - path: /api/doc
    methods: [GET, HEAD]
    middleware:
      - use: cache
      - use: gzip
    handler: bench.doc
`)
	case DB:
		b.WriteString(`performance:
  memory:
    connection_pool: {min_size: 4, max_size: 8, ttl: 300s}
routes:
  - path: /db/items/{id}
    methods: [GET]
    handler: bench.dbitem
`)
	case Full:
		b.WriteString(fullStack)
	case Proxy:
		return ProxyConfig("http://127.0.0.1:9"), nil
	case Reload:
		// Each rewrite must reach the host quickly: a short debounce, so
		// that ten writes a second make ten reloads.
		s := strings.Replace(common, "watch: false", "watch: true\n  debounce: 10ms", 1)
		b.Reset()
		b.WriteString(s)
		b.WriteString(fullStack)
		fmt.Fprintf(&b, `  - path: /version
    methods: [GET]
    handler:
      respond: {status: 200, body: "config %d", headers: {Content-Type: text/plain}}
`, version)
	default:
		return nil, fmt.Errorf("unknown scenario %q (have %s)", name, strings.Join(Names(), ", "))
	}
	return []byte(b.String()), nil
}

// ProxyConfig is the proxy scenario's config: one `proxy` route to
// upstream, with the default connection pool.
func ProxyConfig(upstream string) []byte {
	return []byte(common + fmt.Sprintf(`routes:
  - path: /hello
    methods: [GET]
    handler:
      proxy: {upstream: %q}
`, upstream))
}

// routedBody is the body of route k of the routed scenario.
func routedBody(k int) string {
	return fmt.Sprintf(`{"route":%d}`, k)
}
