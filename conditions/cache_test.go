package conditions

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/cel-go/common/types"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/switchyard/switchyard/internal/wait"
)

var boolType = types.BoolType

// countedCache is a cache with hit and miss counters.
type countedCache struct {
	*Cache
	hits, misses prometheus.Counter
}

func newCountedCache(t testing.TB, size int, ttl time.Duration) countedCache {
	t.Helper()
	hits := prometheus.NewCounter(prometheus.CounterOpts{Name: "hits"})
	misses := prometheus.NewCounter(prometheus.CounterOpts{Name: "misses"})
	c, err := NewCache(size, ttl, hits, misses)
	if err != nil {
		t.Fatalf("NewCache: %v", err)
	}
	t.Cleanup(c.Close)
	return countedCache{Cache: c, hits: hits, misses: misses}
}

func (c countedCache) counts() (hits, misses int) {
	return int(testutil.ToFloat64(c.hits)), int(testutil.ToFloat64(c.misses))
}

// settle waits for ristretto's asynchronous sets to land.
func (c countedCache) settle() { c.store.Wait() }

func TestNewCacheErrors(t *testing.T) {
	if _, err := NewCache(0, time.Second, nil, nil); err == nil || !strings.Contains(err.Error(), "cache_size") {
		t.Errorf("size 0: %v", err)
	}
	if _, err := NewCache(10, -time.Second, nil, nil); err == nil || !strings.Contains(err.Error(), "ttl") {
		t.Errorf("negative ttl: %v", err)
	}
	c, err := NewCache(10, 0, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	c.Close() // a second Close is harmless
}

func TestReads(t *testing.T) {
	tests := []struct {
		src     string
		fields  uint16
		headers []string
		queries []string
		opaque  bool
	}{
		{`request.method == "GET"`, fMethod, nil, nil, false},
		{`request.path.startsWith("/a") && request.host == "x"`, fPath | fHost, nil, nil, false},
		{`path_match("/a/*")`, fPath, nil, nil, false},
		{`ip_in(request.remote_ip, "10.0.0.0/8")`, fRemoteIP, nil, nil, false},
		{`request.scheme == "https" || request.proto == "HTTP/2.0"`, fScheme | fProto, nil, nil, false},
		{`request.content_length > 0 && request.route == "/x"`, fContentLength | fRoute, nil, nil, false},
		{`request.header["x-api-key"] == "k"`, 0, []string{"X-Api-Key"}, nil, false},
		{`request.header.exists("X-B") || "X-A" in request.header || has(request.header.Accept)`, 0, []string{"Accept", "X-A", "X-B"}, nil, false},
		{`request.header.Accept == "a" && request.header["Accept"] == "b"`, 0, []string{"Accept"}, nil, false},
		{`request.query.page == "1" || request.query["q"] == "x" || "debug" in request.query`, 0, nil, []string{"debug", "page", "q"}, false},
		{`request.header[request.query["h"]] == "1"`, fHeader, nil, []string{"h"}, true},
		{`request.header.exists(k, k == "A")`, fHeader, nil, nil, true},
		{`size(request.query) > 0`, fQuery, nil, nil, true},
		{`["a"].exists(request, request == "a")`, 0, nil, nil, true},
		{`request.header == {"A": "1"}`, fHeader, nil, nil, true},
		{`1 == 1`, 0, nil, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			p, err := compileProgram("k", tt.src, boolType)
			if err != nil {
				t.Fatal(err)
			}
			rd := p.reads
			if rd.fields != tt.fields || !slices.Equal(rd.headers, tt.headers) || !slices.Equal(rd.queries, tt.queries) || rd.opaque != tt.opaque {
				t.Errorf("reads = %+v, want fields %b headers %v queries %v opaque %v", rd, tt.fields, tt.headers, tt.queries, tt.opaque)
			}
		})
	}
}

func TestCacheRule(t *testing.T) {
	cache := newCountedCache(t, 100, time.Minute)
	c, err := NewCompiler(nil, Options{Cache: cache.Cache})
	if err != nil {
		t.Fatal(err)
	}
	interp, err := newCompiler(nil, Options{Cache: cache.Cache}, true)
	if err != nil {
		t.Fatal(err)
	}
	r := req{target: "/api/x", header: map[string]string{"X-A": "1"}}.build(t)
	tests := []struct {
		name       string
		src        any
		c          *Compiler
		wantLookup bool
	}{
		{"structured is never cached", map[string]any{"path": "/api/*", "method": "GET"}, c, false},
		{"constant expression is folded", `[1, 2].exists(x, x == 2)`, c, false},
		{"opaque expression is not cached", `request.header.exists(k, k == "X-A")`, c, false},
		{"translated expression is not cached", `request.path.startsWith("/api/") && request.header["X-A"] == "1"`, c, false},
		{"interpreted expression is cached", `int(request.header["X-A"]) == 1`, c, true},
		{"size is cached", `size(request.path) > 2`, c, true},
		{"known reads are cached when interpreted", `request.path.startsWith("/api/")`, interp, true},
		{"header by name is cached when interpreted", `request.header["X-A"] == "1"`, interp, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cond, err := tt.c.Compile("when", tt.src)
			if err != nil {
				t.Fatal(err)
			}
			h0, m0 := cache.counts()
			if !cond.Match(r) {
				t.Fatal("condition does not hold")
			}
			h1, m1 := cache.counts()
			if got := h1+m1 > h0+m0; got != tt.wantLookup {
				t.Errorf("looked up = %v, want %v", got, tt.wantLookup)
			}
		})
	}
}

// TestCacheKeyExact: requests that differ only in an attribute the condition
// reads never share an entry; requests that differ elsewhere do.
func TestCacheKeyExact(t *testing.T) {
	cache := newCountedCache(t, 1000, time.Minute)
	c, err := newCompiler(nil, Options{Cache: cache.Cache}, true)
	if err != nil {
		t.Fatal(err)
	}
	cond, err := c.Compile("when", `request.header.exists("X-A") && request.header["X-A"] == "" && request.query["q"] == "a b"`)
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name    string
		req     req
		want    bool
		wantHit bool
	}{
		{"empty header, q", req{target: "/?q=a+b", headers: http.Header{"X-A": {""}}}, true, false},
		{"same again", req{target: "/?q=a+b", headers: http.Header{"X-A": {""}}}, true, true},
		{"other path, unread", req{target: "/other?q=a+b", headers: http.Header{"X-A": {""}}}, true, true},
		{"header absent", req{target: "/?q=a+b"}, false, false},
		{"header absent again", req{target: "/?q=a+b"}, false, true},
		{"header set", req{target: "/?q=a+b", header: map[string]string{"X-A": "x"}}, false, false},
		{"same value other escaping", req{target: "/?q=a%20b", headers: http.Header{"X-A": {""}}}, true, false},
		{"second value unread", req{target: "/?q=a+b&q=z", headers: http.Header{"X-A": {""}}}, true, true},
		{"first value differs", req{target: "/?q=z&q=a+b", headers: http.Header{"X-A": {""}}}, false, false},
	}
	for _, s := range steps {
		h0, _ := cache.counts()
		if got := cond.Match(s.req.build(t)); got != s.want {
			t.Errorf("%s: Match = %v, want %v", s.name, got, s.want)
		}
		cache.settle()
		h1, _ := cache.counts()
		if hit := h1 > h0; hit != s.wantHit {
			t.Errorf("%s: hit = %v, want %v", s.name, hit, s.wantHit)
		}
	}
}

// TestCacheVerifiesKey plants an entry whose stored key differs under the
// hash of a real key, as a hash collision would: the lookup must miss.
func TestCacheVerifiesKey(t *testing.T) {
	cache := newCountedCache(t, 100, 0)
	c, err := NewCompiler(nil, Options{Cache: cache.Cache})
	if err != nil {
		t.Fatal(err)
	}
	p, err := compileProgram("when", `request.method == "GET"`, boolType)
	if err != nil {
		t.Fatal(err)
	}
	cp := &cachedProgram{p: p, cache: cache.Cache, id: cache.id(p.src), clientIP: c.clientIP}
	r := req{}.build(t)
	var k attrKey
	strs, h, _ := cp.key(r, nil, &k)
	if !slices.Equal(strs, []string{"GET"}) {
		t.Fatalf("key strings %q", strs)
	}
	cache.store.Set(h, &cacheEntry{attrKey: k, strs: []string{"POST"}, id: cp.id, hash: h, val: false}, 1)
	cache.settle()
	if !cp.match(r) {
		t.Fatal("a colliding entry answered the lookup")
	}
	if hits, misses := cache.counts(); hits != 0 || misses != 1 {
		t.Errorf("hits %d misses %d, want 0 and 1", hits, misses)
	}
	cache.settle()
	if !cp.match(r) {
		t.Fatal("wrong answer after the entry was replaced")
	}
	if hits, _ := cache.counts(); hits != 1 {
		t.Errorf("the replaced entry was not hit: hits %d", hits)
	}
}

func TestCacheSharedAcrossCompilers(t *testing.T) {
	cache := newCountedCache(t, 100, time.Minute)
	src := `request.path == "/x"`
	r := req{target: "/x"}.build(t)
	for i := range 2 {
		c, err := newCompiler(map[string]any{"x": src}, Options{Cache: cache.Cache}, true)
		if err != nil {
			t.Fatal(err)
		}
		cond, _ := c.Named("x")
		if !cond.Match(r) {
			t.Fatal("does not hold")
		}
		cache.settle()
		if hits, _ := cache.counts(); hits != i {
			t.Errorf("compiler %d: hits %d, want %d (a reload keeps warm entries)", i, hits, i)
		}
	}
}

func TestCacheTTL(t *testing.T) {
	const ttl = 40 * time.Millisecond
	cache := newCountedCache(t, 100, ttl)
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
	cache.settle()
	cond.Match(r)
	if hits, _ := cache.counts(); hits != 1 {
		t.Fatalf("fresh entry not hit: hits %d", hits)
	}
	// After ttl plus a tick the entry is neither used nor kept.
	wait.For(t, "the sweeper drops the expired entry", func() bool {
		n := 0
		cache.store.IterValues(func(*cacheEntry) bool { n++; return false })
		return n == 0
	})
	_, m0 := cache.counts()
	if !cond.Match(r) {
		t.Fatal("wrong answer after expiry")
	}
	if _, m1 := cache.counts(); m1 != m0+1 {
		t.Errorf("lookup after expiry: misses %d -> %d, want one more", m0, m1)
	}
}

func TestCacheExpiredEntryNotUsed(t *testing.T) {
	cache := newCountedCache(t, 100, time.Hour)
	p, err := compileProgram("when", `request.method == "GET"`, boolType)
	if err != nil {
		t.Fatal(err)
	}
	cp := &cachedProgram{p: p, cache: cache.Cache, id: cache.id(p.src), clientIP: remoteAddrIP}
	r := req{}.build(t)
	var k attrKey
	strs, h, _ := cp.key(r, nil, &k)
	// An entry that expired before the coarse clock's now, with the wrong
	// answer: it must not be used.
	cache.store.Set(h, &cacheEntry{attrKey: k, strs: strs, id: cp.id, hash: h, val: false, expires: cache.now.Load() - 1}, 1)
	cache.settle()
	if !cp.match(r) {
		t.Fatal("an expired entry answered")
	}
}

func TestLongKeyBypassesCache(t *testing.T) {
	cache := newCountedCache(t, 100, time.Minute)
	c, err := newCompiler(nil, Options{Cache: cache.Cache}, true)
	if err != nil {
		t.Fatal(err)
	}
	cond, err := c.Compile("when", `request.header["X-Big"].endsWith("z")`)
	if err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("a", maxKeyLen) + "z"
	r := req{header: map[string]string{"X-Big": big}}.build(t)
	for range 3 {
		if !cond.Match(r) {
			t.Fatal("does not hold")
		}
	}
	if hits, misses := cache.counts(); hits+misses != 0 {
		t.Errorf("an over-long key was looked up: hits %d misses %d", hits, misses)
	}
	// A long key within the limit is cached.
	mid := strings.Repeat("b", maxKeyLen-1) + "z"
	r = req{header: map[string]string{"X-Big": mid}}.build(t)
	cond.Match(r)
	cache.settle()
	cond.Match(r)
	if hits, _ := cache.counts(); hits != 1 {
		t.Errorf("a %d-byte key was not cached: hits %d", len(mid), hits)
	}
}

func TestCostLimit(t *testing.T) {
	c, err := NewCompiler(nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		src         string
		wantTracked bool
	}{
		{`request.path.startsWith("/a") && request.header["X"] == "y"`, false},
		{`path_match("/api/*")`, false},
		{`[1, 2, 3].all(x, x > 0) && request.method == "GET"`, false},
		{`request.header.exists(k, k.startsWith("X-"))`, true},
		{`request.header.all(a, request.header.all(b, a + b != ""))`, true},
	}
	for _, tt := range tests {
		p, err := compileProgram("when", tt.src, boolType)
		if err != nil {
			t.Fatal(err)
		}
		if p.tracked != tt.wantTracked {
			t.Errorf("%s: tracked = %v, want %v", tt.src, p.tracked, tt.wantTracked)
		}
	}
	// A quadratic comprehension over many headers stops at the limit and
	// does not hold, instead of running for long.
	cond, err := c.Compile("when", `request.header.all(a, request.header.all(b, size(a + b) > 0))`)
	if err != nil {
		t.Fatal(err)
	}
	small := req{header: map[string]string{"A": "1", "B": "2"}}.build(t)
	if !cond.Match(small) {
		t.Error("holds for a few headers: want true")
	}
	big := req{}.build(t)
	for i := range 2000 {
		big.Header.Set(fmt.Sprintf("X-H%d", i), "v")
	}
	start := time.Now()
	if cond.Match(big) {
		t.Error("an evaluation over the cost limit held")
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("evaluation over the cost limit took %v", d)
	}
	// A single pass over a few hundred headers stays well within it.
	scan, err := c.Compile("when", `request.header.exists(k, k.startsWith("X-Trace"))`)
	if err != nil {
		t.Fatal(err)
	}
	many := req{}.build(t)
	for i := range 500 {
		many.Header.Set(fmt.Sprintf("X-H%d", i), "v")
	}
	if scan.Match(many) {
		t.Error("scan over 500 headers without X-Trace held")
	}
	many.Header.Set("X-Trace-Id", "1")
	if !scan.Match(many) {
		t.Error("scan over 500 headers with X-Trace-Id does not hold")
	}
}

// TestDifferential: 100,000 random requests against 50 random conditions
// give the same answer with the cache on and off. The reference is the CEL
// interpreter without a cache; against it run the production configuration
// (expressions translated to Go where they can be, the rest cached) and the
// interpreter with every expression cached in a cache small enough to evict
// all the time.
func TestDifferential(t *testing.T) {
	const (
		nConds    = 50
		nRequests = 100_000
		workers   = 2
	)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	named := map[string]any{
		"internal": map[string]any{"remote_ip": []any{"10.0.0.0/8", "fd00::/8"}},
		"is_api":   `request.path.startsWith("/api/")`,
	}
	prod := newCountedCache(t, 5000, time.Minute)
	small := newCountedCache(t, 256, time.Minute)
	var cs []*Compiler
	for _, o := range []struct {
		cache     *Cache
		interpret bool
	}{{nil, true}, {prod.Cache, false}, {small.Cache, true}} {
		c, err := newCompiler(named, Options{Cache: o.cache}, o.interpret)
		if err != nil {
			t.Fatal(err)
		}
		cs = append(cs, c)
	}
	g := &condGen{rng: rng}
	srcs := make([]any, nConds)
	conds := make([][]*Condition, nConds)
	for i := range srcs {
		srcs[i] = g.condition(3)
		for _, c := range cs {
			cond, err := c.Compile(fmt.Sprintf("conds[%d]", i), srcs[i])
			if err != nil {
				t.Fatalf("generated condition %v: %v", srcs[i], err)
			}
			conds[i] = append(conds[i], cond)
		}
	}
	seeds := make([]uint64, workers)
	for i := range seeds {
		seeds[i] = rng.Uint64()
	}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		failures []string
		held     = make([]int, nConds)
	)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rg := &reqGen{rng: rand.New(rand.NewPCG(seeds[w], 1))}
			local := make([]int, nConds)
			for n := 0; n < nRequests/workers; n++ {
				r := rg.request(t)
				for i := range conds {
					want := conds[i][0].Match(r)
					for j := 1; j < len(cs); j++ {
						if got := conds[i][j].Match(r); got != want {
							mu.Lock()
							if len(failures) < 10 {
								failures = append(failures, fmt.Sprintf("condition %v, compiler %d, on %s %s host %q remote %q tls %v route %q header %v: got %v, interpreter %v",
									srcs[i], j, r.Method, r.URL, r.Host, r.RemoteAddr, r.TLS != nil, routePattern(r), r.Header, got, want))
							}
							mu.Unlock()
						}
					}
					if want {
						local[i]++
					}
				}
			}
			mu.Lock()
			for i, n := range local {
				held[i] += n
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	for _, f := range failures {
		t.Error(f)
	}
	hits, misses := prod.counts()
	t.Logf("production cache: %d hits, %d misses", hits, misses)
	hits, misses = small.counts()
	t.Logf("small cache: %d hits, %d misses", hits, misses)
	// Both answers from the cache and evictions must be frequent.
	if hits < nRequests || misses < nRequests/10 {
		t.Errorf("small cache: %d hits, %d misses: the test does not exercise both hits and eviction", hits, misses)
	}
	// The generated conditions must discriminate: most hold for some
	// requests and not for others.
	trivial := 0
	for i, n := range held {
		if n == 0 || n == nRequests {
			trivial++
			t.Logf("condition %v held for %d of %d requests", srcs[i], n, nRequests)
		}
	}
	if trivial > nConds*2/5 {
		t.Errorf("%d of %d conditions were constant over the requests", trivial, nConds)
	}
}

// condGen builds random conditions over small value domains, so that random
// requests hit and miss them.
type condGen struct{ rng *rand.Rand }

func (g *condGen) pick(xs ...string) string { return xs[g.rng.IntN(len(xs))] }

func (g *condGen) condition(depth int) any {
	if depth == 0 || g.rng.IntN(3) == 0 {
		if g.rng.IntN(2) == 0 {
			return g.expression(2)
		}
		return g.matcher()
	}
	switch g.rng.IntN(4) {
	case 0:
		return map[string]any{"all": g.list(depth)}
	case 1:
		return map[string]any{"any": g.list(depth)}
	case 2:
		return map[string]any{"not": g.condition(depth - 1)}
	}
	m := g.matcher()
	m["any"] = g.list(depth)
	return m
}

func (g *condGen) list(depth int) []any {
	n := 1 + g.rng.IntN(3)
	out := make([]any, n)
	for i := range out {
		out[i] = g.condition(depth - 1)
	}
	return out
}

func (g *condGen) matcher() map[string]any {
	m := map[string]any{}
	for len(m) == 0 || g.rng.IntN(3) == 0 {
		switch g.rng.IntN(7) {
		case 0:
			m["method"] = []any{g.pick("GET", "POST", "HEAD"), g.pick("PUT", "DELETE", "GET")}
		case 1:
			m["path"] = g.pick("/api/*", "/api/users/*", "*.css", "/", "/a b", "*users*", "/api/*/1")
		case 2:
			m["host"] = g.pick("example.com", "*.example.com", "*", "other.org")
		case 3:
			m["header"] = map[string]any{g.pick("X-A", "x-b", "Accept"): g.pick("", "1", "y*", "*json*", "a")}
		case 4:
			m["query"] = map[string]any{g.pick("a", "b", "debug"): g.pick("", "1", "x*", "*y")}
		case 5:
			m["remote_ip"] = []any{g.pick("10.0.0.0/8", "192.0.2.0/24", "2001:db8::/32", "10.1.2.3")}
		case 6:
			return map[string]any{"not": g.pick("internal", "is_api")}
		}
	}
	return m
}

func (g *condGen) expression(depth int) string {
	if depth > 0 && g.rng.IntN(2) == 0 {
		a, b := g.expression(depth-1), g.expression(depth-1)
		switch g.rng.IntN(5) {
		case 0, 1:
			return "(" + a + ") && (" + b + ")"
		case 2, 3:
			return "(" + a + ") || (" + b + ")"
		}
		if g.rng.IntN(2) == 0 {
			return "(" + g.expression(depth-1) + ") ? (" + a + ") : (" + b + ")"
		}
		return "!(" + a + ")"
	}
	switch g.rng.IntN(28) {
	case 0:
		return fmt.Sprintf(`request.method == %q`, g.pick("GET", "POST", "get"))
	case 1:
		return fmt.Sprintf(`request.path.startsWith(%q)`, g.pick("/api/", "/static/", "/A"))
	case 2:
		return fmt.Sprintf(`path_match(%q)`, g.pick("/api/*", "*.css", "/a b"))
	case 3:
		return fmt.Sprintf(`request.host == %q`, g.pick("example.com", "api.example.com", "::1"))
	case 4:
		return `request.scheme == "https"`
	case 5:
		return fmt.Sprintf(`ip_in(request.remote_ip, %q)`, g.pick("10.0.0.0/8", "2001:db8::/32", "192.0.2.10"))
	case 6:
		return fmt.Sprintf(`request.header.exists(%q)`, g.pick("X-A", "x-b", "Accept"))
	case 7:
		return fmt.Sprintf(`request.header[%q] == %q`, g.pick("X-A", "X-B", "x-a"), g.pick("", "1", "yes", "a"))
	case 8:
		return fmt.Sprintf(`request.query[%q] == %q`, g.pick("a", "b"), g.pick("1", "x y", "3"))
	case 9:
		return fmt.Sprintf(`%q in request.query`, g.pick("a", "debug", "c"))
	case 10:
		return fmt.Sprintf(`request.content_length %s %d`, g.pick(">", "<", ">=", "<=", "==", "!="), g.rng.IntN(6000)-1)
	case 11:
		return fmt.Sprintf(`request.proto %s "HTTP/2.0"`, g.pick("==", "!=", "<"))
	case 12:
		return fmt.Sprintf(`request.route == %q`, g.pick("", "/api/users/{id}", "/static/*"))
	case 13:
		return `request.header.exists(k, k.startsWith("X-"))`
	case 14:
		return `size(request.query) > 1`
	case 15:
		return fmt.Sprintf(`has(request.query.%s)`, g.pick("a", "b"))
	case 16:
		return fmt.Sprintf(`request.method in [%q, %q]`, g.pick("GET", "HEAD"), g.pick("POST", "get"))
	case 17:
		return fmt.Sprintf(`request.path.%s(%q)`, g.pick("endsWith", "contains"), g.pick("1", "users", ".css", " "))
	case 18:
		return fmt.Sprintf(`request.path.matches(%q)`, g.pick("^/api/users/[0-9]+$", "css$", "(?i)^/api"))
	case 19:
		return fmt.Sprintf(`request.header[%q].startsWith(%q)`, g.pick("X-A", "Accept"), g.pick("y", "app", ""))
	case 20:
		return fmt.Sprintf(`request.header.exists(%q) == %s`, g.pick("X-A", "X-B"), g.pick("true", "false"))
	case 21:
		return fmt.Sprintf(`ip_in(request.header[%q], "10.0.0.0/8")`, g.pick("X-A", "X-B"))
	case 22:
		return fmt.Sprintf(`request.query.%s %s %q`, g.pick("a", "b"), g.pick("==", "!=", ">"), g.pick("1", "x y", "2"))
	case 23:
		return fmt.Sprintf(`int(request.query[%q]) > 1`, g.pick("a", "b"))
	case 24:
		return fmt.Sprintf(`request.content_length in [0, %d]`, g.pick2(2500, 5000))
	case 25:
		return fmt.Sprintf(`has(request.header.%s)`, g.pick("Accept", "X_A"))
	case 26:
		return fmt.Sprintf(`request.remote_ip %s %q`, g.pick("==", "!="), g.pick("10.1.2.3", "2001:db8::1", ""))
	}
	return fmt.Sprintf(`request.host.endsWith(%q) || request.header[%q] != %q`, g.pick(".com", "org"), g.pick("X-B", "Accept"), g.pick("a", "text/html"))
}

func (g *condGen) pick2(a, b int) int {
	if g.rng.IntN(2) == 0 {
		return a
	}
	return b
}

// reqGen builds random requests over the same domains.
type reqGen struct{ rng *rand.Rand }

func (g *reqGen) pick(xs ...string) string { return xs[g.rng.IntN(len(xs))] }

func (g *reqGen) request(t testing.TB) *http.Request {
	q := req{
		method: g.pick("GET", "GET", "HEAD", "POST", "PUT", "DELETE", "get"),
		target: "http://" + g.pick("example.com", "api.example.com:8443", "EXAMPLE.com", "[::1]:8080", "other.org") +
			g.pick("/", "/api/users/1", "/api/users/2", "/api/x/1", "/static/app.css", "/API/x", "/a%20b", "/admin/users") +
			g.pick("", "?a=1", "?a=2&a=1", "?a=%31", "?b=x+y", "?a;b=1&a=3", "?a=%zz&a=4", "?debug", "?b=yes&c=2", "?a=x1&b=zy"),
		remote: g.pick("192.0.2.10:1", "10.1.2.3:2", "[2001:db8::1]:3", "[::ffff:10.0.0.1]:4", "unknown", "[fd00::7]:5"),
		tls:    g.rng.IntN(2) == 0,
		route:  g.pick("", "/api/users/{id}", "/static/*"),
		length: int64(g.rng.IntN(3) * 2500),
		proto:  g.pick("HTTP/1.1", "HTTP/2.0"),
		header: map[string]string{},
	}
	if v := g.pick("-", "", "1", "yes", "YES", "y2", "a"); v != "-" {
		q.header["X-A"] = v
	}
	if v := g.pick("-", "a", "b", "1"); v != "-" {
		q.header["X-B"] = v
	}
	if v := g.pick("-", "application/json", "text/html"); v != "-" {
		q.header["Accept"] = v
	}
	r := q.build(t)
	if q.header["X-A"] == "" && g.rng.IntN(2) == 0 {
		r.Header["X-A"] = []string{"", "second"}
	}
	return r
}
