package conditions

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

// fuzzRequests are the requests every fuzzed condition is matched against.
func fuzzRequests(t *testing.T) []*http.Request {
	t.Helper()
	return []*http.Request{
		req{}.build(t),
		req{method: "POST", target: "http://api.example.com:8443/api/users/1?a=1&b=x+y&a=2", tls: true, remote: "[2001:db8::1]:443",
			header: map[string]string{"X-A": "1", "Accept": "application/json"}, route: "/api/users/{id}", length: 42, proto: "HTTP/2.0"}.build(t),
		req{target: "/a%20b?%zz&q=%41", remote: "bad", headers: http.Header{"X-A": {"", "2"}}}.build(t),
	}
}

// fuzzCompilers returns the CEL interpreter without a cache (the reference),
// the production configuration (translation to Go, cache), and the
// interpreter with a cache.
func fuzzCompilers(t *testing.T) []*Compiler {
	t.Helper()
	named := map[string]any{"is_api": `request.path.startsWith("/api/")`, "safe": map[string]any{"method": []any{"GET", "HEAD"}}}
	cache, err := NewCache(100, time.Minute, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cache.Close)
	var cs []*Compiler
	for _, o := range []struct {
		cache     *Cache
		interpret bool
	}{{nil, true}, {cache, false}, {cache, true}} {
		c, err := newCompiler(named, Options{Cache: o.cache}, o.interpret)
		if err != nil {
			t.Fatal(err)
		}
		cs = append(cs, c)
	}
	return cs
}

// checkCompiled matches src compiled by every compiler on every request: no
// panic, the same answers, and an *Error naming the key on failure.
func checkCompiled(t *testing.T, cs []*Compiler, src any) {
	const key = "routes[0].middleware[0].when"
	ref, err := cs[0].Compile(key, src)
	for _, c := range cs[1:] {
		_, err2 := c.Compile(key, src)
		if (err == nil) != (err2 == nil) {
			t.Fatalf("compilers disagree on %#v: %v / %v", src, err, err2)
		}
	}
	if err != nil {
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("error %v is a %T", err, err)
		}
		if !strings.HasPrefix(e.Key, key) || e.Column < 0 || e.Line < 0 || e.Msg == "" {
			t.Fatalf("bad error for %#v: %+v", src, e)
		}
		return
	}
	if ref.String() == "" && src != "" {
		t.Fatalf("empty String() for %#v", src)
	}
	for _, c := range cs[1:] {
		cond, _ := c.Compile(key, src)
		for _, r := range fuzzRequests(t) {
			want := ref.Match(r)
			for range 2 {
				if got := cond.Match(r); got != want {
					t.Fatalf("%s: got %v, interpreter %v on %s", cond, got, want, r.URL)
				}
			}
		}
	}
}

func FuzzCompileExpression(f *testing.F) {
	for _, s := range []string{
		`request.method == "GET"`,
		`request.path.startsWith("/api/") && request.header["X-A"] == "1"`,
		`!request.header.exists("X-No-Gzip")`,
		`path_match("/api/*") || ip_in(request.remote_ip, "10.0.0.0/8")`,
		`request.query.exists(k, k == "a") && size(request.query) > 1`,
		`request.content_length > 10 ? request.scheme == "https" : request.proto == "HTTP/1.1"`,
		`request.route.matches("^/api/")`,
		`is_api`,
		`has(request.header.Accept)`,
		`request.header["X-A"] != "1" || request.query.a > "0"`,
		`request.content_length in [0, 42] ? request.method in ["GET", "POST"] : !has(request.query.b)`,
		`request.header.exists("X-A") == false || request.path.matches("^/a")`,
		`ip_in(request.header["X-A"], "10.0.0.0/8") && request.remote_ip != ""`,
		`request.proto >= "HTTP/2" && request.path.endsWith("1")`,
		`request.header["X-A"]`,
		`request.query.b`,
		`request.method == 1`,
		`request.nope`,
		`(`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		cs := fuzzCompilers(t)
		checkCompiled(t, cs, src)
		fn, err := cs[0].CompileString("plugins.rl.key", src)
		fn2, err2 := cs[1].CompileString("plugins.rl.key", src)
		if (err == nil) != (err2 == nil) {
			t.Fatalf("CompileString disagrees on %q: %v / %v", src, err, err2)
		}
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Key != "plugins.rl.key" {
				t.Fatalf("CompileString error %v", err)
			}
			return
		}
		for _, r := range fuzzRequests(t) {
			if a, b := fn(r), fn2(r); a != b {
				t.Fatalf("CompileString(%q) = %q, interpreter %q", src, b, a)
			}
		}
	})
}

func FuzzStructured(f *testing.F) {
	for _, s := range []string{
		`{"path": "/api/*", "method": ["GET", "HEAD"]}`,
		`{"host": "*.example.com", "header": {"X-A": "", "Accept": "*json*"}}`,
		`{"query": {"a": "1*", "b": ""}, "remote_ip": ["10.0.0.0/8", "2001:db8::/32"]}`,
		`{"any": [{"path": "/a"}, "is_api", "request.method == \"POST\""], "not": {"remote_ip": "192.0.2.1"}}`,
		`{"all": [{"not": "safe"}, {"any": [true, false]}]}`,
		`{"pth": "/x"}`,
		`{"method": 3}`,
		`"safe"`,
		`[]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var src any
		if err := json.Unmarshal(data, &src); err != nil {
			return
		}
		cs := fuzzCompilers(t)
		checkCompiled(t, cs, src)
		if _, ok := src.(map[string]any); ok {
			if c, err := cs[0].Compile("when", src); err == nil && !json.Valid([]byte(c.String())) {
				t.Fatalf("String() of a structured condition is not JSON: %s", c)
			}
		}
	})
}
