package caching

import (
	"net/http"
	"strconv"
	"strings"
)

// Range requests (RFC 9110 §14). A GET with a single byte range is answered
// from a fresh stored 200: 206 with Content-Range, or 416 when the range
// cannot be satisfied. If-Range is honoured (a validator that does not match
// gets the whole stored response). A Range the cache does not serve itself
// (several ranges, no fresh stored response) goes upstream untouched, and
// whatever comes back (a 206 too) is passed through and not stored.

type rangeKind uint8

const (
	rangeIgnore rangeKind = iota // no usable Range: serve the whole response
	rangeOne                     // one satisfiable range
	rangeUnsat                   // not satisfiable: 416
	rangeMulti                   // several ranges: upstream
)

// parseRange reads a Range field's lines against a representation of size
// bytes. first and last are the (inclusive) byte positions for rangeOne.
func parseRange(lines []string, size int64) (kind rangeKind, first, last int64) {
	if len(lines) != 1 {
		return rangeIgnore, 0, 0
	}
	unit, set, ok := strings.Cut(trimOWS(lines[0]), "=")
	if !ok || !asciiEqualFold(trimOWS(unit), "bytes") {
		return rangeIgnore, 0, 0 // an unknown unit or no range-set
	}
	set = trimOWS(set)
	if strings.IndexByte(set, ',') >= 0 {
		return rangeMulti, 0, 0
	}
	a, b, ok := strings.Cut(set, "-")
	if !ok {
		return rangeIgnore, 0, 0
	}
	if a == "" { // suffix: the last b bytes
		n, ok := rangeInt(b)
		if !ok {
			return rangeIgnore, 0, 0
		}
		if n == 0 || size == 0 {
			return rangeUnsat, 0, 0
		}
		return rangeOne, max(size-n, 0), size - 1
	}
	first, ok = rangeInt(a)
	if !ok {
		return rangeIgnore, 0, 0
	}
	last = size - 1
	if b != "" {
		l, ok := rangeInt(b)
		if !ok || l < first {
			return rangeIgnore, 0, 0
		}
		last = min(l, size-1)
	}
	if first >= size {
		return rangeUnsat, 0, 0
	}
	return rangeOne, first, last
}

// rangeInt parses 1*DIGIT.
func rangeInt(s string) (int64, bool) {
	if s == "" || s[0] < '0' || s[0] > '9' {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// ifRangeHolds evaluates If-Range against a stored response (RFC 9110
// §13.1.5): an entity-tag must match the stored strong ETag; a date must equal
// the stored Last-Modified. Without If-Range it holds.
func ifRangeHolds(r *http.Request, e *entry) bool {
	v, ok := r.Header["If-Range"]
	if !ok {
		return true
	}
	if len(v) != 1 {
		return false
	}
	cond := trimOWS(v[0])
	if strings.HasPrefix(cond, `"`) || strings.HasPrefix(cond, "W/") {
		return !strings.HasPrefix(cond, "W/") && e.etag != "" && !strings.HasPrefix(e.etag, "W/") && cond == e.etag
	}
	t, ok := parseHTTPTime(cond)
	if !ok || e.lastModified == "" {
		return false
	}
	lm, ok := parseHTTPTime(e.lastModified)
	return ok && lm.Equal(t)
}

// serveRange answers a GET carrying Range: from a fresh stored response when
// there is one, else upstream untouched.
func (h *handler) serveRange(w http.ResponseWriter, r *http.Request, ri *reqInfo) {
	c := h.c
	var buf [keyBufSize]byte
	now := c.now()
	s, _, _, key := c.lookup(r, appendURLKey(buf[:0], r), now)
	if f := c.flights.current(key); s == nil && f != nil {
		// The response is being fetched: wait for it rather than ask the
		// upstream a second time.
		select {
		case <-f.done:
		case <-r.Context().Done():
			return
		}
		now = c.now()
		s, _, _, _ = c.lookup(r, appendURLKey(buf[:0], r), now)
	}
	if s == nil {
		c.passBypass(w, r, h.next, csRange)
		return
	}
	v, age, _ := c.judge(s.e, ri, now)
	if v != vFresh {
		c.passBypass(w, r, h.next, csRange)
		return
	}
	e := s.e
	if e.status != http.StatusOK || !ifRangeHolds(r, e) || ((len(ri.inm) > 0 || ri.ims != "") && notModified(e, ri)) {
		c.count(resHit)
		c.writeEntry(w, r, ri, s, age, xHit, e.csHit)
		return
	}
	size := int64(len(e.body))
	kind, first, last := parseRange(r.Header["Range"], size)
	switch kind {
	case rangeMulti:
		c.passBypass(w, r, h.next, csRange)
		return
	case rangeIgnore:
		c.count(resHit)
		c.writeEntry(w, r, ri, s, age, xHit, e.csHit)
		return
	}
	c.count(resHit)
	hd := w.Header()
	hd["Age"] = s.ageField(age)
	setXCache(w, hd, xHit)
	hd["Cache-Status"] = e.csHit
	total := strconv.FormatInt(size, 10)
	if kind == rangeUnsat {
		hd["Content-Range"] = []string{"bytes */" + total}
		hd["Content-Length"] = []string{"0"}
		w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
		return
	}
	for i := range e.fields {
		f := &e.fields[i]
		hd[f.key] = f.vals
	}
	hd["Content-Range"] = []string{"bytes " + strconv.FormatInt(first, 10) + "-" + strconv.FormatInt(last, 10) + "/" + total}
	hd["Content-Length"] = []string{strconv.FormatInt(last-first+1, 10)}
	w.WriteHeader(http.StatusPartialContent)
	_, _ = w.Write(e.body[first : last+1])
}
