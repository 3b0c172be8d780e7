package pool

import (
	"context"
	"errors"
	"net/http"
	"runtime"
	"sync"
	"time"
)

// Errors returned by the pools.
var (
	// ErrBusy is returned at once by Workers.Do and Workers.Submit when every
	// worker is busy and the queue is full.
	ErrBusy = errors.New("pool: queue full")
	// ErrClosed is returned by a pool after Close.
	ErrClosed = errors.New("pool: closed")
)

// DefaultIdleTimeout is the IdleTimeout used when WorkerOptions.IdleTimeout
// is 0.
const DefaultIdleTimeout = 30 * time.Second

// WorkerOptions sizes a [Workers] pool. performance.cpu.thread_pool maps to
// MinWorkers, MaxWorkers and QueueSize; performance.cpu.process_pool maps
// workers to MinWorkers = MaxWorkers and maxtasksperchild to
// MaxTasksPerWorker.
type WorkerOptions struct {
	// MinWorkers is how many workers stay alive when idle; they are started
	// at once. Capped at MaxWorkers.
	MinWorkers int
	// MaxWorkers is the most workers running at once. 0 means GOMAXPROCS.
	MaxWorkers int
	// QueueSize is how many tasks may wait for a worker; one more gets
	// ErrBusy. 0 queues nothing: a task runs at once or is refused.
	QueueSize int
	// MaxTasksPerWorker recycles a worker: after running this many tasks its
	// goroutine exits and a fresh one takes its place when needed. 0 means
	// no limit.
	MaxTasksPerWorker int
	// IdleTimeout stops a worker above MinWorkers that has had no task for
	// this long. 0 means DefaultIdleTimeout.
	IdleTimeout time.Duration
	// PanicHandler, if not nil, is called on the worker goroutine with the
	// value of a panic raised by a task given to Submit (a panic in a Do task
	// is raised again in the caller of Do). Either way the worker survives
	// and the panic is counted in Stats.Panics.
	PanicHandler func(value any)
}

func (o WorkerOptions) normalize() WorkerOptions {
	if o.MaxWorkers <= 0 {
		o.MaxWorkers = runtime.GOMAXPROCS(0)
	}
	o.MinWorkers = min(max(o.MinWorkers, 0), o.MaxWorkers)
	o.QueueSize = max(o.QueueSize, 0)
	o.MaxTasksPerWorker = max(o.MaxTasksPerWorker, 0)
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	return o
}

// Workers is a bounded pool of worker goroutines with a bounded queue, for
// blocking or CPU-heavy work that must not run unbounded on request
// goroutines. A task goes to an idle worker, else to a new worker while
// fewer than MaxWorkers run, else into the queue; when the queue is full
// the caller gets ErrBusy at once and never waits.
//
// A Workers is safe for concurrent use; it resizes live and stops its
// goroutines on Close.
type Workers struct {
	name string

	mu      sync.Mutex
	opts    WorkerOptions
	queue   taskQueue
	idle    []*worker // parked workers; the last one parked is woken first
	running int       // worker goroutines alive
	busy    int       // workers running a task
	closed  bool
	wg      sync.WaitGroup

	gets, hits, misses, waits, rejected, dropped, panics int64
}

type worker struct {
	ch    chan *task // capacity 1; a nil task asks the worker to exit
	tasks int
}

// task is one unit of work; tasks are pooled.
type task struct {
	fn   func()
	h    http.Handler // with rw and r, instead of fn, for Handler
	rw   http.ResponseWriter
	r    *http.Request
	wait bool          // a Do: signal done, re-raise a panic in the caller
	done chan struct{} // capacity 1
	// Set by the worker for a Do task, read after done.
	panicked bool
	panicVal any
	queued   bool // in the queue; guarded by Workers.mu
}

var taskPool = sync.Pool{New: func() any { return &task{done: make(chan struct{}, 1)} }}

func getTask() *task { return taskPool.Get().(*task) }

func putTask(t *task) {
	*t = task{done: t.done}
	taskPool.Put(t)
}

// NewWorkers starts a worker pool; name identifies it in metrics. The
// MinWorkers are started at once.
func NewWorkers(name string, o WorkerOptions) *Workers {
	w := &Workers{name: name}
	w.Resize(o)
	return w
}

// Name returns the name given to NewWorkers.
func (w *Workers) Name() string { return w.name }

// Do runs fn on a worker and waits for it to return. It returns ErrBusy at
// once when the queue is full, ErrClosed after Close, and ctx.Err() when ctx
// ends while the task is still queued (fn then never runs). Once fn has
// started, Do waits for it even if ctx ends. A panic in fn is raised again
// in the caller of Do, with its value.
func (w *Workers) Do(ctx context.Context, fn func()) error {
	t := getTask()
	t.fn = fn
	return w.do(ctx, t)
}

func (w *Workers) do(ctx context.Context, t *task) error {
	if err := ctx.Err(); err != nil {
		putTask(t)
		return err
	}
	t.wait = true
	w.mu.Lock()
	err := w.dispatchLocked(t)
	w.mu.Unlock()
	if err != nil {
		putTask(t)
		return err
	}
	select {
	case <-t.done:
	case <-ctx.Done():
		w.mu.Lock()
		if t.queued {
			w.queue.remove(t)
			t.queued = false
			w.mu.Unlock()
			putTask(t)
			return ctx.Err()
		}
		w.mu.Unlock()
		<-t.done // it is running: wait for it
	}
	if t.panicked {
		v := t.panicVal
		putTask(t)
		panic(v)
	}
	putTask(t)
	return nil
}

// Submit queues fn to run on a worker and returns at once: nil when it was
// accepted, ErrBusy when the queue is full, ErrClosed after Close.
func (w *Workers) Submit(fn func()) error {
	t := getTask()
	t.fn = fn
	w.mu.Lock()
	err := w.dispatchLocked(t)
	w.mu.Unlock()
	if err != nil {
		putTask(t)
	}
	return err
}

// dispatchLocked hands t to an idle worker, a new worker or the queue.
func (w *Workers) dispatchLocked(t *task) error {
	if w.closed {
		return ErrClosed
	}
	w.gets++
	if n := len(w.idle); n > 0 {
		wk := w.idle[n-1]
		w.idle[n-1] = nil
		w.idle = w.idle[:n-1]
		w.hits++
		w.busy++
		wk.ch <- t // never blocks: an idle worker's channel is empty
		return nil
	}
	if w.running < w.opts.MaxWorkers {
		w.misses++
		w.startLocked(t)
		return nil
	}
	if w.queue.len() < w.opts.QueueSize {
		w.waits++
		t.queued = true
		w.queue.push(t)
		return nil
	}
	w.rejected++
	return ErrBusy
}

// startLocked starts a worker, with a first task or, idle, with none.
func (w *Workers) startLocked(first *task) {
	w.running++
	wk := &worker{ch: make(chan *task, 1)}
	if first != nil {
		w.busy++
	} else {
		w.idle = append(w.idle, wk)
	}
	w.wg.Add(1)
	go w.run(wk, first, w.opts.IdleTimeout)
}

// run is a worker's loop. A finished task is reported to its caller only
// after the worker has settled what it does next (parked, taken the next
// task, or left and been replaced), so a caller that submits again at once
// finds the worker available. A worker started without a task is already
// on the idle list and parks first.
func (w *Workers) run(wk *worker, t *task, idleTimeout time.Duration) {
	defer w.wg.Done()
	var timer *time.Timer
	var running *task // the task being run, until it returns
	defer func() {
		if timer != nil {
			timer.Stop()
		}
		if running != nil {
			// The task called runtime.Goexit: this goroutine is ending.
			w.mu.Lock()
			w.running--
			w.busy--
			w.dropped++
			w.replaceLocked()
			w.mu.Unlock()
			complete(running)
		}
	}()
	park := func() *task {
		if timer == nil {
			timer = time.NewTimer(idleTimeout)
		} else {
			timer.Reset(idleTimeout)
		}
		return w.park(wk, timer)
	}
	if t == nil {
		if t = park(); t == nil {
			return
		}
	}
	for {
		running = t
		w.exec(t)
		running = nil
		wk.tasks++
		ran := t
		w.mu.Lock()
		w.busy--
		recycle := w.opts.MaxTasksPerWorker > 0 && wk.tasks >= w.opts.MaxTasksPerWorker
		if recycle || w.running > w.opts.MaxWorkers || (w.closed && w.queue.len() == 0) {
			w.running--
			if recycle {
				w.dropped++
				w.replaceLocked()
			}
			w.mu.Unlock()
			complete(ran)
			return
		}
		if t = w.queue.pop(); t != nil {
			t.queued = false
			w.busy++
			w.mu.Unlock()
			complete(ran)
			continue
		}
		w.idle = append(w.idle, wk)
		idleTimeout = w.opts.IdleTimeout
		w.mu.Unlock()
		complete(ran)
		if t = park(); t == nil {
			return
		}
	}
}

// replaceLocked starts a worker in place of one that left, when the queue
// has work or fewer than MinWorkers are alive.
func (w *Workers) replaceLocked() {
	if w.running >= w.opts.MaxWorkers {
		return
	}
	if t := w.queue.pop(); t != nil {
		t.queued = false
		w.startLocked(t)
	} else if !w.closed && w.running < w.opts.MinWorkers {
		w.startLocked(nil)
	}
}

// park waits for a task. It returns nil when the worker must exit, with
// the running count already adjusted.
func (w *Workers) park(wk *worker, timer *time.Timer) *task {
	for {
		select {
		case t := <-wk.ch:
			return t // nil: stopped by Resize or Close, which adjusted running
		case <-timer.C:
			w.mu.Lock()
			if w.running > w.opts.MinWorkers && w.removeIdleLocked(wk) {
				w.running--
				w.mu.Unlock()
				return nil
			}
			idleTimeout := w.opts.IdleTimeout
			w.mu.Unlock()
			// Either a task is on its way in wk.ch or this worker is needed.
			timer.Reset(idleTimeout)
		}
	}
}

func (w *Workers) removeIdleLocked(wk *worker) bool {
	for i, x := range w.idle {
		if x == wk {
			copy(w.idle[i:], w.idle[i+1:])
			w.idle[len(w.idle)-1] = nil
			w.idle = w.idle[:len(w.idle)-1]
			return true
		}
	}
	return false
}

// exec runs one task, recovering a panic.
func (w *Workers) exec(t *task) {
	defer func() {
		if v := recover(); v != nil {
			w.mu.Lock()
			w.panics++
			handler := w.opts.PanicHandler
			w.mu.Unlock()
			if t.wait {
				t.panicked, t.panicVal = true, v
			} else if handler != nil {
				handler(v)
			}
		}
	}()
	if t.h != nil {
		t.h.ServeHTTP(t.rw, t.r)
	} else {
		t.fn()
	}
}

// complete reports a finished task to the caller of Do, who owns it from
// then on, or recycles a Submit task. complete(nil) does nothing.
func complete(t *task) {
	switch {
	case t == nil:
	case t.wait:
		t.done <- struct{}{}
	default:
		putTask(t)
	}
}

// Resize applies new options live. Growing starts workers for queued tasks
// and up to MinWorkers; shrinking stops idle workers at once and busy ones
// after their current task. Tasks already queued stay queued even when the
// new QueueSize is smaller.
func (w *Workers) Resize(o WorkerOptions) {
	o = o.normalize()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return
	}
	w.opts = o
	for w.running > o.MaxWorkers && len(w.idle) > 0 {
		n := len(w.idle)
		wk := w.idle[n-1]
		w.idle[n-1] = nil
		w.idle = w.idle[:n-1]
		w.running--
		wk.ch <- nil
	}
	for w.running < o.MaxWorkers && w.queue.len() > 0 {
		t := w.queue.pop()
		t.queued = false
		w.startLocked(t)
	}
	for w.running < o.MinWorkers {
		w.startLocked(nil)
	}
}

// Options returns the options in force, with defaults filled in.
func (w *Workers) Options() WorkerOptions {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.opts
}

// Stats reports the pool's state: InUse workers busy, Idle workers parked,
// Workers alive, QueueDepth tasks queued, Capacity MaxWorkers; Hits are
// tasks handed straight to an idle worker, Misses tasks that started a new
// worker, Waits tasks that were queued, Rejected ErrBusy answers, Dropped
// workers recycled.
func (w *Workers) Stats() Stats {
	w.mu.Lock()
	defer w.mu.Unlock()
	return Stats{
		InUse:      int64(w.busy),
		Idle:       int64(len(w.idle)),
		Capacity:   int64(w.opts.MaxWorkers),
		Gets:       w.gets,
		Hits:       w.hits,
		Misses:     w.misses,
		Waits:      w.waits,
		QueueDepth: int64(w.queue.len()),
		Rejected:   w.rejected,
		Dropped:    w.dropped,
		Workers:    int64(w.running),
		Panics:     w.panics,
	}
}

// Close refuses new tasks with ErrClosed, lets the queued ones run, and
// waits until every worker goroutine has exited.
func (w *Workers) Close() {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		for _, wk := range w.idle {
			w.running--
			wk.ch <- nil
		}
		clear(w.idle)
		w.idle = w.idle[:0]
	}
	w.mu.Unlock()
	w.wg.Wait()
}

// taskQueue is a FIFO of tasks that supports removing a cancelled one.
type taskQueue struct {
	buf  []*task
	head int
}

func (q *taskQueue) len() int { return len(q.buf) - q.head }

func (q *taskQueue) push(t *task) { q.buf = append(q.buf, t) }

func (q *taskQueue) pop() *task {
	if q.head == len(q.buf) {
		return nil
	}
	t := q.buf[q.head]
	q.buf[q.head] = nil
	q.head++
	switch {
	case q.head == len(q.buf):
		q.buf, q.head = q.buf[:0], 0
	case q.head >= 64 && q.head*2 >= len(q.buf):
		n := copy(q.buf, q.buf[q.head:])
		clear(q.buf[n:])
		q.buf, q.head = q.buf[:n], 0
	}
	return t
}

func (q *taskQueue) remove(t *task) {
	for i := q.head; i < len(q.buf); i++ {
		if q.buf[i] == t {
			copy(q.buf[i:], q.buf[i+1:])
			q.buf[len(q.buf)-1] = nil
			q.buf = q.buf[:len(q.buf)-1]
			if q.head == len(q.buf) {
				q.buf, q.head = q.buf[:0], 0
			}
			return
		}
	}
}
