package core

import (
	"fmt"
	"io"
	"net/http"
	"runtime"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/wait"
	"github.com/switchyard/switchyard/pool"
)

// poolsYAML sizes every pool of the performance block differently for
// even and odd i, so that each reload resizes all of them, builds a new
// proxy transport and a new condition cache, and retires the old ones.
func poolsYAML(i int, upstream string) string {
	a := i%2 == 0
	pick := func(x, y any) any {
		if a {
			return x
		}
		return y
	}
	return fmt.Sprintf(`performance:
  memory:
    buffer_pool: {size: %v, count: %v, prealloc: true}
    object_pool: {size: %v, ttl: %v}
    connection_pool: {min_size: %v, max_size: %v, ttl: %v}
  cpu:
    thread_pool: {min_workers: %v, max_workers: %v, queue_size: %v}
    process_pool: {workers: %v, maxtasksperchild: %v}
  middleware:
    registry: {cache_size: %v, ttl: %v}
    conditions: {cache_size: %v, ttl: %v}
plugins:
  perfleak: {type: count, tag: leak}
routes:
  - path: /up/*
    handler: {proxy: {upstream: %q}}
  - path: /work
    middleware: [{use: perfleak}]
    handler: perf.work
`,
		pick("64KiB", "1MiB"), pick(8, 32), pick(100, 1000), pick("1s", "60s"),
		pick(1, 4), pick(4, 16), pick("30s", "90s"),
		pick(4, 1), pick(8, 2), pick(16, 64),
		pick(2, 3), pick(100, 0),
		pick(10, 100), pick("30s", "60s"),
		pick(500, 1000), pick("10s", "30s"),
		upstream)
}

// Issue 8, acceptance 5: 1000 reloads that resize every pool leave the
// goroutine count where it was (TestMain's goleak then checks that nothing
// outlives the host).
func TestPerfPoolResizeNoLeak(t *testing.T) {
	up := newUpstream(t, 0)
	p := newPerfHost(t, poolsYAML(0, up.url), false, func(h *Host) {
		h.Handle("perf.work", pool.Handler(h.Pools().Threads, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "worked")
		})))
	})
	exercise := func(i int) {
		t.Helper()
		if code, _, body := fetch(p.h, "/up/x"); code != 200 || body != "upstream /up/x" {
			t.Fatalf("reload %d: proxy %d %q", i, code, body)
		}
		if code, _, body := fetch(p.h, "/work"); code != 200 || body != "worked" {
			t.Fatalf("reload %d: /work %d %q", i, code, body)
		}
		b := p.h.Pools().Buffers.Get()
		b.WriteString("x")
		p.h.Pools().Buffers.Put(b)
	}
	dir := t.TempDir()
	reload := func(i int) {
		t.Helper()
		if err := p.h.LoadBytes("pools.yaml", []byte(poolsYAML(i, up.url)), dir); err != nil {
			t.Fatalf("reload %d: %v", i, err)
		}
		if i%10 == 0 {
			exercise(i)
		}
	}
	for i := 1; i <= 20; i++ { // warm: both configurations built and used
		reload(i)
	}
	// The baseline: the count once two collections in a row leave it as it is.
	g0 := -1
	wait.For(t, "the goroutine count to settle", func() bool {
		n := settledGoroutines()
		same := n == g0
		g0 = n
		return same
	})
	start := time.Now()
	const reloads = 1000
	for i := 21; i < 21+reloads; i++ {
		reload(i)
	}
	took := time.Since(start)
	// The last reload is of an even i, like the warm-up's last: compare the
	// same configuration.
	var g1 int
	ok := wait.Check(wait.Deadline, func() bool { g1 = settledGoroutines(); return g1 <= g0+5 })
	st := p.h.Pools().Threads.Options()
	t.Logf("%d pool resizes by reload in %v (%v each): goroutines %d -> %d; thread pool %d..%d workers, queue %d; upstream connections open %d",
		reloads, took.Round(time.Millisecond), (took / reloads).Round(time.Microsecond), g0, g1, st.MinWorkers, st.MaxWorkers, st.QueueSize, up.open.Load())
	if !ok {
		buf := make([]byte, 1<<20)
		t.Fatalf("goroutines %d -> %d after %d reloads:\n%s", g0, g1, reloads, buf[:runtime.Stack(buf, true)])
	}
	// The pools are sized by the last configuration (i = 1020, even).
	if o := p.h.Pools().Buffers.Options(); o.Count != 8 || o.MaxSize != 64<<10 {
		t.Fatalf("buffer pool %+v after the last reload", o)
	}
	if o := p.h.Pools().Threads.Options(); o.MinWorkers != 4 || o.MaxWorkers != 8 || o.QueueSize != 16 {
		t.Fatalf("thread pool %+v after the last reload", o)
	}
	if o := p.h.Pools().Process.Options(); o.MaxWorkers != 2 || o.MaxTasksPerWorker != 100 {
		t.Fatalf("process pool %+v after the last reload", o)
	}
	if tr := p.h.Pools().ProxyTransport(); tr.MaxConnsPerHost != 4 || tr.MaxIdleConnsPerHost != 4 {
		t.Fatalf("proxy transport %d/%d after the last reload", tr.MaxConnsPerHost, tr.MaxIdleConnsPerHost)
	}
	if n := up.open.Load(); n > 2 {
		t.Fatalf("%d upstream connections open: retired transports kept theirs", n)
	}
}

// settledGoroutines lets finished goroutines exit and counts the rest;
// callers poll it.
func settledGoroutines() int {
	runtime.GC()
	runtime.Gosched()
	return runtime.NumGoroutine()
}
