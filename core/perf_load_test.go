package core

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/switchyard/switchyard/internal/wait"
	"github.com/switchyard/switchyard/pool"
)

// A thread pool of 2 workers and a queue of 4 under 20 concurrent heavy
// requests runs 2, queues 4 and answers the other 14 with 503 and
// Retry-After while the 6 are still held (shedding never waits for a
// worker); when the load stops it serves as before. The heavy work blocks
// until the test releases it, so no clock decides the outcome; how fast a
// 503 goes out is measured by BenchmarkPerfWorkerPoolShed.
func TestPerfWorkerPoolShedsLoad(t *testing.T) {
	var served atomic.Int64
	var gate atomic.Pointer[chan struct{}]
	hold := func() chan struct{} {
		c := make(chan struct{})
		gate.Store(&c)
		return c
	}
	p := newPerfHost(t, `performance: {cpu: {thread_pool: {min_workers: 2, max_workers: 2, queue_size: 4}}}
routes:
  - path: /heavy
    handler: perf.heavy
  - path: /ok
    handler: {respond: {body: ok}}
`, true, func(h *Host) {
		h.Handle("perf.heavy", pool.Handler(h.Pools().Threads, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			<-*gate.Load() // blocking work (a slow disk, a database) until released
			served.Add(1)
			io.WriteString(w, "done")
		})))
	})
	tp := p.h.Pools().Threads
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 20}, Timeout: wait.Deadline}
	defer client.CloseIdleConnections()

	type result struct {
		code       int
		retryAfter string
	}
	// wave sends 20 concurrent requests on warm connections, waits until
	// the 14 refusals reached their clients while 2 requests run and 4 wait,
	// then releases the work.
	wave := func(step string) []result {
		t.Helper()
		release := hold()
		var wg sync.WaitGroup
		var refused atomic.Int64
		res := make([]result, 20)
		for i := range res {
			wg.Add(1)
			go func() {
				defer wg.Done()
				resp, err := client.Get(p.base + "/heavy")
				if err != nil {
					t.Errorf("GET /heavy: %v", err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				res[i] = result{resp.StatusCode, resp.Header.Get("Retry-After")}
				if resp.StatusCode == http.StatusServiceUnavailable {
					refused.Add(1)
				}
			}()
		}
		wait.For(t, step+": 14 refusals answered while 2 run and 4 wait", func() bool {
			st := tp.Stats()
			return refused.Load() >= 14 && st.InUse == 2 && st.QueueDepth == 4
		})
		if st := tp.Stats(); refused.Load() != 14 || st.InUse != 2 || st.QueueDepth != 4 {
			t.Errorf("%s: %d refused, pool %+v, want 14 refused, 2 running, 4 queued", step, refused.Load(), st)
		}
		close(release)
		wg.Wait()
		return res
	}
	// Open 20 keep-alive connections first.
	var warm sync.WaitGroup
	for range 20 {
		warm.Add(1)
		go func() {
			defer warm.Done()
			if code, _, _, err := getWith(client, p.base+"/ok"); err != nil || code != 200 {
				t.Errorf("warm-up: %d %v", code, err)
			}
		}()
	}
	warm.Wait()

	check := func(step string, res []result) {
		t.Helper()
		var ok, busy int
		for _, r := range res {
			switch r.code {
			case http.StatusOK:
				ok++
			case http.StatusServiceUnavailable:
				busy++
				if r.retryAfter != "1" {
					t.Errorf("%s: 503 with Retry-After %q", step, r.retryAfter)
				}
			default:
				t.Errorf("%s: status %d", step, r.code)
			}
		}
		if ok != 6 || busy != 14 {
			t.Fatalf("%s: %d served and %d refused, want 2 running + 4 queued = 6 and 14", step, ok, busy)
		}
	}
	check("first wave", wave("first wave"))
	wait.For(t, "the pool drained", func() bool {
		st := tp.Stats()
		return st.QueueDepth == 0 && st.InUse == 0
	})
	if st := tp.Stats(); st.Rejected != 14 || st.Workers > 2 {
		t.Fatalf("after the first wave: %+v, want 14 rejected and at most 2 workers", st)
	}
	// Recovered: one request is served, and a second wave behaves exactly
	// like the first.
	close(hold())
	if code, _, body, err := getWith(client, p.base+"/heavy"); err != nil || code != 200 || body != "done" {
		t.Fatalf("after the load: %d %q %v", code, body, err)
	}
	check("second wave", wave("second wave"))
	if got := served.Load(); got != 13 {
		t.Fatalf("%d heavy requests ran, want 6 + 1 + 6", got)
	}
}

// BenchmarkPerfWorkerPoolShed is the timing claim of shedding: with the
// pool's workers and queue full, a refused request costs the host this long
// (a 503 within 10 ms even on a busy machine; on an idle one, microseconds).
func BenchmarkPerfWorkerPoolShed(b *testing.B) {
	h := New(Options{Logger: quietLogger()})
	release := make(chan struct{})
	h.Handle("perf.heavy", pool.Handler(h.Pools().Threads, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
	})))
	if err := h.LoadBytes("bench.yaml", []byte(`performance: {cpu: {thread_pool: {min_workers: 1, max_workers: 1, queue_size: 1}}}
routes:
  - path: /heavy
    handler: perf.heavy
`), b.TempDir()); err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	var wg sync.WaitGroup
	for range 2 { // one running, one queued
		wg.Add(1)
		go func() {
			defer wg.Done()
			h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/heavy", nil))
		}()
	}
	defer func() { close(release); wg.Wait() }()
	wait.For(b, "the pool is full", func() bool {
		st := h.Pools().Threads.Stats()
		return st.InUse == 1 && st.QueueDepth == 1
	})
	r := httptest.NewRequest("GET", "/heavy", nil)
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		if rec.Code != http.StatusServiceUnavailable {
			b.Fatalf("status %d, want 503", rec.Code)
		}
	}
}
