package pool_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/switchyard/switchyard/pool"
)

func ExampleBuffers() {
	bufs := pool.NewBuffers(pool.BufferOptions{MaxSize: 1 << 20, Count: 100, Prealloc: true})

	buf := bufs.Get()
	buf.WriteString("captured body")
	fmt.Println(buf.Len())
	bufs.Put(buf)

	s := bufs.Stats()
	fmt.Println(s.Gets, s.Misses, s.Idle)
	// Output:
	// 13
	// 1 0 100
}

func ExampleObjects() {
	type state struct{ route string }
	objs := pool.NewObjects(1000, time.Minute,
		func() *state { return new(state) },
		func(s *state) { *s = state{} })
	defer objs.Close()

	s := objs.Get()
	s.route = "/api/users/{id}"
	objs.Put(s)
	fmt.Println(objs.Get().route == "", objs.Stats().Hits)
	// Output:
	// true 1
}

func ExampleWorkers_Do() {
	w := pool.NewWorkers("thread_pool", pool.WorkerOptions{MinWorkers: 1, MaxWorkers: 4, QueueSize: 100})
	defer w.Close()

	var sum int
	err := w.Do(context.Background(), func() {
		for i := range 10 {
			sum += i
		}
	})
	fmt.Println(sum, err)
	// Output:
	// 45 <nil>
}

func ExampleHandler() {
	w := pool.NewWorkers("thread_pool", pool.WorkerOptions{MaxWorkers: 1, QueueSize: 0})
	defer w.Close()
	release := make(chan struct{})
	started := make(chan struct{})
	h := pool.Handler(w, http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(started)
			<-release
		}
		io.WriteString(rw, "done")
	}))

	go h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/slow", nil))
	<-started // the only worker is busy and there is no queue

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	fmt.Println(rec.Code, rec.Header().Get("Retry-After"))
	close(release)
	// Output:
	// 503 1
}

func ExamplePool() {
	type conn struct{ id int }
	next := 0
	p := pool.NewPool(pool.ConnOptions{MaxSize: 10, TTL: 5 * time.Minute},
		func(ctx context.Context) (*conn, error) { next++; return &conn{id: next}, nil },
		func(c *conn) bool { return true },
		func(c *conn) error { return nil })
	defer p.Close()

	ctx := context.Background()
	c, err := p.Acquire(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	p.Release(c)
	c, _ = p.Acquire(ctx) // reused
	fmt.Println(c.id, p.Stats().Hits, p.Stats().Misses)
	p.Release(c)
	// Output:
	// 1 1 1
}

func ExampleErrBusy() {
	w := pool.NewWorkers("process_pool", pool.WorkerOptions{MaxWorkers: 1})
	defer w.Close()
	block := make(chan struct{})
	_ = w.Submit(func() { <-block })
	err := w.Submit(func() {})
	fmt.Println(errors.Is(err, pool.ErrBusy))
	close(block)
	// Output:
	// true
}
