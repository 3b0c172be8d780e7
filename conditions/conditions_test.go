package conditions

import (
	"context"
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
)

// req describes a test request; the zero value is GET http://example.com/
// from 192.0.2.10.
type req struct {
	method  string
	target  string
	header  map[string]string
	remote  string
	tls     bool
	route   string
	length  int64
	proto   string
	headers http.Header // several values per name
}

func (q req) build(t testing.TB) *http.Request {
	t.Helper()
	method, target := q.method, q.target
	if method == "" {
		method = http.MethodGet
	}
	if target == "" {
		target = "http://example.com/"
	}
	r := httptest.NewRequest(method, target, nil)
	r.RemoteAddr = "192.0.2.10:5555"
	if q.remote != "" {
		r.RemoteAddr = q.remote
	}
	for k, v := range q.header {
		r.Header.Set(k, v)
	}
	for k, vs := range q.headers {
		for _, v := range vs {
			r.Header.Add(k, v)
		}
	}
	if q.tls {
		r.TLS = &tls.ConnectionState{}
	}
	if q.route != "" {
		rc := chi.NewRouteContext()
		rc.RoutePatterns = []string{q.route}
		r = r.WithContext(context.WithValue(r.Context(), chi.RouteCtxKey, rc))
	}
	if q.length != 0 {
		r.ContentLength = q.length
	}
	if q.proto != "" {
		r.Proto = q.proto
	}
	return r
}

// compilers returns compilers over the same named conditions that must
// agree on every answer: expressions translated to Go or interpreted by CEL,
// each without and with a cache.
func compilers(t *testing.T, named map[string]any, opts Options) []*Compiler {
	t.Helper()
	var out []*Compiler
	for _, interpret := range []bool{false, true} {
		for _, cached := range []bool{false, true} {
			o := opts
			if cached {
				cache, err := NewCache(1000, time.Minute, nil, nil)
				if err != nil {
					t.Fatalf("NewCache: %v", err)
				}
				t.Cleanup(cache.Close)
				o.Cache = cache
			}
			c, err := newCompiler(named, o, interpret)
			if err != nil {
				t.Fatalf("NewCompiler: %v", err)
			}
			out = append(out, c)
		}
	}
	return out
}

type matchCase struct {
	name string
	src  any
	req  req
	want bool
}

func runMatchCases(t *testing.T, named map[string]any, opts Options, cases []matchCase) {
	t.Helper()
	cs := compilers(t, named, opts)
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			for i, c := range cs {
				cond, err := c.Compile("when", tt.src)
				if err != nil {
					t.Fatalf("Compile(%v): %v", tt.src, err)
				}
				r := tt.req.build(t)
				before := r.Clone(context.Background())
				// Twice: the second answer may come from the cache.
				for range 2 {
					if got := cond.Match(r); got != tt.want {
						t.Errorf("compiler %d: %s on %s %s = %v, want %v", i, cond, r.Method, r.URL, got, tt.want)
					}
				}
				if !sameRequest(before, r) {
					t.Errorf("matching %s modified the request", cond)
				}
			}
		})
	}
}

// sameRequest compares what a matcher could touch.
func sameRequest(a, b *http.Request) bool {
	if a.Method != b.Method || a.URL.String() != b.URL.String() || a.Host != b.Host || a.RemoteAddr != b.RemoteAddr || len(a.Header) != len(b.Header) {
		return false
	}
	for k, v := range a.Header {
		if strings.Join(v, "\x00") != strings.Join(b.Header[k], "\x00") {
			return false
		}
	}
	return true
}

func TestStructuredMatchers(t *testing.T) {
	runMatchCases(t, nil, Options{}, []matchCase{
		{"method one", map[string]any{"method": "GET"}, req{}, true},
		{"method list", map[string]any{"method": []any{"POST", "PUT"}}, req{method: "PUT"}, true},
		{"method list no", map[string]any{"method": []any{"POST", "PUT"}}, req{}, false},
		{"method lower-case config", map[string]any{"method": []string{"get", "head"}}, req{method: "HEAD"}, true},
		{"method request case kept", map[string]any{"method": "GET"}, req{method: "get"}, false},

		{"path exact", map[string]any{"path": "/health"}, req{target: "/health"}, true},
		{"path exact no", map[string]any{"path": "/health"}, req{target: "/health/x"}, false},
		{"path prefix glob", map[string]any{"path": "/api/*"}, req{target: "/api/users/1"}, true},
		{"path prefix glob no", map[string]any{"path": "/api/*"}, req{target: "/apiv2"}, false},
		{"path suffix glob", map[string]any{"path": "*.css"}, req{target: "/static/a.css"}, true},
		{"path list", map[string]any{"path": []any{"/a/*", "/b/*"}}, req{target: "/b/1"}, true},
		{"path decoded", map[string]any{"path": "/a b"}, req{target: "/a%20b"}, true},
		{"path ignores query", map[string]any{"path": "/x"}, req{target: "/x?y=1"}, true},

		{"host exact", map[string]any{"host": "example.com"}, req{}, true},
		{"host case-insensitive", map[string]any{"host": "Example.COM"}, req{target: "http://EXAMPLE.com/"}, true},
		{"host port dropped", map[string]any{"host": "example.com"}, req{target: "http://example.com:8080/"}, true},
		{"host glob", map[string]any{"host": "*.example.com"}, req{target: "http://api.example.com/"}, true},
		{"host glob apex no", map[string]any{"host": "*.example.com"}, req{}, false},
		{"host ipv6 literal", map[string]any{"host": "::1"}, req{target: "http://[::1]:8080/"}, true},

		{"header present", map[string]any{"header": map[string]any{"X-Debug": ""}}, req{header: map[string]string{"X-Debug": "0"}}, true},
		{"header present empty value", map[string]any{"header": map[string]any{"X-Debug": ""}}, req{headers: http.Header{"X-Debug": {""}}}, true},
		{"header absent", map[string]any{"header": map[string]any{"X-Debug": ""}}, req{}, false},
		{"header name any case", map[string]any{"header": map[string]any{"x-debug": ""}}, req{header: map[string]string{"X-Debug": "1"}}, true},
		{"header glob", map[string]any{"header": map[string]any{"Accept": "*json*"}}, req{header: map[string]string{"Accept": "application/json"}}, true},
		{"header glob no", map[string]any{"header": map[string]any{"Accept": "*json*"}}, req{header: map[string]string{"Accept": "text/html"}}, false},
		{"header glob absent", map[string]any{"header": map[string]any{"Accept": "*"}}, req{}, false},
		{"header glob first value", map[string]any{"header": map[string]any{"X-Env": "prod"}}, req{headers: http.Header{"X-Env": {"dev", "prod"}}}, false},
		{"header value case-sensitive", map[string]any{"header": map[string]any{"X-Env": "prod"}}, req{header: map[string]string{"X-Env": "PROD"}}, false},
		{"header all entries", map[string]any{"header": map[string]any{"X-A": "", "X-B": "1"}}, req{header: map[string]string{"X-A": "x"}}, false},

		{"query present", map[string]any{"query": map[string]any{"debug": ""}}, req{target: "/?debug"}, true},
		{"query absent", map[string]any{"query": map[string]any{"debug": ""}}, req{target: "/?x=1"}, false},
		{"query glob", map[string]any{"query": map[string]any{"page": "1*"}}, req{target: "/?page=12"}, true},
		{"query glob no", map[string]any{"query": map[string]any{"page": "1*"}}, req{target: "/?page=21"}, false},
		{"query glob decoded", map[string]any{"query": map[string]any{"q": "a b*"}}, req{target: "/?q=a+b%21"}, true},
		{"query name decoded", map[string]any{"query": map[string]any{"a b": "1"}}, req{target: "/?a%20b=1"}, true},
		{"query first value", map[string]any{"query": map[string]any{"v": "1"}}, req{target: "/?v=2&v=1"}, false},
		{"query long escaped value", map[string]any{"query": map[string]any{"v": "*end"}}, req{target: "/?v=" + strings.Repeat("%41", 100) + "end"}, true},

		{"remote ipv4 cidr", map[string]any{"remote_ip": "192.0.2.0/24"}, req{}, true},
		{"remote ipv4 cidr no", map[string]any{"remote_ip": "10.0.0.0/8"}, req{}, false},
		{"remote ipv4 single", map[string]any{"remote_ip": "192.0.2.10"}, req{}, true},
		{"remote ipv6 cidr", map[string]any{"remote_ip": []any{"10.0.0.0/8", "2001:db8::/32"}}, req{remote: "[2001:db8::1]:443"}, true},
		{"remote ipv6 cidr no", map[string]any{"remote_ip": "2001:db8::/32"}, req{remote: "[2001:db9::1]:443"}, false},
		{"remote ipv4-mapped", map[string]any{"remote_ip": "192.0.2.0/24"}, req{remote: "[::ffff:192.0.2.7]:1"}, true},
		{"remote ipv4 not in ipv6", map[string]any{"remote_ip": "::/0"}, req{}, false},
		{"remote unknown", map[string]any{"remote_ip": "0.0.0.0/0"}, req{remote: "pipe"}, false},

		{"and of keys", map[string]any{"path": "/api/*", "method": []any{"GET", "HEAD"}}, req{target: "/api/x"}, true},
		{"and of keys no", map[string]any{"path": "/api/*", "method": []any{"POST"}}, req{target: "/api/x"}, false},
		{"all", map[string]any{"all": []any{map[string]any{"path": "/a/*"}, map[string]any{"method": "GET"}}}, req{target: "/a/1"}, true},
		{"all no", map[string]any{"all": []any{map[string]any{"path": "/a/*"}, map[string]any{"method": "POST"}}}, req{target: "/a/1"}, false},
		{"any", map[string]any{"any": []any{map[string]any{"path": "/a/*"}, map[string]any{"path": "/b/*"}}}, req{target: "/b/1"}, true},
		{"any no", map[string]any{"any": []any{map[string]any{"path": "/a/*"}, map[string]any{"path": "/b/*"}}}, req{target: "/c/1"}, false},
		{"not", map[string]any{"not": map[string]any{"method": "GET"}}, req{method: "POST"}, true},
		{"not no", map[string]any{"not": map[string]any{"method": "GET"}}, req{}, false},
		{"nested", map[string]any{
			"any": []any{
				map[string]any{"all": []any{
					map[string]any{"path": "/api/*"},
					map[string]any{"not": map[string]any{"header": map[string]any{"X-No": ""}}},
				}},
				map[string]any{"remote_ip": "10.0.0.0/8"},
			},
		}, req{target: "/api/x"}, true},
		{"nested blocked", map[string]any{
			"any": []any{
				map[string]any{"all": []any{
					map[string]any{"path": "/api/*"},
					map[string]any{"not": map[string]any{"header": map[string]any{"X-No": ""}}},
				}},
				map[string]any{"remote_ip": "10.0.0.0/8"},
			},
		}, req{target: "/api/x", header: map[string]string{"X-No": "1"}}, false},
		{"nested rescued by any", map[string]any{
			"any": []any{
				map[string]any{"all": []any{
					map[string]any{"path": "/api/*"},
					map[string]any{"not": map[string]any{"header": map[string]any{"X-No": ""}}},
				}},
				map[string]any{"remote_ip": "10.0.0.0/8"},
			},
		}, req{target: "/api/x", header: map[string]string{"X-No": "1"}, remote: "10.1.2.3:9"}, true},
		{"expression inside any", map[string]any{"any": []any{`request.method == "DELETE"`, map[string]any{"path": "/x"}}}, req{method: "DELETE"}, true},
		{"map[any]any from yaml.v2", map[any]any{"method": "GET", "path": "/"}, req{}, true},
		{"toml array of tables", map[string]any{"all": []map[string]any{{"method": "GET"}, {"path": "/"}}}, req{}, true},
		{"true", true, req{}, true},
		{"false", false, req{}, false},
	})
}

func TestClientIPOption(t *testing.T) {
	// The host decides the client IP (trusted proxies); the matchers and
	// request.remote_ip use its answer, not RemoteAddr.
	fromHeader := func(r *http.Request) netip.Addr {
		a, err := netip.ParseAddr(r.Header.Get("X-Test-Client"))
		if err != nil {
			return remoteAddrIP(r)
		}
		return a
	}
	withClient := func(ip string) req { return req{header: map[string]string{"X-Test-Client": ip}} }
	runMatchCases(t, nil, Options{ClientIP: fromHeader}, []matchCase{
		{"structured uses host ip", map[string]any{"remote_ip": "203.0.113.0/24"}, withClient("203.0.113.9"), true},
		{"structured not remote addr", map[string]any{"remote_ip": "192.0.2.0/24"}, withClient("203.0.113.9"), false},
		{"cel uses host ip", `request.remote_ip == "203.0.113.9"`, withClient("203.0.113.9"), true},
		{"cel ip_in host ip", `ip_in(request.remote_ip, "203.0.113.0/24")`, withClient("203.0.113.9"), true},
		{"mapped answer unmapped", `request.remote_ip == "203.0.113.9"`, withClient("::ffff:203.0.113.9"), true},
		{"ipv6 from host", map[string]any{"remote_ip": "2001:db8::/32"}, withClient("2001:db8::5"), true},
	})
}

func TestExpressions(t *testing.T) {
	runMatchCases(t, nil, Options{}, []matchCase{
		{"method", `request.method == "POST"`, req{method: "POST"}, true},
		{"method in list", `request.method in ["GET", "HEAD"]`, req{method: "HEAD"}, true},
		{"method odd", `request.method == "PROPFIND"`, req{method: "PROPFIND"}, true},
		{"path", `request.path == "/a b"`, req{target: "/a%20b"}, true},
		{"path startsWith", `request.path.startsWith("/api/")`, req{target: "/api/x"}, true},
		{"path matches", `request.path.matches("^/users/[0-9]+$")`, req{target: "/users/42"}, true},
		{"path matches no", `request.path.matches("^/users/[0-9]+$")`, req{target: "/users/ab"}, false},
		{"host", `request.host == "example.com"`, req{target: "http://example.com:8443/"}, true},
		{"host endsWith", `request.host.endsWith(".example.com")`, req{target: "http://api.example.com/"}, true},
		{"host any case", `request.host.matches("(?i)^example\\.com$")`, req{target: "http://EXAMPLE.com/"}, true},
		{"host any case no", `request.host.matches("(?i)^example\\.com$")`, req{target: "http://examplexcom/"}, false},
		{"scheme http", `request.scheme == "http"`, req{}, true},
		{"scheme https", `request.scheme == "https"`, req{tls: true}, true},
		{"scheme ignores forwarded proto", `request.scheme == "https"`, req{header: map[string]string{"X-Forwarded-Proto": "https"}}, false},
		{"remote_ip", `request.remote_ip == "192.0.2.10"`, req{}, true},
		{"remote_ip ipv6", `request.remote_ip == "2001:db8::1"`, req{remote: "[2001:db8::1]:80"}, true},
		{"remote_ip unknown", `request.remote_ip == ""`, req{remote: "@"}, true},
		{"header index", `request.header["X-Api-Key"] == "k1"`, req{header: map[string]string{"X-Api-Key": "k1"}}, true},
		{"header index canonicalized", `request.header["x-api-key"] == "k1"`, req{header: map[string]string{"X-Api-Key": "k1"}}, true},
		{"header first value", `request.header["X-Env"] == "dev"`, req{headers: http.Header{"X-Env": {"dev", "prod"}}}, true},
		{"header missing key does not hold", `request.header["X-Env"] == "dev"`, req{}, false},
		{"header missing key negated does not hold", `request.header["X-Env"] != "dev"`, req{}, false},
		{"header exists", `request.header.exists("X-No-Gzip")`, req{header: map[string]string{"X-No-Gzip": "1"}}, true},
		{"header exists lower-case", `request.header.exists("x-no-gzip")`, req{header: map[string]string{"X-No-Gzip": "1"}}, true},
		{"header not exists", `!request.header.exists("X-No-Gzip")`, req{}, true},
		{"header in", `"Authorization" in request.header`, req{header: map[string]string{"Authorization": "Bearer x"}}, true},
		{"header has", `has(request.header.Accept)`, req{header: map[string]string{"Accept": "*/*"}}, true},
		{"header has no", `has(request.header.Accept)`, req{}, false},
		{"header guarded", `request.header.exists("X-Env") && request.header["X-Env"] != "prod"`, req{header: map[string]string{"X-Env": "dev"}}, true},
		{"header size", `request.header.size() >= 1`, req{header: map[string]string{"A": "1"}}, true},
		{"header comprehension", `request.header.exists(k, k.startsWith("X-Trace"))`, req{header: map[string]string{"X-Trace-Id": "1"}}, true},
		{"header comprehension no", `request.header.exists(k, k.startsWith("X-Trace"))`, req{header: map[string]string{"X-Other": "1"}}, false},
		{"header all", `request.header.all(k, request.header[k] != "")`, req{header: map[string]string{"A": "1", "B": "2"}}, true},
		{"query index", `request.query["page"] == "2"`, req{target: "/?page=2"}, true},
		{"query decoded", `request.query["q"] == "a b!"`, req{target: "/?q=a+b%21"}, true},
		{"query first", `request.query["v"] == "1"`, req{target: "/?v=1&v=2"}, true},
		{"query select", `request.query.page == "3"`, req{target: "/?page=3"}, true},
		{"query exists", `request.query.exists("debug")`, req{target: "/?debug"}, true},
		{"query in", `"debug" in request.query`, req{target: "/?x=1"}, false},
		{"query map iterate", `request.query.exists(k, k == "b" && request.query[k] == "x y")`, req{target: "/?a=1&b=x+y"}, true},
		{"query size", `request.query.size() == 2`, req{target: "/?a=1&b=2&a=3"}, true},
		{"query int", `int(request.query["page"]) > 1`, req{target: "/?page=5"}, true},
		{"query bad int does not hold", `int(request.query["page"]) > 1`, req{target: "/?page=x"}, false},
		{"content_length", `request.content_length > 1024`, req{method: "POST", length: 4096}, true},
		{"content_length none", `request.content_length == 0`, req{}, true},
		{"proto", `request.proto == "HTTP/1.1"`, req{}, true},
		{"proto 2", `request.proto.startsWith("HTTP/2")`, req{proto: "HTTP/2.0"}, true},
		{"route", `request.route == "/users/{id}"`, req{target: "/users/7", route: "/users/{id}"}, true},
		{"route none", `request.route == ""`, req{}, true},
		{"ip_in v4", `ip_in(request.remote_ip, "192.0.2.0/24")`, req{}, true},
		{"ip_in v4 no", `ip_in(request.remote_ip, "10.0.0.0/8")`, req{}, false},
		{"ip_in v6", `ip_in(request.remote_ip, "2001:db8::/32")`, req{remote: "[2001:db8:1::2]:80"}, true},
		{"ip_in v6 no", `ip_in(request.remote_ip, "2001:db8::/32")`, req{remote: "[2001:db9::2]:80"}, false},
		{"ip_in single", `ip_in(request.remote_ip, "192.0.2.10")`, req{}, true},
		{"ip_in mapped", `ip_in(request.remote_ip, "192.0.2.0/24")`, req{remote: "[::ffff:192.0.2.1]:80"}, true},
		{"ip_in header value", `ip_in(request.header["X-Real-Ip"], "10.0.0.0/8")`, req{header: map[string]string{"X-Real-Ip": "10.2.3.4"}}, true},
		{"ip_in not an ip", `ip_in(request.header["X-Real-Ip"], "10.0.0.0/8")`, req{header: map[string]string{"X-Real-Ip": "nope"}}, false},
		{"ip_in dynamic bad cidr does not hold", `ip_in(request.remote_ip, request.header["X-Net"])`, req{header: map[string]string{"X-Net": "nope"}}, false},
		{"path_match", `path_match("/api/*")`, req{target: "/api/v1"}, true},
		{"path_match no", `path_match("/api/*")`, req{target: "/web"}, false},
		{"path_match middle", `path_match("/api/*/users")`, req{target: "/api/v2/users"}, true},
		{"path_match two args", `path_match(request.host, "*.example.com")`, req{target: "http://a.example.com/"}, true},
		{"constant true", `1 + 1 == 2`, req{}, true},
		{"constant comprehension", `[1, 2, 3].exists(x, x == 4)`, req{}, false},
		{"shadowed request", `["GET"].exists(request, request == "GET")`, req{method: "POST"}, true},
		{"ternary", `request.method == "GET" ? request.path == "/" : false`, req{}, true},
		{"literal on the left", `"GET" == request.method && "/b" > request.path && "HTTP/1.0" < request.proto`, req{}, true},
		{"literal on the left no", `"/" < request.path`, req{}, false},
		{"two fields", `request.header["X-A"] >= request.header["X-B"]`, req{header: map[string]string{"X-A": "b", "X-B": "a"}}, true},
		{"two fields error", `request.header["X-A"] <= request.header["X-B"] || request.method == "POST"`, req{header: map[string]string{"X-A": "b"}}, false},
		{"error forgiven by or", `request.header["X-A"] == "1" || request.method == "GET"`, req{}, true},
		{"error forgiven by and", `request.header["X-A"] == "1" && request.method == "POST"`, req{}, false},
		{"bool equality", `request.header.exists("X-A") == false`, req{}, true},
		{"content_length list", `request.content_length in [0, 10]`, req{}, true},
		{"whitespace and newlines", "request.method == \"GET\"\n  && request.path == \"/\"", req{}, true},
	})
}

func TestNamedConditions(t *testing.T) {
	named := map[string]any{
		"is_api":      `request.path.startsWith("/api/")`,
		"safe_method": map[string]any{"method": []any{"GET", "HEAD"}},
		"api_read":    map[string]any{"all": []any{"is_api", "safe_method"}},
		"alias":       "api_read",
		"not_api":     map[string]any{"not": "is_api"},
		"internal":    map[string]any{"remote_ip": []any{"10.0.0.0/8", "fd00::/8"}},
		"trusted-ish": map[string]any{"any": []any{"internal", `request.header.exists("X-Internal-Token")`}},
	}
	runMatchCases(t, named, Options{}, []matchCase{
		{"reference", "is_api", req{target: "/api/x"}, true},
		{"reference trimmed", "  is_api ", req{target: "/api/x"}, true},
		{"reference no", "is_api", req{target: "/x"}, false},
		{"structured named", "safe_method", req{method: "HEAD"}, true},
		{"named of named", "api_read", req{target: "/api/x"}, true},
		{"named of named no", "api_read", req{method: "POST", target: "/api/x"}, false},
		{"alias chain", "alias", req{target: "/api/x"}, true},
		{"not named", "not_api", req{target: "/x"}, true},
		{"dashed name", "trusted-ish", req{header: map[string]string{"X-Internal-Token": "t"}}, true},
		{"dashed name no", "trusted-ish", req{}, false},
		{"in any", map[string]any{"any": []any{"internal", "is_api"}}, req{remote: "10.9.9.9:1"}, true},
		{"in not", map[string]any{"not": "internal"}, req{}, true},
		{"beside matchers", map[string]any{"all": []any{"is_api"}, "method": "POST"}, req{method: "POST", target: "/api/x"}, true},
	})

	c, err := NewCompiler(named, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for name := range named {
		cond, ok := c.Named(name)
		if !ok || cond == nil {
			t.Errorf("Named(%q) missing", name)
		}
	}
	if _, ok := c.Named("nope"); ok {
		t.Error("Named(nope) found")
	}
	cond, err := c.Compile("when", "safe_method")
	if err != nil {
		t.Fatal(err)
	}
	if cond.String() != "safe_method" {
		t.Errorf("String() of a reference = %q, want the name", cond.String())
	}
}

func TestReferenceCycles(t *testing.T) {
	tests := []struct {
		name    string
		named   map[string]any
		wantKey string
		wantMsg string
	}{
		{"self", map[string]any{"a": "a"}, "conditions.a", "reference cycle: a -> a"},
		{"two", map[string]any{"a": "b", "b": "a"}, "conditions.b", "reference cycle: a -> b -> a"},
		{"three in structured", map[string]any{
			"a": map[string]any{"all": []any{"b"}},
			"b": map[string]any{"any": []any{`request.method == "GET"`, "c"}},
			"c": map[string]any{"not": "a"},
		}, "conditions.c.not", "reference cycle: a -> b -> c -> a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewCompiler(tt.named, Options{})
			e := asError(t, err)
			if e.Key != tt.wantKey || e.Msg != tt.wantMsg {
				t.Errorf("got %q (key %q, msg %q), want key %q, msg %q", err, e.Key, e.Msg, tt.wantKey, tt.wantMsg)
			}
		})
	}
}

func TestConditionString(t *testing.T) {
	c, err := NewCompiler(map[string]any{"n": "true"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		src  any
		want string
	}{
		{`request.method == "GET"`, `request.method == "GET"`},
		{"n", "n"},
		{true, "true"},
		{map[string]any{"path": "/a/*", "method": []any{"GET"}}, `{"method":["GET"],"path":"/a/*"}`},
		{map[any]any{"not": map[any]any{"path": "/x"}}, `{"not":{"path":"/x"}}`},
	}
	for _, tt := range tests {
		cond, err := c.Compile("when", tt.src)
		if err != nil {
			t.Fatal(err)
		}
		if got := cond.String(); got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
	}
}

func TestCompileString(t *testing.T) {
	c, err := NewCompiler(nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	interp, err := newCompiler(nil, Options{}, true)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		expr      string
		req       req
		want      string
		allocFree bool // translated to Go and allocation-free
	}{
		{"header", `request.header["X-Api-Key"]`, req{header: map[string]string{"X-Api-Key": "k9"}}, "k9", true},
		{"missing header is empty", `request.header["X-Api-Key"]`, req{}, "", true},
		{"concatenation", `request.method + " " + request.route`, req{route: "/a/{id}"}, "GET /a/{id}", false},
		{"conditional", `request.header.exists("X-User") ? "u:" + request.header["X-User"] : "ip:" + request.remote_ip`, req{}, "ip:192.0.2.10", false},
		{"query", `request.query["tenant"]`, req{target: "/?tenant=acme"}, "acme", true},
		{"query decoded", `request.query.tenant`, req{target: "/?tenant=a+c%6De"}, "a cme", false},
		{"remote ip", `request.remote_ip`, req{remote: "[2001:db8::2]:1"}, "2001:db8::2", false},
		{"route", `request.route`, req{route: "/r/{id}"}, "/r/{id}", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, cc := range []*Compiler{c, interp} {
				f, err := cc.CompileString("plugins.rl.key", tt.expr)
				if err != nil {
					t.Fatal(err)
				}
				r := tt.req.build(t)
				if got := f(r); got != tt.want {
					t.Errorf("%s (interpreted %v) = %q, want %q", tt.expr, cc.interpretOnly, got, tt.want)
				}
				if cc == c && tt.allocFree {
					if n := testing.AllocsPerRun(100, func() { f(r) }); n != 0 {
						t.Errorf("%s allocates %v times per call", tt.expr, n)
					}
				}
			}
		})
	}
	_, err = c.CompileString("plugins.rl.key", `request.content_length`)
	if e := asError(t, err); e.Key != "plugins.rl.key" || !strings.Contains(e.Msg, "type string") {
		t.Errorf("int key expression: %v", err)
	}
}

func TestWrap(t *testing.T) {
	c, err := NewCompiler(nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	cond, err := c.Compile("when", map[string]any{"path": "/api/*"})
	if err != nil {
		t.Fatal(err)
	}
	var ran int
	mw := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ran++
			w.Header().Set("X-Plugin", "1")
			next.ServeHTTP(w, r)
		})
	}
	h := cond.Wrap(mw)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("handler"))
	}))
	for _, tt := range []struct {
		path    string
		wantRan int
	}{{"/api/x", 1}, {"/web", 1}, {"/api/y", 2}} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", tt.path, nil))
		if rec.Body.String() != "handler" {
			t.Errorf("%s: handler did not run", tt.path)
		}
		if ran != tt.wantRan {
			t.Errorf("%s: plugin ran %d times, want %d", tt.path, ran, tt.wantRan)
		}
		if got, want := rec.Header().Get("X-Plugin") == "1", strings.HasPrefix(tt.path, "/api/"); got != want {
			t.Errorf("%s: plugin header set = %v, want %v", tt.path, got, want)
		}
	}
}

func TestStructuredAllocatesNothing(t *testing.T) {
	c, err := NewCompiler(map[string]any{"internal": map[string]any{"remote_ip": "10.0.0.0/8"}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	cond, err := c.Compile("when", map[string]any{
		"path":   "/api/*",
		"method": []any{"GET", "HEAD"},
		"host":   "*.example.com",
		"header": map[string]any{"Accept": "*json*", "X-Key": ""},
		"query":  map[string]any{"q": "a*"},
		"any":    []any{"internal", map[string]any{"not": map[string]any{"remote_ip": "192.0.2.0/24"}}, map[string]any{"path": "*"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	r := req{target: "http://api.example.com/api/x?q=a%20b+c", header: map[string]string{"Accept": "application/json", "X-Key": "1"}}.build(t)
	if !cond.Match(r) {
		t.Fatal("condition does not hold")
	}
	if n := testing.AllocsPerRun(1000, func() { cond.Match(r) }); n != 0 {
		t.Errorf("structured condition allocates %v times per match", n)
	}
}

func TestTranslation(t *testing.T) {
	tests := []struct {
		src  string
		want bool
	}{
		{`request.method == "GET"`, true},
		{`request.path.startsWith("/api/") && request.method in ["GET", "HEAD"]`, true},
		{`!request.header.exists("X-No-Gzip") || has(request.query.debug)`, true},
		{`path_match("/api/*") ? ip_in(request.remote_ip, "10.0.0.0/8") : request.scheme == "https"`, true},
		{`request.header["Accept"].contains("json") && request.query.page != "1"`, true},
		{`request.path.matches("^/users/[0-9]+$") && request.content_length <= 1024`, true},
		{`request.content_length in [0, 1] && request.host.endsWith(".example.com")`, true},
		{`request.header.exists("X-A") == false`, true},
		{`request.proto >= "HTTP/2" && request.route != ""`, true},
		{`ip_in(request.header["X-Real-Ip"], "10.0.0.0/8")`, true},
		{`int(request.query["page"]) > 1`, false},
		{`size(request.path) > 10`, false},
		{`request.path + "/" == "/a/"`, false},
		{`request.header.exists(k, k == "A")`, false},
		{`request.method == request.query["m"]`, true},
		{`request.content_length > 1024 * 1024`, false},
	}
	for _, tt := range tests {
		p, err := compileProgram("when", tt.src, boolType)
		if err != nil {
			t.Fatalf("%s: %v", tt.src, err)
		}
		if got := (&native{clientIP: remoteAddrIP}).compile(p.expr) != nil; got != tt.want {
			t.Errorf("%s: translated = %v, want %v", tt.src, got, tt.want)
		}
	}
}
