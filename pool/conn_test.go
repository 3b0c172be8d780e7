package pool

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/wait"
)

type fakeConn struct {
	id      int64
	broken  atomic.Bool
	closed  atomic.Bool
	created time.Time
}

// dialer makes fakeConns and counts how many are open at once.
type dialer struct {
	next, open, peak, dials, closes atomic.Int64
	fail                            atomic.Bool
	delay                           time.Duration
}

func (d *dialer) dial(ctx context.Context) (*fakeConn, error) {
	if d.delay > 0 {
		select {
		case <-time.After(d.delay):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if d.fail.Load() {
		return nil, errors.New("connection refused")
	}
	d.dials.Add(1)
	n := d.open.Add(1)
	for p := d.peak.Load(); n > p && !d.peak.CompareAndSwap(p, n); p = d.peak.Load() {
	}
	return &fakeConn{id: d.next.Add(1), created: time.Now()}, nil
}

func (d *dialer) healthy(c *fakeConn) bool { return !c.broken.Load() }

func (d *dialer) close(c *fakeConn) error {
	if c.closed.Swap(true) {
		return fmt.Errorf("conn %d closed twice", c.id)
	}
	d.open.Add(-1)
	d.closes.Add(1)
	return nil
}

func newTestPool(t *testing.T, o ConnOptions, d *dialer) *Pool[*fakeConn] {
	t.Helper()
	p := NewPool(o, d.dial, d.healthy, d.close)
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Error(err)
		}
	})
	return p
}

func TestPoolReuse(t *testing.T) {
	d := &dialer{}
	p := newTestPool(t, ConnOptions{MaxSize: 2}, d)
	ctx := context.Background()
	c1, err := p.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p.Release(c1)
	c2, err := p.Acquire(ctx)
	if err != nil || c2 != c1 {
		t.Fatalf("Acquire = %v, %v; want the released connection", c2, err)
	}
	c3, _ := p.Acquire(ctx)
	want := Stats{InUse: 2, Capacity: 2, Gets: 3, Hits: 1, Misses: 2}
	if s := p.Stats(); s != want {
		t.Fatalf("stats %+v, want %+v", s, want)
	}
	p.Release(c2)
	p.Release(c3)
	p.Release(c3) // twice: ignored
	p.Release(&fakeConn{})
	if s := p.Stats(); s.Idle != 2 || s.InUse != 0 || p.Open() != 2 {
		t.Fatalf("after releases: %+v open %d", s, p.Open())
	}
}

// TestPoolMaxSizeUnderLoad: 64 concurrent acquirers never open more than
// MaxSize connections, and their waits are counted.
func TestPoolMaxSizeUnderLoad(t *testing.T) {
	const maxSize = 10
	d := &dialer{delay: time.Millisecond}
	p := newTestPool(t, ConnOptions{MinSize: 2, MaxSize: maxSize}, d)
	var inUse, peakInUse, holds atomic.Int64
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			for range 20 {
				c, err := p.Acquire(context.Background())
				if err != nil {
					t.Error(err)
					return
				}
				n := inUse.Add(1)
				for pk := peakInUse.Load(); n > pk && !peakInUse.CompareAndSwap(pk, n); pk = peakInUse.Load() {
				}
				if holds.Add(1) <= maxSize {
					// The first maxSize holders keep every slot busy until
					// someone waits, so the pool must queue.
					if !wait.Check(wait.Deadline, func() bool { return p.Stats().QueueDepth > 0 }) {
						t.Error("no waiter while every connection was held")
						inUse.Add(-1)
						p.Release(c)
						return
					}
				}
				runtime.Gosched()
				inUse.Add(-1)
				p.Release(c)
			}
		})
	}
	wg.Wait()
	s := p.Stats()
	if d.peak.Load() > maxSize || peakInUse.Load() > maxSize {
		t.Fatalf("peak open %d, peak in use %d, max %d", d.peak.Load(), peakInUse.Load(), maxSize)
	}
	if s.Waits == 0 || s.Gets != 64*20 || s.Hits+s.Misses != s.Gets || s.InUse != 0 || s.QueueDepth != 0 {
		t.Fatalf("stats %+v", s)
	}
	if s.Misses > maxSize {
		t.Fatalf("%d dials for %d slots: connections were not reused", s.Misses, maxSize)
	}
	t.Logf("peak open %d, stats %+v", d.peak.Load(), s)
}

func TestPoolMinSizeWarmAndRestored(t *testing.T) {
	d := &dialer{}
	p := newTestPool(t, ConnOptions{MinSize: 3, MaxSize: 5}, d)
	wait.For(t, "3 warm connections", func() bool { return p.Stats().Idle == 3 })
	c, err := p.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if s := p.Stats(); s.Hits != 1 || s.Misses != 0 {
		t.Fatalf("warm connection not used: %+v", s)
	}
	c.broken.Store(true)
	p.Release(c)
	if !c.closed.Load() {
		t.Fatal("unhealthy connection was not closed")
	}
	wait.For(t, "minimum restored", func() bool { return p.Open() == 3 && p.Stats().Idle == 3 })
	if s := p.Stats(); s.Dropped != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestPoolTTL(t *testing.T) {
	const ttl = 40 * time.Millisecond
	d := &dialer{}
	p := newTestPool(t, ConnOptions{MinSize: 1, MaxSize: 4, TTL: ttl}, d)
	ctx := context.Background()
	wait.For(t, "warm connection", func() bool { return p.Stats().Idle == 1 })
	c1, _ := p.Acquire(ctx)
	c2, _ := p.Acquire(ctx)
	p.Release(c1)
	p.Release(c2)
	wait.For(t, "idle connections past the TTL to close", func() bool {
		return c1.closed.Load() && c2.closed.Load()
	})
	if age := time.Since(c1.created); age < ttl {
		t.Fatalf("closed at age %v, before the TTL", age)
	}
	wait.For(t, "minimum restored with a new connection", func() bool { return p.Open() == 1 })
	// A connection held past its TTL is closed on release, not reused.
	c3, _ := p.Acquire(ctx)
	acquired := time.Now()
	wait.For(t, "the connection to outlive its TTL", func() bool { return time.Since(acquired) > ttl })
	p.Release(c3)
	if !c3.closed.Load() {
		t.Fatal("an expired connection was kept on release")
	}
	if s := p.Stats(); s.Dropped < 3 {
		t.Fatalf("stats %+v", s)
	}
}

func TestPoolWaitAndCancel(t *testing.T) {
	d := &dialer{}
	p := newTestPool(t, ConnOptions{MaxSize: 1}, d)
	held, _ := p.Acquire(context.Background())

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := p.Acquire(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Acquire = %v, want deadline exceeded", err)
	}
	if s := p.Stats(); s.Waits != 1 || s.QueueDepth != 0 {
		t.Fatalf("stats %+v", s)
	}
	got := make(chan *fakeConn)
	go func() {
		c, err := p.Acquire(context.Background())
		if err != nil {
			t.Error(err)
		}
		got <- c
	}()
	wait.For(t, "a waiter", func() bool { return p.Stats().QueueDepth == 1 })
	p.Release(held)
	if c := <-got; c != held {
		t.Fatal("the waiter did not get the released connection")
	}
	// A broken connection released to a waiter lets the waiter dial instead.
	go func() {
		c, err := p.Acquire(context.Background())
		if err != nil {
			t.Error(err)
		}
		got <- c
	}()
	wait.For(t, "a waiter", func() bool { return p.Stats().QueueDepth == 1 })
	held.broken.Store(true)
	p.Release(held)
	if c := <-got; c == held || c == nil {
		t.Fatal("the waiter did not get a new connection")
	}
	if d.peak.Load() != 1 {
		t.Fatalf("peak open %d > MaxSize 1", d.peak.Load())
	}
}

func TestPoolDialError(t *testing.T) {
	d := &dialer{}
	d.fail.Store(true)
	p := newTestPool(t, ConnOptions{MaxSize: 1}, d)
	for range 3 {
		if _, err := p.Acquire(context.Background()); err == nil || err.Error() != "connection refused" {
			t.Fatalf("Acquire = %v", err)
		}
	}
	if p.Open() != 0 || p.LastDialError() == nil {
		t.Fatalf("open %d after failed dials", p.Open())
	}
	d.fail.Store(false)
	if _, err := p.Acquire(context.Background()); err != nil {
		t.Fatalf("Acquire after recovery: %v", err)
	}
}

func TestPoolResize(t *testing.T) {
	d := &dialer{}
	p := newTestPool(t, ConnOptions{MaxSize: 4}, d)
	ctx := context.Background()
	var cs []*fakeConn
	for range 4 {
		c, _ := p.Acquire(ctx)
		cs = append(cs, c)
	}
	for _, c := range cs[:3] {
		p.Release(c)
	}
	// Shrink: idle ones over the new MaxSize close at once, the busy one on release.
	p.Resize(ConnOptions{MaxSize: 2})
	if p.Open() != 2 || d.open.Load() != 2 {
		t.Fatalf("open %d (dialer %d) after shrink, want 2", p.Open(), d.open.Load())
	}
	// Two busy, MaxSize 1: the first released closes, the second is kept.
	other, _ := p.Acquire(ctx)
	p.Resize(ConnOptions{MaxSize: 1})
	p.Release(cs[3])
	if !cs[3].closed.Load() || p.Open() != 1 {
		t.Fatalf("busy connection over MaxSize kept; open %d", p.Open())
	}
	p.Release(other)
	if other.closed.Load() || p.Stats().Idle != 1 {
		t.Fatalf("connection within MaxSize closed; stats %+v", p.Stats())
	}
	// Grow: a waiter may dial at once.
	held, _ := p.Acquire(ctx)
	got := make(chan error, 1)
	go func() { _, err := p.Acquire(ctx); got <- err }()
	wait.For(t, "a waiter", func() bool { return p.Stats().QueueDepth == 1 })
	p.Resize(ConnOptions{MaxSize: 2, MinSize: 2})
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	if s := p.Stats(); s.Capacity != 2 || p.Open() != 2 {
		t.Fatalf("after grow: %+v open %d", s, p.Open())
	}
	p.Release(held)
	if o := p.Options(); o.MinSize != 2 || o.MaxSize != 2 {
		t.Fatalf("Options() = %+v", o)
	}
}

func TestPoolClose(t *testing.T) {
	d := &dialer{}
	p := NewPool(ConnOptions{MinSize: 1, MaxSize: 1}, d.dial, d.healthy, d.close)
	ctx := context.Background()
	held, err := p.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() { _, err := p.Acquire(ctx); got <- err }()
	wait.For(t, "a waiter", func() bool { return p.Stats().QueueDepth == 1 })
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-got; !errors.Is(err, ErrClosed) {
		t.Fatalf("waiter got %v, want ErrClosed", err)
	}
	if _, err := p.Acquire(ctx); !errors.Is(err, ErrClosed) {
		t.Fatalf("Acquire after Close = %v", err)
	}
	p.Release(held)
	if !held.closed.Load() || d.open.Load() != 0 {
		t.Fatalf("connections left open: %d", d.open.Load())
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	p.Resize(ConnOptions{MinSize: 5})
}

func TestPoolCloseReportsErrors(t *testing.T) {
	d := &dialer{}
	p := NewPool(ConnOptions{MaxSize: 2}, d.dial, nil, func(*fakeConn) error { return errors.New("close failed") })
	c, _ := p.Acquire(context.Background())
	p.Release(c)
	if err := p.Close(); err == nil || err.Error() != "close failed" {
		t.Fatalf("Close = %v", err)
	}
}

func TestNewPoolPanics(t *testing.T) {
	tests := []struct {
		name string
		make func()
	}{
		{name: "nil dial", make: func() { NewPool[*fakeConn](ConnOptions{}, nil, nil, nil) }},
		{name: "not comparable", make: func() {
			NewPool(ConnOptions{}, func(context.Context) ([]byte, error) { return nil, nil }, nil, nil)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
			}()
			tt.make()
		})
	}
}

func BenchmarkPoolAcquireRelease(b *testing.B) {
	d := &dialer{}
	p := NewPool(ConnOptions{MaxSize: 16}, d.dial, d.healthy, d.close)
	defer p.Close()
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c, err := p.Acquire(ctx)
			if err != nil {
				b.Error(err)
				return
			}
			p.Release(c)
		}
	})
}
