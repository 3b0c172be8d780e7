package pool

import (
	"math/bits"
	"runtime"
	"sync"
	"sync/atomic"
)

// store keeps idle items in lists (one per size class, at most 64 classes)
// spread over shards, each with its own mutex and its own share of the
// limit, so the total never exceeds the limit and no lock or counter is
// shared by all cores.
//
// A caller borrows a shard from a sync.Pool of shard pointers: sync.Pool
// hands each P the pointer it used last, so a goroutine mostly works on the
// shard of the P it runs on and Gets and Puts on different cores touch
// different cache lines. The items themselves are held by the shards, not
// by the sync.Pool, so a garbage collection loses none of them.
type store[E any] struct {
	shards  []shard[E]
	mask    uint32
	classes int
	handles sync.Pool // of *shard[E]
	next    atomic.Uint32
	trimmed atomic.Int64 // items removed by setLimit and filter
}

type shard[E any] struct {
	mu    sync.Mutex
	lists [][]E // by class; guarded by mu
	n     int64 // items held; guarded by mu
	// Counted under mu, so that a Get or a Put pays for its lock and no
	// other atomic operation: items taken, items kept.
	hits, puts int64
	// Written under mu, and only when they change, read without it to skip
	// shards that cannot help.
	// Bit c is set when lists[c] holds items, and may stay set for a
	// while after it empties: take leaves it, so that a Get and a Put of
	// the same item do not both write it, and popFrom clears it when it
	// finds the list empty.
	nonEmpty atomic.Uint64
	full     atomic.Bool  // n >= limit
	limit    atomic.Int64 // this shard's share of the store's limit
	// Counted without the lock: pops that found nothing, pushes refused.
	misses, drops atomic.Int64
	_             [32]byte // fill 128 bytes: neighbouring shards never share a cache line
}

// newStore returns a store with shards shards (0: one per GOMAXPROCS,
// rounded up to a power of two).
func newStore[E any](classes, shards int) *store[E] {
	if classes < 1 || classes > 64 {
		panic("pool: a store has 1 to 64 classes")
	}
	if shards <= 0 {
		shards = runtime.GOMAXPROCS(0)
	}
	n := 1
	for n < shards && n < 64 {
		n <<= 1
	}
	s := &store[E]{shards: make([]shard[E], n), mask: uint32(n - 1), classes: classes}
	for i := range s.shards {
		s.shards[i].lists = make([][]E, classes)
	}
	s.handles.New = func() any { return &s.shards[s.next.Add(1)&s.mask] }
	return s
}

// borrow returns the shard to work on; give it back with ret.
func (s *store[E]) borrow() *shard[E] { return s.handles.Get().(*shard[E]) }

func (s *store[E]) ret(sh *shard[E]) { s.handles.Put(sh) }

// setLimit spreads limit over the shards and redistributes the idle items
// so that every shard holds at most its share: the items of the lowest
// classes are kept and the rest removed, calling drop on each outside the
// locks. It returns how many were removed. It locks every shard, in order;
// nothing else holds two shard locks at once.
func (s *store[E]) setLimit(limit int, drop func(E)) int64 {
	limit = max(limit, 0)
	n := len(s.shards)
	for i := range s.shards {
		s.shards[i].mu.Lock()
	}
	byClass := make([][]E, s.classes)
	for i := range s.shards {
		x := &s.shards[i]
		for c, l := range x.lists {
			byClass[c] = append(byClass[c], l...)
			clear(l)
			x.lists[c] = l[:0]
		}
		x.nonEmpty.Store(0)
		x.n = 0
		share := limit / n
		if i < limit%n {
			share++
		}
		x.limit.Store(int64(share))
		x.full.Store(share == 0)
	}
	var removed []E
	next := 0
	for c, l := range byClass {
		for _, e := range l {
			for next < n && !s.shards[next].put(c, e) {
				next++
			}
			if next == n {
				removed = append(removed, e)
			}
		}
	}
	for i := range s.shards {
		s.shards[i].mu.Unlock()
	}
	s.trimmed.Add(int64(len(removed)))
	if drop != nil {
		for _, e := range removed {
			drop(e)
		}
	}
	return int64(len(removed))
}

// limit returns the total limit.
func (s *store[E]) limit() int64 {
	var l int64
	for i := range s.shards {
		l += s.shards[i].limit.Load()
	}
	return l
}

// idle returns how many items are held.
func (s *store[E]) idle() int64 {
	var n int64
	for i := range s.shards {
		x := &s.shards[i]
		x.mu.Lock()
		n += x.n
		x.mu.Unlock()
	}
	return n
}

// take removes the top item of class c; x.mu is held and the list is not
// empty.
func (x *shard[E]) take(c int) E {
	var zero E
	l := x.lists[c]
	e := l[len(l)-1]
	l[len(l)-1] = zero // drop the reference held by the backing array
	x.lists[c] = l[:len(l)-1]
	x.setN(x.n - 1)
	return e
}

// setN records how many items x holds and keeps the full hint; x.mu is held.
func (x *shard[E]) setN(n int64) {
	was := x.n >= x.limit.Load()
	x.n = n
	if now := n >= x.limit.Load(); now != was {
		x.full.Store(now)
	}
}

// put appends e to class c if the shard has room; x.mu is held.
func (x *shard[E]) put(c int, e E) bool {
	if x.n >= x.limit.Load() {
		return false
	}
	x.lists[c] = append(x.lists[c], e)
	if bit := uint64(1) << c; x.nonEmpty.Load()&bit == 0 {
		x.nonEmpty.Or(bit)
	}
	x.setN(x.n + 1)
	return true
}

// push keeps e in class c, in shard sh if it has room, else in another
// shard that has; it reports whether e was kept.
func (s *store[E]) push(sh *shard[E], c int, e E) bool {
	if sh.pushHere(c, e) {
		return true
	}
	for i := range s.shards {
		x := &s.shards[i]
		if x != sh && !x.full.Load() && x.pushHere(c, e) {
			return true
		}
	}
	sh.drops.Add(1)
	return false
}

// pushHere keeps e in class c of x if x has room.
func (x *shard[E]) pushHere(c int, e E) bool {
	x.mu.Lock()
	ok := x.put(c, e)
	if ok {
		x.puts++
	}
	x.mu.Unlock()
	return ok
}

// pop takes an item of class from or above: the lowest such class in shard
// sh, else the lowest in any other shard. In class from, accept (if not nil)
// decides whether the top item will do. Within a class the most recently
// pushed item comes first.
func (s *store[E]) pop(sh *shard[E], from int, accept func(E) bool) (E, bool) {
	above := ^(uint64(1)<<from - 1)
	if sh.nonEmpty.Load()&above != 0 {
		if e, ok := s.popFrom(sh, from, accept); ok {
			return e, true
		}
	}
	for i := range s.shards {
		x := &s.shards[i]
		if x == sh || x.nonEmpty.Load()&above == 0 {
			continue
		}
		if e, ok := s.popFrom(x, from, accept); ok {
			return e, true
		}
	}
	sh.misses.Add(1)
	var zero E
	return zero, false
}

func (s *store[E]) popFrom(x *shard[E], from int, accept func(E) bool) (E, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for m := x.nonEmpty.Load() &^ (uint64(1)<<from - 1); m != 0; m &= m - 1 {
		c := bits.TrailingZeros64(m)
		l := x.lists[c]
		if len(l) == 0 {
			x.nonEmpty.And(^(uint64(1) << c))
			continue
		}
		if c == from && accept != nil && !accept(l[len(l)-1]) {
			continue
		}
		x.hits++
		return x.take(c), true
	}
	var zero E
	return zero, false
}

// filter keeps only the items for which keep returns true and calls drop
// for the others (outside the locks). It returns how many went.
func (s *store[E]) filter(keep func(E) bool, drop func(E)) int64 {
	var removed []E
	for i := range s.shards {
		x := &s.shards[i]
		x.mu.Lock()
		for c, l := range x.lists {
			kept := l[:0]
			for _, e := range l {
				if keep(e) {
					kept = append(kept, e)
				} else {
					removed = append(removed, e)
				}
			}
			clear(l[len(kept):])
			x.lists[c] = kept
			if d := len(l) - len(kept); d > 0 {
				x.setN(x.n - int64(d))
			}
			if len(kept) == 0 {
				x.nonEmpty.And(^(uint64(1) << c))
			}
		}
		x.mu.Unlock()
	}
	s.trimmed.Add(int64(len(removed)))
	if drop != nil {
		for _, e := range removed {
			drop(e)
		}
	}
	return int64(len(removed))
}

// fill pushes items from make until every shard is at its limit.
func (s *store[E]) fill(c int, make func() E) {
	for i := range s.shards {
		x := &s.shards[i]
		x.mu.Lock()
		for x.n < x.limit.Load() {
			x.put(c, make())
		}
		x.mu.Unlock()
	}
}

// counters sums the per-shard counters: items taken from the store, items
// kept by push, pops that found nothing, pushes refused.
func (s *store[E]) counters() (hits, puts, misses, drops int64) {
	for i := range s.shards {
		x := &s.shards[i]
		x.mu.Lock()
		hits += x.hits
		puts += x.puts
		x.mu.Unlock()
		misses += x.misses.Load()
		drops += x.drops.Load()
	}
	return
}
