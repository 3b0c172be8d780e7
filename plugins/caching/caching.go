package caching

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/switchyard/switchyard/registry"
)

func init() {
	registry.Register("caching", New)
}

// Cache is a caching instance: an RFC 9111 shared cache in front of the rest
// of its chain.
type Cache struct {
	name    string
	cfg     Config
	now     func() time.Time
	logger  *slog.Logger
	buffers registry.BufferPool

	mem     *memTier   // nil when disabled
	redis   *redisTier // nil unless store: redis
	flights flights

	unkeyed      []string
	unkeyedSet   map[string]bool
	unkeyedFirst [256]bool // first bytes of the unkeyed names

	// mRes counts requests by result; Stats reads them back, so that a
	// request costs one atomic add.
	mRes [numResults]prometheus.Counter

	// Background revalidations: bounded by bgSem, cancelled and awaited by Close.
	bgCtx    context.Context
	bgCancel context.CancelFunc
	bgMu     sync.Mutex
	bg       sync.WaitGroup
	bgSem    chan struct{}
	closed   bool

	// Purges of the shared tier that Redis has not confirmed (see purged).
	pendMu   sync.Mutex
	pending  []*pendingPurge
	pendingN atomic.Int32
	retrying bool // the retry goroutine runs; guarded by bgMu

	targeted []string // canonical targeted_fields; read on misses only

	sampled    bool // now is the shared sampled wall clock
	closeOnce  sync.Once
	closeErr   error
	closeCalls atomic.Int32 // how often Close was called (diagnostics)
}

type result int

const (
	resHit result = iota
	resMiss
	resStale
	resBypass
	numResults
)

var resultNames = [numResults]string{"hit", "miss", "stale", "bypass"}

// Shared X-Cache values; the slices have len == cap.
var (
	xHit    = []string{"HIT"}
	xMiss   = []string{"MISS"}
	xStale  = []string{"STALE"}
	xBypass = []string{"BYPASS"}

	csBypass   = []string{"switchyard; fwd=bypass"}
	csMethod   = []string{"switchyard; fwd=method"}
	csDisabled = []string{"switchyard; fwd=bypass; detail=disabled"}
	csRange    = []string{"switchyard; fwd=request; detail=range"}
)

// setXCache sets the response's X-Cache and notes the same value for the
// access log.
func setXCache(w http.ResponseWriter, hd http.Header, xc []string) {
	hd["X-Cache"] = xc
	registry.Note(w, "cache", xc[0])
}

// maxBackground bounds the background revalidations in flight at once.
const maxBackground = 64

// backgroundTimeout bounds one background revalidation.
const backgroundTimeout = 30 * time.Second

// New builds a caching instance. It is the factory registered as "caching".
func New(ctx *registry.Context, cfg *Config) (registry.Instance, error) {
	now := ctx.Clock()
	sampled := false
	if isTimeNow(now) {
		// The wall clock, sampled: see sampledClock.
		wallClock.acquire()
		now, sampled = wallClock.now, true
	}
	logger := ctx.Logger()
	metrics := ctx.Metrics()
	c := &Cache{
		name:     ctx.Name,
		sampled:  sampled,
		cfg:      *cfg,
		now:      now,
		logger:   logger,
		buffers:  ctx.Buffers(),
		unkeyed:  canonicalHeaders(cfg.UnkeyedHeaders),
		targeted: canonicalHeaders(cfg.TargetedFields),
		bgSem:    make(chan struct{}, maxBackground),
	}
	c.unkeyedSet = make(map[string]bool, len(c.unkeyed))
	for _, h := range c.unkeyed {
		c.unkeyedSet[h] = true
		c.unkeyedFirst[h[0]] = true
	}
	reqs := metrics.Counter("cache_requests_total", "Requests seen by caching plugins, by result (hit, miss, stale, bypass).", "plugin", "result")
	for i := range c.mRes {
		c.mRes[i] = reqs.WithLabelValues(ctx.Name, resultNames[i])
	}
	gauge := metrics.Gauge("cache_bytes", "Bytes held by the memory tier of caching plugins.", "plugin").WithLabelValues(ctx.Name)
	redisErrs := metrics.Counter("cache_redis_errors_total", "Failed commands to the shared Redis tier of caching plugins.", "plugin").WithLabelValues(ctx.Name)
	// Background revalidation ends when the instance is retired.
	c.bgCtx, c.bgCancel = context.WithCancel(ctx)
	if !cfg.Enabled {
		return c, nil
	}
	mem, err := newMemTier(int64(cfg.MaxSize), cfg.sizeHint, gauge)
	if err != nil {
		c.bgCancel()
		if sampled {
			wallClock.release()
		}
		return nil, fmt.Errorf("max_size: %w", err)
	}
	c.mem = mem
	if cfg.Store == "redis" {
		c.redis = newRedisTier(cfg.Redis, ctx.Name, redisErrs, logger, now)
	}
	if prev, ok := ctx.Previous.(*Cache); ok {
		c.adopt(prev)
	}
	return c, nil
}

// adopt copies the entries of the instance this one replaces, so that a
// changed config (a new max_size, say) keeps the cache warm. The new limits
// apply: entries past the new TTL are left behind, and the memory tier's
// admission decides as for any new entry.
func (c *Cache) adopt(prev *Cache) {
	if prev.mem == nil {
		return
	}
	var slots []*slot
	prev.mem.each(func(s *slot) { slots = append(slots, s) })
	now := c.now()
	budget := int64(c.cfg.MaxSize)
	for _, s := range slots {
		if budget <= 0 {
			break
		}
		ns := &slot{key: s.key, e: s.e, rec: s.rec, cost: s.cost}
		if s.e != nil {
			exp, ok := c.expiry(s.e)
			if !ok {
				continue
			}
			ns.expires = exp
		} else {
			ns.expires = s.expires
			if limit := now.Add(c.cfg.TTL); limit.Before(ns.expires) {
				ns.expires = limit
			}
		}
		if !ns.expires.After(now) {
			continue
		}
		if c.mem.set(ns, now) {
			budget -= ns.cost
		}
	}
}

// Wrap returns the cache in front of next.
func (c *Cache) Wrap(next http.Handler) http.Handler { return &handler{c: c, next: next} }

// handler is the cache wrapped around one chain's next handler.
type handler struct {
	c    *Cache
	next http.Handler
}

// keyBufSize is the key length built without allocating; longer keys grow
// onto the heap.
const keyBufSize = 256

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c := h.c
	if c.mem == nil {
		c.passBypass(w, r, h.next, csDisabled)
		return
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
	case http.MethodOptions, http.MethodTrace:
		c.passBypass(w, r, h.next, csMethod)
		return
	default:
		h.serveUnsafe(w, r)
		return
	}
	var ri reqInfo
	c.scanRequest(r, &ri)
	if ri.bypass {
		c.passBypass(w, r, h.next, csBypass)
		return
	}
	if ri.rangeReq && r.Method == http.MethodGet {
		h.serveRange(w, r, &ri)
		return
	}
	// The key is built on the stack: nothing keeps the buffer.
	var buf [keyBufSize]byte
	h.serveGET(w, r, &ri, appendURLKey(buf[:0], r), true)
}

// passBypass forwards a request the cache does not handle.
func (c *Cache) passBypass(w http.ResponseWriter, r *http.Request, next http.Handler, cs []string) {
	c.count(resBypass)
	hd := w.Header()
	setXCache(w, hd, xBypass)
	hd["Cache-Status"] = cs
	next.ServeHTTP(w, r)
}

// serveGET answers a GET or HEAD whose URL key is in kb. collapse is false
// for a request that was released by a leader without a response: it goes
// upstream on its own.
func (h *handler) serveGET(w http.ResponseWriter, r *http.Request, ri *reqInfo, kb []byte, collapse bool) {
	c := h.c
	now := c.now()
	urlLen := len(kb)
	s, rec, fwd, kb := c.lookup(r, kb, now)
	if s != nil {
		v, age, why := c.judge(s.e, ri, now)
		switch v {
		case vFresh:
			c.count(resHit)
			c.writeEntry(w, r, ri, s, age, xHit, s.e.csHit)
			return
		case vStale:
			c.count(resStale)
			c.writeEntry(w, r, ri, s, age, xStale, withCacheStatus(s.e.upstreamCS, "switchyard; fwd=stale; detail=max-stale"))
			return
		case vSWR:
			c.count(resStale)
			c.writeEntry(w, r, ri, s, age, xStale, s.e.csStale)
			h.revalidateInBackground(r, ri, kb, kb[:urlLen], rec, s)
			return
		}
		fwd = why
	}
	if ri.cc.has(ccOnlyIfCached) {
		c.count(resMiss)
		hd := w.Header()
		setXCache(w, hd, xMiss)
		hd["Cache-Status"] = []string{"switchyard; detail=only-if-cached"}
		http.Error(w, "504 Gateway Timeout: not in cache (only-if-cached)", http.StatusGatewayTimeout)
		return
	}
	if r.Method == http.MethodHead {
		c.count(resMiss)
		hd := w.Header()
		setXCache(w, hd, xMiss)
		hd["Cache-Status"] = []string{"switchyard; fwd=" + fwd}
		h.next.ServeHTTP(w, r)
		return
	}
	var f *flight
	if collapse {
		var leader bool
		f, leader = c.flights.join(kb)
		if !leader {
			h.follow(w, r, ri, kb, urlLen, f)
			return
		}
	}
	x := &exchange{h: h, w: w, r: r, up: r, ri: *ri, urlKey: string(kb[:urlLen]), rec: rec, stale: s, flight: f, fwd: fwd}
	if s != nil {
		x.up, x.cond = conditionalRequest(r, s.e)
		_, sie := c.staleWindows(s.e)
		if ri.cc.staleIfError != unset && !s.e.noStale && !s.e.noCache {
			sie = max(sie, secs(ri.cc.staleIfError))
		}
		x.sie = sie
	}
	x.run()
	if x.refetch {
		// The 304 named another representation: ask again, unconditionally.
		y := &exchange{h: h, w: w, r: r, up: r, ri: *ri, urlKey: x.urlKey, fwd: fwd, counted: true}
		y.run()
	}
}

// follow waits for the leader of f and serves its response when it suits
// this request; otherwise the request goes through on its own.
func (h *handler) follow(w http.ResponseWriter, r *http.Request, ri *reqInfo, kb []byte, urlLen int, f *flight) {
	c := h.c
	select {
	case <-f.done:
	case <-r.Context().Done():
		c.count(resMiss)
		return
	}
	if s := f.slot; s != nil && c.suits(s, r) {
		now := c.now()
		if f.staleOnError {
			c.count(resStale)
			c.writeEntry(w, r, ri, s, s.e.age(now), xStale,
				withCacheStatus(s.e.upstreamCS, "switchyard; fwd=stale; detail=stale-if-error"))
			return
		}
		c.count(resHit)
		c.writeEntry(w, r, ri, s, s.e.age(now), xHit, s.e.csCollapsed)
		return
	}
	h.serveGET(w, r, ri, kb[:urlLen], false)
}

// suits reports whether the stored response in s was selected by the same
// Vary values as r carries.
func (c *Cache) suits(s *slot, r *http.Request) bool {
	e := s.e
	if len(e.vary) == 0 {
		return true
	}
	var buf [keyBufSize]byte
	return string(appendVaryValues(buf[:0], r, e.vary)) == e.varyKey
}

// conditionalRequest returns the request to revalidate e with: r with its own
// preconditions replaced by the stored validators, or r itself when e has
// none.
func conditionalRequest(r *http.Request, e *entry) (*http.Request, bool) {
	if !e.hasValidators() {
		return r, false
	}
	up := new(http.Request)
	*up = *r
	up.Header = r.Header.Clone()
	for _, k := range []string{"If-None-Match", "If-Modified-Since", "If-Match", "If-Unmodified-Since", "If-Range"} {
		delete(up.Header, k)
	}
	if e.etag != "" {
		up.Header["If-None-Match"] = []string{e.etag}
	}
	if e.lastModified != "" {
		up.Header["If-Modified-Since"] = []string{e.lastModified}
	}
	return up, true
}

// revalidateInBackground starts one background revalidation of s, unless
// one for the same key is under way or the background budget is spent.
func (h *handler) revalidateInBackground(r *http.Request, ri *reqInfo, key, urlKey []byte, rec *varyRecord, s *slot) {
	c := h.c
	if c.flights.busy(key) {
		return
	}
	f, leader := c.flights.join(key)
	if !leader {
		return
	}
	c.bgMu.Lock()
	if c.closed || len(c.bgSem) == cap(c.bgSem) {
		c.bgMu.Unlock()
		c.flights.release(f, nil)
		return
	}
	c.bgSem <- struct{}{}
	c.bg.Add(1)
	c.bgMu.Unlock()

	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), backgroundTimeout)
	stop := context.AfterFunc(c.bgCtx, cancel)
	if rc := chi.RouteContext(r.Context()); rc != nil {
		// chi pools its routing context: the request's is reset once the
		// request ends.
		ctx = context.WithValue(ctx, chi.RouteCtxKey, rc.Clone())
	}
	up := r.Clone(ctx)
	up.Method = http.MethodGet
	up.Body = http.NoBody
	up.ContentLength = 0
	delete(up.Header, "Range")
	cond := false
	if s.e.hasValidators() {
		up, cond = conditionalRequest(up, s.e)
	}
	// The request's own directives do not apply to the revalidation; its
	// Authorization does (it decides what may be stored).
	bri := reqInfo{cc: parseCacheControl(nil), auth: ri.auth}
	x := &exchange{h: h, r: up, up: up, ri: bri, urlKey: string(urlKey), rec: rec, stale: s, cond: cond, flight: f, fwd: "stale"}
	go func() {
		defer func() {
			if p := recover(); p != nil {
				c.logger.Error("background revalidation panicked", "key", x.urlKey, "panic", p)
			}
			stop()
			cancel()
			<-c.bgSem
			c.bg.Done()
		}()
		x.run()
	}()
}

// lookup finds the stored response for r: the URL key in kb, then, for a
// Vary record, the variant. key is the key looked up last: the URL key, or
// the variant key (which starts with the URL key). fwd is the Cache-Status
// reason of a miss.
func (c *Cache) lookup(r *http.Request, kb []byte, now time.Time) (s *slot, rec *varyRecord, fwd string, key []byte) {
	s = c.mem.get(kb, now)
	if s == nil && c.redis != nil {
		s = c.fromRedis(r.Context(), string(kb), now)
	}
	if s == nil {
		return nil, nil, "uri-miss", kb
	}
	if s.rec == nil {
		return s, nil, "", kb
	}
	rec = s.rec
	// The request's Vary values, after the URL key in the same buffer.
	vals := appendVaryValues(kb[len(kb):], r, rec.fields)
	if v := rec.variant(vals, now); v != nil && rand.Uint32()%memoTouchEvery != 0 {
		return v, rec, "", appendVariantKey(kb[:0], rec, r)
	}
	kb = appendVariantKey(kb[:0], rec, r)
	v := c.mem.get(kb, now)
	if v == nil && c.redis != nil {
		v = c.fromRedis(r.Context(), string(kb), now)
	}
	if v == nil || v.e == nil {
		return nil, rec, "vary-miss", kb
	}
	rec.remember(v)
	return v, rec, "", kb
}

// memoTouchEvery: one variant hit in this many goes through the memory tier
// even when the record remembers the variant, so that the tier's admission
// policy still sees how often the variant is used.
const memoTouchEvery = 8

// fromRedis reads key from the shared tier and keeps a copy in memory.
func (c *Cache) fromRedis(ctx context.Context, key string, now time.Time) *slot {
	d, ok := c.redis.get(ctx, key)
	if !ok {
		return nil
	}
	var s *slot
	switch {
	case d.e != nil:
		e := d.e
		if e.key != key || c.purged(e.urlKey, e.responseTime) {
			return nil
		}
		e.finish(c.targeted)
		exp, ok := c.expiry(e)
		if !ok || !exp.After(now) {
			return nil
		}
		s = &slot{key: key, e: e, expires: exp, cost: e.size}
	case d.rec != nil:
		if d.rec.urlKey != key || c.purged(d.rec.urlKey, time.Time{}) {
			return nil
		}
		s = &slot{key: key, rec: d.rec.withPrefix(), expires: now.Add(c.cfg.TTL), cost: recordCost(d.rec)}
	default:
		return nil
	}
	c.mem.set(s, now)
	return s
}

func recordCost(rec *varyRecord) int64 {
	n := allocSize(len(rec.urlKey)) + allocSize(len(rec.prefix)) + allocSize(len(rec.fields)*16) + entryOverhead
	for _, f := range rec.fields {
		n += allocSize(len(f))
	}
	return n
}

// store keeps e (and its Vary record) in the memory tier and, with store:
// redis, in the shared tier. It returns the slot, or nil when e is not worth
// keeping. A slot that the memory tier's admission policy drops is still
// returned, for the followers of the request that fetched it.
func (c *Cache) store(r *http.Request, e *entry, rec *varyRecord) *slot {
	now := c.now()
	exp, ok := c.expiry(e)
	if !ok || !exp.After(now) {
		return nil
	}
	s := &slot{key: e.key, e: e, expires: exp, cost: e.size}
	var items []redisItem
	if rec != nil {
		// The record lives as long as its longest-lived variant.
		if cur := c.mem.get([]byte(rec.urlKey), now); cur == nil || cur.rec != rec || cur.expires.Before(exp) {
			c.mem.set(&slot{key: rec.urlKey, rec: rec, expires: exp, cost: recordCost(rec)}, now)
			if c.redis != nil {
				items = append(items, redisItem{key: rec.urlKey, val: encodeRecord(rec), ttl: exp.Sub(now)})
			}
		}
	}
	c.mem.set(s, now)
	if c.redis != nil {
		items = append(items, redisItem{key: e.key, val: encodeEntry(e), ttl: exp.Sub(now)})
		c.redis.set(r.Context(), items...)
	}
	return s
}

// dropKey deletes key from both tiers.
func (c *Cache) dropKey(r *http.Request, key string) {
	c.mem.del(key)
	if c.redis != nil {
		c.redis.del(r.Context(), key)
	}
}

// serveUnsafe forwards a request with an unsafe method and, when the response
// is not an error, invalidates the URL and the same-origin Location and
// Content-Location (RFC 9111 §4.4).
func (h *handler) serveUnsafe(w http.ResponseWriter, r *http.Request) {
	c := h.c
	c.count(resBypass)
	hd := w.Header()
	setXCache(w, hd, xBypass)
	hd["Cache-Status"] = csMethod
	sw := statusWriters.Get().(*statusWriter)
	*sw = statusWriter{ResponseWriter: w, onStatus: h.invalidate, r: r}
	defer func() {
		*sw = statusWriter{}
		statusWriters.Put(sw)
	}()
	h.next.ServeHTTP(sw, r)
	if sw.status == 0 {
		sw.setStatus(http.StatusOK)
	}
}

// invalidate drops what an unsafe request answered with status changed, as
// soon as the status is known and before the response goes on to the
// client: a client that reads the answer and asks again is not served what
// the request changed.
func (h *handler) invalidate(r *http.Request, hd http.Header, status int) {
	c := h.c
	if status < 200 || status > 399 {
		return
	}
	kb := appendURLKey(make([]byte, 0, keyBufSize), r)
	c.dropKey(r, string(kb))
	for _, name := range []string{"Location", "Content-Location"} {
		if v := hd.Get(name); v != "" {
			if k, ok := sameOriginKey(r, kb, v); ok {
				c.dropKey(r, k)
			}
		}
	}
}

// writeEntry serves a stored response: a 304 when the request's
// preconditions match, else the stored status, fields and body, with Age,
// X-Cache and Cache-Status.
func (c *Cache) writeEntry(w http.ResponseWriter, r *http.Request, ri *reqInfo, s *slot, age time.Duration, xc, cs []string) {
	e := s.e
	hd := w.Header()
	if (len(ri.inm) > 0 || ri.ims != "") && notModified(e, ri) {
		// RFC 9110 §15.4.5: the fields a 200 would carry that describe the
		// representation's identity and caching.
		for _, k := range [...]string{"Cache-Control", "Content-Location", "Date", "Etag", "Expires", "Vary"} {
			if v := e.get(k); v != nil {
				hd[k] = v
			}
		}
		if e.etag == "" && e.lastModified != "" {
			hd["Last-Modified"] = e.get("Last-Modified")
		}
		hd["Age"] = s.ageField(age)
		setXCache(w, hd, xc)
		hd["Cache-Status"] = cs
		w.WriteHeader(http.StatusNotModified)
		return
	}
	for i := range e.fields {
		f := &e.fields[i]
		hd[f.key] = f.vals
	}
	hd["Age"] = s.ageField(age)
	setXCache(w, hd, xc)
	hd["Cache-Status"] = cs
	if e.clen != nil {
		hd["Content-Length"] = e.clen
	}
	w.WriteHeader(e.status)
	if r.Method != http.MethodHead && len(e.body) > 0 {
		_, _ = w.Write(e.body)
	}
}

func (c *Cache) count(res result) { c.mRes[res].Inc() }

// counted reads a result counter back.
func (c *Cache) counted(res result) int64 {
	var m dto.Metric
	if err := c.mRes[res].Write(&m); err != nil {
		return 0
	}
	return int64(m.GetCounter().GetValue())
}

// Purge drops the stored responses whose URL key equals key (when key is not
// empty) or whose path starts with prefix (when prefix is not empty), from
// both tiers, and returns how many URLs it dropped (a URL counts once with
// all its Vary variants). key is an absolute URL such as
// "https://example.com/a?b=1", optionally preceded by "GET ", or a key as the
// cache writes it.
//
// The error is a *TierError when the shared Redis tier could not be purged.
// The purge still takes effect: this cache serves none of the purged
// entries from Redis, and retries the Redis part in the background (about
// once a second) until Redis confirms it.
func (c *Cache) Purge(key, prefix string) (int, error) {
	if c.mem == nil || (key == "" && prefix == "") {
		return 0, nil
	}
	want := ""
	if key != "" {
		want = normalizeKey(key)
	}
	return c.purge(func(urlKey string) bool {
		if want != "" && urlKey == want {
			return true
		}
		return prefix != "" && strings.HasPrefix(keyPath(urlKey), prefix)
	})
}

// Clear drops every stored response from both tiers and returns how many
// URLs it dropped; the error is as for Purge.
func (c *Cache) Clear() (int, error) {
	if c.mem == nil {
		return 0, nil
	}
	return c.purge(func(string) bool { return true })
}

// TierError reports a purge that could not reach a tier of the cache.
type TierError struct {
	Tier string // "redis"
	Err  error
}

func (e *TierError) Error() string {
	return e.Tier + " tier not purged (" + e.Err.Error() + "): its entries are not served, and the purge is retried until it succeeds"
}

func (e *TierError) Unwrap() error { return e.Err }

func (c *Cache) purge(match func(urlKey string) bool) (int, error) {
	urls := map[string]bool{}
	var keys []string
	c.mem.each(func(s *slot) {
		u := keyURL(s.key)
		if match(u) {
			keys = append(keys, s.key)
			urls[u] = true
		}
	})
	for _, k := range keys {
		c.mem.del(k)
	}
	var err error
	if c.redis != nil {
		// Marked first: a read of the shared tier from now on skips what
		// the purge covers until Redis confirms it.
		p := c.markPurge(match)
		got, rerr := c.redis.purge(context.Background(), match)
		for _, u := range got {
			urls[u] = true
		}
		if rerr != nil {
			err = &TierError{Tier: "redis", Err: rerr}
			c.retryPurges()
		} else {
			c.unmarkPurge(p)
		}
	}
	return len(urls), err
}

// pendingPurge is a purge of the shared tier that Redis has not confirmed:
// entries it matches that were received before it are not served from Redis.
type pendingPurge struct {
	match func(urlKey string) bool
	at    time.Time
}

func (c *Cache) markPurge(match func(string) bool) *pendingPurge {
	p := &pendingPurge{match: match, at: c.now()}
	c.pendMu.Lock()
	c.pending = append(c.pending, p)
	c.pendingN.Store(int32(len(c.pending)))
	c.pendMu.Unlock()
	return p
}

func (c *Cache) unmarkPurge(p *pendingPurge) {
	c.pendMu.Lock()
	for i, q := range c.pending {
		if q == p {
			c.pending = append(c.pending[:i], c.pending[i+1:]...)
			break
		}
	}
	c.pendingN.Store(int32(len(c.pending)))
	c.pendMu.Unlock()
}

// purged reports whether a value read from Redis under urlKey, received at
// t (zero for a Vary record), is covered by a purge Redis has not confirmed.
func (c *Cache) purged(urlKey string, t time.Time) bool {
	if c.pendingN.Load() == 0 {
		return false
	}
	c.pendMu.Lock()
	defer c.pendMu.Unlock()
	for _, p := range c.pending {
		if (t.IsZero() || !t.After(p.at)) && p.match(urlKey) {
			return true
		}
	}
	return false
}

// retryPurges starts the goroutine that repeats the unconfirmed purges of
// the shared tier until Redis confirms each; Close stops it.
func (c *Cache) retryPurges() {
	c.bgMu.Lock()
	if c.closed || c.retrying {
		c.bgMu.Unlock()
		return
	}
	c.retrying = true
	c.bg.Add(1)
	c.bgMu.Unlock()
	go func() {
		defer c.bg.Done()
		tk := time.NewTicker(purgeRetryEvery)
		defer tk.Stop()
		for {
			select {
			case <-c.bgCtx.Done():
				return
			case <-tk.C:
			}
			c.pendMu.Lock()
			todo := slices.Clone(c.pending)
			c.pendMu.Unlock()
			for _, p := range todo {
				if _, err := c.redis.purge(c.bgCtx, p.match); err == nil {
					c.unmarkPurge(p)
				}
			}
			c.bgMu.Lock()
			if c.pendingN.Load() == 0 {
				c.retrying = false
				c.bgMu.Unlock()
				return
			}
			c.bgMu.Unlock()
		}
	}()
}

// purgeRetryEvery spaces the retries of a purge Redis did not confirm.
const purgeRetryEvery = time.Second

// Stats reports the instance's statistics for the admin API. The request
// counts are those of switchyard_cache_requests_total for the instance's
// name: they continue across reloads that rebuild the instance.
func (c *Cache) Stats() map[string]any {
	hits, misses, stale, bypass := c.counted(resHit), c.counted(resMiss), c.counted(resStale), c.counted(resBypass)
	ratio := 0.0
	if served := hits + stale + misses; served > 0 {
		ratio = float64(hits+stale) / float64(served)
	}
	st := map[string]any{
		"enabled":   c.mem != nil,
		"store":     c.cfg.Store,
		"hits":      hits,
		"misses":    misses,
		"stale":     stale,
		"bypass":    bypass,
		"hit_ratio": ratio,
		"bytes":     int64(0),
		"entries":   int64(0),
		"max_size":  int64(c.cfg.MaxSize),
	}
	if c.mem != nil {
		st["bytes"] = c.mem.bytes.Load()
		st["entries"] = c.mem.entries.Load()
	}
	if c.redis != nil {
		st["redis_available"] = c.redis.available()
	}
	return st
}

// Close stops the background revalidations, waits for them, and releases the
// memory tier and the Redis connections. It is safe to call more than once.
func (c *Cache) Close() error {
	c.closeCalls.Add(1)
	c.closeOnce.Do(func() {
		c.bgMu.Lock()
		c.closed = true
		c.bgMu.Unlock()
		c.bgCancel()
		c.bg.Wait()
		if c.mem != nil {
			c.mem.close()
		}
		if c.redis != nil {
			c.closeErr = c.redis.close()
		}
		if c.sampled {
			wallClock.release()
		}
	})
	return c.closeErr
}

var (
	_ registry.Instance      = (*Cache)(nil)
	_ registry.Closer        = (*Cache)(nil)
	_ registry.StatsReporter = (*Cache)(nil)
	_ http.Flusher           = (*captureWriter)(nil)
	_ http.Hijacker          = (*captureWriter)(nil)
	_ http.Flusher           = (*statusWriter)(nil)
)
