package conditions

import (
	"encoding/binary"
	"errors"
	"hash/maphash"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/ristretto/v2"
	"github.com/prometheus/client_golang/prometheus"
)

// Cache holds the results of conditions that cost more to evaluate than to
// look up (performance.middleware.conditions). An entry is keyed by the
// condition and the exact values of the request attributes that the
// condition reads, and it stores that whole key: a lookup that finds another
// key under the same hash is a miss, so a cached answer always equals a fresh
// one. A Cache may serve several compilers (a reload's new one and the old
// one still finishing requests); the same expression gets the same entries.
type Cache struct {
	store        *ristretto.Cache[uint64, *cacheEntry]
	ttl          time.Duration
	hits, misses prometheus.Counter

	// now is a coarse clock (unix nanoseconds) that the sweeper advances, so
	// that a lookup never reads the system clock. It runs only with a ttl.
	now  atomic.Int64
	stop chan struct{}
	done chan struct{}

	closeOnce sync.Once
	closed    atomic.Bool

	mu  sync.Mutex
	ids map[string]uint64
}

// cacheEntry is a stored result with the full key it was stored under:
// the condition's id and the attribute values it read. An entry is never
// changed once built.
type cacheEntry struct {
	attrKey
	strs    []string // as in cachedProgram.key, copied
	id      uint64
	hash    uint64
	expires int64 // coarse unix nanoseconds; 0 = never
	val     bool
}

// attrKey is the key of a request for one condition, with the string
// attributes it reads (kept apart, see cachedProgram.key): the values of
// the request attributes, held as they are (no key string is built).
type attrKey struct {
	ip netip.Addr // remote_ip, when read
	n  int64      // content_length, when read
	// flags: bit 0 is set for TLS (when scheme is read); bit 1+i for a
	// header or query entry i (headers first) that is present, so that an
	// absent entry and an empty one differ.
	flags uint64
	size  int // the total length of strs
}

// is reports whether e holds the key k, strs of condition id.
func (e *cacheEntry) is(id uint64, k *attrKey, strs []string) bool {
	return e.id == id && e.attrKey == *k && slices.Equal(e.strs, strs)
}

// maxKeyLen bounds the request data of a cache key; a request whose key
// would hold more (a huge header the condition reads) is evaluated without
// the cache, so an entry never holds more than this many bytes of request
// data.
const maxKeyLen = 1024

// inlineStrs is the number of string attributes a key holds without an
// allocation; a condition that reads more costs one small allocation per
// lookup.
const inlineStrs = 8

// maxKeyEntries bounds the headers and queries a cached condition reads, one
// presence bit each in attrKey.flags.
const maxKeyEntries = 63

var (
	keySeed  = maphash.MakeSeed()
	hashSeed = maphash.Comparable(keySeed, 0)
)

// NewCache builds the result cache (performance.middleware.conditions:
// cache_size entries, ttl). A ttl of 0 keeps entries until they are evicted.
// hits and misses, when not nil, count lookups that found a result and
// lookups that did not (condition_cache_requests_total{result="hit"|"miss"}).
func NewCache(size int, ttl time.Duration, hits, misses prometheus.Counter) (*Cache, error) {
	if size <= 0 {
		return nil, errors.New("performance.middleware.conditions.cache_size: must be at least 1")
	}
	if ttl < 0 {
		return nil, errors.New("performance.middleware.conditions.ttl: must not be negative")
	}
	store, err := ristretto.NewCache(&ristretto.Config[uint64, *cacheEntry]{
		NumCounters:        int64(size) * 10,
		MaxCost:            int64(size),
		BufferItems:        64,
		IgnoreInternalCost: true,
	})
	if err != nil {
		return nil, err
	}
	c := &Cache{store: store, ttl: ttl, hits: hits, misses: misses, ids: map[string]uint64{}}
	if ttl > 0 {
		c.now.Store(time.Now().UnixNano())
		c.stop = make(chan struct{})
		c.done = make(chan struct{})
		go c.sweep(tick(ttl))
	}
	return c, nil
}

// tick is the resolution of the coarse clock for a ttl: a quarter of it,
// between 10 ms and 1 s.
func tick(ttl time.Duration) time.Duration {
	return min(max(ttl/4, 10*time.Millisecond), time.Second)
}

// sweep advances the coarse clock every tick and deletes expired entries, so
// that an idle cache gives its memory back. An entry is used for at most ttl
// plus one tick.
func (c *Cache) sweep(every time.Duration) {
	defer close(c.done)
	t := time.NewTicker(every)
	defer t.Stop()
	var expired []uint64
	lastSweep := time.Now()
	for {
		select {
		case <-c.stop:
			return
		case now := <-t.C:
			c.now.Store(now.UnixNano())
			if now.Sub(lastSweep) < c.ttl/2 {
				continue
			}
			lastSweep = now
			expired = expired[:0]
			c.store.IterValues(func(e *cacheEntry) bool {
				if e.expires != 0 && e.expires <= now.UnixNano() {
					expired = append(expired, e.hash)
				}
				return false
			})
			for _, h := range expired {
				c.store.Del(h)
			}
		}
	}
}

// Close stops the cache's goroutines. Close it only after the last request
// that may match a condition using it has finished (ristretto does not allow
// a lookup concurrent with Close); after Close, lookups miss and nothing is
// stored. Close may be called more than once.
func (c *Cache) Close() {
	c.closeOnce.Do(func() {
		c.closed.Store(true)
		if c.stop != nil {
			close(c.stop)
			<-c.done
		}
		c.store.Close()
	})
}

// id returns the cache id of an expression: the same source always gets the
// same id from one Cache, so that a reload keeps the warm entries.
func (c *Cache) id(src string) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	id, ok := c.ids[src]
	if !ok {
		id = uint64(len(c.ids)) + 1
		c.ids[src] = id
	}
	return id
}

// lookup finds the entry stored under h for the key k of condition id; a
// found entry counts as a hit, anything else as a miss.
func (c *Cache) lookup(id, h uint64, k *attrKey, strs []string) (*cacheEntry, bool) {
	e, found := c.store.Get(h)
	if found && e.is(id, k, strs) && c.live(e) {
		c.hit()
		return e, true
	}
	if c.misses != nil {
		c.misses.Inc()
	}
	return nil, false
}

func (c *Cache) live(e *cacheEntry) bool {
	return (e.expires == 0 || c.now.Load() < e.expires) && !c.closed.Load()
}

func (c *Cache) hit() {
	if c.hits != nil {
		c.hits.Inc()
	}
}

// store1 stores the result val of condition id under h and k and returns
// the new entry, which holds a copy of the key's strings (one allocation
// for all of them) and nothing else of the request.
func (c *Cache) store1(id, h uint64, k *attrKey, strs []string, val bool) *cacheEntry {
	e := &cacheEntry{attrKey: *k, id: id, hash: h, val: val}
	if len(strs) > 0 {
		var b strings.Builder
		b.Grow(k.size)
		for _, s := range strs {
			b.WriteString(s)
		}
		all := b.String()
		e.strs = make([]string, len(strs))
		off := 0
		for i, s := range strs {
			e.strs[i] = all[off : off+len(s)]
			off += len(s)
		}
	}
	if c.ttl > 0 {
		e.expires = c.now.Load() + int64(c.ttl)
	}
	c.store.Set(h, e, 1)
	return e
}

// memoSets is the size of a cached condition's own table of recent
// entries, in front of the shared store, in sets of two entries.
const memoSets = 64

// cachedProgram is a bool expression whose results go through a Cache.
//
// A hit in ristretto costs a sharded lock, a push into the admission
// policy's buffer and more, several times what a simple condition costs.
// So each cached condition keeps a small table of the entries it used last
// (memo: memoSets sets of two, the set chosen by the key's hash, read
// without a lock): a request that finds its entry there never reaches
// ristretto. An entry is immutable once built, so the table holds the same
// entries as the store, checked the same way (whole key, expiry); it only
// keeps alive at most 2*memoSets entries per condition that the store may
// already have evicted, and they go with the compiled condition. Hits in the
// table are not seen by ristretto's admission policy; an entry it evicts
// while the table serves it is stored again on the table's next miss.
type cachedProgram struct {
	p        *program
	cache    *Cache
	id       uint64
	clientIP func(*http.Request) netip.Addr
	memo     [memoSets * 2]atomic.Pointer[cacheEntry]
}

func (c *cachedProgram) match(r *http.Request) bool {
	var arr [inlineStrs]string
	var k attrKey
	strs, h, ok := c.key(r, arr[:0], &k)
	if !ok {
		return c.eval(r, k.ip)
	}
	set := c.memo[h%memoSets*2:][:2]
	for i := range set {
		if e := set[i].Load(); e != nil && e.hash == h && e.is(c.id, &k, strs) && c.cache.live(e) {
			c.cache.hit()
			return e.val
		}
	}
	e, ok := c.cache.lookup(c.id, h, &k, strs)
	if !ok {
		e = c.cache.store1(c.id, h, &k, strs, c.eval(r, k.ip))
	}
	// The set's newer entry becomes its older one.
	set[1].Store(set[0].Load())
	set[0].Store(e)
	return e.val
}

func (c *cachedProgram) eval(r *http.Request, ip netip.Addr) bool {
	st := getState(r, c.clientIP)
	if c.p.reads.fields&fRemoteIP != 0 {
		st.ip, st.ipRead = ip, true
	}
	v := c.p.evalState(st)
	putState(st)
	return v
}

// key fills k with the attributes of r that the expression reads, appends
// the string ones to strs (in the order method, path, host, proto, route,
// then the headers, then the queries, raw, of reads) and returns them with
// the key's hash; ok is false when the key is over maxKeyLen (k.ip is set
// all the same). Distinct attribute values give distinct keys: each string
// is kept whole, a header or query entry also records whether it is
// present. The strings stay apart from k so that a caller's stack array
// for them stays on the stack.
func (c *cachedProgram) key(r *http.Request, strs []string, k *attrKey) (_ []string, h uint64, ok bool) {
	rd := &c.p.reads
	h = mix(hashSeed, c.id)
	str := func(s string) {
		strs = append(strs, s)
		k.size += len(s)
		h = strHash(h, s)
	}
	f := rd.fields
	if f&fMethod != 0 {
		str(r.Method)
	}
	if f&fPath != 0 {
		str(urlPath(r))
	}
	if f&fHost != 0 {
		str(hostOnly(r.Host))
	}
	if f&fProto != 0 {
		str(r.Proto)
	}
	if f&fRoute != 0 {
		str(routePattern(r))
	}
	bit := uint64(2)
	for _, name := range rd.headers {
		v, found := firstHeader(r.Header, name)
		if found {
			k.flags |= bit
		}
		bit <<= 1
		str(v)
	}
	if len(rd.queries) > 0 {
		raw := rawQuery(r)
		for _, name := range rd.queries {
			v, found := queryFirst(raw, name)
			if found {
				k.flags |= bit
			}
			bit <<= 1
			str(v)
		}
	}
	if f&fScheme != 0 && r.TLS != nil {
		k.flags |= 1
	}
	if f&fRemoteIP != 0 {
		k.ip = c.clientIP(r)
		a := k.ip.As16()
		h = mix(h, binary.LittleEndian.Uint64(a[:8]))
		h = mix(h, binary.LittleEndian.Uint64(a[8:])^uint64(k.ip.BitLen()))
		if z := k.ip.Zone(); z != "" {
			h = strHash(h, z)
		}
	}
	if f&fContentLength != 0 {
		k.n = r.ContentLength
		h = mix(h, uint64(k.n))
	}
	h = mix(h, k.flags)
	return strs, h, k.size <= maxKeyLen
}

// mix folds v into the hash h (a multiply-xorshift step, as in splitmix64).
func mix(h, v uint64) uint64 {
	h = (h ^ v) * 0x9e3779b97f4a7c15
	return h ^ h>>29
}

// strHash folds the string s into the hash h. A string of up to 16 bytes
// (a method, a host, most header values) is read as two overlapping 8-byte
// words, which cover all of it, without a call; a longer one goes through
// maphash. The hash only spreads keys: every hit compares the whole key, so
// a collision costs a miss, never a wrong answer.
func strHash(h uint64, s string) uint64 {
	n := len(s)
	var a, b uint64
	switch {
	case n > 16:
		return mix(h, maphash.String(keySeed, s))
	case n >= 8:
		a, b = le64(s), le64(s[n-8:])
	case n >= 4:
		a = le32(s) | le32(s[n-4:])<<32
	default:
		for i := range n {
			a = a<<8 | uint64(s[i])
		}
	}
	return mix(mix(h, a^uint64(n)<<59), b)
}

// le64 and le32 read the first bytes of s as a little-endian number (one
// load: the compiler combines the byte reads).
func le64(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

func le32(s string) uint64 {
	_ = s[3]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24
}
