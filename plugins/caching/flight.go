package caching

import "sync"

// flights collapses concurrent upstream requests for one key, as
// golang.org/x/sync/singleflight does, with one difference that caching needs:
// the leader releases its followers as soon as it knows the answer, which for
// a response that will not be stored (private, Set-Cookie, an error) is when
// its header arrives, not when its body ends. A follower released without a
// slot never gets the leader's response: it goes upstream itself.
type flights struct {
	mu sync.Mutex
	m  map[string]*flight
}

// flight is one upstream request that others may wait for.
type flight struct {
	done     chan struct{} // closed by release
	slot     *slot         // set before done closes; nil: go upstream yourself
	released bool          // guarded by flights.mu
	key      string
	// staleOnError marks slot as a stale response standing in for an
	// upstream error (stale-if-error), not a fresh one.
	staleOnError bool
}

// join returns the flight for key and whether the caller leads it (and must
// release it). key is not retained unless the caller becomes the leader.
func (g *flights) join(key []byte) (*flight, bool) {
	g.mu.Lock()
	if f, ok := g.m[string(key)]; ok {
		g.mu.Unlock()
		return f, false
	}
	if g.m == nil {
		g.m = map[string]*flight{}
	}
	f := &flight{done: make(chan struct{}), key: string(key)}
	g.m[f.key] = f
	g.mu.Unlock()
	return f, true
}

// release hands s (possibly nil) to the followers of f and forgets f, so that
// later requests look the key up again. Only the first call counts.
func (g *flights) release(f *flight, s *slot) { g.releaseAs(f, s, false) }

// releaseAs is release with the staleOnError mark.
func (g *flights) releaseAs(f *flight, s *slot, staleOnError bool) {
	if f == nil {
		return
	}
	g.mu.Lock()
	if f.released {
		g.mu.Unlock()
		return
	}
	f.released = true
	if g.m[f.key] == f {
		delete(g.m, f.key)
	}
	f.slot = s
	f.staleOnError = staleOnError
	g.mu.Unlock()
	close(f.done)
}

// busy reports whether a flight for key is under way.
func (g *flights) busy(key []byte) bool {
	g.mu.Lock()
	_, ok := g.m[string(key)]
	g.mu.Unlock()
	return ok
}

// current returns the flight under way for key, or nil.
func (g *flights) current(key []byte) *flight {
	g.mu.Lock()
	f := g.m[string(key)]
	g.mu.Unlock()
	return f
}
