package caching

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/instances"
	"github.com/switchyard/switchyard/internal/wait"
	"github.com/switchyard/switchyard/plugintest"
	"github.com/switchyard/switchyard/registry"
)

type otherConfig struct {
	// V is any value; changing it is an unrelated reload.
	V int `koanf:"v" json:"v"`
}

func init() {
	registry.Register("caching-test-other", func(ctx *registry.Context, cfg *otherConfig) (registry.Instance, error) {
		return registry.MiddlewareFunc(func(next http.Handler) http.Handler { return next }), nil
	})
}

// generation is one built configuration as the host holds it: its set, its
// chain, and its in-flight requests.
type generation struct {
	set     *instances.Set
	cache   *Cache
	handler http.Handler

	mu      sync.Mutex
	n       int  // requests in flight
	retired bool // no new requests
	drained chan struct{}
}

// enter counts a request in, unless the generation is retired.
func (g *generation) enter() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.retired {
		return false
	}
	g.n++
	return true
}

func (g *generation) leave() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.n--
	if g.retired && g.n == 0 {
		close(g.drained)
	}
}

// retire stops new requests and waits for the last one in flight.
func (g *generation) retire() {
	g.mu.Lock()
	g.retired = true
	if g.n == 0 {
		close(g.drained)
	}
	g.mu.Unlock()
	<-g.drained
}

// TestReload checks that an unrelated reload keeps the very same cache (hits
// continue), and that a changed max_size builds a new cache, carries the
// entries over, and closes the old one exactly once after its last request,
// with requests running throughout.
func TestReload(t *testing.T) {
	clock := newFakeClock()
	reg := instances.New(instances.Options{})
	base := plugintest.NewServices(plugintest.WithNow(clock.Now))
	// /slow is held until the test lets it go, so that it is surely in
	// flight while the old cache is retired, however slow the machine.
	slowRelease := make(chan struct{})
	up := &counter{fn: func(n int64, w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			<-slowRelease
		}
		w.Header().Set("Cache-Control", "max-age=600")
		fmt.Fprint(w, r.URL.Path)
	}}
	build := func(maxSize string, other int) *generation {
		t.Helper()
		set, err := reg.Build(base, []instances.Spec{
			{Name: "c", Type: "caching", Config: map[string]any{"max_size": maxSize}},
			{Name: "other", Type: "caching-test-other", Config: map[string]any{"v": other}},
		}, nil)
		if err != nil {
			t.Fatalf("build: %v", err)
		}
		inst, _ := set.Get("c")
		g := &generation{set: set, cache: inst.(*Cache), drained: make(chan struct{})}
		g.handler = g.cache.Wrap(up)
		return g
	}
	var current atomic.Pointer[generation]
	serve := func(path string) *httptest.ResponseRecorder {
		g := current.Load()
		for !g.enter() { // swapped meanwhile: take the new one
			g = current.Load()
		}
		defer g.leave()
		rec := httptest.NewRecorder()
		g.handler.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		return rec
	}
	swap := func(g *generation) {
		old := current.Swap(g)
		if old != nil {
			old.retire() // drain, as the host does, then release
			old.set.Release()
		}
	}

	g1 := build("1MB", 1)
	swap(g1)
	for i := range 20 {
		serve(fmt.Sprintf("/p%d", i))
	}
	// Load runs through every swap below.
	stop := make(chan struct{})
	var load sync.WaitGroup
	var bad atomic.Int64
	for w := range 4 {
		load.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if rec := serve(fmt.Sprintf("/p%d", (i+w)%20)); rec.Code != 200 {
					bad.Add(1)
				}
			}
		})
	}

	g2 := build("1MB", 2) // unrelated change
	if g2.cache != g1.cache {
		t.Fatal("an unrelated reload built a new cache")
	}
	swap(g2)
	if g1.cache.closeCalls.Load() != 0 {
		t.Fatal("the reused cache was closed")
	}
	callsBefore := up.calls()
	for i := range 20 {
		if rec := serve(fmt.Sprintf("/p%d", i)); rec.Header().Get("X-Cache") != "HIT" {
			t.Errorf("after an unrelated reload /p%d: X-Cache %q", i, rec.Header().Get("X-Cache"))
		}
	}
	if up.calls() != callsBefore {
		t.Errorf("upstream called %d times after an unrelated reload", up.calls()-callsBefore)
	}

	// A slow request stays in flight on the old cache while max_size changes.
	slowDone := make(chan struct{})
	go func() { serve("/slow"); close(slowDone) }()
	wait.For(t, "the slow request in flight", func() bool { return g2.cache.flights.busy([]byte("GET http://example.com/slow")) })
	g3 := build("2MB", 2)
	if g3.cache == g2.cache {
		t.Fatal("a changed max_size reused the old cache")
	}
	swapped := make(chan struct{})
	go func() { swap(g3); close(swapped) }()
	// Give a wrong close a moment to happen; a right one waits for the request.
	if wait.Check(20*time.Millisecond, func() bool { return g2.cache.closeCalls.Load() != 0 }) {
		t.Fatal("the old cache was closed while a request was still in flight")
	}
	close(slowRelease)
	<-slowDone
	<-swapped
	if n := g2.cache.closeCalls.Load(); n != 1 {
		t.Fatalf("old cache closed %d times, want 1", n)
	}
	for i := range 20 {
		if rec := serve(fmt.Sprintf("/p%d", i)); rec.Header().Get("X-Cache") != "HIT" {
			t.Errorf("new cache: /p%d not carried over (X-Cache %q)", i, rec.Header().Get("X-Cache"))
		}
	}
	if got := g3.cache.mem.rc.MaxCost(); got != 2_000_000 {
		t.Errorf("new cache MaxCost = %d, want 2000000", got)
	}
	close(stop)
	load.Wait()
	if bad.Load() != 0 {
		t.Errorf("%d requests failed during reloads", bad.Load())
	}
	current.Load().set.Release()
	if n := g3.cache.closeCalls.Load(); n != 1 {
		t.Errorf("last cache closed %d times, want 1", n)
	}
}
