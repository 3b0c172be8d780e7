package conditions

import (
	"fmt"
	"net/http"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// benchRequest is GET http://example.com/api/users/42?page=2 from
// 192.0.2.10 with a JSON Accept header, on the route /api/users/{id}.
func benchRequest(b *testing.B) *http.Request {
	b.Helper()
	return req{
		target: "http://example.com/api/users/42?page=2",
		header: map[string]string{"Accept": "application/json", "X-Api-Key": "k-123"},
		route:  "/api/users/{id}",
	}.build(b)
}

// benchCompiler returns a compiler whose cache counts hits and misses as the
// host's does (cacheSize 0: no cache); interpret keeps every expression on
// the CEL interpreter.
func benchCompiler(b *testing.B, named map[string]any, cacheSize int, interpret bool) *Compiler {
	b.Helper()
	var opts Options
	if cacheSize > 0 {
		cache := newCountedCache(b, cacheSize, 30*time.Second)
		opts.Cache = cache.Cache
	}
	c, err := newCompiler(named, opts, interpret)
	if err != nil {
		b.Fatal(err)
	}
	return c
}

func benchMatch(b *testing.B, c *Compiler, src any, r *http.Request) {
	b.Helper()
	cond, err := c.Compile("when", src)
	if err != nil {
		b.Fatal(err)
	}
	if !cond.Match(r) {
		b.Fatalf("%s does not hold", cond)
	}
	if c.cache != nil {
		c.cache.store.Wait() // the first result is stored
	}
	b.ReportAllocs()
	for b.Loop() {
		cond.Match(r)
	}
}

// benchExprs are the expressions of the CEL benchmarks; the first five
// translate to Go, the others stay on the interpreter.
var benchExprs = []struct{ name, src string }{
	{"method", `request.method == "GET"`},
	{"path+method", `request.path.startsWith("/api/") && request.method in ["GET", "HEAD"]`},
	{"path_match+header", `path_match("/api/*") && !request.header.exists("X-No-Gzip")`},
	{"ip_in", `ip_in(request.remote_ip, "192.0.2.0/24")`},
	{"header+query", `request.header["X-Api-Key"].startsWith("k-") && request.query["page"] == "2"`},
	{"int(query)", `int(request.query["page"]) >= 2`},
	{"size(header)", `size(request.header["X-Api-Key"]) > 3 && request.method == "GET"`},
	{"concat", `(request.host + request.path).startsWith("example.com/api/")`},
}

func BenchmarkStructured(b *testing.B) {
	r := benchRequest(b)
	c := benchCompiler(b, nil, 0, false)
	b.Run("path+method", func(b *testing.B) {
		benchMatch(b, c, map[string]any{"path": "/api/*", "method": []any{"GET", "HEAD"}}, r)
	})
	b.Run("header+query+host", func(b *testing.B) {
		benchMatch(b, c, map[string]any{"host": "*.com", "header": map[string]any{"Accept": "*json*"}, "query": map[string]any{"page": ""}}, r)
	})
	b.Run("remote_ip", func(b *testing.B) {
		benchMatch(b, c, map[string]any{"remote_ip": []any{"10.0.0.0/8", "192.0.2.0/24"}}, r)
	})
	b.Run("nested", func(b *testing.B) {
		benchMatch(b, c, map[string]any{"any": []any{
			map[string]any{"all": []any{map[string]any{"path": "/admin/*"}, map[string]any{"not": map[string]any{"method": "GET"}}}},
			map[string]any{"path": "/api/*", "header": map[string]any{"X-Api-Key": ""}},
		}}, r)
	})
}

// BenchmarkCELNative runs the expressions that translate to Go.
func BenchmarkCELNative(b *testing.B) {
	r := benchRequest(b)
	c := benchCompiler(b, nil, 0, false)
	for _, e := range benchExprs[:5] {
		b.Run(e.name, func(b *testing.B) { benchMatch(b, c, e.src, r) })
	}
}

// BenchmarkCELCached runs every expression on the interpreter with a cache
// that hits.
func BenchmarkCELCached(b *testing.B) {
	r := benchRequest(b)
	c := benchCompiler(b, nil, 5000, true)
	for _, e := range benchExprs {
		b.Run(e.name, func(b *testing.B) { benchMatch(b, c, e.src, r) })
	}
}

// BenchmarkCELUncached runs every expression on the interpreter, no cache.
func BenchmarkCELUncached(b *testing.B) {
	r := benchRequest(b)
	c := benchCompiler(b, nil, 0, true)
	for _, e := range benchExprs {
		b.Run(e.name, func(b *testing.B) { benchMatch(b, c, e.src, r) })
	}
}

// BenchmarkCELMiss is an interpreted expression whose lookups miss: 4096
// distinct paths through a 16-entry cache, so each request pays the lookup,
// the evaluation and the store.
func BenchmarkCELMiss(b *testing.B) {
	c := benchCompiler(b, nil, 16, true)
	cond, err := c.Compile("when", `request.path.startsWith("/api/")`)
	if err != nil {
		b.Fatal(err)
	}
	reqs := make([]*http.Request, 4096)
	for i := range reqs {
		reqs[i] = req{target: fmt.Sprintf("/api/users/%d", i)}.build(b)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		cond.Match(reqs[i%len(reqs)])
		i++
	}
}

// benchWriter is a response writer that keeps nothing, reset between
// requests like a pooled server response.
type benchWriter struct {
	h    http.Header
	code int
	n    int
}

func (w *benchWriter) Header() http.Header         { return w.h }
func (w *benchWriter) WriteHeader(code int)        { w.code = code }
func (w *benchWriter) Write(p []byte) (int, error) { w.n += len(p); return len(p), nil }

// benchLinks are five plain middlewares of the kinds a chain holds: a
// counter, a response header, a request id, a timer and a recoverer.
func benchLinks() []func(http.Handler) http.Handler {
	var count, nanos atomic.Int64
	return []func(http.Handler) http.Handler{
		func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				count.Add(1)
				next.ServeHTTP(w, r)
			})
		},
		func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header()["X-Content-Type-Options"] = []string{"nosniff"}
				next.ServeHTTP(w, r)
			})
		},
		func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				id := r.Header.Get("X-Request-Id")
				if id == "" {
					id = "generated"
				}
				w.Header()["X-Request-Id"] = []string{id}
				next.ServeHTTP(w, r)
			})
		},
		func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				start := time.Now()
				next.ServeHTTP(w, r)
				nanos.Add(int64(time.Since(start)))
			})
		},
		func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				defer func() {
					if v := recover(); v != nil {
						w.WriteHeader(http.StatusInternalServerError)
					}
				}()
				next.ServeHTTP(w, r)
			})
		},
	}
}

// BenchmarkChain serves a request through five links with no conditions and
// through the same five links each guarded by a condition that holds.
func BenchmarkChain(b *testing.B) {
	r := benchRequest(b)
	body := []byte(`{"id":42}`)
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body)
	})
	named := map[string]any{"safe_method": map[string]any{"method": []any{"GET", "HEAD"}}}
	structured := []any{
		map[string]any{"path": "/api/*", "method": []any{"GET", "HEAD"}},
		"safe_method",
		map[string]any{"header": map[string]any{"Accept": "*json*"}},
		map[string]any{"not": map[string]any{"remote_ip": []any{"10.0.0.0/8"}}},
		map[string]any{"host": "example.com"},
	}
	// The same tests written as expressions: they translate to Go.
	expressions := []any{
		`request.path.startsWith("/api/") && request.method in ["GET", "HEAD"]`,
		`request.method in ["GET", "HEAD"]`,
		`request.header["Accept"].contains("json")`,
		`!ip_in(request.remote_ip, "10.0.0.0/8")`,
		`request.host == "example.com"`,
	}
	var caches []*Cache
	// settle lets the cached results of the first request land.
	settle := func() {
		for _, c := range caches {
			c.store.Wait()
		}
	}
	build := func(b *testing.B, when []any, interpret bool) http.Handler {
		b.Helper()
		c := benchCompiler(b, named, 5000, interpret)
		caches = append(caches, c.cache)
		links := benchLinks()
		h := http.Handler(handler)
		for i := len(links) - 1; i >= 0; i-- {
			mw := links[i]
			if when != nil {
				cond, err := c.Compile("when", when[i])
				if err != nil {
					b.Fatal(err)
				}
				mw = cond.Wrap(mw)
			}
			h = mw(h)
		}
		return h
	}
	run := func(b *testing.B, h http.Handler) {
		w := &benchWriter{h: http.Header{}}
		h.ServeHTTP(w, r)
		if w.h.Get("X-Request-Id") == "" || w.n != len(body) {
			b.Fatal("a link or the handler did not run")
		}
		settle()
		b.ReportAllocs()
		for b.Loop() {
			clear(w.h)
			w.n = 0
			h.ServeHTTP(w, r)
		}
	}
	b.Run("plain", func(b *testing.B) { run(b, build(b, nil, false)) })
	b.Run("structured", func(b *testing.B) { run(b, build(b, structured, false)) })
	b.Run("expressions", func(b *testing.B) { run(b, build(b, expressions, false)) })
	// The expressions again, kept on the interpreter: every condition is a
	// cache hit.
	b.Run("cached", func(b *testing.B) { run(b, build(b, expressions, true)) })
	// The ratios, from the two chains served in alternating blocks of 64
	// requests, so that a change in the machine's load hits both alike. On a
	// shared machine the fastest block of each side is the best estimate of
	// its cost; the median block is reported too.
	ratio := func(b *testing.B, plain, guarded http.Handler) {
		w := &benchWriter{h: http.Header{}}
		guarded.ServeHTTP(w, r)
		settle()
		const block = 64
		var tPlain, tGuarded []time.Duration
		for b.Loop() {
			for _, side := range []struct {
				h     http.Handler
				times *[]time.Duration
			}{{plain, &tPlain}, {guarded, &tGuarded}} {
				start := time.Now()
				for range block {
					clear(w.h)
					side.h.ServeHTTP(w, r)
				}
				*side.times = append(*side.times, time.Since(start))
			}
		}
		slices.Sort(tPlain)
		slices.Sort(tGuarded)
		perReq := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / block }
		b.ReportMetric(perReq(tPlain[0]), "plain-ns/req")
		b.ReportMetric(perReq(tGuarded[0]), "guarded-ns/req")
		b.ReportMetric(float64(tGuarded[0])/float64(tPlain[0]), "ratio")
		b.ReportMetric(float64(tGuarded[len(tGuarded)/2])/float64(tPlain[len(tPlain)/2]), "median-ratio")
	}
	b.Run("ratio/structured", func(b *testing.B) { ratio(b, build(b, nil, false), build(b, structured, false)) })
	b.Run("ratio/expressions", func(b *testing.B) { ratio(b, build(b, nil, false), build(b, expressions, false)) })
	b.Run("ratio/true", func(b *testing.B) {
		ratio(b, build(b, nil, false), build(b, []any{true, true, true, true, true}, false))
	})
	b.Run("ratio/cached", func(b *testing.B) { ratio(b, build(b, nil, false), build(b, expressions, true)) })
}

// BenchmarkCacheRule compares, for expressions from the cheapest up, a direct
// evaluation with a cache lookup that hits. It backs the cache rule in
// docs/conditions.md.
func BenchmarkCacheRule(b *testing.B) {
	r := benchRequest(b)
	hits := prometheus.NewCounter(prometheus.CounterOpts{Name: "h"})
	misses := prometheus.NewCounter(prometheus.CounterOpts{Name: "m"})
	cache, err := NewCache(5000, 30*time.Second, hits, misses)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(cache.Close)
	for _, src := range []string{
		`request.method == "GET"`,
		`request.content_length < 1024`,
		`request.scheme == "http" && request.method == "GET"`,
		`request.host == "example.com"`,
		`request.header["Accept"] == "application/json"`,
		`request.path.startsWith("/api/")`,
		`int(request.query["page"]) >= 1`,
	} {
		p, err := compileProgram("when", src, boolType)
		if err != nil {
			b.Fatal(err)
		}
		cp := &cachedProgram{p: p, cache: cache, id: cache.id(src), clientIP: remoteAddrIP}
		cp.match(r)
		cache.store.Wait()
		if m := (&native{clientIP: remoteAddrIP}).compile(p.expr); m != nil {
			b.Run("go/"+src, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					m(r)
				}
			})
		}
		b.Run("eval/"+src, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				p.evalBool(r, remoteAddrIP)
			}
		})
		b.Run("lookup/"+src, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				cp.match(r)
			}
		})
	}
}

// chainRequests are the requests of BenchmarkChainCached: GET and HEAD (and
// one POST) on a few API paths, JSON and other Accept headers, clients in
// and out of 10.0.0.0/8.
func chainRequests(b *testing.B) []*http.Request {
	b.Helper()
	var reqs []*http.Request
	for i, q := range []struct{ method, path, accept, remote string }{
		{"GET", "/api/users/42", "application/json", "192.0.2.10:5555"},
		{"GET", "/api/users/43", "application/json", "192.0.2.11:5555"},
		{"HEAD", "/api/users/42", "application/json", "198.51.100.7:443"},
		{"GET", "/api/orders", "application/json; charset=utf-8", "192.0.2.10:5555"},
		{"GET", "/api/users/42", "text/html", "10.1.2.3:5555"},
		{"POST", "/api/users", "application/json", "192.0.2.12:5555"},
		{"GET", "/static/app.js", "*/*", "203.0.113.9:5555"},
		{"GET", "/api/users/44", "application/json", "[2001:db8::1]:5555"},
	} {
		r := req{
			method: q.method,
			target: "http://example.com" + q.path + fmt.Sprintf("?page=%d", i),
			header: map[string]string{"Accept": q.accept, "User-Agent": "bench/1.0"},
			remote: q.remote,
		}.build(b)
		reqs = append(reqs, r)
	}
	return reqs
}

// BenchmarkChainCached is the cost of cached expressions against structured
// matchers on a chain: five links, each guarded by a structured condition
// or by the same test as an expression kept on the interpreter (so that
// each is served from the result cache), over the same rotating requests
// (method, path, a header, the client IP). The ratio sub-benchmark serves
// the two chains in alternating blocks of 64 requests and reports the
// fastest and the median block's ratio, cached over structured.
func BenchmarkChainCached(b *testing.B) {
	reqs := chainRequests(b)
	named := map[string]any{"safe_method": map[string]any{"method": []any{"GET", "HEAD"}}}
	structured := []any{
		map[string]any{"path": "/api/*", "method": []any{"GET", "HEAD"}},
		"safe_method",
		map[string]any{"header": map[string]any{"Accept": "*json*"}},
		map[string]any{"not": map[string]any{"remote_ip": []any{"10.0.0.0/8"}}},
		map[string]any{"host": "example.com"},
	}
	expressions := []any{
		`request.path.startsWith("/api/") && request.method in ["GET", "HEAD"]`,
		`request.method in ["GET", "HEAD"]`,
		`request.header["Accept"].contains("json")`,
		`!ip_in(request.remote_ip, "10.0.0.0/8")`,
		`request.host == "example.com"`,
	}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	build := func(b *testing.B, when []any, interpret bool) http.Handler {
		b.Helper()
		c := benchCompiler(b, named, 5000, interpret)
		links := benchLinks()
		h := http.Handler(handler)
		for i := len(links) - 1; i >= 0; i-- {
			cond, err := c.Compile("when", when[i])
			if err != nil {
				b.Fatal(err)
			}
			h = cond.Wrap(links[i])(h)
		}
		// Warm the cache with every request, and check that the chain
		// answers as the structured one does.
		w := &benchWriter{h: http.Header{}}
		for _, r := range reqs {
			h.ServeHTTP(w, r)
		}
		c.cache.store.Wait()
		return h
	}
	serve := func(h http.Handler, w *benchWriter, n int) {
		for i := range n {
			clear(w.h)
			h.ServeHTTP(w, reqs[i%len(reqs)])
		}
	}
	one := func(b *testing.B, h http.Handler) {
		w := &benchWriter{h: http.Header{}}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			clear(w.h)
			h.ServeHTTP(w, reqs[i%len(reqs)])
			i++
		}
	}
	b.Run("structured", func(b *testing.B) { one(b, build(b, structured, false)) })
	b.Run("cached", func(b *testing.B) { one(b, build(b, expressions, true)) })
	b.Run("ratio", func(b *testing.B) {
		st, ca := build(b, structured, false), build(b, expressions, true)
		w := &benchWriter{h: http.Header{}}
		const block = 64
		var tS, tC []time.Duration
		for b.Loop() {
			start := time.Now()
			serve(st, w, block)
			mid := time.Now()
			serve(ca, w, block)
			tS = append(tS, mid.Sub(start))
			tC = append(tC, time.Since(mid))
		}
		slices.Sort(tS)
		slices.Sort(tC)
		perReq := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / block }
		b.ReportMetric(perReq(tS[0]), "structured-ns/req")
		b.ReportMetric(perReq(tC[0]), "cached-ns/req")
		b.ReportMetric(float64(tC[0])/float64(tS[0]), "ratio")
		b.ReportMetric(float64(tC[len(tC)/2])/float64(tS[len(tS)/2]), "median-ratio")
	})
}
