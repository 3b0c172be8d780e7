package pool

import (
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"sync"
	"time"
)

// ConnOptions sizes a [Pool] (performance.memory.connection_pool).
type ConnOptions struct {
	// MinSize is how many connections are kept open even when unused: they
	// are dialled in the background when the pool starts and again after a
	// connection is closed (min_size).
	MinSize int
	// MaxSize is the most connections open at once, in use, idle or being
	// dialled; an Acquire beyond it waits (max_size). 0 means no limit.
	MaxSize int
	// TTL is the lifetime of a connection: one older than TTL is closed
	// instead of being reused, and idle ones are closed when they reach it
	// (ttl). 0 means connections live until they fail a health check.
	TTL time.Duration
}

func (o ConnOptions) normalize() ConnOptions {
	if o.MaxSize <= 0 {
		o.MaxSize = math.MaxInt
	}
	o.MinSize = min(max(o.MinSize, 0), o.MaxSize)
	o.TTL = max(o.TTL, 0)
	return o
}

// Pool is a generic connection pool for code that holds connections the
// host knows nothing of (a plugin's client to some service). Acquire reuses
// an idle connection, dials a new one while fewer than MaxSize are open, and
// otherwise waits for a Release; Release checks health and keeps the
// connection or closes it, and the pool dials again in the background to
// keep MinSize open. Stats counts reuse (Hits), new connections (Misses) and
// Waits.
//
// T must be a comparable type, typically a pointer or an interface holding
// one: the pool recognises a released connection by its value. A Pool is
// safe for concurrent use; it runs one goroutine until Close.
type Pool[T any] struct {
	dial    func(context.Context) (T, error)
	healthy func(T) bool
	closeFn func(T) error

	mu      sync.Mutex
	opts    ConnOptions
	idle    []connEntry[T] // the most recently released last
	inUse   map[any]time.Time
	open    int // idle, in use and being dialled
	waiters []*connWaiter[T]
	closed  bool
	lastErr error

	gets, hits, misses, waits, dropped, dialErrors int64

	kick   chan struct{}
	ctx    context.Context // for background dials; cancelled by Close
	cancel context.CancelFunc
	done   chan struct{}
}

type connEntry[T any] struct {
	c       T
	created time.Time
}

// connWaiter is an Acquire waiting for a connection.
type connWaiter[T any] struct {
	ch chan connGrant[T] // capacity 1
}

// connGrant is what a waiter receives: a connection, the right to dial one
// (a slot of open already counted for it), or the news that the pool closed.
type connGrant[T any] struct {
	c      T
	dial   bool
	closed bool
}

// NewPool returns a connection pool. dial opens a connection; healthy, if
// not nil, is asked on Release whether a connection may be reused; closeFn,
// if not nil, closes one. NewPool panics if dial is nil or T is not a
// comparable type.
func NewPool[T any](o ConnOptions, dial func(context.Context) (T, error), healthy func(T) bool, closeFn func(T) error) *Pool[T] {
	if dial == nil {
		panic("pool.NewPool: dial is nil")
	}
	if t := reflect.TypeFor[T](); !t.Comparable() {
		panic(fmt.Sprintf("pool.NewPool: connection type %v is not comparable; use a pointer", t))
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Pool[T]{
		dial: dial, healthy: healthy, closeFn: closeFn,
		opts:  o.normalize(),
		inUse: make(map[any]time.Time),
		kick:  make(chan struct{}, 1),
		ctx:   ctx, cancel: cancel,
		done: make(chan struct{}),
	}
	go p.maintain()
	return p
}

func (p *Pool[T]) expired(created, now time.Time) bool {
	return p.opts.TTL > 0 && now.Sub(created) >= p.opts.TTL
}

// Acquire returns a connection: an idle one (the most recently released),
// else a new one from dial while fewer than MaxSize are open, else it waits,
// counted in Stats.Waits, until one is released or ctx ends. It returns
// ctx.Err(), the dial error, or ErrClosed.
func (p *Pool[T]) Acquire(ctx context.Context) (T, error) {
	var zero T
	if err := ctx.Err(); err != nil {
		return zero, err
	}
	p.mu.Lock()
	p.gets++
	for {
		if p.closed {
			p.mu.Unlock()
			return zero, ErrClosed
		}
		c, ok, stale := p.popIdleLocked()
		if ok {
			p.hits++
			p.mu.Unlock()
			p.retire(stale)
			return c, nil
		}
		if len(stale) == 0 {
			break
		}
		p.mu.Unlock()
		p.retire(stale) // counted as open until closed, then look again
		p.mu.Lock()
	}
	if p.open < p.opts.MaxSize {
		p.open++
		p.misses++
		p.mu.Unlock()
		return p.dialFor(ctx)
	}
	p.waits++
	wt := &connWaiter[T]{ch: make(chan connGrant[T], 1)}
	p.waiters = append(p.waiters, wt)
	p.mu.Unlock()

	select {
	case g := <-wt.ch:
		return p.take(ctx, g)
	case <-ctx.Done():
		p.mu.Lock()
		if p.removeWaiterLocked(wt) {
			p.mu.Unlock()
			return zero, ctx.Err()
		}
		p.mu.Unlock()
		p.giveBack(<-wt.ch) // granted at the same moment: pass it on
		return zero, ctx.Err()
	}
}

// popIdleLocked takes the most recently released idle connection that has
// not expired and marks it in use. Expired ones met on the way are taken
// off the idle list and returned in stale, still counted as open: the
// caller closes them with retire.
func (p *Pool[T]) popIdleLocked() (c T, ok bool, stale []T) {
	now := time.Now()
	for n := len(p.idle); n > 0; n = len(p.idle) {
		e := p.idle[n-1]
		p.idle[n-1] = connEntry[T]{}
		p.idle = p.idle[:n-1]
		if p.expired(e.created, now) {
			stale = append(stale, e.c)
			continue
		}
		p.inUse[any(e.c)] = e.created
		return e.c, true, stale
	}
	return c, false, stale
}

// retire closes connections that were taken off the idle or in-use
// bookkeeping and only then stops counting them as open, so that the far
// side never sees more than MaxSize connections; then it lets waiters dial
// and wakes the maintainer to restore MinSize.
func (p *Pool[T]) retire(cs []T) {
	if len(cs) == 0 {
		return
	}
	p.closeAll(cs)
	p.mu.Lock()
	p.open -= len(cs)
	if !p.closed {
		p.dropped += int64(len(cs))
		p.grantDialLocked()
		p.wakeMaintainer(p.open < p.opts.MinSize)
	}
	p.mu.Unlock()
}

// take turns a grant into the result of Acquire.
func (p *Pool[T]) take(ctx context.Context, g connGrant[T]) (T, error) {
	var zero T
	switch {
	case g.closed:
		return zero, ErrClosed
	case g.dial:
		p.mu.Lock()
		p.misses++
		p.mu.Unlock()
		return p.dialFor(ctx)
	default:
		p.mu.Lock()
		p.hits++
		p.mu.Unlock()
		return g.c, nil // registered in inUse by the granter
	}
}

// giveBack returns a grant that its waiter no longer wants.
func (p *Pool[T]) giveBack(g connGrant[T]) {
	switch {
	case g.closed:
	case g.dial:
		p.mu.Lock()
		p.open--
		p.grantDialLocked()
		p.mu.Unlock()
	default:
		p.Release(g.c)
	}
}

// dialFor dials a connection for an Acquire whose slot in open is counted.
func (p *Pool[T]) dialFor(ctx context.Context) (T, error) {
	var zero T
	c, err := p.dial(ctx)
	p.mu.Lock()
	if err != nil {
		p.open--
		p.dialErrors++
		p.lastErr = err
		p.grantDialLocked()
		p.mu.Unlock()
		return zero, err
	}
	if p.closed {
		p.mu.Unlock()
		p.retire([]T{c})
		return zero, ErrClosed
	}
	p.inUse[any(c)] = time.Now()
	p.mu.Unlock()
	return c, nil
}

// Release gives back a connection from Acquire. An unhealthy one, one older
// than TTL, one over a shrunk MaxSize, or any after Close is closed (and the
// pool dials again to keep MinSize open); otherwise it goes to the first
// waiter or back to the idle list. A value that is not checked out of this
// pool (released twice, or never acquired) is ignored.
func (p *Pool[T]) Release(c T) {
	ok := p.healthy == nil || p.healthy(c)
	p.mu.Lock()
	created, found := p.inUse[any(c)]
	if !found {
		p.mu.Unlock()
		return
	}
	delete(p.inUse, any(c))
	if !ok || p.closed || p.expired(created, time.Now()) || p.open > p.opts.MaxSize {
		p.mu.Unlock()
		p.retire([]T{c})
		return
	}
	if len(p.waiters) > 0 {
		wt := p.waiters[0]
		p.waiters[0] = nil
		p.waiters = p.waiters[1:]
		p.inUse[any(c)] = created
		wt.ch <- connGrant[T]{c: c}
		p.mu.Unlock()
		return
	}
	p.idle = append(p.idle, connEntry[T]{c: c, created: created})
	p.mu.Unlock()
}

// grantDialLocked lets the first waiter dial while there is room.
func (p *Pool[T]) grantDialLocked() {
	for len(p.waiters) > 0 && p.open < p.opts.MaxSize && !p.closed {
		wt := p.waiters[0]
		p.waiters[0] = nil
		p.waiters = p.waiters[1:]
		p.open++
		wt.ch <- connGrant[T]{dial: true}
	}
}

func (p *Pool[T]) removeWaiterLocked(wt *connWaiter[T]) bool {
	for i, x := range p.waiters {
		if x == wt {
			p.waiters = append(p.waiters[:i], p.waiters[i+1:]...)
			return true
		}
	}
	return false
}

func (p *Pool[T]) wakeMaintainer(yes bool) {
	if !yes {
		return
	}
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// closeAll closes connections outside the lock and returns their errors.
func (p *Pool[T]) closeAll(cs []T) error {
	if p.closeFn == nil {
		return nil
	}
	var errs []error
	for _, c := range cs {
		if err := p.closeFn(c); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// maintainInterval is how often the background goroutine closes expired
// idle connections and retries dials that failed.
func (p *Pool[T]) maintainInterval() time.Duration {
	if p.opts.TTL <= 0 {
		return 5 * time.Second
	}
	return min(max(p.opts.TTL/4, 5*time.Millisecond), 30*time.Second)
}

// maintain closes expired idle connections and dials to keep MinSize open.
func (p *Pool[T]) maintain() {
	defer close(p.done)
	p.mu.Lock()
	every := p.maintainInterval()
	p.mu.Unlock()
	t := time.NewTimer(every)
	defer t.Stop()
	for {
		every = p.sweep()
		t.Reset(every)
		select {
		case <-p.ctx.Done():
			return
		case <-p.kick:
		case <-t.C:
		}
	}
}

// sweep runs one maintenance pass and returns the interval to the next.
func (p *Pool[T]) sweep() time.Duration {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return time.Hour
	}
	now := time.Now()
	var stale []T
	kept := p.idle[:0]
	for _, e := range p.idle {
		if p.expired(e.created, now) {
			stale = append(stale, e.c)
		} else {
			kept = append(kept, e)
		}
	}
	clear(p.idle[len(kept):])
	p.idle = kept
	p.mu.Unlock()
	p.retire(stale)

	p.mu.Lock()
	p.grantDialLocked()
	need := p.opts.MinSize - p.open
	if need > 0 {
		p.open += need
	}
	every := p.maintainInterval()
	p.mu.Unlock()

	for ; need > 0; need-- {
		c, err := p.dial(p.ctx)
		p.mu.Lock()
		if err != nil {
			p.open -= need // give back this slot and those not yet dialled
			p.dialErrors++
			p.lastErr = err
			p.grantDialLocked()
			p.mu.Unlock()
			break // retried on the next pass
		}
		if p.closed {
			p.open -= need - 1
			p.mu.Unlock()
			p.retire([]T{c})
			break
		}
		now := time.Now()
		if len(p.waiters) > 0 {
			wt := p.waiters[0]
			p.waiters[0] = nil
			p.waiters = p.waiters[1:]
			p.inUse[any(c)] = now
			wt.ch <- connGrant[T]{c: c}
		} else {
			p.idle = append(p.idle, connEntry[T]{c: c, created: now})
		}
		p.mu.Unlock()
	}
	return every
}

// Resize applies new options live: idle connections beyond a smaller
// MaxSize are closed at once (busy ones when released), waiters may dial
// under a larger MaxSize, and the new MinSize and TTL are applied by the
// background goroutine right away.
func (p *Pool[T]) Resize(o ConnOptions) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.opts = o.normalize()
	var extra []T
	for n := p.open; n > p.opts.MaxSize && len(p.idle) > 0; n-- {
		extra = append(extra, p.idle[0].c) // the least recently used first
		p.idle[0] = connEntry[T]{}
		p.idle = p.idle[1:]
	}
	p.grantDialLocked()
	p.wakeMaintainer(true)
	p.mu.Unlock()
	p.retire(extra)
}

// Options returns the options in force, with defaults filled in (MaxSize 0
// reads as math.MaxInt).
func (p *Pool[T]) Options() ConnOptions {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.opts
}

// Stats reports the pool's state: InUse connections checked out, Idle ones
// kept, Capacity MaxSize (0 when unlimited), Hits Acquires served by an
// existing connection (idle, or handed over by a Release), Misses dials made
// for Acquire, Waits Acquires that waited, QueueDepth Acquires waiting now,
// Dropped connections closed as unhealthy, expired or over MaxSize.
func (p *Pool[T]) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	capacity := int64(p.opts.MaxSize)
	if p.opts.MaxSize == math.MaxInt {
		capacity = 0
	}
	return Stats{
		InUse:      int64(len(p.inUse)),
		Idle:       int64(len(p.idle)),
		Capacity:   capacity,
		Gets:       p.gets,
		Hits:       p.hits,
		Misses:     p.misses,
		Waits:      p.waits,
		QueueDepth: int64(len(p.waiters)),
		Dropped:    p.dropped,
	}
}

// Open returns how many connections are open now: in use, idle or being
// dialled.
func (p *Pool[T]) Open() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.open
}

// LastDialError returns the most recent error from dial, or nil.
func (p *Pool[T]) LastDialError() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lastErr
}

// Close closes the idle connections, fails waiting and later Acquires with
// ErrClosed, stops the background goroutine and waits for it. Connections
// in use are closed when released. It returns the errors of closeFn.
func (p *Pool[T]) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	idle := make([]T, 0, len(p.idle))
	for _, e := range p.idle {
		idle = append(idle, e.c)
	}
	p.idle = nil
	for _, wt := range p.waiters {
		wt.ch <- connGrant[T]{closed: true}
	}
	p.waiters = nil
	p.mu.Unlock()
	p.cancel()
	<-p.done
	err := p.closeAll(idle)
	p.mu.Lock()
	p.open -= len(idle)
	p.mu.Unlock()
	return err
}
