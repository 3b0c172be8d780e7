package caching

import (
	"net/http"
	"time"
)

// reqInfo is what the cache reads from a request's header, once.
type reqInfo struct {
	cc       cacheControl
	inm      []string // If-None-Match field lines
	ims      string   // If-Modified-Since
	auth     bool     // Authorization present
	rangeReq bool     // Range present
	bypass   bool     // an unkeyed header or Upgrade: do not use the cache
}

func (c *Cache) scanRequest(r *http.Request, ri *reqInfo) {
	h := r.Header
	var ccLines, pragma []string
	if len(h) <= scanByIteration {
		// A short header: one pass over it beats a lookup per name.
		for k, v := range h {
			switch k {
			case "Cache-Control":
				ccLines = v
			case "Pragma":
				pragma = v
			case "If-None-Match":
				ri.inm = v
			case "If-Modified-Since":
				if len(v) > 0 {
					ri.ims = v[0]
				}
			case "Authorization":
				ri.auth = true
			case "Range":
				ri.rangeReq = true
			case "Upgrade":
				ri.bypass = true
			default:
				if len(k) > 0 && c.unkeyedFirst[k[0]] && c.unkeyedSet[k] {
					ri.bypass = true
				}
			}
		}
	} else {
		ccLines, pragma = h["Cache-Control"], h["Pragma"]
		ri.inm = h["If-None-Match"]
		if v := h["If-Modified-Since"]; len(v) > 0 {
			ri.ims = v[0]
		}
		_, ri.auth = h["Authorization"]
		_, ri.rangeReq = h["Range"]
		_, ri.bypass = h["Upgrade"]
		for _, k := range c.unkeyed {
			if _, ok := h[k]; ok {
				ri.bypass = true
			}
		}
	}
	ri.cc.parse(ccLines)
	if len(ccLines) == 0 {
		// RFC 9111 §5.4: Pragma: no-cache counts as no-cache when the
		// request has no Cache-Control.
		for _, p := range pragma {
			if fieldListContains(p, "no-cache") {
				ri.cc.flags |= ccNoCache
			}
		}
	}
}

// scanByIteration is the header size up to which scanRequest walks the
// header instead of looking each name up.
const scanByIteration = 8

// verdict is what the cache may do with a stored response for a request.
type verdict uint8

const (
	vFresh    verdict = iota // serve it
	vStale                   // serve it stale: the request's max-stale allows it
	vSWR                     // serve it stale and revalidate in the background
	vValidate                // forward the request (conditionally when possible)
)

// judge applies RFC 9111 §4 and the request's directives (§5.2.1) to a
// stored response. fwd is the Cache-Status fwd reason for vValidate.
func (c *Cache) judge(e *entry, ri *reqInfo, now time.Time) (v verdict, age time.Duration, fwd string) {
	age = e.age(now)
	rq := &ri.cc
	if rq.has(ccNoCache) {
		return vValidate, age, "request"
	}
	if rq.maxAge != unset && !rq.has(ccMaxAgeInvalid) && age > secs(rq.maxAge) {
		return vValidate, age, "request"
	}
	if !e.noCache && age < e.freshness {
		if rq.minFresh != unset && e.freshness-age < secs(rq.minFresh) {
			return vValidate, age, "request"
		}
		return vFresh, age, ""
	}
	if !e.noStale && !e.noCache {
		staleness := age - e.freshness
		if rq.has(ccMaxStaleAny) || (rq.maxStale != unset && staleness <= secs(rq.maxStale)) {
			return vStale, age, ""
		}
		if swr, _ := c.staleWindows(e); swr > 0 && staleness <= swr {
			return vSWR, age, ""
		}
	}
	return vValidate, age, "stale"
}

func secs(n int64) time.Duration { return time.Duration(n) * time.Second }

// staleWindows returns the stale-while-revalidate and stale-if-error windows
// of e: what the response says, else the configured defaults for a response
// with a positive freshness lifetime; none for a response that forbids
// serving stale.
func (c *Cache) staleWindows(e *entry) (swr, sie time.Duration) {
	if e.noStale || e.noCache {
		return 0, 0
	}
	swr, sie = e.swr, e.sie
	if swr < 0 {
		swr = 0
		if e.freshness > 0 {
			swr = c.cfg.StaleWhileRevalidate
		}
	}
	if sie < 0 {
		sie = 0
		if e.freshness > 0 {
			sie = c.cfg.StaleIfError
		}
	}
	return swr, sie
}

// expiry returns when a stored e is dropped: TTL after it was received. ok
// is false when there is nothing worth storing: a response that is never
// fresh, cannot be revalidated and may not be served stale.
func (c *Cache) expiry(e *entry) (time.Time, bool) {
	capAt := e.responseTime.Add(c.cfg.TTL)
	if e.hasValidators() {
		return capAt, true
	}
	if e.noCache {
		return time.Time{}, false
	}
	if e.freshness <= e.correctedInitialAge {
		if swr, sie := c.staleWindows(e); max(swr, sie) == 0 {
			return time.Time{}, false
		}
	}
	return capAt, true
}

// notModified evaluates the request's If-None-Match (weak comparison) or, in
// its absence, If-Modified-Since against a stored 2xx response (RFC 9110
// §13.2.2).
func notModified(e *entry, ri *reqInfo) bool {
	if e.status < 200 || e.status > 299 {
		return false
	}
	if len(ri.inm) > 0 {
		return etagMatch(ri.inm, e.etag)
	}
	if ri.ims == "" {
		return false
	}
	t, ok := parseHTTPTime(ri.ims)
	if !ok {
		return false
	}
	lm := e.date
	if e.lastModified != "" {
		if l, ok := parseHTTPTime(e.lastModified); ok {
			lm = l
		}
	}
	return !lm.After(t)
}

// etagMatch reports whether an If-None-Match list matches etag by the weak
// comparison; "*" matches any stored representation.
func etagMatch(lines []string, etag string) bool {
	opaque := func(t string) string {
		if len(t) >= 2 && t[0] == 'W' && t[1] == '/' {
			return t[2:]
		}
		return t
	}
	want := opaque(etag)
	for _, s := range lines {
		for s != "" {
			i := 0
			for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == ',') {
				i++
			}
			s = s[i:]
			if s == "" {
				break
			}
			if s[0] == '*' {
				return true
			}
			j := 0
			if len(s) >= 2 && s[0] == 'W' && s[1] == '/' {
				j = 2
			}
			if j < len(s) && s[j] == '"' {
				k := j + 1
				for k < len(s) && s[k] != '"' {
					k++
				}
				if k < len(s) {
					k++
				}
				if etag != "" && s[j:k] == want {
					return true
				}
				s = s[k:]
				continue
			}
			// Not an entity-tag: skip to the next comma.
			k := 0
			for k < len(s) && s[k] != ',' {
				k++
			}
			s = s[k:]
		}
	}
	return false
}
