package ratelimit

import (
	"math"
	"math/bits"
	"sync"
)

// memStore keeps the TAT of every key in a sharded map: a key's 64-bit hash
// picks its shard, each shard has its own mutex, and no key has a goroutine
// or timer. The number of keys is bounded by maxKeys: every shard holds at
// most maxKeys/len(shards).
//
// A key whose TAT is not after now is equivalent to a fresh one (its bucket
// is full), so it can be dropped at any time without changing a decision.
// Inserting a key looks at a few entries of its shard and drops the expired
// ones, so idle keys leave without a sweeper; a full shard first drops every
// expired entry of a larger sample and, when none has expired, the sampled
// key closest to a full bucket (the least recent debt) — never a key that is
// being limited while idler keys exist.
type memStore struct {
	pol      policy
	shards   []shard
	shift    uint // shard index = hash >> shift
	perShard int
}

type shard struct {
	mu      sync.Mutex
	m       map[uint64]int64 // key hash -> TAT (ns since the limiter's epoch)
	allowed uint64
	limited uint64
	_       [64]byte // keep neighbouring shards' locks off one cache line
}

const (
	maxShards = 256
	// cleanSample is how many entries an insert inspects for expired keys.
	cleanSample = 4
	// evictSample is how many entries a full shard inspects to make room.
	evictSample = 32
)

func newMemStore(pol policy, maxKeys int) *memStore {
	// Enough shards to spread contention, few enough that each still holds
	// a useful number of keys (at least 16) so the bound stays exact.
	n := 1
	for n < maxShards && n*2*16 <= maxKeys {
		n *= 2
	}
	s := &memStore{pol: pol, shards: make([]shard, n), perShard: maxKeys / n}
	s.shift = uint(64 - bits.TrailingZeros(uint(n)))
	for i := range s.shards {
		s.shards[i].m = make(map[uint64]int64)
	}
	return s
}

// shardOf picks the shard by the hash's top bits (a shift by 64, for a
// single shard, yields 0).
func (s *memStore) shardOf(h uint64) *shard { return &s.shards[h>>s.shift] }

// take decides one request of key h at now and stores the new TAT when it
// is allowed.
func (s *memStore) take(h uint64, now int64) decision {
	sh := s.shardOf(h)
	sh.mu.Lock()
	tat, found := sh.m[h]
	newTAT, d := s.pol.take(tat, now)
	if d.allowed {
		if !found {
			sh.makeRoom(now, s.perShard)
		}
		sh.m[h] = newTAT
		sh.allowed++
	} else {
		sh.limited++
	}
	sh.mu.Unlock()
	return d
}

// makeRoom runs before a new key is inserted: it drops expired keys among a
// few entries and, when the shard is still full, evicts the sampled key with
// the smallest TAT. Map iteration starts at a random entry, so the sample is
// random.
func (sh *shard) makeRoom(now int64, limit int) {
	full := len(sh.m) >= limit
	sample := cleanSample
	if full {
		sample = evictSample
	}
	var victim uint64
	victimTAT := int64(math.MaxInt64)
	n := 0
	for k, t := range sh.m {
		if t <= now {
			delete(sh.m, k)
		} else if t < victimTAT {
			victim, victimTAT = k, t
		}
		if n++; n == sample {
			break
		}
	}
	if len(sh.m) >= limit && victimTAT != math.MaxInt64 {
		delete(sh.m, victim)
	}
}

// put stores a carried-over TAT for key h unless the shard is full.
func (s *memStore) put(h uint64, tat int64) {
	sh := s.shardOf(h)
	sh.mu.Lock()
	if len(sh.m) < s.perShard {
		sh.m[h] = tat
	}
	sh.mu.Unlock()
}

// each calls fn for every key whose TAT is after now. It copies one shard
// at a time under its lock and calls fn outside it, so it only reads and
// holds up a serving store no longer than a copy of one shard.
func (s *memStore) each(now int64, fn func(h uint64, tat int64)) {
	type kv struct {
		h   uint64
		tat int64
	}
	var buf []kv
	for i := range s.shards {
		sh := &s.shards[i]
		buf = buf[:0]
		sh.mu.Lock()
		for k, t := range sh.m {
			if t > now {
				buf = append(buf, kv{k, t})
			}
		}
		sh.mu.Unlock()
		for _, e := range buf {
			fn(e.h, e.tat)
		}
	}
}

// counts returns the keys tracked and the decisions made.
func (s *memStore) counts() (keys int, allowed, limited uint64) {
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		keys += len(sh.m)
		allowed += sh.allowed
		limited += sh.limited
		sh.mu.Unlock()
	}
	return keys, allowed, limited
}
