package core

import (
	"context"
	"fmt"
	"hash/maphash"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/switchyard/switchyard/core/config"
)

// routeTable200 is a 200-route table: 50 static routes, 50 with a {param},
// 50 with the {x:int} preset and 50 with a chi regexp. paths holds, per
// kind, 250 request paths that match (five per route, distinct values).
type routeTable200 struct {
	mux   *chi.Mux
	paths map[string][]string
}

var routeKinds = []string{"static", "param", "int", "regexp"}

func newRouteTable200(tb testing.TB) *routeTable200 {
	tb.Helper()
	rt := &routeTable200{mux: chi.NewMux(), paths: map[string][]string{}}
	endpoint := func(key string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if key != "" && chi.URLParam(r, key) == "" {
				w.WriteHeader(http.StatusInternalServerError)
			}
		})
	}
	for i := range 50 {
		add := func(kind, pattern, key string, values ...string) {
			expanded, err := config.ExpandPattern(pattern)
			if err != nil {
				tb.Fatal(err)
			}
			rt.mux.Method(http.MethodGet, expanded, endpoint(key))
			rt.paths[kind] = append(rt.paths[kind], values...)
		}
		add("static", fmt.Sprintf("/pages/p%d/index", i), "", repeat(5, func(int) string { return fmt.Sprintf("/pages/p%d/index", i) })...)
		add("param", fmt.Sprintf("/api/v1/res%d/{id}", i), "id", repeat(5, func(j int) string { return fmt.Sprintf("/api/v1/res%d/item-%d", i, j) })...)
		add("int", fmt.Sprintf("/shop/cat%d/{n:int}", i), "n", repeat(5, func(j int) string { return fmt.Sprintf("/shop/cat%d/%d", i, 1000+j) })...)
		add("regexp", fmt.Sprintf("/codes/g%d/{code:[A-Z]{3}-[0-9]{2}}", i), "code", repeat(5, func(j int) string { return fmt.Sprintf("/codes/g%d/ABC-%02d", i, j) })...)
	}
	return rt
}

func repeat(n int, f func(int) string) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = f(i)
	}
	return out
}

// requests returns GET requests for the paths of the kind ("mixed": all).
func (rt *routeTable200) requests(kind string) []*http.Request {
	var paths []string
	if kind == "mixed" {
		for i := range 250 {
			for _, k := range routeKinds {
				paths = append(paths, rt.paths[k][i])
			}
		}
	} else {
		paths = rt.paths[kind]
	}
	reqs := make([]*http.Request, len(paths))
	for i, p := range paths {
		reqs[i] = httptest.NewRequest(http.MethodGet, p, nil)
	}
	return reqs
}

// TestRouteCacheMatchesChi checks that the cache serves every path of the
// table exactly as chi does: the same endpoint, URL parameters, path
// values, route pattern and Request.Pattern, and 404/405 by the router.
func TestRouteCacheMatchesChi(t *testing.T) {
	type seen struct {
		code               int
		params, pattern    string
		reqPattern, pvalue string
	}
	// A table whose endpoints record what they see.
	var last seen
	capture := func(w http.ResponseWriter, r *http.Request) {
		rctx := chi.RouteContext(r.Context())
		last = seen{
			params:     fmt.Sprint(rctx.URLParams.Keys, rctx.URLParams.Values, rctx.RouteMethod, rctx.Routes != nil),
			pattern:    rctx.RoutePattern(),
			reqPattern: r.Pattern,
		}
		for _, k := range rctx.URLParams.Keys {
			last.pvalue += k + "=" + r.PathValue(k) + ";"
		}
	}
	mux := chi.NewMux()
	rt := newRouteTable200(t)
	for _, route := range rt.mux.Routes() {
		for m := range route.Handlers {
			mux.MethodFunc(m, route.Pattern, capture)
		}
	}
	mux.HandleFunc("/any/{x}/*", capture)
	mux.MethodFunc(http.MethodPost, "/post/{id:[0-9]+}", capture)
	cache := newRouteCache(mux, 64)

	paths := []struct{ method, path string }{
		{"GET", "/nowhere"}, {"GET", "/post/12"}, {"POST", "/post/12"}, {"POST", "/post/x"},
		{"PUT", "/any/a/b/c"}, {"GET", "/any/a/"}, {"BREW", "/api/v1/res1/x"},
	}
	for _, k := range routeKinds {
		for _, p := range rt.paths[k] {
			paths = append(paths, struct{ method, path string }{"GET", p})
		}
	}
	for round := range 2 { // the first round fills the cache, the second hits it
		for _, p := range paths {
			last = seen{}
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, httptest.NewRequest(p.method, p.path, nil))
			want := last
			want.code = rec.Code
			last = seen{}
			rec = httptest.NewRecorder()
			cache.ServeHTTP(rec, httptest.NewRequest(p.method, p.path, nil))
			got := last
			got.code = rec.Code
			if got != want {
				t.Fatalf("round %d: %s %s: cache gave %+v, chi %+v", round, p.method, p.path, got, want)
			}
		}
	}
}

// BenchmarkRouteCache compares chi's tree with the route-match cache on the
// 200-route table, by route kind: "chi" is the router alone, "cache-hit"
// a warm cache holding every path, "cache-miss" a cache of 16 entries over
// the paths (nearly every lookup misses, as with unbounded IDs).
func BenchmarkRouteCache(b *testing.B) {
	rt := newRouteTable200(b)
	for _, kind := range append([]string{"mixed"}, routeKinds...) {
		reqs := rt.requests(kind)
		hit := newRouteCache(rt.mux, 10000)
		miss := newRouteCache(rt.mux, 16)
		w := &discard{h: http.Header{}}
		for _, r := range reqs {
			hit.ServeHTTP(w, r)
		}
		for _, c := range []struct {
			name string
			h    http.Handler
		}{{"chi", rt.mux}, {"cache-hit", hit}, {"cache-miss", miss}} {
			b.Run(kind+"/"+c.name, func(b *testing.B) {
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				b.ReportAllocs()
				cpu0, ok := threadCPU()
				i := 0
				for b.Loop() {
					c.h.ServeHTTP(w, reqs[i])
					if i++; i == len(reqs) {
						i = 0
					}
				}
				if cpu1, _ := threadCPU(); ok {
					b.ReportMetric(float64(cpu1-cpu0)/float64(b.N), "cpu-ns/op")
				}
			})
			b.Run(kind+"/"+c.name+"-parallel", func(b *testing.B) {
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					w := &discard{h: http.Header{}}
					i := 0
					for pb.Next() {
						c.h.ServeHTTP(w, reqs[i])
						if i++; i == len(reqs) {
							i = 0
						}
					}
				})
			})
		}
	}
}

// routeCache is the route-match cache that performance.routing.cache_size
// and pattern_cache describe, kept here with its benchmark: measured against
// chi's own tree it does not win (see docs/performance.md), so the host does
// not use it and logs that the two keys have no effect.
//
// It memoises a chi router's match for parameter and regexp routes
// (performance.routing.cache_size and pattern_cache): the method and path of
// a request map to the route's endpoint handler and URL parameters, so that
// a path seen before skips the tree walk and the regexps. A hit fills chi's
// RouteContext with what the router's own lookup records — the URL
// parameters, the route pattern, RouteMethod and the mux — sets the
// request's path values and Pattern as chi does, and calls the same
// endpoint; chi.URLParam and RoutePattern read the same values either way.
//
// Static routes, paths that match nothing (404, 405) and requests that
// already carry a RouteContext (the host mounted under another chi router)
// go to the router itself. The cache holds at most size entries, in shards
// each bounded by its share; a full shard drops an arbitrary entry.
type routeCache struct {
	mux      *chi.Mux
	static   map[string]struct{}
	handlers map[string]map[string]http.Handler // pattern -> method ("*": any) -> endpoint
	seed     maphash.Seed
	perShard int
	shards   [routeCacheShards]routeShard
	ctxs     sync.Pool
}

const routeCacheShards = 16

type routeShard struct {
	mu sync.RWMutex
	m  map[routeKey]*routeMatch
	_  [40]byte // keep shards on separate cache lines
}

type routeKey struct{ method, path string }

// routeMatch is one cached match; it is immutable once stored.
type routeMatch struct {
	h            http.Handler
	pattern      string // as chi appends it to RoutePatterns
	routePattern string // RoutePattern(), for Request.Pattern
	keys, values []string
}

// newRouteCache returns a cache of at most size matches in front of mux.
// The mux must be complete: its routes are read once, here.
func newRouteCache(mux *chi.Mux, size int) *routeCache {
	c := &routeCache{
		mux:      mux,
		static:   map[string]struct{}{},
		handlers: map[string]map[string]http.Handler{},
		seed:     maphash.MakeSeed(),
		perShard: max(size/routeCacheShards, 1),
	}
	for _, rt := range mux.Routes() {
		c.handlers[rt.Pattern] = rt.Handlers
		if !strings.ContainsAny(rt.Pattern, "{*") {
			c.static[rt.Pattern] = struct{}{}
		}
	}
	for i := range c.shards {
		c.shards[i].m = make(map[routeKey]*routeMatch)
	}
	c.ctxs.New = func() any { return chi.NewRouteContext() }
	return c
}

func (c *routeCache) shard(path string) *routeShard {
	return &c.shards[maphash.String(c.seed, path)&(routeCacheShards-1)]
}

// ServeHTTP routes r from the cache, or through the router on a miss.
func (c *routeCache) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.RawPath
	if path == "" {
		path = r.URL.Path
	}
	if _, ok := c.static[path]; ok || path == "" || r.Context().Value(chi.RouteCtxKey) != nil {
		c.mux.ServeHTTP(w, r)
		return
	}
	key := routeKey{r.Method, path}
	sh := c.shard(path)
	sh.mu.RLock()
	m := sh.m[key]
	sh.mu.RUnlock()

	rctx := c.ctxs.Get().(*chi.Context)
	rctx.Reset()
	rctx.Routes = c.mux
	rctx.RouteMethod = r.Method
	if m == nil {
		m = c.match(rctx, key)
		if m == nil {
			c.ctxs.Put(rctx)
			c.mux.ServeHTTP(w, r)
			return
		}
		sh.mu.Lock()
		if len(sh.m) >= c.perShard {
			for k := range sh.m {
				delete(sh.m, k)
				break
			}
		}
		sh.m[key] = m
		sh.mu.Unlock()
	} else {
		rctx.URLParams.Keys = append(rctx.URLParams.Keys, m.keys...)
		rctx.URLParams.Values = append(rctx.URLParams.Values, m.values...)
		rctx.RoutePatterns = append(rctx.RoutePatterns, m.pattern)
	}
	r = r.WithContext(context.WithValue(r.Context(), chi.RouteCtxKey, rctx))
	for i, k := range m.keys {
		r.SetPathValue(k, m.values[i])
	}
	r.Pattern = m.routePattern
	m.h.ServeHTTP(w, r)
	c.ctxs.Put(rctx)
}

// match asks the router for key, leaving rctx as the router's lookup
// leaves it; it returns nil when no parameter or regexp route matches.
func (c *routeCache) match(rctx *chi.Context, key routeKey) *routeMatch {
	pattern := c.mux.Find(rctx, key.method, key.path)
	if pattern == "" {
		return nil
	}
	hs := c.handlers[pattern]
	h := hs[key.method]
	if h == nil {
		h = hs["*"]
	}
	if h == nil {
		return nil
	}
	return &routeMatch{
		h:            h,
		pattern:      pattern,
		routePattern: rctx.RoutePattern(),
		keys:         append([]string(nil), rctx.URLParams.Keys...),
		values:       append([]string(nil), rctx.URLParams.Values...),
	}
}
