package caching

import (
	"bufio"
	"bytes"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"
)

// outcome is what the cache does with an upstream response, decided when its
// header arrives.
type outcome uint8

const (
	outNone         outcome = iota
	outPass                 // forward to the client, do not store
	outCapture              // forward to the client and capture for storing
	outNotModified          // 304 to the cache's own validators: freshen the stored response
	outStaleOnError         // an error while a stale response may stand in: serve that
)

// exchange is one request the cache sends upstream: a miss, a revalidation or
// a background revalidation.
type exchange struct {
	h      *handler
	w      http.ResponseWriter // the client; nil for a background revalidation
	r      *http.Request       // the client's request
	up     *http.Request       // what goes upstream
	ri     reqInfo             // the client's request fields
	urlKey string
	rec    *varyRecord   // the URL's Vary record, when known
	stale  *slot         // the stored response being revalidated, or nil
	cond   bool          // up carries the cache's own validators
	sie    time.Duration // stale-if-error window for stale
	flight *flight
	fwd    string // Cache-Status fwd reason

	requestTime  time.Time
	responseTime time.Time
	status       int
	out          outcome
	e            *entry // the response being captured
	refetch      bool   // a 304 did not match the stored response
	counted      bool   // the client's request is already counted

	// The client's response header is held back until the first byte of
	// the body goes out (outPass) or, for a response being captured, until
	// the body has arrived whole, outgrown max_object_size or been flushed:
	// so that Cache-Status says "stored" only of a stored response, and an
	// upstream that fails before anything was sent gives a 502.
	pending  bool     // the header is in x.w.Header() but not written
	held     bool     // outCapture: the body is held back in the buffer
	csBase   string   // our Cache-Status member, without "; stored"
	copied   []string // the upstream fields copied into x.w.Header()
	upstream []string // the upstream's Cache-Status
}

// captureWriter is the ResponseWriter the upstream handler writes to.
type captureWriter struct {
	x        *exchange
	hdr      http.Header
	wrote    bool
	hijacked bool
	buf      *bytes.Buffer
	overflow bool
}

var captureWriters = sync.Pool{New: func() any { return &captureWriter{hdr: make(http.Header, 8)} }}

func getCaptureWriter(x *exchange) *captureWriter {
	cw := captureWriters.Get().(*captureWriter)
	hdr := cw.hdr
	clear(hdr)
	*cw = captureWriter{x: x, hdr: hdr}
	return cw
}

func putCaptureWriter(cw *captureWriter) {
	hdr := cw.hdr
	clear(hdr)
	*cw = captureWriter{hdr: hdr}
	captureWriters.Put(cw)
}

func (cw *captureWriter) Header() http.Header { return cw.hdr }

func (cw *captureWriter) WriteHeader(code int) {
	if cw.wrote || cw.hijacked {
		return
	}
	if code >= 100 && code < 200 {
		// Informational: passes through (when the client is there and the
		// final response may still go to it), never counts as the header.
		if w := cw.x.w; w != nil {
			// The 1xx's fields go with it, not with the final response:
			// set them for the WriteHeader, then put back what was there.
			dst := w.Header()
			var saved http.Header
			for k, v := range cw.hdr {
				if old, ok := dst[k]; ok {
					if saved == nil {
						saved = make(http.Header, len(cw.hdr))
					}
					saved[k] = old
				}
				dst[k] = v
			}
			w.WriteHeader(code)
			for k := range cw.hdr {
				if old, ok := saved[k]; ok {
					dst[k] = old
				} else {
					delete(dst, k)
				}
			}
		}
		return
	}
	cw.wrote = true
	cw.x.onHeader(code, cw)
}

func (cw *captureWriter) Write(p []byte) (int, error) {
	if cw.hijacked {
		return 0, http.ErrHijacked
	}
	if !cw.wrote {
		cw.WriteHeader(http.StatusOK)
	}
	x := cw.x
	switch x.out {
	case outCapture:
		if !cw.overflow {
			if int64(cw.buf.Len()+len(p)) > int64(x.h.c.cfg.MaxObjectSize) {
				// Too large to store: stream the rest, and let the
				// followers go upstream now rather than wait for the end.
				cw.overflow = true
				if err := x.release(cw); err != nil {
					return 0, err
				}
				x.h.c.putBuffer(cw.buf)
				cw.buf = nil
				x.h.c.flights.release(x.flight, nil)
			} else {
				cw.buf.Write(p)
				if x.held {
					return len(p), nil
				}
			}
		}
		if x.w == nil {
			return len(p), nil
		}
		return x.w.Write(p)
	case outPass:
		if x.w == nil {
			return len(p), nil
		}
		if x.pending {
			x.sendHeader(false)
		}
		return x.w.Write(p)
	default: // swallowed: a 304 to our validators, or an error replaced by a stale response
		return len(p), nil
	}
}

// Flush sends what is buffered to the client.
func (cw *captureWriter) Flush() {
	if cw.hijacked {
		return
	}
	if !cw.wrote {
		cw.WriteHeader(http.StatusOK)
	}
	x := cw.x
	if x.w == nil || (x.out != outPass && x.out != outCapture) {
		return
	}
	if x.release(cw) != nil {
		return
	}
	_ = http.NewResponseController(x.w).Flush()
}

// sendHeader writes the held-back header to the client, with "; stored" in
// Cache-Status when stored.
func (x *exchange) sendHeader(stored bool) {
	x.pending = false
	cs := x.csBase
	if stored {
		cs += "; stored"
	}
	x.w.Header()["Cache-Status"] = withCacheStatus(x.upstream, cs)
	x.w.WriteHeader(x.status)
}

// release sends the header and the body held so far to the client: the
// response streams from now on (it is still captured, and may be stored
// without Cache-Status saying so).
func (x *exchange) release(cw *captureWriter) error {
	if x.w == nil {
		return nil
	}
	if x.pending {
		x.sendHeader(false)
	}
	if x.held {
		x.held = false
		if cw.buf != nil && cw.buf.Len() > 0 && x.r.Method != http.MethodHead {
			if _, err := x.w.Write(cw.buf.Bytes()); err != nil {
				return err
			}
		}
	}
	return nil
}

// Hijack hands the connection to the handler; the response is then not the
// cache's business.
func (cw *captureWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if cw.x.w == nil {
		return nil, nil, http.ErrNotSupported
	}
	conn, rw, err := http.NewResponseController(cw.x.w).Hijack()
	if err == nil {
		cw.hijacked = true
		cw.x.h.c.flights.release(cw.x.flight, nil)
	}
	return conn, rw, err
}

// Unwrap gives http.ResponseController the client's writer.
func (cw *captureWriter) Unwrap() http.ResponseWriter { return cw.x.w }

// run sends x upstream and deals with the response.
func (x *exchange) run() {
	c := x.h.c
	cw := getCaptureWriter(x)
	completed := false
	defer func() {
		x.complete(cw, completed)
		putCaptureWriter(cw)
	}()
	x.requestTime = c.now()
	defer func() {
		// An upstream cut off (the proxy aborts the handler) before anything
		// reached the client: the client gets a 502, not an empty reply.
		if p := recover(); p != nil {
			if x.w == nil || !x.pending {
				panic(p)
			}
			if p != http.ErrAbortHandler {
				// Whoever recovers answers without the upstream's fields.
				x.pending = false
				hd := x.w.Header()
				for _, k := range x.copied {
					delete(hd, k)
				}
				panic(p)
			}
			x.badGateway()
		}
	}()
	x.h.next.ServeHTTP(cw, x.up)
	if !cw.wrote && !cw.hijacked {
		cw.WriteHeader(http.StatusOK)
	}
	completed = true
}

// badGatewayBody is the 502 of an upstream response that broke off before
// anything was sent to the client.
var badGatewayBody = []byte(`{"error":"bad gateway","detail":"the upstream response broke off"}` + "\n")

// badGateway answers 502 in place of a response whose header was held back.
func (x *exchange) badGateway() {
	x.pending = false
	hd := x.w.Header()
	for _, k := range x.copied {
		delete(hd, k)
	}
	hd["Content-Type"] = []string{"application/json"}
	hd["Content-Length"] = []string{strconv.Itoa(len(badGatewayBody))}
	hd["Cache-Status"] = []string{"switchyard; fwd=" + x.fwd + "; fwd-status=" + strconv.Itoa(x.status) + "; detail=upstream-broke-off"}
	x.w.WriteHeader(http.StatusBadGateway)
	if x.r.Method != http.MethodHead {
		_, _ = x.w.Write(badGatewayBody)
	}
}

// onHeader decides, from the status and header of the upstream response,
// what happens to it.
func (x *exchange) onHeader(code int, cw *captureWriter) {
	c := x.h.c
	x.status = code
	x.responseTime = c.now()
	h := cw.hdr
	if x.cond && code == http.StatusNotModified {
		x.out = outNotModified
		return
	}
	if x.stale != nil && x.sie > 0 && isServerError(code) &&
		x.stale.e.age(x.responseTime)-x.stale.e.freshness <= x.sie {
		x.out = outStaleOnError
		return
	}
	x.out = outPass
	if e := x.storable(code, h); e != nil {
		x.e = e
		x.out = outCapture
		cw.buf = c.getBuffer()
	} else {
		c.flights.release(x.flight, nil)
	}
	if x.w == nil {
		return
	}
	dst := x.w.Header()
	x.copied = x.copied[:0]
	for k, v := range h {
		if k == "Vary" && len(dst[k]) > 0 {
			dst[k] = append(slices.Clip(dst[k]), v...)
			continue
		}
		if _, ok := dst[k]; !ok {
			x.copied = append(x.copied, k)
		}
		dst[k] = v
	}
	setXCache(x.w, dst, xMiss)
	cs := "switchyard; fwd=" + x.fwd
	if x.cond {
		cs += "; fwd-status=" + strconv.Itoa(code)
	}
	x.csBase = cs
	x.upstream = h["Cache-Status"]
	x.pending = true
	x.held = x.out == outCapture
}

func isServerError(code int) bool {
	return code == 500 || code == 502 || code == 503 || code == 504
}

// storable applies RFC 9111 §3 (as a shared cache) and the plugin's rules to
// an upstream response and returns the entry to fill with its body, or nil.
func (x *exchange) storable(code int, h http.Header) *entry {
	c := x.h.c
	if x.up.Method != http.MethodGet || x.ri.cc.has(ccNoStore) || !understoodStatus(code) {
		return nil
	}
	cc, fromTargeted := responseCC(h, c.targeted)
	if cc.has(ccNoStore) && !cc.has(ccMustUnderstand) {
		return nil
	}
	if cc.has(ccPrivate) && cc.privateFields == "" {
		return nil
	}
	if x.ri.auth && !cc.has(ccPublic) && cc.sMaxAge == unset && !cc.has(ccMustRevalidate) {
		return nil
	}
	if (len(h["Set-Cookie"]) > 0 && !fieldListContains(cc.privateFields, "set-cookie")) ||
		(len(h["Set-Cookie2"]) > 0 && !fieldListContains(cc.privateFields, "set-cookie2")) {
		if !c.cfg.StoreSetCookie {
			return nil
		}
	}
	if len(h["Trailer"]) > 0 {
		return nil
	}
	if cl := h["Content-Length"]; len(cl) > 0 {
		n, err := strconv.ParseInt(cl[0], 10, 64)
		if err != nil || n > int64(c.cfg.MaxObjectSize) {
			return nil
		}
	}
	explicit := cc.maxAge != unset || cc.sMaxAge != unset || (len(h["Expires"]) > 0 && !fromTargeted)
	if !explicit && !heuristicStatus(code) && !cc.has(ccPublic) {
		return nil
	}
	vary := parseVary(h["Vary"])
	if len(vary) == 1 && vary[0] == "*" {
		return nil
	}
	e := &entry{
		urlKey:       x.urlKey,
		path:         keyPath(x.urlKey),
		status:       code,
		header:       storedHeader(h, cc.privateFields, c.cfg.StoreSetCookie),
		requestTime:  x.requestTime,
		responseTime: x.responseTime,
		ageValue:     parseAge(h["Age"]),
		upstreamCS:   slices.Clip(slices.Clone(h["Cache-Status"])),
	}
	e.derive(c.targeted)
	if _, ok := c.expiry(e); !ok {
		return nil
	}
	if len(vary) > 0 {
		rec := x.rec
		if rec == nil || !slices.Equal(rec.fields, vary) {
			rec = (&varyRecord{urlKey: x.urlKey, path: e.path, fields: vary, nonce: rand.Uint64()}).withPrefix()
		}
		x.rec = rec
		kb := make([]byte, 0, len(x.urlKey)+64)
		kb = appendVariantKey(kb, rec, x.r)
		e.key = string(kb)
		e.varyKey = e.key[len(x.urlKey):]
		e.varyKey = e.varyKey[indexNUL(e.varyKey[1:])+1:] // drop the nonce part
	} else {
		x.rec = nil
		e.key = x.urlKey
	}
	return e
}

// indexNUL returns the index of the first NUL in s, or len(s).
func indexNUL(s string) int {
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			return i
		}
	}
	return len(s)
}

// parseAge reads the first Age value: a non-negative integer, saturating at
// 2^31; anything else counts as absent.
func parseAge(lines []string) int64 {
	if len(lines) == 0 {
		return 0
	}
	v := lines[0]
	for i := 0; i < len(v); i++ {
		if v[i] == ',' {
			v = v[:i]
			break
		}
	}
	if n, ok := parseDelta(trimOWS(v), true); ok {
		return n
	}
	return 0
}

func trimOWS(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// complete finishes an exchange after the upstream handler returned (or
// panicked, when completed is false).
func (x *exchange) complete(cw *captureWriter, completed bool) {
	c := x.h.c
	defer func() {
		if cw.buf != nil {
			c.putBuffer(cw.buf)
			cw.buf = nil
		}
		c.flights.release(x.flight, nil) // no-op when already released
	}()
	if x.w != nil && !x.counted {
		x.counted = true
		if completed && x.out == outStaleOnError {
			c.count(resStale)
		} else {
			c.count(resMiss)
		}
	}
	if !completed || cw.hijacked {
		return
	}
	switch x.out {
	case outCapture:
		var s *slot
		whole := !cw.overflow && x.complete200(cw)
		if whole {
			e := x.e
			e.body = bytes.Clone(cw.buf.Bytes())
			if e.body == nil {
				e.body = []byte{}
			}
			e.seal()
			if !x.ri.cc.has(ccNoStore) {
				s = c.store(x.r, e, x.rec)
			}
		}
		if s == nil && x.stale != nil {
			c.dropKey(x.r, x.stale.key)
		}
		c.flights.release(x.flight, s)
		if x.w != nil && x.pending {
			if !whole && !cw.overflow {
				// Shorter than its Content-Length: broken off upstream.
				x.badGateway()
				break
			}
			x.sendHeader(s != nil)
			if x.held {
				x.held = false
				if x.r.Method != http.MethodHead && cw.buf != nil && cw.buf.Len() > 0 {
					_, _ = x.w.Write(cw.buf.Bytes())
				}
			}
		}
	case outPass:
		if x.w != nil && x.pending {
			x.sendHeader(false)
		}
		if x.stale != nil && x.status < 500 {
			// The response that replaces the stored one is not storable:
			// the stored one must not be served any more.
			c.dropKey(x.r, x.stale.key)
		}
	case outNotModified:
		e, ok := x.freshen(cw.hdr)
		if !ok {
			c.dropKey(x.r, x.stale.key)
			c.flights.release(x.flight, nil)
			x.refetch = true
			break
		}
		s := c.store(x.r, e, nil)
		if s == nil {
			s = &slot{key: e.key, e: e}
		}
		c.flights.release(x.flight, s)
		if x.w != nil {
			// A cookie the 304 sets is this client's: it goes to it, and
			// is not stored.
			if sc := cw.hdr["Set-Cookie"]; len(sc) > 0 {
				x.w.Header()["Set-Cookie"] = sc
			}
			now := c.now()
			c.writeEntry(x.w, x.r, &x.ri, s, e.age(now), xMiss,
				withCacheStatus(e.upstreamCS, "switchyard; fwd="+x.fwd+"; fwd-status=304"))
		}
	case outStaleOnError:
		c.flights.releaseAs(x.flight, x.stale, true)
		if x.w != nil {
			c.writeEntry(x.w, x.r, &x.ri, x.stale, x.stale.e.age(c.now()), xStale,
				withCacheStatus(x.stale.e.upstreamCS, "switchyard; fwd=stale; fwd-status="+strconv.Itoa(x.status)+"; detail=stale-if-error"))
		}
	}
}

// complete200 reports whether the captured body is whole: no trailers, and
// as long as Content-Length said.
func (x *exchange) complete200(cw *captureWriter) bool {
	for k := range cw.hdr {
		if len(k) > len(http.TrailerPrefix) && k[:len(http.TrailerPrefix)] == http.TrailerPrefix {
			return false
		}
	}
	if cl := cw.hdr["Content-Length"]; len(cl) > 0 {
		n, err := strconv.ParseInt(cl[0], 10, 64)
		if err != nil || n != int64(cw.buf.Len()) {
			return false
		}
	}
	return true
}

// freshen builds the stored response updated by a 304 (RFC 9111 §4.3.4): the
// 304's fields replace the stored ones, except Content-Length and the fields
// that are never stored. ok is false when the 304 names another
// representation (a different strong ETag).
func (x *exchange) freshen(h http.Header) (*entry, bool) {
	old := x.stale.e
	if et := h.Get("Etag"); et != "" && old.etag != "" && et != old.etag &&
		!(len(et) > 2 && et[:2] == "W/" && et[2:] == old.etag) && !(len(old.etag) > 2 && old.etag[:2] == "W/" && old.etag[2:] == et) {
		return nil, false
	}
	c := x.h.c
	cc, _ := responseCC(h, c.targeted)
	if len(h["Cache-Control"]) == 0 && !hasAny(h, c.targeted) {
		cc, _ = responseCC(old.headerMap(0), c.targeted)
	}
	nh := old.headerMap(len(h))
	if _, ok := h["Date"]; !ok {
		delete(nh, "Date") // finish dates it on receipt
	}
	for k, v := range storedHeader(h, cc.privateFields, c.cfg.StoreSetCookie) {
		nh[k] = v
	}
	e := &entry{
		key:          old.key,
		urlKey:       old.urlKey,
		path:         old.path,
		varyKey:      old.varyKey,
		status:       old.status,
		header:       nh,
		body:         old.body,
		requestTime:  x.requestTime,
		responseTime: x.responseTime,
		ageValue:     parseAge(h["Age"]),
		upstreamCS:   old.upstreamCS,
	}
	if v := h["Cache-Status"]; len(v) > 0 {
		e.upstreamCS = slices.Clip(slices.Clone(v))
	}
	e.finish(c.targeted)
	return e, true
}

// hasAny reports whether h carries one of the fields names.
func hasAny(h http.Header, names []string) bool {
	for _, n := range names {
		if _, ok := h[n]; ok {
			return true
		}
	}
	return false
}

// statusWriter records the status of a response that passes through, and
// calls onStatus with it (and the response's header) before the status goes
// on to the client.
type statusWriter struct {
	http.ResponseWriter
	status   int
	onStatus func(r *http.Request, h http.Header, status int)
	r        *http.Request
}

func (sw *statusWriter) setStatus(code int) {
	sw.status = code
	if sw.onStatus != nil {
		sw.onStatus(sw.r, sw.ResponseWriter.Header(), code)
	}
}

var statusWriters = sync.Pool{New: func() any { return new(statusWriter) }}

func (sw *statusWriter) WriteHeader(code int) {
	if sw.status == 0 && code >= 200 {
		sw.setStatus(code)
	}
	sw.ResponseWriter.WriteHeader(code)
}

func (sw *statusWriter) Write(p []byte) (int, error) {
	if sw.status == 0 {
		sw.setStatus(http.StatusOK)
	}
	return sw.ResponseWriter.Write(p)
}

// Flush passes through to the client's writer.
func (sw *statusWriter) Flush() {
	if sw.status == 0 {
		sw.setStatus(http.StatusOK)
	}
	_ = http.NewResponseController(sw.ResponseWriter).Flush()
}

// Unwrap gives http.ResponseController the client's writer.
func (sw *statusWriter) Unwrap() http.ResponseWriter { return sw.ResponseWriter }

// fallbackBuffers serve when the host gives no buffer pool.
var fallbackBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxPooledBuffer is the largest buffer the fallback pool keeps.
const maxPooledBuffer = 4 << 20

func (c *Cache) getBuffer() *bytes.Buffer {
	if c.buffers != nil {
		if b := c.buffers.Get(); b != nil {
			b.Reset()
			return b
		}
	}
	return fallbackBuffers.Get().(*bytes.Buffer)
}

func (c *Cache) putBuffer(b *bytes.Buffer) {
	if c.buffers != nil {
		c.buffers.Put(b)
		return
	}
	if b.Cap() > maxPooledBuffer {
		return
	}
	b.Reset()
	fallbackBuffers.Put(b)
}
