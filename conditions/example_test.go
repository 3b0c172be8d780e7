package conditions_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/switchyard/switchyard/conditions"
)

// The `conditions:` block and a few `when:` values, as a YAML, TOML or JSON
// decoder hands them over.
func ExampleNewCompiler() {
	named := map[string]any{
		"is_api":      `request.path.startsWith("/api/")`,
		"safe_method": map[string]any{"method": []any{"GET", "HEAD"}},
		"api_read":    map[string]any{"all": []any{"is_api", "safe_method"}},
	}
	c, err := conditions.NewCompiler(named, conditions.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	apiRead, _ := c.Named("api_read")
	for _, r := range []*http.Request{
		httptest.NewRequest("GET", "/api/users/1", nil),
		httptest.NewRequest("POST", "/api/users", nil),
		httptest.NewRequest("GET", "/index.html", nil),
	} {
		fmt.Println(r.Method, r.URL.Path, apiRead.Match(r))
	}
	// Output:
	// GET /api/users/1 true
	// POST /api/users false
	// GET /index.html false
}

func ExampleCompiler_Compile() {
	cache, err := conditions.NewCache(5000, 30*time.Second, nil, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cache.Close()
	c, err := conditions.NewCompiler(nil, conditions.Options{Cache: cache})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, src := range []any{
		`!request.header.exists("X-No-Gzip") && path_match("/assets/*")`,
		map[string]any{
			"path":   "/assets/*",
			"header": map[string]any{"X-No-Gzip": ""},
		},
	} {
		cond, err := c.Compile("routes[0].middleware[0].when", src)
		if err != nil {
			fmt.Println(err)
			return
		}
		r := httptest.NewRequest("GET", "/assets/app.js", nil)
		plain := cond.Match(r)
		r.Header.Set("X-No-Gzip", "1")
		fmt.Printf("%s: %v, with X-No-Gzip: %v\n", cond, plain, cond.Match(r))
	}
	// Output:
	// !request.header.exists("X-No-Gzip") && path_match("/assets/*"): true, with X-No-Gzip: false
	// {"header":{"X-No-Gzip":""},"path":"/assets/*"}: false, with X-No-Gzip: true
}

func ExampleCompiler_Compile_error() {
	c, _ := conditions.NewCompiler(nil, conditions.Options{})
	for _, src := range []any{
		`request.method == 1`,
		`request.methd == "GET"`,
		map[string]any{"remote_ip": []any{"10.0.0.0/8", "10.0.0.0/33"}},
	} {
		_, err := c.Compile("routes[2].middleware[0].when", src)
		fmt.Println(err)
	}
	// Output:
	// routes[2].middleware[0].when: column 16: found no matching overload for '_==_' applied to '(string, int)'
	// routes[2].middleware[0].when: column 8: undefined field 'methd' (request has content_length, header, host, method, path, proto, query, remote_ip, route, scheme, vars)
	// routes[2].middleware[0].when.remote_ip[1]: "10.0.0.0/33" is not a CIDR
}

func ExampleCondition_Match() {
	c, _ := conditions.NewCompiler(nil, conditions.Options{})
	internal, _ := c.Compile("when", map[string]any{
		"any": []any{
			map[string]any{"remote_ip": []any{"10.0.0.0/8", "fd00::/8"}},
			`ip_in(request.remote_ip, "192.0.2.0/24") && request.scheme == "http"`,
		},
	})
	for _, addr := range []string{"10.1.2.3:4000", "[fd00::7]:4000", "192.0.2.9:4000", "203.0.113.5:4000"} {
		r := httptest.NewRequest("GET", "/metrics", nil)
		r.RemoteAddr = addr
		fmt.Println(addr, internal.Match(r))
	}
	// Output:
	// 10.1.2.3:4000 true
	// [fd00::7]:4000 true
	// 192.0.2.9:4000 true
	// 203.0.113.5:4000 false
}

func ExampleCompiler_CompileString() {
	c, _ := conditions.NewCompiler(nil, conditions.Options{})
	key, err := c.CompileString("plugins.perkey.key",
		`request.header.exists("X-Api-Key") ? "key:" + request.header["X-Api-Key"] : "ip:" + request.remote_ip`)
	if err != nil {
		fmt.Println(err)
		return
	}
	r := httptest.NewRequest("GET", "/", nil)
	fmt.Println(key(r))
	r.Header.Set("X-Api-Key", "k-42")
	fmt.Println(key(r))
	// Output:
	// ip:192.0.2.1
	// key:k-42
}

func ExampleCondition_Wrap() {
	c, _ := conditions.NewCompiler(nil, conditions.Options{})
	onlyAPI, _ := c.Compile("when", map[string]any{"path": "/api/*"})
	stamp := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Stamped", "yes")
			next.ServeHTTP(w, r)
		})
	}
	h := onlyAPI.Wrap(stamp)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	for _, p := range []string{"/api/x", "/web/x"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", p, nil))
		fmt.Printf("%s stamped=%q\n", p, rec.Header().Get("X-Stamped"))
	}
	// Output:
	// /api/x stamped="yes"
	// /web/x stamped=""
}
