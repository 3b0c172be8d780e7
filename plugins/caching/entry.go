package caching

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"
)

// entry is one stored response. It is immutable once built: several requests
// serve it at once, and a cache rebuilt by a reload may share it.
type entry struct {
	key     string // the cache key: the URL key, or a variant key
	urlKey  string
	path    string
	varyKey string // the request's normalised values of the Vary fields
	status  int
	// header holds the stored fields (no hop-by-hop, Age, Content-Length)
	// while the entry is built; finish moves them into fields.
	header http.Header
	body   []byte
	// requestTime and responseTime bracket the upstream exchange, on the
	// cache's clock; ageValue is the Age the response arrived with (seconds).
	requestTime  time.Time
	responseTime time.Time
	ageValue     int64

	// Derived from the above by finish.
	fields              []headerField // the stored fields, sorted by name
	date                time.Time
	correctedInitialAge time.Duration
	freshness           time.Duration // freshness lifetime
	heuristic           bool          // freshness came from Last-Modified
	swr, sie            time.Duration // response's stale-while-revalidate / stale-if-error; -1 if absent
	noCache             bool          // every use must be validated
	noStale             bool          // must-revalidate, proxy-revalidate or s-maxage: never served stale
	etag                string
	lastModified        string
	vary                []string // canonical names of the Vary fields, sorted
	clen                []string // Content-Length value
	csHit               []string // Cache-Status values for a hit
	csCollapsed         []string
	csStale             []string // Cache-Status for stale-while-revalidate
	upstreamCS          []string // Cache-Status the response arrived with
	size                int64    // memory the entry holds, as the allocator rounds it
}

// headerField is one stored field; vals has len == cap so that a later
// Header.Add by another handler copies instead of writing into it.
type headerField struct {
	key  string
	vals []string
}

// varyRecord is stored under the URL key of a response that has Vary: it
// names the fields whose request values select the variant.
type varyRecord struct {
	urlKey string
	path   string
	fields []string // canonical, sorted, without duplicates
	nonce  uint64   // in every variant key: replacing the record orphans old variants
	// prefix is what every variant key starts with (urlKey, NUL, 'v',
	// nonce in hex), computed once by withPrefix; empty: computed per key.
	prefix string
	// variants remembers the variant slots found through this record, so
	// that a hit on a variant is one lookup of the memory tier, not two. A
	// slot that left the tier (exited) or expired is never served from it.
	variants atomic.Pointer[[]*slot]
}

// maxMemoVariants bounds the variants a record remembers.
const maxMemoVariants = 8

// variant returns the remembered live slot whose Vary values are vals.
func (rec *varyRecord) variant(vals []byte, now time.Time) *slot {
	vs := rec.variants.Load()
	if vs == nil {
		return nil
	}
	for _, s := range *vs {
		if s.e.varyKey == string(vals) && !s.exited.Load() && now.Before(s.expires) {
			return s
		}
	}
	return nil
}

// remember adds s (a variant of rec) to the record's variants, in place of
// any with the same Vary values and of those that left the tier.
func (rec *varyRecord) remember(s *slot) {
	for {
		old := rec.variants.Load()
		next := make([]*slot, 0, maxMemoVariants)
		next = append(next, s)
		if old != nil {
			for _, o := range *old {
				if len(next) < maxMemoVariants && o != s && o.e.varyKey != s.e.varyKey && !o.exited.Load() {
					next = append(next, o)
				}
			}
		}
		if rec.variants.CompareAndSwap(old, &next) {
			return
		}
	}
}

// withPrefix sets rec's variant key prefix from its urlKey and nonce, and
// returns rec. It is called before rec is shared.
func (rec *varyRecord) withPrefix() *varyRecord {
	rec.prefix = string(rec.appendPrefix(make([]byte, 0, len(rec.urlKey)+18)))
	return rec
}

func (rec *varyRecord) appendPrefix(b []byte) []byte {
	b = append(b, rec.urlKey...)
	b = append(b, 0, 'v')
	return strconv.AppendUint(b, rec.nonce, 16)
}

// slot is what the memory tier stores: an entry or a Vary record, with what
// the tier needs to account for it.
type slot struct {
	key     string
	e       *entry
	rec     *varyRecord
	expires time.Time // the slot is gone after this instant (cache clock)
	cost    int64
	exited  atomic.Bool
	ageMemo atomic.Pointer[ageValue]
}

// ageValue memoises the Age field of a slot for the second it was computed.
type ageValue struct {
	secs int64
	vals []string
}

// entryOverhead is the memory an entry costs beyond its body, fields and
// keys: the entry and slot structs, the Content-Length value, and the memory
// tier's bookkeeping (its item maps, expiry buckets and admission state),
// measured with TestEntryCost.
const entryOverhead = 680

// allocSize rounds n up as the Go allocator does: to its size class up to
// 32KiB, to whole 8KiB pages above.
func allocSize(n int) int64 {
	if n == 0 {
		return 0
	}
	if n > 32<<10 {
		return int64((n + 8191) &^ 8191)
	}
	i, _ := slices.BinarySearch(sizeClasses[:], uint16(n))
	return int64(sizeClasses[i])
}

// sizeClasses are the Go allocator's small object sizes.
var sizeClasses = [...]uint16{8, 16, 24, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 208, 224, 240, 256,
	288, 320, 352, 384, 416, 448, 480, 512, 576, 640, 704, 768, 896, 1024, 1152, 1280, 1408, 1536, 1792, 2048,
	2304, 2688, 3072, 3200, 3456, 4096, 4864, 5376, 6144, 6528, 6784, 6912, 8192, 9472, 9728, 10240, 10880,
	12288, 13568, 14336, 16384, 18432, 19072, 20480, 21760, 24576, 27264, 28672, 32768}

// hopByHop are the fields that are never stored (RFC 9110 §7.6.1), with
// Age (recomputed on every use), Content-Length (from the stored body) and the
// cache's own X-Cache and Cache-Status (added on every use).
var hopByHop = map[string]bool{
	"Connection": true, "Keep-Alive": true, "Proxy-Connection": true, "Te": true,
	"Transfer-Encoding": true, "Upgrade": true, "Proxy-Authenticate": true,
	"Proxy-Authentication-Info": true, "Proxy-Authorization": true, "Trailer": true,
	"Age": true, "Content-Length": true, "X-Cache": true, "Cache-Status": true,
}

// storedHeader copies the fields of h that may be stored: no hop-by-hop fields
// (nor those Connection names), no fields named by a qualified private, and no
// Set-Cookie or Set-Cookie2 unless keepCookies. Every value slice is clipped
// (len == cap).
func storedHeader(h http.Header, privateFields string, keepCookies bool) http.Header {
	out := make(http.Header, len(h))
	var connNamed []string
	for _, v := range h["Connection"] {
		for f := range strings.SplitSeq(v, ",") {
			if f = strings.TrimSpace(f); f != "" {
				connNamed = append(connNamed, http.CanonicalHeaderKey(f))
			}
		}
	}
	for k, v := range h {
		if hopByHop[k] || len(v) == 0 || slices.Contains(connNamed, k) ||
			(!keepCookies && (k == "Set-Cookie" || k == "Set-Cookie2")) || strings.HasPrefix(k, http.TrailerPrefix) {
			continue
		}
		if privateFields != "" && fieldListContains(privateFields, strings.ToLower(k)) {
			continue
		}
		out[k] = slices.Clip(slices.Clone(v))
	}
	return out
}

// finish computes the derived fields of e from its header, times and body,
// and moves the header into fields.
func (e *entry) finish(targeted []string) {
	e.derive(targeted)
	e.seal()
}

// derive computes what the cache decides with: age, freshness, directives and
// validators. It reads header, which it leaves in place. targeted are the
// targeted cache-control fields in precedence order.
func (e *entry) derive(targeted []string) {
	h := e.header
	cc, fromTargeted := responseCC(h, targeted)

	if d, ok := parseHTTPTime(h.Get("Date")); ok {
		e.date = d
	} else {
		// Dated on receipt (RFC 9110 §6.6.1), to the second as the field
		// carries it, so that a copy read back from Redis agrees.
		e.date = time.Unix(e.responseTime.Unix(), 0).UTC()
		h["Date"] = []string{httpDate(e.date)}
	}

	// Age, RFC 9111 §4.2.3.
	apparent := max(e.responseTime.Sub(e.date), 0)
	responseDelay := max(e.responseTime.Sub(e.requestTime), 0)
	corrected := time.Duration(e.ageValue)*time.Second + responseDelay
	e.correctedInitialAge = max(apparent, corrected)

	// Freshness lifetime, RFC 9111 §4.2.1: s-maxage, max-age, Expires - Date,
	// else the heuristic.
	e.heuristic = false
	switch {
	case cc.sMaxAge != unset:
		e.freshness = time.Duration(cc.sMaxAge) * time.Second
	case cc.maxAge != unset:
		e.freshness = time.Duration(cc.maxAge) * time.Second
	case len(h["Expires"]) > 0 && !fromTargeted:
		// An invalid Expires means "already expired" (RFC 9111 §5.3), and
		// so do several: which one counts is anyone's guess.
		e.freshness = 0
		if t, ok := parseHTTPTime(h["Expires"][0]); ok && len(h["Expires"]) == 1 {
			e.freshness = max(t.Sub(e.date), 0)
		}
	default:
		e.freshness = 0
		if heuristicStatus(e.status) {
			if lm, ok := parseHTTPTime(h.Get("Last-Modified")); ok && lm.Before(e.date) {
				e.freshness = e.date.Sub(lm) / 10
				e.heuristic = true
			}
		}
	}
	e.swr, e.sie = -1, -1
	if cc.staleWhileRevalidate != unset {
		e.swr = time.Duration(cc.staleWhileRevalidate) * time.Second
	}
	if cc.staleIfError != unset {
		e.sie = time.Duration(cc.staleIfError) * time.Second
	}
	e.noCache = cc.has(ccNoCache)
	e.noStale = cc.has(ccMustRevalidate) || cc.has(ccProxyRevalidate) || cc.sMaxAge != unset
	e.etag = h.Get("Etag")
	e.lastModified = h.Get("Last-Modified")
	e.vary = parseVary(h["Vary"])
}

// seal builds what serving needs (the sorted field list, Content-Length,
// Cache-Status values) and the entry's memory cost, once the body is known.
// It drops header.
func (e *entry) seal() {
	h := e.header
	keys := make([]string, 0, len(h))
	nvals, nbytes := 1, len(e.key)+len(e.varyKey)+20
	if e.urlKey != e.key {
		nbytes += len(e.urlKey)
	}
	for k, vs := range h {
		keys = append(keys, k)
		nvals += len(vs)
		nbytes += len(k)
		for _, v := range vs {
			nbytes += len(v)
		}
	}
	slices.Sort(keys)

	// The keys, field names and values live in one string and the value
	// lists in one array, so that an entry is a handful of allocations
	// rather than dozens: fewer objects for the collector, and less of the
	// heap left in holes when entries are evicted.
	var sb strings.Builder
	sb.Grow(nbytes)
	type span struct{ off, n int }
	put := func(v string) span { o := sb.Len(); sb.WriteString(v); return span{o, len(v)} }
	keySpan, urlSpan, varySpan := put(e.key), span{}, put(e.varyKey)
	if e.urlKey != e.key {
		urlSpan = put(e.urlKey)
	}
	clenSpan := span{}
	if bodyAllowed(e.status) {
		var d [20]byte
		clenSpan = put(string(strconv.AppendInt(d[:0], int64(len(e.body)), 10)))
	}
	spans := make([]span, 0, len(keys)+nvals)
	for _, k := range keys {
		spans = append(spans, put(k))
		for _, v := range h[k] {
			spans = append(spans, put(v))
		}
	}
	blob := sb.String()
	str := func(sp span) string { return blob[sp.off : sp.off+sp.n] }

	e.key = str(keySpan)
	if e.urlKey != str(keySpan) {
		e.urlKey = str(urlSpan)
	} else {
		e.urlKey = e.key
	}
	e.varyKey = str(varySpan)
	e.path = keyPath(e.urlKey)
	vals := make([]string, nvals)
	e.fields = make([]headerField, len(keys))
	vi, si := 0, 0
	for i, k := range keys {
		name := str(spans[si])
		si++
		start := vi
		for range h[k] {
			vals[vi] = str(spans[si])
			vi, si = vi+1, si+1
		}
		e.fields[i] = headerField{key: name, vals: vals[start:vi:vi]}
	}
	e.clen = nil
	if bodyAllowed(e.status) {
		vals[vi] = str(clenSpan)
		e.clen = vals[vi : vi+1 : vi+1]
	}
	e.etag, e.lastModified = "", ""
	if v := e.get("Etag"); len(v) > 0 {
		e.etag = v[0]
	}
	if v := e.get("Last-Modified"); len(v) > 0 {
		e.lastModified = v[0]
	}
	e.header = nil

	size := allocSize(len(blob)) + allocSize(nvals*int(unsafe.Sizeof(""))) +
		allocSize(len(keys)*int(unsafe.Sizeof(headerField{}))) + allocSize(len(e.body))
	if cs := e.upstreamCS; len(cs) > 0 {
		e.csHit = withCacheStatus(cs, "switchyard; hit")
		e.csCollapsed = withCacheStatus(cs, "switchyard; hit; detail=collapsed")
		e.csStale = withCacheStatus(cs, "switchyard; fwd=stale; detail=stale-while-revalidate")
		size += 3 * allocSize((len(cs)+1)*int(unsafe.Sizeof("")))
	} else {
		e.csHit, e.csCollapsed, e.csStale = csHit, csCollapsed, csStale
	}
	for _, f := range e.vary {
		size += allocSize(len(f)) + 16
	}
	e.size = size + entryOverhead
}

// The Cache-Status values of an entry that arrived without one.
var (
	csHit       = []string{"switchyard; hit"}
	csCollapsed = []string{"switchyard; hit; detail=collapsed"}
	csStale     = []string{"switchyard; fwd=stale; detail=stale-while-revalidate"}
)

// get returns the values of the stored field k (canonical), or nil.
func (e *entry) get(k string) []string {
	i, ok := slices.BinarySearchFunc(e.fields, k, func(f headerField, k string) int { return strings.Compare(f.key, k) })
	if !ok {
		return nil
	}
	return e.fields[i].vals
}

// headerMap returns the stored fields as a new header map.
func (e *entry) headerMap(extra int) http.Header {
	h := make(http.Header, len(e.fields)+extra)
	for _, f := range e.fields {
		h[f.key] = f.vals
	}
	return h
}

// withCacheStatus returns upstream's Cache-Status members followed by ours, as
// a clipped slice.
func withCacheStatus(upstream []string, ours string) []string {
	out := make([]string, 0, len(upstream)+1)
	out = append(out, upstream...)
	return append(out, ours)
}

// hasValidators reports whether a stale e can be revalidated.
func (e *entry) hasValidators() bool { return e.etag != "" || e.lastModified != "" }

// age is the entry's current age at now (RFC 9111 §4.2.3).
func (e *entry) age(now time.Time) time.Duration {
	return e.correctedInitialAge + max(now.Sub(e.responseTime), 0)
}

// bodyAllowed reports whether a response with this status has content.
func bodyAllowed(status int) bool {
	return status >= 200 && status != http.StatusNoContent && status != http.StatusNotModified
}

// heuristicStatus reports whether a response without explicit freshness may
// be stored and get a lifetime from Last-Modified. These are the
// heuristically cacheable statuses of RFC 9110 §15.1 without the 4xx and 5xx
// ones (404, 405, 410, 414, 501): an error is only cached when the origin
// says for how long.
func heuristicStatus(code int) bool {
	switch code {
	case 200, 203, 204, 300, 301, 308:
		return true
	}
	return false
}

// understoodStatus reports whether the cache understands a status well enough
// to store a response with it when the response has explicit freshness.
// 206 (partial content) and 304 are never stored.
func understoodStatus(code int) bool {
	switch code {
	case 200, 203, 204, 300, 301, 302, 303, 307, 308,
		400, 403, 404, 405, 410, 414, 421, 451, 500, 501, 502, 503, 504:
		return true
	}
	return false
}

// parseVary returns the canonical field names of Vary, sorted and without
// duplicates; a "*" member yields []string{"*"}.
func parseVary(lines []string) []string {
	var out []string
	for _, line := range lines {
		for f := range strings.SplitSeq(line, ",") {
			f = strings.TrimSpace(f)
			if f == "" {
				continue
			}
			if f == "*" {
				return []string{"*"}
			}
			f = http.CanonicalHeaderKey(f)
			if !slices.Contains(out, f) {
				out = append(out, f)
			}
		}
	}
	slices.Sort(out)
	return out
}

// appendVaryValues appends r's normalised values of fields: for each field a
// NUL, then its field lines joined by "," with the whitespace around commas
// dropped, or \x01 when r does not carry the field.
func appendVaryValues(b []byte, r *http.Request, fields []string) []byte {
	for _, f := range fields {
		b = append(b, 0)
		vals, ok := r.Header[f]
		if !ok {
			b = append(b, 1)
			continue
		}
		for i, v := range vals {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendNormalizedList(b, v)
		}
	}
	return b
}

// appendNormalizedList appends v with optional whitespace around commas and
// at both ends removed.
func appendNormalizedList(b []byte, v string) []byte {
	first := true
	for v != "" {
		i := strings.IndexByte(v, ',')
		var part string
		if i < 0 {
			part, v = v, ""
		} else {
			part, v = v[:i], v[i+1:]
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, trimSpaceTab(part)...)
	}
	return b
}

// trimSpaceTab removes spaces and tabs at both ends of s (strings.Trim
// builds its cut set on every call).
func trimSpaceTab(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// appendVariantKey appends the key of the variant of rec that r selects.
func appendVariantKey(b []byte, rec *varyRecord, r *http.Request) []byte {
	if rec.prefix != "" {
		b = append(b, rec.prefix...)
	} else {
		b = rec.appendPrefix(b)
	}
	return appendVaryValues(b, r, rec.fields)
}

// ageField returns the Age field for an age, memoised per slot.
func (s *slot) ageField(age time.Duration) []string {
	secs := int64(age / time.Second)
	if secs < int64(len(smallAges)) {
		return smallAges[secs]
	}
	if a := s.ageMemo.Load(); a != nil && a.secs == secs {
		return a.vals
	}
	if secs > deltaMax {
		secs = deltaMax
	}
	a := &ageValue{secs: secs, vals: []string{strconv.FormatInt(secs, 10)}}
	s.ageMemo.Store(a)
	return a.vals
}

// smallAges are the Age fields of the first minutes, shared by all entries.
var smallAges = func() [][]string {
	out := make([][]string, 600)
	for i := range out {
		out[i] = []string{strconv.Itoa(i)}
	}
	return out
}()

// lastDate is the Date value most recently formatted: under load, the
// responses of one second share it.
var lastDate atomic.Pointer[formattedDate]

type formattedDate struct {
	unix int64
	s    string
}

// httpDate formats t, a UTC time on a whole second, as an HTTP date.
func httpDate(t time.Time) string {
	u := t.Unix()
	if d := lastDate.Load(); d != nil && d.unix == u {
		return d.s
	}
	d := &formattedDate{unix: u, s: t.Format(http.TimeFormat)}
	lastDate.Store(d)
	return d.s
}
