package plugintest

import (
	"sync"
	"time"
)

// Clock is a fake clock for time-based plugins: it stands still until the
// test moves it. Its Now method is what the plugin receives as
// registry.Context.Now. A Clock is safe for concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// clockStart is where a Clock created with the zero time starts.
var clockStart = time.Date(2026, time.January, 1, 0, 0, 0, 0, time.UTC)

// NewClock returns a clock reading start, or 2026-01-01 00:00:00 UTC when
// start is the zero time.
func NewClock(start time.Time) *Clock {
	if start.IsZero() {
		start = clockStart
	}
	return &Clock{now: start}
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d (backward when d is negative) and
// returns the new time.
func (c *Clock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	return c.now
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}
