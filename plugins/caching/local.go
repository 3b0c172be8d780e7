package caching

import (
	"sync/atomic"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/dgraph-io/ristretto/v2"
	"github.com/prometheus/client_golang/prometheus"
)

// memTier is the memory tier: a ristretto cache whose cost is the slot's
// stored bytes. It keeps its own count of bytes and entries, maintained from
// ristretto's exit callback so that every way a slot leaves (eviction,
// rejection by the admission policy, replacement, deletion, expiry, Clear,
// Close) is counted exactly once.
type memTier struct {
	rc      *ristretto.Cache[uint64, *slot] // keyed by hash; slots carry the key
	bytes   atomic.Int64
	entries atomic.Int64
	sets    atomic.Int64
	gauge   prometheus.Gauge
}

func newMemTier(maxCost int64, sizeHint int, gauge prometheus.Gauge) (*memTier, error) {
	// Admission counters: ten per entry the cache may hold. Entries are
	// assumed to average 4 KiB unless performance.response.caching.size asks
	// for more.
	expected := max(maxCost/4096, int64(sizeHint), 100)
	counters := min(expected*10, 1<<24)
	t := &memTier{gauge: gauge}
	rc, err := ristretto.NewCache(&ristretto.Config[uint64, *slot]{
		NumCounters:        counters,
		MaxCost:            maxCost,
		BufferItems:        64,
		IgnoreInternalCost: true,
		KeyToHash:          keyHash,
		OnExit:             t.exit,
	})
	if err != nil {
		return nil, err
	}
	t.rc = rc
	return t, nil
}

// keyHash hands ristretto the 64-bit hash the tier computed. One hash is
// enough: get compares the whole key, so a collision reads as a miss, never
// as another key's response. Keying ristretto by the hash also keeps the
// request's key buffer out of it (it never escapes to the heap).
func keyHash(k uint64) (uint64, uint64) { return k, 0 }

func (t *memTier) exit(s *slot) {
	if s == nil || !s.exited.CompareAndSwap(false, true) {
		return
	}
	t.bytes.Add(-s.cost)
	t.gauge.Sub(float64(s.cost))
	if s.e != nil {
		t.entries.Add(-1)
	}
}

// get returns the live slot stored under key, or nil. A slot past its expiry
// on the cache clock is deleted and not returned.
func (t *memTier) get(key []byte, now time.Time) *slot {
	h := xxhash.Sum64(key)
	s, ok := t.rc.Get(h)
	if !ok || s == nil || s.key != string(key) {
		return nil
	}
	if !now.Before(s.expires) {
		t.rc.Del(h)
		return nil
	}
	return s
}

// set stores s until s.expires and waits until a following get sees it (or
// the admission policy has dropped it). It reports whether ristretto took it.
func (t *memTier) set(s *slot, now time.Time) bool {
	if !s.expires.After(now) {
		return false
	}
	t.bytes.Add(s.cost)
	t.gauge.Add(float64(s.cost))
	if s.e != nil {
		t.entries.Add(1)
	}
	// No ristretto TTL: it would read the wall clock on every Get. The slot's
	// own expiry, on the cache clock, decides; expired slots are deleted when
	// looked up and by sweep.
	if !t.rc.Set(xxhash.Sum64String(s.key), s, s.cost) {
		t.exit(s)
		return false
	}
	t.rc.Wait()
	if t.sets.Add(1)%sweepEvery == 0 {
		t.sweep(now)
	}
	return true
}

// sweepEvery is how many stores pass between two sweeps of expired slots.
const sweepEvery = 4096

// sweep deletes the slots that expired by now. It runs on the storing
// request, once every sweepEvery stores, so that entries nobody asks for
// again do not hold memory until the admission policy evicts them.
func (t *memTier) sweep(now time.Time) {
	var dead []string
	t.each(func(s *slot) {
		if !now.Before(s.expires) {
			dead = append(dead, s.key)
		}
	})
	for _, k := range dead {
		t.del(k)
	}
}

func (t *memTier) del(key string) { t.rc.Del(xxhash.Sum64String(key)) }

// each calls fn for every stored slot; fn must not call back into the tier.
func (t *memTier) each(fn func(*slot)) {
	t.rc.IterValues(func(s *slot) bool {
		if s != nil {
			fn(s)
		}
		return false
	})
}

func (t *memTier) close() { t.rc.Close() }
