package caching

import (
	"net/http"
	"net/url"
	"strings"
)

// Cache keys.
//
// The key of a URL is its method class, scheme, host, path and query,
// normalised:
//
//	GET https://example.com/path?a=1&b=2
//
// GET and HEAD share the class "GET" (a HEAD is answered from a stored GET).
// The scheme and host are lower-cased and a default port (:80 for http, :443
// for https) is dropped; the path is the URL's escaped path ("/" when empty);
// the query's parameters are sorted by name, keeping the order of repeated
// names, and empty parameters are dropped. A response with Vary is stored
// under a variant key: the URL key, the Vary record's nonce and the request's
// values of the Vary fields (see varyKey).

// keyPrefix is the method class of every stored key.
const keyPrefix = "GET "

// maxSortedParams bounds the query parameters that are sorted without
// allocating; a query with more is kept in its received order.
const maxSortedParams = 32

// appendURLKey appends the key of r's URL to b. It allocates nothing for the
// usual request.
func appendURLKey(b []byte, r *http.Request) []byte {
	scheme := r.URL.Scheme
	if scheme == "" {
		if r.TLS != nil {
			scheme = "https"
		} else {
			scheme = "http"
		}
	}
	host := r.Host
	if host == "" {
		host = r.URL.Host
	}
	return appendKey(b, scheme, host, r.URL.EscapedPath(), r.URL.RawQuery)
}

func appendKey(b []byte, scheme, host, path, query string) []byte {
	b = append(b, keyPrefix...)
	n := len(b)
	b = appendLower(b, scheme)
	switch sch := b[n:]; string(sch) {
	case "http":
		host = dropPort(host, "80")
	case "https":
		host = dropPort(host, "443")
	}
	b = append(b, "://"...)
	b = appendLower(b, host)
	if path == "" {
		path = "/"
	}
	b = appendEscaped(b, path)
	return appendQuery(b, query)
}

// dropPort removes port from host:port when host is a name, an IPv4 address
// or a bracketed IPv6 address.
func dropPort(hostport, port string) string {
	i := strings.LastIndexByte(hostport, ':')
	if i < 0 || hostport[i+1:] != port {
		return hostport
	}
	h := hostport[:i]
	if strings.IndexByte(h, ':') >= 0 && !(strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]")) {
		return hostport
	}
	return h
}

// urlSpecial marks the bytes appendEscaped rewrites or inspects: '%',
// controls, space and non-ASCII.
var urlSpecial = func() (t [256]bool) {
	for c := range 256 {
		t[c] = c == '%' || c <= ' ' || c >= 0x7f
	}
	return t
}()

// appendEscaped appends s with its percent-encoding normalised (RFC 3986
// §6.2.2): escaped unreserved characters decoded, the hex digits of other
// escapes upper-cased, and bytes that may not appear raw in a URL (controls,
// space, non-ASCII) escaped.
func appendEscaped(b []byte, s string) []byte {
	clean := true
	for i := 0; i < len(s); i++ {
		if urlSpecial[s[i]] {
			clean = false
			break
		}
	}
	if clean {
		return append(b, s...)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f {
			b = append(b, '%', upperHex[c>>4], upperHex[c&15])
			continue
		}
		if c != '%' || i+2 >= len(s) {
			b = append(b, c)
			continue
		}
		h, l := unhex(s[i+1]), unhex(s[i+2])
		if h < 0 || l < 0 {
			b = append(b, c)
			continue
		}
		if d := byte(h<<4 | l); isUnreserved(d) {
			b = append(b, d)
		} else {
			b = append(b, '%', upperHex[h], upperHex[l])
		}
		i += 2
	}
	return b
}

const upperHex = "0123456789ABCDEF"

func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

func isUnreserved(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

func appendLower(b []byte, s string) []byte {
	n := len(b)
	b = append(b, s...)
	for i := n; i < len(b); i++ {
		if c := b[i]; c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return b
}

// appendQuery appends "?" and the query with its parameters sorted by name
// (stable) and empty parameters dropped, or nothing for an empty query. A
// query that is already in order, with nothing to escape, is copied as it is.
func appendQuery(b []byte, q string) []byte {
	if q == "" {
		return b
	}
	sorted, verbatim := true, true
	prevStart, prevName := -1, -1
	start, name, n := 0, -1, 0
	for i := 0; i <= len(q); i++ {
		if i < len(q) {
			c := q[i]
			if c != '&' {
				if c == '=' && name < 0 {
					name = i
				}
				if urlSpecial[c] {
					verbatim = false
				}
				continue
			}
		}
		if i > start {
			if name < 0 {
				name = i
			}
			if prevStart >= 0 && q[prevStart:prevName] > q[start:name] {
				sorted = false
			}
			prevStart, prevName = start, name
			n++
		} else {
			verbatim = false // an empty parameter to drop
		}
		start, name = i+1, -1
	}
	if n == 0 {
		return b
	}
	b = append(b, '?')
	if sorted && verbatim {
		return append(b, q...)
	}
	if n > maxSortedParams {
		return appendEscaped(b, q) // too many to sort: as received
	}
	return appendSortedQuery(b, q)
}

// appendSortedQuery appends the non-empty parameters of q (at most
// maxSortedParams), sorted stably by name and escaped.
func appendSortedQuery(b []byte, q string) []byte {
	var spans [maxSortedParams][3]int32 // [start, end of name, end]
	n := 0
	for i := 0; i < len(q); {
		j := strings.IndexByte(q[i:], '&')
		if j < 0 {
			j = len(q)
		} else {
			j += i
		}
		if j > i {
			name := strings.IndexByte(q[i:j], '=')
			if name < 0 {
				name = j
			} else {
				name += i
			}
			spans[n] = [3]int32{int32(i), int32(name), int32(j)}
			n++
		}
		i = j + 1
	}
	// Insertion sort: stable, and n is small.
	for i := 1; i < n; i++ {
		for j := i; j > 0 && paramName(q, spans[j-1]) > paramName(q, spans[j]); j-- {
			spans[j-1], spans[j] = spans[j], spans[j-1]
		}
	}
	for i := 0; i < n; i++ {
		if i > 0 {
			b = append(b, '&')
		}
		b = appendEscaped(b, q[spans[i][0]:spans[i][2]])
	}
	return b
}

func paramName(q string, sp [3]int32) string { return q[sp[0]:sp[1]] }

// keyPath returns the path part of a URL key (or variant key).
func keyPath(key string) string {
	rest, ok := strings.CutPrefix(key, keyPrefix)
	if !ok {
		return ""
	}
	i := strings.Index(rest, "://")
	if i < 0 {
		return ""
	}
	rest = rest[i+3:]
	j := strings.IndexByte(rest, '/')
	if j < 0 {
		return ""
	}
	rest = rest[j:]
	if k := strings.IndexAny(rest, "?\x00"); k >= 0 {
		rest = rest[:k]
	}
	return rest
}

// keyURL returns the URL key part of a key (the part before a variant suffix).
func keyURL(key string) string {
	if i := strings.IndexByte(key, 0); i >= 0 {
		return key[:i]
	}
	return key
}

// normalizeKey turns what a user gives to Purge into a URL key: an absolute
// URL ("https://example.com/a?b=1"), optionally preceded by "GET " or
// "HEAD ", or a key exactly as the cache writes it.
func normalizeKey(s string) string {
	s = strings.TrimSpace(s)
	for _, m := range []string{"GET ", "HEAD "} {
		if len(s) >= len(m) && strings.EqualFold(s[:len(m)], m) {
			s = strings.TrimSpace(s[len(m):])
			break
		}
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return keyPrefix + s
	}
	return string(appendKey(nil, u.Scheme, u.Host, u.EscapedPath(), u.RawQuery))
}

// sameOriginKey resolves ref (a Location or Content-Location value) against
// the request URL and returns its URL key when it has the same scheme and
// host as the request; ok is false otherwise.
func sameOriginKey(r *http.Request, reqKey []byte, ref string) (string, bool) {
	u, err := url.Parse(strings.TrimSpace(ref))
	if err != nil || ref == "" {
		return "", false
	}
	base := *r.URL
	if base.Scheme == "" {
		base.Scheme = "http"
		if r.TLS != nil {
			base.Scheme = "https"
		}
	}
	if base.Host == "" {
		base.Host = r.Host
	}
	abs := base.ResolveReference(u)
	k := string(appendKey(nil, abs.Scheme, abs.Host, abs.EscapedPath(), abs.RawQuery))
	// Same origin: the scheme and host parts of both keys agree.
	origin := func(k string) string {
		rest := k[len(keyPrefix):]
		i := strings.Index(rest, "://")
		if i < 0 {
			return ""
		}
		j := strings.IndexByte(rest[i+3:], '/')
		if j < 0 {
			return rest
		}
		return rest[:i+3+j]
	}
	if origin(k) != origin(string(reqKey)) {
		return "", false
	}
	return k, true
}
