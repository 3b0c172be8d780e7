package caching

import (
	"reflect"
	"sync"
	"sync/atomic"
	"time"
)

// clockTick is the resolution of the sampled wall clock.
const clockTick = 5 * time.Millisecond

// sampledClock reads time.Now once per clockTick on one goroutine shared by
// every cache that uses it, and hands out the last reading. A cache reads the
// clock on every request; on some virtual machines time.Now costs as much as
// the rest of a hit. HTTP freshness is counted in seconds, so a reading at
// most clockTick old decides exactly as time.Now would.
type sampledClock struct {
	mu   sync.Mutex
	refs int
	stop chan struct{}
	done chan struct{}
	t    atomic.Pointer[time.Time]
}

var wallClock sampledClock

// acquire starts the sampling goroutine for the first user.
func (c *sampledClock) acquire() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.refs++
	if c.refs > 1 {
		return
	}
	now := time.Now()
	c.t.Store(&now)
	c.stop, c.done = make(chan struct{}), make(chan struct{})
	go c.run(c.stop, c.done)
}

// release stops the goroutine when the last user is gone, and waits for it.
func (c *sampledClock) release() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.refs--
	if c.refs > 0 {
		return
	}
	close(c.stop)
	<-c.done
}

func (c *sampledClock) run(stop, done chan struct{}) {
	defer close(done)
	tk := time.NewTicker(clockTick)
	defer tk.Stop()
	for {
		select {
		case now := <-tk.C:
			c.t.Store(&now)
		case <-stop:
			return
		}
	}
}

func (c *sampledClock) now() time.Time { return *c.t.Load() }

// isTimeNow reports whether fn is time.Now itself (what the registry gives a
// plugin when the host sets no clock).
func isTimeNow(fn func() time.Time) bool {
	return reflect.ValueOf(fn).Pointer() == reflect.ValueOf(time.Now).Pointer()
}
