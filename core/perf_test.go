package core

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/wait"
	"github.com/switchyard/switchyard/plugins/compression"
	"github.com/switchyard/switchyard/pool"
)

// Issue 8, acceptance 1: every key of the performance block, changed by a
// reload, has an effect that the tests below observe.

func bufferYAML(size string, count int, prealloc bool) string {
	return fmt.Sprintf("performance: {memory: {buffer_pool: {size: %s, count: %d, prealloc: %v}}}\nroutes: []\n", size, count, prealloc)
}

func TestPerfBufferPoolReload(t *testing.T) {
	p := newPerfHost(t, bufferYAML("64KiB", 8, true), false)
	b := p.h.Pools().Buffers
	check := func(step string, want pool.BufferOptions, idle int64) {
		t.Helper()
		got := b.Options()
		if got.MaxSize != want.MaxSize || got.Count != want.Count || got.Prealloc != want.Prealloc {
			t.Fatalf("%s: options %+v, want size %d count %d prealloc %v", step, got, want.MaxSize, want.Count, want.Prealloc)
		}
		if st := b.Stats(); st.Idle != idle || st.Capacity != int64(want.Count) {
			t.Fatalf("%s: idle %d capacity %d, want %d and %d", step, st.Idle, st.Capacity, idle, want.Count)
		}
		if v := poolValue(t, p.h, "pool_capacity", "buffer"); v != float64(want.Count) {
			t.Fatalf("%s: pool_capacity{pool=buffer} = %v, want %d", step, v, want.Count)
		}
		if v := poolValue(t, p.h, "pool_idle", "buffer"); v != float64(idle) {
			t.Fatalf("%s: pool_idle{pool=buffer} = %v, want %d", step, v, idle)
		}
	}
	// prealloc fills count buffers at load.
	check("load", pool.BufferOptions{MaxSize: 64 << 10, Count: 8, Prealloc: true}, 8)

	// size: a 100 KB buffer is over 64KiB, so it is a one-off that Put drops.
	big := b.GetSize(100 << 10)
	dropped := b.Stats().Dropped
	b.Put(big)
	if b.Stats().Dropped != dropped+1 || b.Stats().Idle != 8 {
		t.Fatalf("a buffer over size was kept: %+v", b.Stats())
	}

	// A smaller count trims the idle buffers at once; without prealloc none
	// are added.
	p.reload(bufferYAML("1MiB", 3, false))
	check("count 3, size 1MiB, no prealloc", pool.BufferOptions{MaxSize: 1 << 20, Count: 3}, 3)
	if d := b.Stats().Dropped; d < dropped+1+5 {
		t.Fatalf("trimming 8 idle buffers to 3 dropped %d, want 5 more", d-dropped-1)
	}
	// Now 100 KB is under size: with room in the pool it is kept and
	// reused.
	held := []*bytes.Buffer{b.Get(), b.Get(), b.Get()}
	b.Put(b.GetSize(100 << 10))
	hits := b.Stats().Hits
	got := b.GetSize(100 << 10)
	if got.Cap() < 100<<10 || b.Stats().Hits != hits+1 {
		t.Fatalf("a 100 KB buffer under size 1MiB was not reused: cap %d, %+v", got.Cap(), b.Stats())
	}
	b.Put(got)
	for _, x := range held {
		b.Put(x)
	}

	// count 0 keeps nothing: every Get allocates.
	p.reload(bufferYAML("1MiB", 0, true))
	check("count 0", pool.BufferOptions{MaxSize: 1 << 20, Count: 0, Prealloc: true}, 0)
	misses := b.Stats().Misses
	for range 3 {
		b.Put(b.Get())
	}
	if st := b.Stats(); st.Misses != misses+3 || st.Idle != 0 {
		t.Fatalf("count 0: %+v, want every Get a miss and nothing idle", st)
	}

	// prealloc on a larger count fills up to it.
	p.reload(bufferYAML("1MiB", 16, true))
	check("count 16, prealloc", pool.BufferOptions{MaxSize: 1 << 20, Count: 16, Prealloc: true}, 16)
}

func objectYAML(size int, ttl string) string {
	return fmt.Sprintf(`performance: {memory: {object_pool: {size: %d, ttl: %s}}}
routes:
  - path: /wait
    handler: perf.wait
`, size, ttl)
}

// TestPerfObjectPoolReload: object_pool.size bounds the response-writer
// wrappers kept after a burst, and ttl drops idle ones.
func TestPerfObjectPoolReload(t *testing.T) {
	var gate sync.WaitGroup
	release := make(chan struct{})
	var relMu sync.Mutex
	p := newPerfHost(t, objectYAML(4, "150ms"), false, func(h *Host) {
		h.HandleFunc("perf.wait", func(w http.ResponseWriter, r *http.Request) {
			gate.Done()
			relMu.Lock()
			ch := release
			relMu.Unlock()
			<-ch
		})
	})
	objs := p.h.pools.objects
	// burst holds n requests in the host at once, then lets them finish.
	burst := func(n int) {
		t.Helper()
		relMu.Lock()
		release = make(chan struct{})
		relMu.Unlock()
		gate.Add(n)
		var done sync.WaitGroup
		for range n {
			done.Add(1)
			go func() {
				defer done.Done()
				if code, _, _ := fetch(p.h, "/wait"); code != 200 {
					t.Errorf("GET /wait = %d", code)
				}
			}()
		}
		gate.Wait()
		if st := objs.Stats(); st.InUse < int64(n) {
			t.Errorf("%d requests in flight but %d objects in use", n, st.InUse)
		}
		relMu.Lock()
		close(release)
		relMu.Unlock()
		done.Wait()
	}

	if st := objs.Stats(); st.Capacity != 4 {
		t.Fatalf("capacity %d, want size 4", st.Capacity)
	}
	burst(10)
	if st := objs.Stats(); st.Idle != 4 || st.Dropped < 6 {
		t.Fatalf("after a burst of 10 with size 4: idle %d dropped %d, want 4 kept and 6 dropped", st.Idle, st.Dropped)
	}
	if v := poolValue(t, p.h, "pool_idle", "object"); v != 4 {
		t.Fatalf("pool_idle{pool=object} = %v, want 4", v)
	}
	// ttl 150ms: the idle objects go.
	wait.For(t, "idle objects dropped after ttl 150ms", func() bool { return objs.Stats().Idle == 0 })

	// Reload: size 8 and a ttl that outlives the test.
	p.reload(objectYAML(8, "1h"))
	if st := objs.Stats(); st.Capacity != 8 {
		t.Fatalf("capacity %d after reload, want size 8", st.Capacity)
	}
	burst(10)
	if st := objs.Stats(); st.Idle != 8 {
		t.Fatalf("after a burst of 10 with size 8: idle %d, want 8", st.Idle)
	}
	// Room for a wrong drop to show.
	wait.Check(400*time.Millisecond, func() bool { return objs.Stats().Idle != 8 })
	if st := objs.Stats(); st.Idle != 8 {
		t.Fatalf("ttl 1h: idle objects dropped after 400ms (idle %d)", st.Idle)
	}
	// A smaller size trims at once.
	p.reload(objectYAML(2, "1h"))
	if st := objs.Stats(); st.Idle != 2 || st.Capacity != 2 {
		t.Fatalf("size 2: idle %d capacity %d, want 2 and 2", st.Idle, st.Capacity)
	}
}

func threadYAML(minW, maxW, queue int) string {
	return fmt.Sprintf(`performance: {cpu: {thread_pool: {min_workers: %d, max_workers: %d, queue_size: %d}}}
routes:
  - path: /blocking
    handler: perf.blocking
`, minW, maxW, queue)
}

// TestPerfThreadPoolReload: min_workers, max_workers and queue_size resize
// the pool behind pool.Handler(h.Pools().Threads, ...); a full queue is a 503.
func TestPerfThreadPoolReload(t *testing.T) {
	var started atomic.Int64
	var gateMu sync.Mutex
	gate := make(chan struct{})
	p := newPerfHost(t, threadYAML(2, 4, 8), false, func(h *Host) {
		h.Handle("perf.blocking", pool.Handler(h.Pools().Threads, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			started.Add(1)
			gateMu.Lock()
			g := gate
			gateMu.Unlock()
			<-g
			io.WriteString(w, "done")
		})))
	})
	tp := p.h.Pools().Threads
	checkOpts := func(step string, minW, maxW, queue int) {
		t.Helper()
		o := tp.Options()
		if o.MinWorkers != minW || o.MaxWorkers != maxW || o.QueueSize != queue {
			t.Fatalf("%s: options %+v, want min %d max %d queue %d", step, o, minW, maxW, queue)
		}
		// min_workers are started at once; workers above it (started for
		// a burst) stay until their idle timeout, never beyond max_workers.
		wait.For(t, fmt.Sprintf("%s: between %d and %d workers", step, minW, maxW), func() bool {
			n := tp.Stats().Workers
			return n >= int64(minW) && n <= int64(maxW)
		})
		if v := poolValue(t, p.h, "pool_capacity", "thread"); v != float64(maxW) {
			t.Fatalf("%s: pool_capacity{pool=thread} = %v, want %d", step, v, maxW)
		}
		if v := poolValue(t, p.h, "pool_workers", "thread"); v < float64(minW) || v > float64(maxW) {
			t.Fatalf("%s: pool_workers{pool=thread} = %v, want %d..%d", step, v, minW, maxW)
		}
	}
	// load sends n concurrent requests, waits until the pool is running
	// what it can and queueing the rest, and returns their status codes once
	// the gate opens.
	load := func(n, running int) []int {
		t.Helper()
		gateMu.Lock()
		gate = make(chan struct{})
		gateMu.Unlock()
		started.Store(0)
		codes := make([]int, n)
		var wg sync.WaitGroup
		rejected := tp.Stats().Rejected
		queuedOrRejected := func() int64 { return tp.Stats().QueueDepth + tp.Stats().Rejected - rejected }
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				codes[i], _, _ = fetch(p.h, "/blocking")
			}()
		}
		wait.For(t, fmt.Sprintf("%d requests running", running), func() bool { return started.Load() == int64(running) })
		wait.For(t, "every request running, queued or refused", func() bool { return queuedOrRejected() == int64(n-running) })
		gateMu.Lock()
		close(gate)
		gateMu.Unlock()
		wg.Wait()
		slices.Sort(codes)
		return codes
	}
	count := func(codes []int, c int) int {
		n := 0
		for _, x := range codes {
			if x == c {
				n++
			}
		}
		return n
	}

	checkOpts("load", 2, 4, 8)
	if codes := load(10, 4); count(codes, 200) != 10 {
		t.Fatalf("4 workers + queue 8, 10 requests: %v, want all 200", codes)
	}

	p.reload(threadYAML(1, 2, 1))
	checkOpts("min 1, max 2, queue 1", 1, 2, 1)
	rejected := tp.Stats().Rejected
	if codes := load(5, 2); count(codes, 200) != 3 || count(codes, 503) != 2 {
		t.Fatalf("2 workers + queue 1, 5 requests: %v, want three 200 and two 503", codes)
	}
	if got := tp.Stats().Rejected - rejected; got != 2 {
		t.Fatalf("rejected %d, want 2", got)
	}
	if v := poolValue(t, p.h, "pool_rejected_total", "thread"); v < 2 {
		t.Fatalf("pool_rejected_total{pool=thread} = %v, want at least 2", v)
	}

	p.reload(threadYAML(3, 3, 2))
	checkOpts("min 3, max 3, queue 2", 3, 3, 2)
	if n := tp.Stats().Workers; n != 3 {
		t.Fatalf("%d workers, want min_workers 3", n)
	}
	if codes := load(5, 3); count(codes, 200) != 5 {
		t.Fatalf("3 workers + queue 2, 5 requests: %v, want all 200", codes)
	}
}

func processYAML(workers, perChild int) string {
	return fmt.Sprintf(`performance: {cpu: {process_pool: {workers: %d, maxtasksperchild: %d}}}
plugins:
  gz: {type: compression, min_size: 1}
routes:
  - path: /huge
    middleware: [{use: gz}]
    handler: perf.huge
`, workers, perChild)
}

// TestPerfProcessPoolReload: workers and maxtasksperchild resize the pool
// that compression sends bodies of 1 MB and more to.
func TestPerfProcessPoolReload(t *testing.T) {
	huge := []byte(strings.Repeat("switchyard process pool ", (1<<20)/24+1))
	p := newPerfHost(t, processYAML(2, 3), false, func(h *Host) {
		h.HandleFunc("perf.huge", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			w.Write(huge)
		})
	})
	pp := p.h.Pools().Process
	check := func(step string, workers, perChild int) {
		t.Helper()
		o := pp.Options()
		if o.MinWorkers != workers || o.MaxWorkers != workers || o.MaxTasksPerWorker != perChild {
			t.Fatalf("%s: options %+v, want %d workers, %d tasks per worker", step, o, workers, perChild)
		}
		wait.For(t, fmt.Sprintf("%s: %d workers", step, workers), func() bool { return pp.Stats().Workers == int64(workers) })
		if v := poolValue(t, p.h, "pool_workers", "process"); v != float64(workers) {
			t.Fatalf("%s: pool_workers{pool=process} = %v, want %d", step, v, workers)
		}
	}
	tasks := func(n int) {
		t.Helper()
		for range n {
			if err := pp.Do(context.Background(), func() {}); err != nil {
				t.Fatal(err)
			}
		}
	}
	check("load", 2, 3)
	recycled := pp.Stats().Dropped
	tasks(12)
	if got := pp.Stats().Dropped - recycled; got < 3 {
		t.Fatalf("12 tasks with maxtasksperchild 3 recycled %d workers, want at least 3", got)
	}
	// A 1 MB body is compressed on the process pool.
	gets := pp.Stats().Gets
	code, hdr, _ := fetch(p.h, "/huge", "Accept-Encoding", "gzip")
	if code != 200 || hdr.Get("Content-Encoding") != "gzip" {
		t.Fatalf("GET /huge = %d, Content-Encoding %q", code, hdr.Get("Content-Encoding"))
	}
	if pp.Stats().Gets == gets {
		t.Fatal("a 1 MB body was not compressed on the process pool")
	}

	p.reload(processYAML(3, 0))
	check("workers 3, no recycling", 3, 0)
	recycled = pp.Stats().Dropped
	tasks(12)
	if got := pp.Stats().Dropped - recycled; got != 0 {
		t.Fatalf("maxtasksperchild 0 recycled %d workers", got)
	}
	p.reload(processYAML(1, 2))
	check("workers 1, recycle every 2", 1, 2)
	recycled = pp.Stats().Dropped
	tasks(6)
	if got := pp.Stats().Dropped - recycled; got < 2 {
		t.Fatalf("6 tasks with maxtasksperchild 2 recycled %d workers, want at least 2", got)
	}
}

func connPoolYAML(minS, maxS int, ttl, upstream string) string {
	return fmt.Sprintf(`performance: {memory: {connection_pool: {min_size: %d, max_size: %d, ttl: %s}}}
routes:
  - path: /up/*
    handler: {proxy: {upstream: %q}}
`, minS, maxS, ttl, upstream)
}

// TestPerfConnectionPoolProxyReload: max_size, min_size and ttl size the
// proxy transport; a reload builds a new transport and the old one closes
// its idle connections.
func TestPerfConnectionPoolProxyReload(t *testing.T) {
	up := newUpstream(t, 0)
	p := newPerfHost(t, connPoolYAML(2, 5, "30s", up.url), false)
	checkTransport := func(step string, tr *http.Transport, maxC, idle int, ttl time.Duration) {
		t.Helper()
		if tr.MaxConnsPerHost != maxC || tr.MaxIdleConnsPerHost != idle || tr.IdleConnTimeout != ttl {
			t.Fatalf("%s: transport MaxConnsPerHost %d MaxIdleConnsPerHost %d IdleConnTimeout %v, want %d %d %v",
				step, tr.MaxConnsPerHost, tr.MaxIdleConnsPerHost, tr.IdleConnTimeout, maxC, idle, ttl)
		}
		if v := poolValue(t, p.h, "pool_capacity", "proxy"); v != float64(maxC) {
			t.Fatalf("%s: pool_capacity{pool=proxy} = %v, want %d", step, v, maxC)
		}
	}
	// burst sends n concurrent requests through the proxy, holds them at the
	// upstream until busy are there and queued wait in the transport, then
	// lets them go.
	burst := func(n, busy, queued int) {
		t.Helper()
		up.hold()
		var wg sync.WaitGroup
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if code, _, body := fetch(p.h, "/up/x"); code != 200 || body != "upstream /up/x" {
					t.Errorf("GET /up/x = %d %q", code, body)
				}
			}()
		}
		wait.For(t, fmt.Sprintf("%d requests at the upstream, %d waiting for a connection", busy, queued), func() bool {
			return up.inflight.Load() == int64(busy) && p.h.pools.proxies.Stats().QueueDepth == int64(queued)
		})
		if v := poolValue(t, p.h, "pool_in_use", "proxy"); v != float64(n) {
			t.Errorf("pool_in_use{pool=proxy} = %v with %d requests in flight", v, n)
		}
		up.release()
		wg.Wait()
	}

	tr1 := p.h.Pools().ProxyTransport()
	checkTransport("load", tr1, 5, 5, 30*time.Second)
	burst(4, 4, 0)
	// max_size 5: all four connections are kept idle for the next burst.
	wait.For(t, "4 idle connections kept of 4", func() bool { return p.h.pools.proxies.Stats().Idle == 4 })
	st := p.h.pools.proxies.Stats()
	if st.Misses != 4 || st.Gets != 4 || st.InUse != 0 || st.Idle != 4 || st.Waits != 0 || up.open.Load() != 4 {
		t.Fatalf("proxy pool after 4 requests: %+v, want 4 dials, 4 gets, 4 idle, no waits", st)
	}
	// The next burst reuses them: no dial.
	burst(4, 4, 0)
	if st := p.h.pools.proxies.Stats(); st.Misses != 4 || st.Hits != 4 {
		t.Fatalf("proxy pool after a second burst: %+v, want the 4 connections reused", st)
	}

	// Reload: a new transport; the old one's idle connections close.
	p.reload(connPoolYAML(1, 3, "300ms", up.url))
	tr2 := p.h.Pools().ProxyTransport()
	if tr2 == tr1 {
		t.Fatal("the connection pool changed but the transport was kept")
	}
	checkTransport("reload", tr2, 3, 3, 300*time.Millisecond)
	wait.For(t, "the old transport's idle connections closed", func() bool { return up.open.Load() == 0 })

	// max_size 3: six concurrent requests, three at the upstream, three wait.
	waits := p.h.pools.proxies.Stats().Waits
	up.maxBusy.Store(0)
	burst(6, 3, 3)
	if got := up.maxBusy.Load(); got > 3 {
		t.Fatalf("upstream saw %d requests at once with max_size 3", got)
	}
	if got := p.h.pools.proxies.Stats().Waits - waits; got != 3 {
		t.Fatalf("%d waits counted, want 3", got)
	}
	if v := poolValue(t, p.h, "pool_waits_total", "proxy"); v < 3 {
		t.Fatalf("pool_waits_total{pool=proxy} = %v, want at least 3", v)
	}
	// ttl 300ms: the idle connection is closed after it.
	wait.For(t, "idle connection closed after ttl 300ms", func() bool { return up.open.Load() == 0 })

	// A reload that keeps the pool settings keeps the transport and its
	// connections.
	if code, _, _ := fetch(p.h, "/up/y"); code != 200 {
		t.Fatal("proxy failed")
	}
	p.reload(connPoolYAML(1, 3, "300ms", up.url) + "  - path: /other\n    handler: {respond: {body: x}}\n")
	if p.h.Pools().ProxyTransport() != tr2 {
		t.Fatal("a reload with the same connection pool built a new transport")
	}
}

func fastYAML(fast ...string) string {
	q := make([]string, len(fast))
	for i, f := range fast {
		q[i] = fmt.Sprintf("%q", f)
	}
	return fmt.Sprintf(`performance: {routing: {fast_paths: [%s]}}
plugins:
  perfcount: {type: count, tag: fast}
middleware: [{use: perfcount}]
routes:
  - path: /plain
    handler: {respond: {body: plain}}
  - path: /items/*
    handler: {respond: {body: item}}
`, strings.Join(q, ", "))
}

// TestPerfFastPathsReload: a route listed in routing.fast_paths runs its
// handler alone, with no chain; a reload adds and removes it.
func TestPerfFastPathsReload(t *testing.T) {
	p := newPerfHost(t, fastYAML("/health"), false)
	runsChain := func(path string) bool {
		t.Helper()
		c := lastCounter("perfcount")
		before := c.hits.Load()
		code, hdr, _ := fetch(p.h, path)
		if code != 200 {
			t.Fatalf("GET %s = %d", path, code)
		}
		ran := c.hits.Load() != before
		if ran != (hdr.Get("X-Count") == "fast") {
			t.Fatalf("GET %s: counter ran %v but X-Count %q", path, ran, hdr.Get("X-Count"))
		}
		return ran
	}
	if !runsChain("/plain") || !runsChain("/items/7") {
		t.Fatal("routes not in fast_paths skipped the chain")
	}
	p.reload(fastYAML("/health", "/plain", "/items/*"))
	if runsChain("/plain") || runsChain("/items/7") {
		t.Fatal("routes in fast_paths ran the chain")
	}
	p.reload(fastYAML("/health", "/items/*"))
	if !runsChain("/plain") || runsChain("/items/7") {
		t.Fatal("removing /plain from fast_paths was not applied")
	}
}

// TestPerfRoutingCacheNotice: cache_size and pattern_cache are accepted and
// the load says, once, that they have no effect.
func TestPerfRoutingCacheNotice(t *testing.T) {
	routing := func(size int, on bool) string {
		return fmt.Sprintf("performance: {routing: {cache_size: %d, pattern_cache: %v}}\nroutes:\n  - path: /r/{id}\n    handler: {respond: {body: r}}\n", size, on)
	}
	p := newPerfHost(t, routing(10000, true), false)
	notices := func() int { return len(p.logs.records(routingCacheNotice)) }
	if n := notices(); n != 1 {
		t.Fatalf("%d notices at the first load, want 1", n)
	}
	rec := p.logs.records(routingCacheNotice)[0]
	if rec["level"] != "INFO" || rec["cache_size"] != float64(10000) {
		t.Fatalf("notice %v, want INFO with cache_size 10000", rec)
	}
	p.reload(routing(10000, true) + "  - path: /s\n    handler: {respond: {body: s}}\n")
	if n := notices(); n != 1 {
		t.Fatalf("a reload that kept the keys logged the notice again (%d)", n)
	}
	p.reload(routing(500, true))
	if n := notices(); n != 2 {
		t.Fatalf("changing cache_size: %d notices, want 2", n)
	}
	p.reload(routing(500, false))
	if n := notices(); n != 2 {
		t.Fatalf("pattern_cache false logged the notice (%d)", n)
	}
	if code, _, _ := fetch(p.h, "/r/1"); code != 200 {
		t.Fatal("route not served")
	}
}

func registryYAML(tag string, size int, ttl string) string {
	return fmt.Sprintf(`performance: {middleware: {registry: {cache_size: %d, ttl: %s}}}
plugins:
  perfreg: {type: count, tag: %s}
routes:
  - path: /r
    middleware: [{use: perfreg}]
    handler: {respond: {body: r}}
`, size, ttl, tag)
}

// TestPerfRegistryCacheReload: middleware.registry.ttl keeps a retired
// instance warm so that reverting an edit revives it (a new instance built
// with the warm one as ctx.Previous, which is then closed: its context ended
// at retirement), and closes it after the ttl; cache_size bounds how many
// stay warm.
func TestPerfRegistryCacheReload(t *testing.T) {
	p := newPerfHost(t, registryYAML("a", 10, "1h"), false)
	a := lastCounter("perfreg")
	p.reload(registryYAML("b", 10, "1h"))
	b := lastCounter("perfreg")
	if a == b || a.closed.Load() != 0 {
		t.Fatal("the retired instance was not kept warm")
	}
	p.reload(registryYAML("a", 10, "1h"))
	a2 := lastCounter("perfreg")
	if a2.prev != a {
		t.Fatal("reverting did not revive the warm instance a")
	}
	if code, hdr, _ := fetch(p.h, "/r"); code != 200 || hdr.Get("X-Count") != "a" {
		t.Fatalf("after reverting: %d X-Count %q, want the revived instance a", code, hdr.Get("X-Count"))
	}
	if a2.hits.Load() != 1 || a2.closed.Load() != 0 || a.closed.Load() != 1 {
		t.Fatalf("revived a: hits %d closed %d (warm a closed %d), want it serving and the warm one closed",
			a2.hits.Load(), a2.closed.Load(), a.closed.Load())
	}

	// ttl 200ms: b retires and is closed after it.
	p.reload(registryYAML("a", 10, "200ms"))
	p.reload(registryYAML("b", 10, "200ms")) // b was warm (ttl 1h): revived
	b2 := lastCounter("perfreg")
	if b2.prev != b {
		t.Fatal("b was not revived")
	}
	p.reload(registryYAML("a", 10, "200ms")) // b2 retires under ttl 200ms
	wait.For(t, "b closed after ttl 200ms", func() bool { return b2.closed.Load() == 1 })
	p.reload(registryYAML("b", 10, "200ms"))
	if lastCounter("perfreg").prev == b2 {
		t.Fatal("an instance closed after its ttl was revived")
	}

	// cache_size 1: of two retired instances only the last stays warm.
	p.reload(registryYAML("c", 1, "1h"))
	c := lastCounter("perfreg")
	p.reload(registryYAML("d", 1, "1h")) // c retires and is the one warm instance
	d := lastCounter("perfreg")
	p.reload(registryYAML("e", 1, "1h")) // d retires: c is closed to make room
	wait.For(t, "the oldest warm instance closed beyond cache_size 1", func() bool { return c.closed.Load() == 1 })
	if d.closed.Load() != 0 {
		t.Fatal("the newest warm instance was closed")
	}
	p.reload(registryYAML("d", 1, "1h"))
	if lastCounter("perfreg").prev != d {
		t.Fatal("the warm instance d was not revived")
	}
}

func condYAML(size int, ttl, body string) string {
	return fmt.Sprintf(`performance: {middleware: {conditions: {cache_size: %d, ttl: %s}}}
plugins:
  perfcond: {type: count, tag: c}
routes:
  - path: /c
    middleware:
      - use: perfcond
        when: 'int(request.header["X-Yes"]) == 1'
    handler: {respond: {body: %q}}
`, size, ttl, body)
}

// TestPerfConditionCacheReload: middleware.conditions sizes the condition
// result cache; a change rebuilds it (empty), other reloads keep it.
func TestPerfConditionCacheReload(t *testing.T) {
	p := newPerfHost(t, condYAML(100, "1h", "one"), false)
	hits := func() float64 {
		return counterValue(t, p.h, "switchyard_condition_cache_requests_total", "result", "hit")
	}
	misses := func() float64 {
		return counterValue(t, p.h, "switchyard_condition_cache_requests_total", "result", "miss")
	}
	get := func() {
		t.Helper()
		if code, hdr, _ := fetch(p.h, "/c", "X-Yes", "1"); code != 200 || hdr.Get("X-Count") != "c" {
			t.Fatalf("GET /c = %d, X-Count %q", code, hdr.Get("X-Count"))
		}
	}
	// waitHit repeats the request until it is answered from the cache
	// (ristretto admits entries asynchronously).
	waitHit := func(step string) {
		t.Helper()
		h0 := hits()
		wait.For(t, step+": a cached condition result", func() bool { get(); return hits() > h0 })
	}
	cache := p.h.Snapshot().condCache
	if cache == nil {
		t.Fatal("no condition cache")
	}
	waitHit("load")

	// An unrelated change keeps the cache and its entries.
	p.reload(condYAML(100, "1h", "two"))
	if p.h.Snapshot().condCache != cache {
		t.Fatal("a reload that kept the conditions settings rebuilt the cache")
	}
	h0 := hits()
	get()
	if hits() != h0+1 {
		t.Fatal("the kept cache lost its entries")
	}

	// cache_size changes: a new, empty cache.
	p.reload(condYAML(200, "1h", "two"))
	if p.h.Snapshot().condCache == cache {
		t.Fatal("cache_size changed but the cache was kept")
	}
	m0 := misses()
	get()
	if misses() != m0+1 {
		t.Fatal("the rebuilt cache answered from the old one's entries")
	}
	waitHit("cache_size 200")

	// ttl 100ms: an entry older than that is a miss.
	p.reload(condYAML(200, "100ms", "two"))
	waitHit("ttl 100ms")
	cached := time.Now()
	wait.For(t, "the entry to outlive the 100ms ttl", func() bool { return time.Since(cached) > 250*time.Millisecond })
	m0 = misses()
	get()
	if misses() != m0+1 {
		t.Fatal("an entry older than the ttl was served")
	}

	// cache_size 0: no cache, no lookups.
	p.reload(condYAML(0, "1h", "two"))
	if p.h.Snapshot().condCache != nil {
		t.Fatal("cache_size 0 kept a cache")
	}
	h0, m0 = hits(), misses()
	get()
	get()
	if hits() != h0 || misses() != m0 {
		t.Fatal("cache_size 0 still looked conditions up")
	}
}

// counterValue reads one labelled series of the host's metrics.
func counterValue(t *testing.T, h *Host, name, label, value string) float64 {
	t.Helper()
	mfs, err := h.Metrics().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == label && lp.GetValue() == value {
					if c := m.GetCounter(); c != nil {
						return c.GetValue()
					}
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	return 0
}

func responseYAML(level, minSize int, cacheOn bool, cacheTTL string) string {
	return fmt.Sprintf(`performance:
  response:
    compression: {level: %d, min_size: %d}
    caching: {enabled: %v, size: 100, ttl: %s}
plugins:
  perfgz: {type: compression}
  perfcache: {type: caching}
routes:
  - path: /text
    middleware: [{use: perfcache}, {use: perfgz}]
    handler: {respond: {body: %q, headers: {Content-Type: text/plain, Cache-Control: "max-age=3600"}}}
`, level, minSize, cacheOn, cacheTTL, strings.Repeat("compress me ", 50))
}

// TestPerfResponseDefaultsReload: compression and caching plugins without
// their own keys take performance.response.*, and a reload that changes
// them rebuilds the instances.
func TestPerfResponseDefaultsReload(t *testing.T) {
	p := newPerfHost(t, responseYAML(2, 100, true, "300ms"), false)
	stats := func(name string) map[string]any {
		t.Helper()
		for _, in := range p.h.Plugins().Instances() {
			if in.Name == name && in.Live {
				return in.Stats
			}
		}
		t.Fatalf("no live instance %q", name)
		return nil
	}
	gz := func() *compression.Compressor {
		t.Helper()
		inst, ok := p.h.Snapshot().plugins.Get("perfgz")
		if !ok {
			t.Fatal("no perfgz")
		}
		return inst.(*compression.Compressor)
	}
	get := func() (string, string) {
		t.Helper()
		code, hdr, _ := fetch(p.h, "/text", "Accept-Encoding", "gzip")
		if code != 200 {
			t.Fatalf("GET /text = %d", code)
		}
		return hdr.Get("Content-Encoding"), hdr.Get("X-Cache")
	}

	first := gz()
	if st := stats("perfgz"); st["level"] != 2 || st["min_size"] != int64(100) {
		t.Fatalf("compression took level %v, min_size %v, want the defaults 2 and 100", st["level"], st["min_size"])
	}
	if enc, xc := get(); enc != "gzip" || xc != "MISS" {
		t.Fatalf("a 600-byte body with min_size 100: encoding %q, X-Cache %q", enc, xc)
	}
	wait.For(t, "a cache hit", func() bool { _, xc := get(); return xc == "HIT" })
	// caching.ttl 300ms caps storage: the entry (max-age=3600) goes.
	wait.For(t, "the stored response dropped after ttl 300ms", func() bool { _, xc := get(); return xc == "MISS" })

	p.reload(responseYAML(7, 2000, false, "60s"))
	if gz() == first {
		t.Fatal("changing performance.response.compression kept the instance")
	}
	if st := stats("perfgz"); st["level"] != 7 || st["min_size"] != int64(2000) {
		t.Fatalf("after reload: level %v, min_size %v, want 7 and 2000", st["level"], st["min_size"])
	}
	if st := stats("perfcache"); st["enabled"] != false {
		t.Fatalf("caching.enabled false: instance stats %v", st)
	}
	if enc, xc := get(); enc != "" || xc == "HIT" {
		t.Fatalf("a 600-byte body with min_size 2000 and caching off: encoding %q, X-Cache %q", enc, xc)
	}
	p.reload(responseYAML(7, 2000, true, "60s"))
	if st := stats("perfcache"); st["enabled"] != true {
		t.Fatalf("caching.enabled true: instance stats %v", st)
	}
	get()
	wait.For(t, "a cache hit with caching enabled again", func() bool { _, xc := get(); return xc == "HIT" })
}

// TestFastPathsMatch: the length filter in front of the exact map never
// hides a path, short or long, and lets others through to the router.
func TestFastPathsMatch(t *testing.T) {
	long := "/" + strings.Repeat("l", 62)   // 63 bytes: the shared top bit
	longer := "/" + strings.Repeat("m", 99) // 100 bytes
	f := fastPaths{exact: map[string]http.Handler{}}
	hs := map[string]http.Handler{}
	for _, p := range []string{"/", "/health", long, longer} {
		hs[p] = http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
		f.addExact(p, hs[p])
	}
	tests := []struct {
		path string
		want bool
	}{
		{"/", true}, {"/health", true}, {long, true}, {longer, true},
		{"", false}, {"/healthz", false}, {"/hello!", false},
		{long + "x", false}, {"/" + strings.Repeat("m", 98), false}, {longer + "/", false},
	}
	for _, tt := range tests {
		got := f.match(tt.path)
		if (got != nil) != tt.want {
			t.Errorf("match(%.20q) = %v, want found %v", tt.path, got, tt.want)
		}
	}
}
