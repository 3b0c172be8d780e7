package pool

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/wait"
)

func TestWorkersDoAndSubmit(t *testing.T) {
	w := NewWorkers("t", WorkerOptions{MinWorkers: 1, MaxWorkers: 2, QueueSize: 10})
	defer w.Close()
	var ran atomic.Int64
	if err := w.Do(context.Background(), func() { ran.Add(1) }); err != nil {
		t.Fatal(err)
	}
	if ran.Load() != 1 {
		t.Fatal("Do returned before fn ran")
	}
	done := make(chan struct{})
	if err := w.Submit(func() { ran.Add(1); close(done) }); err != nil {
		t.Fatal(err)
	}
	<-done
	s := w.Stats()
	if s.Gets != 2 || s.Workers < 1 || s.Capacity != 2 || s.Rejected != 0 {
		t.Fatalf("stats %+v", s)
	}
	if w.Name() != "t" {
		t.Fatalf("Name() = %q", w.Name())
	}
}

func TestWorkersDefaults(t *testing.T) {
	w := NewWorkers("d", WorkerOptions{MinWorkers: 100, QueueSize: -3})
	defer w.Close()
	o := w.Options()
	if o.MaxWorkers != runtime.GOMAXPROCS(0) || o.MinWorkers != o.MaxWorkers || o.QueueSize != 0 || o.IdleTimeout != DefaultIdleTimeout {
		t.Fatalf("normalised options %+v", o)
	}
	wait.For(t, "min workers started and idle", func() bool {
		s := w.Stats()
		return s.Workers == int64(o.MaxWorkers) && s.Idle == int64(o.MaxWorkers)
	})
}

// TestWorkersBusy is the acceptance scenario: 2 workers and a queue of 4
// under 20 concurrent blocking tasks. 6 are taken, the 14 others get ErrBusy
// at once (while the pool stays full: they never wait for a slot), and
// everything works again once the load stops. How fast a refusal is (the
// acceptance's 10 ms) is a claim of BenchmarkWorkersBusy.
func TestWorkersBusy(t *testing.T) {
	w := NewWorkers("busy", WorkerOptions{MaxWorkers: 2, QueueSize: 4})
	defer w.Close()
	for round := range 3 {
		release := make(chan struct{})
		var (
			wg                 sync.WaitGroup
			accepted, refused  atomic.Int64
			started, completed atomic.Int64
		)
		for range 20 {
			wg.Go(func() {
				err := w.Do(context.Background(), func() { started.Add(1); <-release; completed.Add(1) })
				switch {
				case errors.Is(err, ErrBusy):
					refused.Add(1)
				case err == nil:
					accepted.Add(1)
				default:
					t.Errorf("Do: %v", err)
				}
			})
		}
		wait.For(t, "14 refusals", func() bool { return refused.Load() == 14 })
		if s := w.Stats(); s.InUse != 2 || s.QueueDepth != 4 || s.Workers != 2 {
			t.Fatalf("round %d under load: %+v", round, s)
		}
		if s := w.Stats(); s.Rejected != int64(14*(round+1)) || s.Waits != int64(4*(round+1)) {
			// Refused calls are counted as such, and none of them waited:
			// only the 4 queued calls of each round do.
			t.Fatalf("round %d under load: %+v, want 14 more rejected and 4 more waits", round, s)
		}
		close(release)
		wg.Wait()
		if accepted.Load() != 6 || completed.Load() != 6 {
			t.Fatalf("round %d: accepted %d completed %d, want 6", round, accepted.Load(), completed.Load())
		}
		if s := w.Stats(); s.InUse != 0 || s.QueueDepth != 0 || s.Rejected != int64(14*(round+1)) || s.Waits != int64(4*(round+1)) {
			t.Fatalf("round %d after load: %+v", round, s)
		}
	}
}

func TestWorkersCancelWhileQueued(t *testing.T) {
	w := NewWorkers("c", WorkerOptions{MaxWorkers: 1, QueueSize: 2})
	defer w.Close()
	release := make(chan struct{})
	go w.Do(context.Background(), func() { <-release })
	wait.For(t, "worker busy", func() bool { return w.Stats().InUse == 1 })

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	var ran atomic.Bool
	err := w.Do(ctx, func() { ran.Store(true) })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Do = %v, want deadline exceeded", err)
	}
	if s := w.Stats(); s.QueueDepth != 0 {
		t.Fatalf("cancelled task still queued: %+v", s)
	}
	// A cancelled context is refused before queueing.
	if err := w.Do(ctx, func() { ran.Store(true) }); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Do with a done ctx = %v", err)
	}
	close(release)
	if err := w.Do(context.Background(), func() {}); err != nil {
		t.Fatal(err)
	}
	if ran.Load() {
		t.Fatal("a cancelled task ran")
	}
}

func TestWorkersDoWaitsForRunningTask(t *testing.T) {
	w := NewWorkers("r", WorkerOptions{MaxWorkers: 1})
	defer w.Close()
	ctx, cancel := context.WithCancel(context.Background())
	var finished atomic.Bool
	release := make(chan struct{})
	type result struct {
		err      error
		finished bool // when Do returned
	}
	res := make(chan result, 1)
	go func() {
		err := w.Do(ctx, func() {
			cancel()
			<-release
			finished.Store(true)
		})
		res <- result{err, finished.Load()}
	}()
	<-ctx.Done()
	// fn is still running: Do must not return while it does. Give a wrong
	// Do a moment to return early; a right one keeps waiting.
	if wait.Check(10*time.Millisecond, func() bool { return len(res) > 0 }) {
		r := <-res
		t.Fatalf("Do = %v while fn was still running", r.err)
	}
	close(release)
	if r := <-res; r.err != nil || !r.finished {
		t.Fatalf("Do = %v, finished %v; want nil after fn returned", r.err, r.finished)
	}
}

func TestWorkersPanic(t *testing.T) {
	var handled atomic.Value
	w := NewWorkers("p", WorkerOptions{MaxWorkers: 1, QueueSize: 1, PanicHandler: func(v any) { handled.Store(v) }})
	defer w.Close()
	func() {
		defer func() {
			if v := recover(); v != "boom" {
				t.Fatalf("recovered %v, want boom", v)
			}
		}()
		w.Do(context.Background(), func() { panic("boom") })
		t.Fatal("Do did not re-raise the panic")
	}()
	done := make(chan struct{})
	w.Submit(func() { defer close(done); panic("bang") })
	<-done
	wait.For(t, "panic handler", func() bool { return handled.Load() == "bang" })
	if err := w.Do(context.Background(), func() {}); err != nil {
		t.Fatalf("pool broken after panics: %v", err)
	}
	if s := w.Stats(); s.Panics != 2 || s.Workers != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestWorkersGoexit(t *testing.T) {
	w := NewWorkers("g", WorkerOptions{MinWorkers: 1, MaxWorkers: 1, QueueSize: 4})
	defer w.Close()
	if err := w.Do(context.Background(), func() { runtime.Goexit() }); err != nil {
		t.Fatal(err)
	}
	if err := w.Do(context.Background(), func() {}); err != nil {
		t.Fatal(err)
	}
	wait.For(t, "worker replaced", func() bool {
		s := w.Stats()
		return s.Workers == 1 && s.InUse == 0
	})
}

// goroutineID reads the current goroutine's id from its stack header; tests
// use it to see that a worker goroutine was replaced.
func goroutineID() string {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b = bytes.TrimPrefix(b, []byte("goroutine "))
	return string(b[:bytes.IndexByte(b, ' ')])
}

func TestWorkersMaxTasksPerWorker(t *testing.T) {
	tests := []struct {
		name        string
		maxTasks    int
		tasks       int
		wantWorkers int // distinct goroutines seen
	}{
		{name: "no limit", maxTasks: 0, tasks: 10, wantWorkers: 1},
		{name: "every 3", maxTasks: 3, tasks: 10, wantWorkers: 4},
		{name: "every task", maxTasks: 1, tasks: 5, wantWorkers: 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := NewWorkers("m", WorkerOptions{MinWorkers: 1, MaxWorkers: 1, MaxTasksPerWorker: tt.maxTasks})
			defer w.Close()
			seen := map[string]int{}
			for range tt.tasks {
				var id string
				if err := w.Do(context.Background(), func() { id = goroutineID() }); err != nil {
					t.Fatal(err)
				}
				seen[id]++
			}
			if len(seen) != tt.wantWorkers {
				t.Fatalf("tasks ran on %d goroutines (%v), want %d", len(seen), seen, tt.wantWorkers)
			}
			for id, n := range seen {
				if tt.maxTasks > 0 && n > tt.maxTasks {
					t.Fatalf("goroutine %s ran %d tasks, limit %d", id, n, tt.maxTasks)
				}
			}
			wantRecycled := 0
			if tt.maxTasks > 0 {
				wantRecycled = tt.tasks / tt.maxTasks
			}
			wait.For(t, "one worker alive", func() bool { return w.Stats().Workers == 1 })
			if s := w.Stats(); s.Dropped != int64(wantRecycled) {
				t.Fatalf("recycled %d, want %d", s.Dropped, wantRecycled)
			}
		})
	}
}

func TestWorkersMaxTasksKeepsQueueMoving(t *testing.T) {
	w := NewWorkers("mq", WorkerOptions{MaxWorkers: 2, QueueSize: 100, MaxTasksPerWorker: 2})
	defer w.Close()
	var wg sync.WaitGroup
	var ran atomic.Int64
	for range 50 {
		wg.Go(func() {
			if err := w.Do(context.Background(), func() { ran.Add(1); runtime.Gosched() }); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if ran.Load() != 50 {
		t.Fatalf("ran %d of 50", ran.Load())
	}
	if s := w.Stats(); s.Dropped < 20 {
		t.Fatalf("recycled only %d workers", s.Dropped)
	}
}

func TestWorkersResize(t *testing.T) {
	w := NewWorkers("rs", WorkerOptions{MinWorkers: 1, MaxWorkers: 1, QueueSize: 10})
	defer w.Close()
	release := make(chan struct{})
	var done sync.WaitGroup
	for range 5 {
		done.Go(func() { w.Do(context.Background(), func() { <-release }) })
	}
	wait.For(t, "1 busy, 4 queued", func() bool {
		s := w.Stats()
		return s.InUse == 1 && s.QueueDepth == 4
	})
	// Growing starts workers for the queue at once.
	w.Resize(WorkerOptions{MinWorkers: 1, MaxWorkers: 4, QueueSize: 10})
	wait.For(t, "4 busy, 1 queued", func() bool {
		s := w.Stats()
		return s.InUse == 4 && s.QueueDepth == 1 && s.Workers == 4
	})
	// Shrinking stops extra workers after their task.
	w.Resize(WorkerOptions{MinWorkers: 0, MaxWorkers: 2, QueueSize: 10})
	if s := w.Stats(); s.Workers != 4 || s.Capacity != 2 {
		t.Fatalf("busy workers stopped before their task ended: %+v", s)
	}
	close(release)
	done.Wait()
	wait.For(t, "2 workers left", func() bool { return w.Stats().Workers <= 2 })
	// Shrinking stops idle workers at once.
	w.Resize(WorkerOptions{MinWorkers: 3, MaxWorkers: 3})
	if s := w.Stats(); s.Workers != 3 {
		t.Fatalf("MinWorkers not started: %+v", s)
	}
	wait.For(t, "3 idle workers", func() bool { return w.Stats().Idle == 3 })
	w.Resize(WorkerOptions{MinWorkers: 0, MaxWorkers: 1})
	if s := w.Stats(); s.Workers != 1 {
		t.Fatalf("idle workers over MaxWorkers not stopped: %+v", s)
	}
}

func TestWorkersIdleTimeout(t *testing.T) {
	w := NewWorkers("it", WorkerOptions{MinWorkers: 1, MaxWorkers: 4, QueueSize: 4, IdleTimeout: 20 * time.Millisecond})
	defer w.Close()
	release := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() { w.Do(context.Background(), func() { <-release }) })
	}
	wait.For(t, "4 workers", func() bool { return w.Stats().Workers == 4 })
	close(release)
	wg.Wait()
	wait.For(t, "idle workers above MinWorkers to exit", func() bool { return w.Stats().Workers == 1 })
	// Three more idle timeouts: the last worker must stay.
	if wait.Check(60*time.Millisecond, func() bool { return w.Stats().Workers != 1 }) {
		t.Fatalf("MinWorkers not kept: %+v", w.Stats())
	}
}

// TestWorkersResizeNoLeak resizes a loaded pool 1000 times and checks that
// the goroutine count returns to its baseline (goleak checks the rest at the
// end of the package).
func TestWorkersResizeNoLeak(t *testing.T) {
	base := runtime.NumGoroutine()
	w := NewWorkers("leak", WorkerOptions{MinWorkers: 1, MaxWorkers: 2, QueueSize: 8, IdleTimeout: 5 * time.Millisecond})
	stop := make(chan struct{})
	var load sync.WaitGroup
	var ran atomic.Int64
	for range 4 {
		load.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				err := w.Do(context.Background(), func() {
					ran.Add(1)
					for range rand.IntN(4) {
						runtime.Gosched()
					}
				})
				if err != nil && !errors.Is(err, ErrBusy) {
					t.Error(err)
					return
				}
				if err != nil {
					runtime.Gosched()
				}
			}
		})
	}
	for i := range 1000 {
		maxW := 1 + rand.IntN(8)
		w.Resize(WorkerOptions{
			MinWorkers:        rand.IntN(maxW + 1),
			MaxWorkers:        maxW,
			QueueSize:         rand.IntN(16),
			MaxTasksPerWorker: rand.IntN(4),
			IdleTimeout:       time.Duration(1+rand.IntN(5)) * time.Millisecond,
		})
		if i%100 == 0 {
			n := ran.Load()
			wait.For(t, "tasks to run between resizes", func() bool { return ran.Load() > n })
		}
	}
	close(stop)
	load.Wait()
	w.Resize(WorkerOptions{MinWorkers: 1, MaxWorkers: 1, IdleTimeout: time.Millisecond})
	wait.For(t, "one worker left", func() bool { return w.Stats().Workers == 1 })
	wait.For(t, "goroutines back to baseline", func() bool { return runtime.NumGoroutine() <= base+1 })
	if ran.Load() == 0 {
		t.Fatal("no task ran")
	}
	s := w.Stats()
	w.Close()
	if s.InUse != 0 || s.QueueDepth != 0 {
		t.Fatalf("stats after load: %+v", s)
	}
	wait.For(t, "goroutines back to baseline after Close", func() bool { return runtime.NumGoroutine() <= base })
}

func TestWorkersClose(t *testing.T) {
	w := NewWorkers("cl", WorkerOptions{MinWorkers: 2, MaxWorkers: 1 + 1, QueueSize: 10})
	release := make(chan struct{})
	var ran atomic.Int64
	for range 6 {
		if err := w.Submit(func() { <-release; ran.Add(1) }); err != nil {
			t.Fatal(err)
		}
	}
	closed := make(chan struct{})
	go func() { w.Close(); close(closed) }()
	wait.For(t, "closed for new work", func() bool {
		return errors.Is(w.Submit(func() {}), ErrClosed)
	})
	if err := w.Do(context.Background(), func() {}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Do after Close = %v", err)
	}
	close(release)
	<-closed
	if ran.Load() != 6 {
		t.Fatalf("Close ran %d of 6 queued tasks", ran.Load())
	}
	if s := w.Stats(); s.Workers != 0 {
		t.Fatalf("workers alive after Close: %+v", s)
	}
	w.Close()
	w.Resize(WorkerOptions{MinWorkers: 4}) // no effect after Close
	if s := w.Stats(); s.Workers != 0 {
		t.Fatalf("Resize after Close started workers: %+v", s)
	}
}

func TestTaskQueue(t *testing.T) {
	var q taskQueue
	tasks := make([]*task, 200)
	for i := range tasks {
		tasks[i] = &task{}
		q.push(tasks[i])
	}
	q.remove(tasks[5])
	q.remove(tasks[199])
	q.remove(&task{}) // absent
	want := 0
	for i := range 150 {
		if want == 5 {
			want++
		}
		if got := q.pop(); got != tasks[want] {
			t.Fatalf("pop %d: got a different task", i)
		}
		want++
	}
	if q.len() != 48 {
		t.Fatalf("len %d, want 48", q.len())
	}
	for q.pop() != nil {
	}
	if q.len() != 0 || q.pop() != nil {
		t.Fatal("queue not empty")
	}
}

func TestHandler(t *testing.T) {
	w := NewWorkers("h", WorkerOptions{MaxWorkers: 1, QueueSize: 1})
	defer w.Close()
	release := make(chan struct{})
	var inHandler atomic.Int64
	h := Handler(w, http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		inHandler.Add(1)
		if r.URL.Path == "/block" {
			<-release
		}
		rw.Header().Set("X-Worker", "yes")
		io.WriteString(rw, "ok")
	}))
	srv := httptest.NewServer(h)
	defer srv.Close()
	client := srv.Client()

	get := func(path string) (*http.Response, string) {
		t.Helper()
		resp, err := client.Get(srv.URL + path)
		if err != nil {
			t.Error(err)
			return nil, ""
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, string(body)
	}
	var blocked sync.WaitGroup
	for range 2 { // one running, one queued
		blocked.Go(func() {
			if resp, _ := get("/block"); resp != nil && resp.StatusCode != 200 {
				t.Errorf("queued request got %d", resp.StatusCode)
			}
		})
	}
	wait.For(t, "worker busy and queue full", func() bool {
		s := w.Stats()
		return s.InUse == 1 && s.QueueDepth == 1
	})
	for range 5 {
		resp, body := get("/fast")
		if resp == nil {
			return
		}
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "1" ||
			resp.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("busy answer: %d %v", resp.StatusCode, resp.Header)
		}
		var v map[string]string
		if err := json.Unmarshal([]byte(body), &v); err != nil || v["error"] == "" {
			t.Fatalf("busy body %q: %v", body, err)
		}
		if s := w.Stats(); s.InUse != 1 || s.QueueDepth != 1 {
			t.Fatalf("the busy answer changed the pool: %+v", s)
		}
	}
	close(release)
	blocked.Wait()
	resp, body := get("/fast")
	if resp == nil || resp.StatusCode != 200 || body != "ok" || resp.Header.Get("X-Worker") != "yes" {
		t.Fatalf("after load: %v %q", resp, body)
	}
	if n := inHandler.Load(); n != 3 {
		t.Fatalf("handler ran %d times, want 3", n)
	}
}

func TestHandlerBusyIsFast(t *testing.T) {
	w := NewWorkers("hf", WorkerOptions{MaxWorkers: 2, QueueSize: 4})
	defer w.Close()
	release := make(chan struct{})
	h := Handler(w, http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) { <-release }))
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() { h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil)) })
	}
	wait.For(t, "2 busy and 4 queued", func() bool {
		s := w.Stats()
		return s.InUse == 2 && s.QueueDepth == 4
	})
	for i := range 14 {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
		if rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("code %d, want 503", rec.Code)
		}
		// Answered at once: refused, not queued (how fast: BenchmarkWorkersBusy).
		if s := w.Stats(); s.Rejected != int64(i+1) || s.QueueDepth != 4 || s.Waits != 4 {
			t.Fatalf("after refusal %d: %+v", i+1, s)
		}
	}
	close(release)
	wg.Wait()
	rec := httptest.NewRecorder()
	Handler(nil, http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) { rw.WriteHeader(http.StatusTeapot) })).
		ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != http.StatusTeapot {
		t.Fatalf("Handler(nil, next) answered %d", rec.Code)
	}
}

func TestHandlerRecorder(t *testing.T) {
	w := NewWorkers("hr", WorkerOptions{MaxWorkers: 1})
	h := Limit(w)(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		rw.WriteHeader(http.StatusTeapot)
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != http.StatusTeapot {
		t.Fatalf("code %d", rec.Code)
	}
	w.Close()
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") != "1" {
		t.Fatalf("after Close: %d %v", rec.Code, rec.Header())
	}
}

func TestHandlerAllocs(t *testing.T) {
	w := NewWorkers("ha", WorkerOptions{MinWorkers: 1, MaxWorkers: 1})
	defer w.Close()
	next := http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {})
	h := Handler(w, next)
	req := httptest.NewRequest("GET", "/", nil)
	rw := httptest.NewRecorder()
	h.ServeHTTP(rw, req)
	if n := testing.AllocsPerRun(1000, func() { h.ServeHTTP(rw, req) }); n != 0 {
		t.Fatalf("Handler allocates %v times per request", n)
	}
}

// BenchmarkWorkersBusy is the timing claim of a full pool: ErrBusy (and
// the handler's 503) within 10 ms, in fact a few hundred nanoseconds, as
// ns/op shows.
func BenchmarkWorkersBusy(b *testing.B) {
	w := NewWorkers("busy", WorkerOptions{MaxWorkers: 2, QueueSize: 4})
	defer w.Close()
	release := make(chan struct{})
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() { w.Do(context.Background(), func() { <-release }) })
	}
	for s := w.Stats(); s.InUse != 2 || s.QueueDepth != 4; s = w.Stats() {
		runtime.Gosched()
	}
	defer func() { close(release); wg.Wait() }()
	ctx := context.Background()
	b.Run("do", func(b *testing.B) {
		for b.Loop() {
			if err := w.Do(ctx, func() {}); !errors.Is(err, ErrBusy) {
				b.Fatalf("Do = %v, want ErrBusy", err)
			}
		}
	})
	b.Run("handler", func(b *testing.B) {
		h := Handler(w, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
		req := httptest.NewRequest("GET", "/", nil)
		for b.Loop() {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusServiceUnavailable {
				b.Fatalf("code %d, want 503", rec.Code)
			}
		}
	})
}

func BenchmarkWorkersDo(b *testing.B) {
	ctx := context.Background()
	var sink atomic.Int64
	fn := func() { sink.Add(1) }
	b.Run("direct", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			fn()
		}
	})
	for _, n := range []int{1, 4} {
		b.Run(fmt.Sprintf("do-workers=%d", n), func(b *testing.B) {
			w := NewWorkers("bench", WorkerOptions{MinWorkers: n, MaxWorkers: n, QueueSize: 1024})
			defer w.Close()
			b.ReportAllocs()
			for b.Loop() {
				if err := w.Do(ctx, fn); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("do-parallel", func(b *testing.B) {
		w := NewWorkers("bench", WorkerOptions{MinWorkers: 4, MaxWorkers: 4, QueueSize: 1 << 16})
		defer w.Close()
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := w.Do(ctx, fn); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("goroutine-per-call", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			done := make(chan struct{})
			go func() { fn(); close(done) }()
			<-done
		}
	})
	b.Run("handler", func(b *testing.B) {
		w := NewWorkers("bench", WorkerOptions{MinWorkers: 1, MaxWorkers: 1, QueueSize: 16})
		defer w.Close()
		h := Handler(w, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
		req := httptest.NewRequest("GET", "/", nil)
		rw := httptest.NewRecorder()
		b.ReportAllocs()
		for b.Loop() {
			h.ServeHTTP(rw, req)
		}
	})
}
