package conditions

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/reqvars"
)

// TestCacheKeyPerAttribute: for every attribute an expression can read, two
// requests that differ only in that attribute never share a cached result.
// Each expression runs on the interpreter through the cache, and gives a
// different answer for the two requests; the second request, served after
// the first one's result is stored (in the store and in the condition's own
// table), must get its own answer and count as a miss.
func TestCacheKeyPerAttribute(t *testing.T) {
	tests := []struct {
		name string
		src  string
		a, b req
	}{
		{"method", `request.method == "GET"`, req{}, req{method: "POST"}},
		{"method case", `request.method == "GET"`, req{}, req{method: "get"}},
		{"path", `request.path.startsWith("/a")`, req{target: "/a"}, req{target: "/b"}},
		{"path decoded", `request.path == "/a b"`, req{target: "/a%20b"}, req{target: "/a+b"}},
		{"host", `request.host == "a.example"`, req{target: "http://a.example/"}, req{target: "http://b.example/"}},
		{"host port dropped", `request.host.size() == 9`, req{target: "http://a.example:80/"}, req{target: "http://ab.example:80/"}},
		{"scheme", `request.scheme == "https"`, req{tls: true}, req{}},
		{"remote_ip v4", `ip_in(request.remote_ip, "192.0.2.10")`, req{remote: "192.0.2.10:1"}, req{remote: "192.0.2.11:1"}},
		{"remote_ip v4 vs v6", `request.remote_ip == "192.0.2.10"`, req{remote: "192.0.2.10:1"}, req{remote: "[::c000:20a]:1"}},
		{"remote_ip unknown", `request.remote_ip == ""`, req{remote: "bad"}, req{remote: "[::]:1"}},
		{"remote_ip zone", `request.remote_ip == "fe80::1%eth0"`, req{remote: "[fe80::1%eth0]:1"}, req{remote: "[fe80::1%eth1]:1"}},
		{"content_length", `request.content_length > 10`, req{length: 11}, req{length: 10}},
		{"content_length unknown", `request.content_length == -1`, req{length: -1}, req{}},
		{"proto", `request.proto == "HTTP/2.0"`, req{proto: "HTTP/2.0"}, req{proto: "HTTP/1.1"}},
		{"route", `request.route.endsWith("{id}")`, req{route: "/u/{id}"}, req{route: "/u/{name}"}},
		{"header value", `request.header["X-A"] == "1"`, req{header: map[string]string{"X-A": "1"}}, req{header: map[string]string{"X-A": "2"}}},
		{"header present empty vs absent", `"X-A" in request.header`, req{headers: http.Header{"X-A": {""}}}, req{}},
		{"header first value", `request.header["X-A"] == "1"`, req{headers: http.Header{"X-A": {"1", "2"}}}, req{headers: http.Header{"X-A": {"2", "1"}}}},
		{"string boundaries", `request.header["X-A"] == "a" && size(request.header["X-B"]) >= 0`,
			req{header: map[string]string{"X-A": "a", "X-B": "b"}}, req{header: map[string]string{"X-A": "ab", "X-B": ""}}},
		{"header presence position", `has(request.header.A) && !has(request.header.B)`,
			req{headers: http.Header{"A": {""}}}, req{headers: http.Header{"B": {""}}}},
		{"query value", `request.query["q"] == "1"`, req{target: "/?q=1"}, req{target: "/?q=2"}},
		{"query escaping", `request.query["q"] == "a b" && request.path.size() > 0`, req{target: "/?q=a+b"}, req{target: "/?q=a%2Bb"}},
		{"query present empty vs absent", `"q" in request.query`, req{target: "/?q="}, req{target: "/"}},
		{"header and query same value", `request.header["Q"] == "x" && !("q" in request.query)`,
			req{header: map[string]string{"Q": "x"}}, req{target: "/?q=x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cache := newCountedCache(t, 100, time.Minute)
			c, err := newCompiler(nil, Options{Cache: cache.Cache}, true)
			if err != nil {
				t.Fatal(err)
			}
			ref, err := newCompiler(nil, Options{}, true)
			if err != nil {
				t.Fatal(err)
			}
			cond, err := c.Compile("when", tt.src)
			if err != nil {
				t.Fatal(err)
			}
			plain, _ := ref.Compile("when", tt.src)
			ra, rb := tt.a.build(t), tt.b.build(t)
			wa, wb := plain.Match(ra), plain.Match(rb)
			if wa == wb {
				t.Fatalf("the two requests give the same answer %v: the case proves nothing", wa)
			}
			for i := range 3 {
				if got := cond.Match(ra); got != wa {
					t.Fatalf("round %d: a = %v, want %v", i, got, wa)
				}
				cache.settle()
				if got := cond.Match(rb); got != wb {
					t.Fatalf("round %d: b = %v, want %v (a's result served)", i, got, wb)
				}
				cache.settle()
			}
			if hits, misses := cache.counts(); misses != 2 || hits != 4 {
				t.Errorf("hits %d misses %d, want 4 and 2: each request has its own entry", hits, misses)
			}
		})
	}
}

// TestCacheVarsNeverCached: an expression that reads request.vars is
// evaluated on every request.
func TestCacheVarsNeverCached(t *testing.T) {
	cache := newCountedCache(t, 100, time.Minute)
	c, err := newCompiler(nil, Options{Cache: cache.Cache}, true)
	if err != nil {
		t.Fatal(err)
	}
	cond, err := c.Compile("when", `request.vars["user"] == "alice"`)
	if err != nil {
		t.Fatal(err)
	}
	r := req{}.build(t)
	ra := reqvars.Set(r, "user", "alice")
	rb := reqvars.Set(r, "user", "bob")
	for range 2 {
		if !cond.Match(ra) || cond.Match(rb) {
			t.Fatal("wrong answer")
		}
	}
	if hits, misses := cache.counts(); hits+misses != 0 {
		t.Errorf("looked up: hits %d misses %d", hits, misses)
	}
}

// TestCacheKeyStrings: the strings of a key come in the documented order,
// only those read.
func TestCacheKeyStrings(t *testing.T) {
	cache := newCountedCache(t, 100, time.Minute)
	p, err := compileProgram("when", `request.query["q"] + request.header["x-b"] + request.header["X-A"] + request.route + request.proto + request.host + request.path + request.method == ""`, boolType)
	if err != nil {
		t.Fatal(err)
	}
	cp := &cachedProgram{p: p, cache: cache.Cache, id: 1, clientIP: remoteAddrIP}
	r := req{method: "PUT", target: "http://h:1/p?q=%41", route: "/r", proto: "HTTP/1.0",
		header: map[string]string{"X-A": "a"}}.build(t)
	var k attrKey
	strs, _, ok := cp.key(r, nil, &k)
	want := []string{"PUT", "/p", "h", "HTTP/1.0", "/r", "a", "", "%41"}
	if !ok || !slices.Equal(strs, want) {
		t.Errorf("key strings %q, ok %v; want %q", strs, ok, want)
	}
	if k.flags != 0b1010 {
		t.Errorf("presence flags %b, want 1010 (X-A present, X-B absent, q present)", k.flags)
	}
}

// FuzzCacheKey: two requests have equal cache keys exactly when the
// attributes the condition reads are equal, and the cached answers equal the
// interpreter's.
func FuzzCacheKey(f *testing.F) {
	f.Add("GET", "/a", "1", true, "q=1", "192.0.2.1:1", "GET", "/a", "1", true, "q=1", "192.0.2.1:1")
	f.Add("GET", "/a", "", true, "q=", "192.0.2.1:1", "GET", "/a", "", false, "", "192.0.2.1:1")
	f.Add("GET", "/ab", "", false, "q=a+b", "192.0.2.1:1", "GET", "/a", "b", false, "q=a%20b", "192.0.2.1:1")
	f.Add("GE", "T/a", "x", true, "q=1&q=2", "[::ffff:192.0.2.1]:1", "GET", "/a", "x", true, "q=2&q=1", "192.0.2.1:1")
	f.Add("GET", "/", "x", true, "", "[fe80::1%eth0]:1", "GET", "/", "x", true, "", "[fe80::1%eth1]:1")
	f.Add("POST", "/", "", false, "", "bad", "POST", "/", "", false, "", "")
	cache, err := NewCache(1000, 0, nil, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(cache.Close)
	const src = `request.method.size() + request.path.size() + request.header["X-A"].size() + request.query["q"].size() > 3 && ip_in(request.remote_ip, "192.0.2.0/24")`
	p, err := compileProgram("when", src, boolType)
	if err != nil {
		f.Fatal(err)
	}
	cp := &cachedProgram{p: p, cache: cache, id: cache.id(src), clientIP: remoteAddrIP}
	build := func(method, path, h string, hp bool, q, remote string) *http.Request {
		r := &http.Request{Method: method, URL: &url.URL{Path: path, RawQuery: q}, Header: http.Header{}, RemoteAddr: remote, Host: "h"}
		if hp {
			r.Header["X-A"] = []string{h}
		}
		return r
	}
	f.Fuzz(func(t *testing.T, m1, p1, h1 string, hp1 bool, q1, ip1, m2, p2, h2 string, hp2 bool, q2, ip2 string) {
		r1, r2 := build(m1, p1, h1, hp1, q1, ip1), build(m2, p2, h2, hp2, q2, ip2)
		var k1, k2 attrKey
		s1, hash1, ok1 := cp.key(r1, nil, &k1)
		s2, hash2, ok2 := cp.key(r2, nil, &k2)
		if !ok1 || !ok2 {
			return
		}
		e1 := &cacheEntry{attrKey: k1, strs: s1, id: cp.id}
		v1, f1 := queryFirst(q1, "q")
		v2, f2 := queryFirst(q2, "q")
		same := m1 == m2 && p1 == p2 && hp1 == hp2 && (!hp1 || h1 == h2) && f1 == f2 && v1 == v2 &&
			remoteAddrIP(r1) == remoteAddrIP(r2)
		if got := e1.is(cp.id, &k2, s2); got != same {
			t.Fatalf("keys equal = %v, attributes equal = %v", got, same)
		}
		if same && hash1 != hash2 {
			t.Fatal("equal keys, different hashes")
		}
		for _, r := range []*http.Request{r1, r2, r1} {
			if got, want := cp.match(r), p.evalBool(r, remoteAddrIP); got != want {
				t.Fatalf("cached %v, interpreter %v", got, want)
			}
		}
	})
}

// TestEnvConcurrentFirstCompile: compilations that start together on a
// process without the environment build it once and all succeed.
func TestEnvConcurrentFirstCompile(t *testing.T) {
	saved := celEnv
	t.Cleanup(func() { celEnv = saved })
	celEnv = sync.OnceValues(newEnv)
	n0 := envBuilds.Load()
	r := req{target: "/api/x?n=3"}.build(t)
	var wg sync.WaitGroup
	errs := make([]error, 8)
	held := make([]bool, 8)
	for i := range 8 {
		wg.Go(func() {
			c, err := NewCompiler(nil, Options{})
			if err != nil {
				errs[i] = err
				return
			}
			cond, err := c.Compile("when", fmt.Sprintf(`int(request.query["n"]) > %d`, i))
			if err != nil {
				errs[i] = err
				return
			}
			held[i] = cond.Match(r)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("compile %d: %v", i, err)
		}
		if want := 3 > i; held[i] != want {
			t.Errorf("condition %d = %v, want %v", i, held[i], want)
		}
	}
	if n := envBuilds.Load() - n0; n != 1 {
		t.Errorf("environment built %d times, want 1", n)
	}
}

// TestCacheClosedMisses: after Close, a condition's own table answers no
// more than the store does.
func TestCacheClosedMisses(t *testing.T) {
	cache := newCountedCache(t, 100, 0)
	c, err := newCompiler(nil, Options{Cache: cache.Cache}, true)
	if err != nil {
		t.Fatal(err)
	}
	cond, err := c.Compile("when", `request.method == "GET"`)
	if err != nil {
		t.Fatal(err)
	}
	r := req{}.build(t)
	cond.Match(r)
	cond.Match(r)
	if hits, _ := cache.counts(); hits != 1 {
		t.Fatalf("hits %d, want 1", hits)
	}
	cache.Close()
	if !cond.Match(r) {
		t.Fatal("wrong answer after Close")
	}
	if hits, misses := cache.counts(); hits != 1 || misses != 2 {
		t.Errorf("after Close: hits %d misses %d, want 1 and 2", hits, misses)
	}
}
