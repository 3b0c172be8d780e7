package pool

import (
	"sync"
	"sync/atomic"
	"time"
)

// Objects is a pool of per-request objects of type T (the host's
// response-writer wrappers and request state): at most Size idle objects are
// kept, and an object idle for longer than the TTL is dropped, so a burst
// does not pin its peak memory forever. Idle objects sit in sharded lists
// like [Buffers]. Get and Put do not allocate once the pool is warm.
//
// An Objects is safe for concurrent use. A pool with a TTL runs one goroutine
// until Close.
type Objects[T any] struct {
	st    *store[objEntry[T]]
	newFn func() *T
	reset func(*T)
	start time.Time
	clock atomic.Int64 // coarse time since start, in ns, advanced by the sweeper
	slack atomic.Int64 // how far clock may lag, in ns

	mu     sync.Mutex // Resize, Close
	ttl    time.Duration
	sweep  *ticker
	closed bool
}

type objEntry[T any] struct {
	v  *T
	at int64 // clock when it was put
}

// NewObjects returns a pool of at most size idle objects, each dropped after
// ttl idle (ttl <= 0: never). newFn makes an object on a miss; reset, if not
// nil, clears an object when it is Put, before it is kept (drop references
// there so idle objects pin nothing). NewObjects panics if newFn is nil.
func NewObjects[T any](size int, ttl time.Duration, newFn func() *T, reset func(*T)) *Objects[T] {
	if newFn == nil {
		panic("pool.NewObjects: newFn is nil")
	}
	o := &Objects[T]{st: newStore[objEntry[T]](1, 0), newFn: newFn, reset: reset, start: time.Now()}
	o.Resize(size, ttl)
	return o
}

// Get returns an idle object, the most recently put first, or a new one.
func (o *Objects[T]) Get() *T {
	sh := o.st.borrow()
	e, ok := o.st.pop(sh, 0, nil)
	o.st.ret(sh)
	if ok {
		return e.v
	}
	return o.newFn()
}

// Put resets v and keeps it unless Size objects are already idle or the
// pool is closed. v must not be used after Put. Put(nil) does nothing.
func (o *Objects[T]) Put(v *T) {
	if v == nil {
		return
	}
	if o.reset != nil {
		o.reset(v)
	}
	sh := o.st.borrow()
	o.st.push(sh, 0, objEntry[T]{v: v, at: o.clock.Load()})
	o.st.ret(sh)
}

// Resize applies a new size and TTL to the live pool: idle objects beyond
// size are dropped at once, and the new TTL applies to objects already idle.
func (o *Objects[T]) Resize(size int, ttl time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return
	}
	o.st.setLimit(size, nil)
	if ttl == o.ttl && (ttl <= 0 || o.sweep != nil) {
		return
	}
	o.ttl = ttl
	if o.sweep != nil {
		o.sweep.stop()
		o.sweep = nil
	}
	if ttl > 0 {
		// The sweeper's clock lags real time by up to one tick, so an object
		// is kept while its recorded age is within ttl plus one tick: it is
		// dropped between ttl and ttl plus two ticks after its Put.
		tick := min(max(ttl/4, time.Millisecond), time.Second)
		o.slack.Store(int64(tick))
		o.clock.Store(int64(time.Since(o.start)))
		o.sweep = startTicker(tick, func() { o.expire(ttl) })
	}
}

func (o *Objects[T]) expire(ttl time.Duration) {
	now := int64(time.Since(o.start))
	o.clock.Store(now)
	limit := int64(ttl) + o.slack.Load()
	o.st.filter(func(e objEntry[T]) bool { return now-e.at <= limit }, nil)
}

// Stats reports the pool's state. Misses are Gets that called newFn;
// Dropped counts objects not kept by Put (pool full) and idle objects
// released by Resize, Close or the TTL.
func (o *Objects[T]) Stats() Stats {
	hits, puts, misses, drops := o.st.counters()
	gets := hits + misses
	return Stats{
		InUse:    gets - puts - drops,
		Idle:     o.st.idle(),
		Capacity: o.st.limit(),
		Gets:     gets,
		Hits:     hits,
		Misses:   misses,
		Dropped:  drops + o.st.trimmed.Load(),
	}
}

// Close stops the TTL sweeper and drops every idle object. Get keeps working
// (every call makes a new object) and Put discards.
func (o *Objects[T]) Close() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return
	}
	o.closed = true
	if o.sweep != nil {
		o.sweep.stop()
		o.sweep = nil
	}
	o.st.setLimit(0, nil)
}

// ticker runs fn every interval on its own goroutine until stop.
type ticker struct {
	quit chan struct{}
	done chan struct{}
}

func startTicker(every time.Duration, fn func()) *ticker {
	t := &ticker{quit: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(t.done)
		tk := time.NewTicker(every)
		defer tk.Stop()
		for {
			select {
			case <-t.quit:
				return
			case <-tk.C:
				fn()
			}
		}
	}()
	return t
}

// stop ends the goroutine and waits for it.
func (t *ticker) stop() {
	close(t.quit)
	<-t.done
}
