// Package drain counts the requests that run on one generation of a thing
// that is swapped while serving (a host snapshot, a plugin instance under
// test) and tells when the last of them has left a retired generation, so
// that what the generation holds is released only then.
package drain

import "sync/atomic"

// Gate counts the requests in flight on one generation. The zero value is
// not usable: call New.
type Gate struct {
	inflight atomic.Int64
	retired  atomic.Bool
	drained  chan struct{} // buffered: signalled when the last request leaves a retired gate
}

// New returns an open Gate.
func New() *Gate { return &Gate{drained: make(chan struct{}, 1)} }

// Acquire loads the current generation from cur and counts a request on it.
// A generation retired between the load and the count is left for the one
// that replaced it, so that no request ever starts on a generation that has
// been drained. It returns nil when cur holds nil. The caller calls Leave on
// the gate of what it got once the request is done.
func Acquire[T any](cur *atomic.Pointer[T], gate func(*T) *Gate) *T {
	for {
		v := cur.Load()
		if v == nil {
			return nil
		}
		if gate(v).enter() {
			return v
		}
	}
}

func (g *Gate) enter() bool {
	g.inflight.Add(1)
	if !g.retired.Load() {
		return true
	}
	g.Leave()
	return false
}

// Leave ends a request counted by Acquire.
func (g *Gate) Leave() {
	if g.inflight.Add(-1) == 0 && g.retired.Load() {
		select {
		case g.drained <- struct{}{}:
		default:
		}
	}
}

// Retire marks the generation replaced: Acquire no longer starts requests
// on it. The caller has already swapped the new generation in.
func (g *Gate) Retire() { g.retired.Store(true) }

// InFlight is the number of requests running on the generation now.
func (g *Gate) InFlight() int64 { return g.inflight.Load() }

// Wait returns once the generation is retired and its last request has
// left. Call it after Retire, off the request path.
func (g *Gate) Wait() {
	for g.inflight.Load() != 0 || !g.retired.Load() {
		<-g.drained
	}
}
