package ratelimit

import (
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Canonical header names, set by map assignment to skip canonicalization.
const (
	hdrPolicy         = "Ratelimit-Policy"
	hdrRateLimit      = "Ratelimit"
	hdrRetryAfter     = "Retry-After"
	hdrContentType    = "Content-Type"
	hdrContentLength  = "Content-Length"
	hdrNoSniff        = "X-Content-Type-Options"
	hdrLegacyLimit    = "X-Ratelimit-Limit"
	hdrLegacyRemain   = "X-Ratelimit-Remaining"
	hdrLegacyReset    = "X-Ratelimit-Reset"
	contentTypeJSON   = "application/json"
	noSniff           = "nosniff"
	valueCacheEntries = 256
)

// sfString renders s as a structured-field string (RFC 9651): quoted, with
// backslash and quote escaped. checkPolicyName keeps s printable ASCII.
func sfString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('"')
	return b.String()
}

// quotaWindow expresses rate per per as the q and w of RateLimit-Policy, w
// being whole seconds: 100 per 1m is q=100;w=60, 10 per 500ms is q=20;w=1.
// A window that fits neither form is rounded up to whole seconds and the
// quota scaled down to it (2 per 1500ms is q=2;w=2).
func quotaWindow(rate int, per time.Duration) (q, w int64) {
	r, p, s := int64(rate), int64(per), int64(time.Second)
	switch {
	case p%s == 0:
		return r, p / s
	case (r*s)%p == 0:
		return r * s / p, 1
	}
	w = (p + s - 1) / s
	return max(1, r*w*s/p), w
}

// policyValue is the RateLimit-Policy field of a limiter.
func policyValue(name string, rate int, per time.Duration) string {
	q, w := quotaWindow(rate, per)
	return sfString(name) + ";q=" + strconv.FormatInt(q, 10) + ";w=" + strconv.FormatInt(w, 10)
}

// valueCache hands out header values of the form prefix+a[+mid+b] as
// ready-made []string, so that the common values cost no allocation per
// response. It is a direct-mapped table of immutable entries: a lookup is
// one atomic load, a miss formats the value and replaces the slot. A busy
// limiter repeats few (remaining, reset) pairs, so nearly every lookup hits.
//
// The slices are shared by every response that carries the value: they have
// capacity 1, so Header.Add copies before appending, and nothing in net/http
// writes into a header value in place.
type valueCache struct {
	prefix, mid string
	pair        bool
	slots       [valueCacheEntries]atomic.Pointer[cachedValue]
}

type cachedValue struct {
	a, b int64
	v    []string
}

func newValueCache(prefix, mid string, pair bool) *valueCache {
	return &valueCache{prefix: prefix, mid: mid, pair: pair}
}

func (c *valueCache) get(a, b int64) []string {
	i := (uint64(a)*0x9e3779b97f4a7c15 ^ uint64(b)*0xc2b2ae3d27d4eb4f) >> 56
	if e := c.slots[i].Load(); e != nil && e.a == a && e.b == b {
		return e.v
	}
	e := &cachedValue{a: a, b: b, v: []string{c.format(a, b)}}
	c.slots[i].Store(e)
	return e.v
}

func (c *valueCache) format(a, b int64) string {
	var buf [96]byte
	out := append(buf[:0], c.prefix...)
	out = appendInt(out, a)
	if c.pair {
		out = append(out, c.mid...)
		out = appendInt(out, b)
	}
	return string(out)
}

func appendInt(dst []byte, n int64) []byte { return strconv.AppendInt(dst, n, 10) }

// setHeader sets name to v, or appends v's value when an earlier limiter in
// the chain already set the field (the fields are lists, one item per
// policy). The shared slices are never written into.
func setHeader(h map[string][]string, name string, v []string) {
	if old, ok := h[name]; ok && len(old) > 0 {
		h[name] = append(old[:len(old):len(old)], v...)
		return
	}
	h[name] = v
}
