package conditions

import (
	"net/http"
	"net/netip"
	"strings"

	"github.com/go-chi/chi/v5"
)

// The request attributes that conditions read. Every reader here is pure: it
// looks at the request and never changes it.

// hostOnly returns the host part of r.Host: the port is dropped and an IPv6
// literal loses its brackets.
func hostOnly(h string) string {
	if h == "" {
		return h
	}
	if h[0] == '[' {
		if end := strings.IndexByte(h, ']'); end > 0 {
			return h[1:end]
		}
		return h
	}
	if i := strings.LastIndexByte(h, ':'); i >= 0 && strings.IndexByte(h[:i], ':') < 0 {
		return h[:i]
	}
	return h
}

// scheme is "https" for a request that arrived over TLS, else "http".
// X-Forwarded-Proto is deliberately not believed here.
func scheme(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	return "http"
}

// routePattern returns the chi route pattern matched for r, or "".
func routePattern(r *http.Request) string {
	if rc := chi.RouteContext(r.Context()); rc != nil {
		return rc.RoutePattern()
	}
	return ""
}

// firstHeader returns the first value of the header with the canonical name.
func firstHeader(h http.Header, canonical string) (string, bool) {
	if v := h[canonical]; len(v) > 0 {
		return v[0], true
	}
	return "", false
}

// remoteAddrIP is the default client IP: the address of r.RemoteAddr
// ("host:port", or a bare address).
func remoteAddrIP(r *http.Request) netip.Addr {
	return parseRemoteAddr(r.RemoteAddr)
}

// parseRemoteAddr parses "ip:port" ("[ipv6]:port" included) or a bare IP, as
// netip.ParseAddrPort and then netip.ParseAddr would, with a fast path for
// the common "a.b.c.d:port".
func parseRemoteAddr(s string) netip.Addr {
	if i := strings.LastIndexByte(s, ':'); i > 0 && s[0] != '[' {
		if a, ok := parseIPv4(s[:i]); ok && validPort(s[i+1:]) {
			return a
		}
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap()
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap()
	}
	return netip.Addr{}
}

// parseIPv4 parses dotted decimal exactly as netip.ParseAddr accepts it
// (four fields, no leading zeros); ok is false for anything else.
func parseIPv4(s string) (netip.Addr, bool) {
	var b [4]byte
	field, val, digits := 0, 0, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case '0' <= c && c <= '9':
			if digits == 1 && val == 0 {
				return netip.Addr{}, false // leading zero
			}
			val = val*10 + int(c-'0')
			digits++
			if val > 255 {
				return netip.Addr{}, false
			}
		case c == '.' && digits > 0 && field < 3:
			b[field] = byte(val)
			field++
			val, digits = 0, 0
		default:
			return netip.Addr{}, false
		}
	}
	if field != 3 || digits == 0 {
		return netip.Addr{}, false
	}
	b[3] = byte(val)
	return netip.AddrFrom4(b), true
}

// validPort reports whether strconv.ParseUint(s, 10, 16) would accept s.
func validPort(s string) bool {
	if s == "" {
		return false
	}
	v := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return false
		}
		v = v*10 + int(c-'0')
		if v > 65535 {
			return false
		}
	}
	return true
}

// ipString renders a client IP for the request object ("" when unknown).
func ipString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// urlPath is the decoded request path, as chi routes it when no RawPath is set.
func urlPath(r *http.Request) string {
	if r.URL == nil {
		return ""
	}
	return r.URL.Path
}

// rawQuery is the undecoded query string.
func rawQuery(r *http.Request) string {
	if r.URL == nil {
		return ""
	}
	return r.URL.RawQuery
}
