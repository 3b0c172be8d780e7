package handlers

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/switchyard/switchyard/core/config"
)

// headerField is one precomputed response header. vals has len == cap, so a
// later Header.Add copies instead of writing into the shared array.
type headerField struct {
	key  string
	vals []string
}

// respondHandler serves a fixed response computed at build time.
type respondHandler struct {
	status int
	body   []byte
	// full are the headers of the configured response; notModified those of
	// a 304 (no Content-Type, Content-Length or Content-Encoding, and no
	// Last-Modified beside an ETag); failed those of a 412.
	full, notModified, failed []headerField
	// conditional is set for 2xx responses, the only ones that evaluate
	// preconditions (RFC 9110 §13.2.1).
	conditional bool
	etag        string    // the entity-tag, quoted, W/ when weak
	lastMod     string    // Last-Modified as sent
	modtime     time.Time // lastMod parsed, second precision
}

// Respond returns a handler that answers every request with cfg's status
// (default 200), body and headers.
//
// Everything is computed here: the header values, the body, Content-Length,
// a strong ETag (a quoted short hash of status, headers and body, stable
// across reloads while the response is unchanged) and Last-Modified (the build
// time, to the second). A Content-Type in cfg.Headers wins; otherwise a
// non-empty body is sent as text/plain; charset=utf-8. An ETag or
// Last-Modified in cfg.Headers replaces the computed one.
//
// For a 2xx status the handler answers If-Match, If-Unmodified-Since,
// If-None-Match (weak comparison, lists and *) and If-Modified-Since as
// [http.ServeContent] does: 304 Not Modified for GET and HEAD, 412
// Precondition Failed otherwise. Other statuses ignore preconditions and carry
// no validators. HEAD gets the headers, Content-Length included, without the
// body. Serving allocates nothing.
//
// Header values are shared by every response: code downstream may replace
// them (Header.Set, Add and Del do) but must not modify a value slice in place.
//
// Errors name the key: status out of 200..599, a body on a status that allows
// none (204, 304), an invalid header name or value, a Content-Length header
// (it is computed), a malformed ETag or Last-Modified.
func Respond(cfg config.Respond) (http.Handler, error) {
	status := cfg.Status
	if status == 0 {
		status = http.StatusOK
	}
	if status < 200 || status > 599 {
		return nil, fmt.Errorf("status: %d is not a final HTTP status (want 200..599)", cfg.Status)
	}
	bodyless := status == http.StatusNoContent || status == http.StatusNotModified
	if bodyless && cfg.Body != "" {
		return nil, fmt.Errorf("body: status %d does not allow a body", status)
	}

	h := &respondHandler{status: status, body: []byte(cfg.Body), conditional: status < 300}

	hdr := make(map[string]string, len(cfg.Headers)+4)
	for _, name := range sortedKeys(cfg.Headers) {
		value := cfg.Headers[name]
		if !validHeaderName(name) {
			return nil, fmt.Errorf("headers.%s: invalid header name", name)
		}
		if !validHeaderValue(value) {
			return nil, fmt.Errorf("headers.%s: invalid header value %q (control characters are not allowed)", name, value)
		}
		key := http.CanonicalHeaderKey(name)
		if _, dup := hdr[key]; dup {
			return nil, fmt.Errorf("headers.%s: given twice (header names are case-insensitive)", name)
		}
		switch key {
		case "Content-Length", "Transfer-Encoding":
			return nil, fmt.Errorf("headers.%s: computed from the body; remove it", name)
		case "Etag":
			if !validETag(value) {
				return nil, fmt.Errorf(`headers.%s: %q is not an entity-tag (want "opaque" or W/"opaque")`, name, value)
			}
		case "Last-Modified":
			t, err := http.ParseTime(value)
			if err != nil {
				return nil, fmt.Errorf("headers.%s: %q is not an HTTP date (want e.g. %q)", name, value, http.TimeFormat)
			}
			h.modtime = t.UTC()
			value = h.modtime.Format(http.TimeFormat)
		}
		hdr[key] = value
	}
	if _, ok := hdr["Content-Type"]; !ok && len(h.body) > 0 {
		hdr["Content-Type"] = "text/plain; charset=utf-8"
	}
	if !bodyless {
		hdr["Content-Length"] = strconv.Itoa(len(h.body))
	}

	if h.conditional {
		if tag, ok := hdr["Etag"]; ok {
			h.etag = tag
		} else {
			h.etag = contentETag(status, hdr, h.body)
			hdr["Etag"] = h.etag
		}
		if h.modtime.IsZero() {
			h.modtime = time.Now().UTC().Truncate(time.Second)
			hdr["Last-Modified"] = h.modtime.Format(http.TimeFormat)
		}
		h.lastMod = hdr["Last-Modified"]
	}

	for _, key := range sortedKeys(hdr) {
		f := headerField{key: key, vals: []string{hdr[key]}}
		h.full = append(h.full, f)
		switch key {
		case "Content-Type", "Content-Length", "Content-Encoding":
			// Not on a 304 (RFC 9110 §15.4.5), as writeNotModified does.
		case "Last-Modified":
			if h.etag == "" {
				h.notModified = append(h.notModified, f)
			}
		default:
			h.notModified = append(h.notModified, f)
		}
		// A 412 carries the validators, as http.ServeContent's does.
		if key == "Etag" || key == "Last-Modified" {
			h.failed = append(h.failed, f)
		}
	}
	return h, nil
}

// ServeHTTP implements [http.Handler].
func (h *respondHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.ServeHTTPStatus(w, r)
}

// ServeHTTPStatus implements [StatusServer].
func (h *respondHandler) ServeHTTPStatus(w http.ResponseWriter, r *http.Request) int {
	if h.conditional {
		switch h.preconditions(r) {
		case http.StatusNotModified:
			setHeaders(w.Header(), h.notModified)
			w.WriteHeader(http.StatusNotModified)
			return http.StatusNotModified
		case http.StatusPreconditionFailed:
			setHeaders(w.Header(), h.failed)
			w.WriteHeader(http.StatusPreconditionFailed)
			return http.StatusPreconditionFailed
		}
	}
	setHeaders(w.Header(), h.full)
	w.WriteHeader(h.status)
	if r.Method != http.MethodHead && len(h.body) > 0 {
		_, _ = w.Write(h.body)
	}
	return h.status
}

// StatusServer is a handler that returns the status code it wrote. A host
// serving one on a route without middleware records its metrics from that
// value and does not wrap the ResponseWriter to learn it. ServeHTTPStatus
// must write a response (status and all) and return its status exactly;
// the respond handler is one.
type StatusServer interface {
	http.Handler
	ServeHTTPStatus(w http.ResponseWriter, r *http.Request) int
}

func setHeaders(dst http.Header, fields []headerField) {
	for i := range fields {
		dst[fields[i].key] = fields[i].vals
	}
}

// preconditions follows net/http's checkPreconditions (RFC 9110 §13.2.2):
// it returns 304, 412 or 0 to serve the full response.
func (h *respondHandler) preconditions(r *http.Request) int {
	c := condNone
	if im := r.Header.Get("If-Match"); im != "" {
		c = matchList(im, h.etag, true)
	} else if ius := r.Header.Get("If-Unmodified-Since"); ius != "" {
		c = h.notModifiedSince(ius)
	}
	if c == condFalse {
		return http.StatusPreconditionFailed
	}
	get := r.Method == http.MethodGet || r.Method == http.MethodHead
	if inm := r.Header.Get("If-None-Match"); inm != "" {
		if matchList(inm, h.etag, false) == condFalse {
			return 0 // the condition holds: serve the representation
		}
		if get {
			return http.StatusNotModified
		}
		return http.StatusPreconditionFailed
	}
	if get {
		if ims := r.Header.Get("If-Modified-Since"); ims != "" && h.notModifiedSince(ims) == condTrue {
			return http.StatusNotModified
		}
	}
	return 0
}

// notModifiedSince reports condTrue when the representation has not changed
// since the HTTP date d (modtime <= d), condFalse when it has, and condNone
// when d is not a date. The common case, a client echoing Last-Modified, is
// a string comparison.
func (h *respondHandler) notModifiedSince(d string) condResult {
	if d == h.lastMod {
		return condTrue
	}
	t, err := http.ParseTime(d)
	if err != nil {
		return condNone
	}
	if h.modtime.Compare(t) <= 0 {
		return condTrue
	}
	return condFalse
}

// contentETag is a strong entity-tag: 96 bits of SHA-256 over the status,
// the headers in key order and the body, base64url-encoded and quoted.
func contentETag(status int, hdr map[string]string, body []byte) string {
	d := sha256.New()
	fmt.Fprintf(d, "%d\n", status)
	for _, k := range sortedKeys(hdr) {
		fmt.Fprintf(d, "%s: %s\n", k, hdr[k])
	}
	d.Write([]byte{'\n'})
	d.Write(body)
	sum := d.Sum(nil)
	return `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// validHeaderName reports whether s is an RFC 9110 token.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '!' || c == '#' || c == '$' || c == '%' || c == '&' || c == '\'' || c == '*' ||
			c == '+' || c == '-' || c == '.' || c == '^' || c == '_' || c == '`' || c == '|' || c == '~':
		default:
			return false
		}
	}
	return true
}

// validHeaderValue rejects control characters other than horizontal tab,
// which would split or corrupt the header block.
func validHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 && c != '\t' || c == 0x7F {
			return false
		}
	}
	return true
}
