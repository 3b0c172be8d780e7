package conditions

import (
	"encoding/binary"
	"errors"
	"hash/maphash"
	"net/http"
	"net/netip"
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

// cacheEntry is a stored result with the full key it was stored under.
type cacheEntry struct {
	key     string
	hash    uint64
	expires int64 // coarse unix nanoseconds; 0 = never
	val     bool
}

// maxKeyLen bounds a cache key; a request whose key would be longer (a huge
// header the condition reads) is evaluated without the cache, so an entry
// never holds more than this many bytes of request data.
const maxKeyLen = 1024

// inlineKeyLen is the key size built without any allocation.
const inlineKeyLen = 256

var keySeed = maphash.MakeSeed()

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

// lookup finds the entry stored under h with the key key; a found entry
// counts as a hit, anything else as a miss.
func (c *Cache) lookup(h uint64, key []byte) (*cacheEntry, bool) {
	e, found := c.store.Get(h)
	if found && e.key == string(key) && c.live(e) {
		c.hit()
		return e, true
	}
	if c.misses != nil {
		c.misses.Inc()
	}
	return nil, false
}

// live reports whether e may answer: it has not expired and the cache is
// not closed.
func (c *Cache) live(e *cacheEntry) bool {
	return (e.expires == 0 || c.now.Load() < e.expires) && !c.closed.Load()
}

func (c *Cache) hit() {
	if c.hits != nil {
		c.hits.Inc()
	}
}

// store1 stores the result val under h and key and returns the new entry.
func (c *Cache) store1(h uint64, key []byte, val bool) *cacheEntry {
	e := &cacheEntry{key: string(key), hash: h, val: val}
	if c.ttl > 0 {
		e.expires = c.now.Load() + int64(c.ttl)
	}
	c.store.Set(h, e, 1)
	return e
}

// memoSlots is the size of a cached condition's own table of recent
// entries, in front of the shared store.
const memoSlots = 64

// cachedProgram is a bool expression whose results go through a Cache.
//
// A hit in ristretto costs a sharded lock, a push into the admission
// policy's buffer and more, several times what a simple condition costs.
// So each cached condition keeps a small direct-mapped table of the entries
// it used last (memo, indexed by the key's hash, read without a lock):
// a request that finds its entry there never reaches ristretto. An entry is
// immutable once built, so the table holds the same entries as the store,
// checked the same way (whole key, expiry); it only adds at most memoSlots
// entries per condition that the store may already have evicted, and they
// go with the compiled condition.
type cachedProgram struct {
	p        *program
	cache    *Cache
	id       uint64
	clientIP func(*http.Request) netip.Addr
	memo     [memoSlots]atomic.Pointer[cacheEntry]
}

func (c *cachedProgram) match(r *http.Request) bool {
	var arr [inlineKeyLen]byte
	var ip netip.Addr
	if c.p.reads.fields&fRemoteIP != 0 {
		ip = c.clientIP(r)
	}
	key := c.appendKey(arr[:0], r, ip)
	if len(key) > maxKeyLen {
		return c.eval(r, ip)
	}
	h := maphash.Bytes(keySeed, key)
	slot := &c.memo[h%memoSlots]
	if e := slot.Load(); e != nil && e.hash == h && e.key == string(key) && c.cache.live(e) {
		c.cache.hit()
		return e.val
	}
	e, ok := c.cache.lookup(h, key)
	if !ok {
		e = c.cache.store1(h, key, c.eval(r, ip))
	}
	slot.Store(e)
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

// appendKey appends the cache key of r: the condition id, then each attribute
// the expression reads, length-prefixed (a header or query entry also records
// whether it is present). Distinct attribute values give distinct keys.
func (c *cachedProgram) appendKey(b []byte, r *http.Request, ip netip.Addr) []byte {
	rd := &c.p.reads
	b = binary.LittleEndian.AppendUint64(b, c.id)
	f := rd.fields
	if f&fMethod != 0 {
		b = appendStr(b, r.Method)
	}
	if f&fPath != 0 {
		b = appendStr(b, urlPath(r))
	}
	if f&fHost != 0 {
		b = appendStr(b, hostOnly(r.Host))
	}
	if f&fScheme != 0 {
		if r.TLS != nil {
			b = append(b, 's')
		} else {
			b = append(b, 'p')
		}
	}
	if f&fRemoteIP != 0 {
		b = appendIP(b, ip)
	}
	if f&fContentLength != 0 {
		b = binary.LittleEndian.AppendUint64(b, uint64(r.ContentLength))
	}
	if f&fProto != 0 {
		b = appendStr(b, r.Proto)
	}
	if f&fRoute != 0 {
		b = appendStr(b, routePattern(r))
	}
	for _, name := range rd.headers {
		v, ok := firstHeader(r.Header, name)
		b = appendPresent(b, v, ok)
	}
	if len(rd.queries) > 0 {
		raw := rawQuery(r)
		for _, name := range rd.queries {
			v, ok := queryFirst(raw, name)
			b = appendPresent(b, v, ok)
		}
	}
	return b
}

func appendStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendPresent(b []byte, v string, ok bool) []byte {
	if !ok {
		return append(b, 0)
	}
	b = append(b, 1)
	return appendStr(b, v)
}

func appendIP(b []byte, a netip.Addr) []byte {
	switch {
	case !a.IsValid():
		return append(b, 0)
	case a.Is4():
		v := a.As4()
		return append(append(b, 4), v[:]...)
	default:
		v := a.As16()
		b = append(append(b, 6), v[:]...)
		return appendStr(b, a.Zone())
	}
}
