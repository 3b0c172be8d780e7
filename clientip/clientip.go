package clientip

import (
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strings"
)

// Header names read by a [Resolver], in canonical form.
const (
	HeaderXForwardedFor = "X-Forwarded-For"
	HeaderForwarded     = "Forwarded"
)

// Unknown is the client address of a request whose forwarding chain, walked
// from a trusted proxy, holds a hop that does not parse ("unknown", an RFC
// 7239 obfuscated identifier, garbage): that hop is an untrusted client whose
// address nobody knows. It is 100:: (the RFC 6666 discard-only prefix, never
// a real client) with the zone "unknown": being zoned, it is contained in no
// [net/netip.Prefix] (not even ::/0), so it matches no allow-list, and
// [Resolver.IsTrusted] is false for it. Rate limits key it as one client of
// its own (100::/64). It is never the proxy's address.
var Unknown = netip.AddrFrom16([16]byte{0x01}).WithZone("unknown")

// Resolver finds the client IP: the peer address, or, when the peer is a
// trusted proxy, the right-most untrusted address of X-Forwarded-For (RFC 7239
// Forwarded too), walking right to left; a value that does not parse yields
// [Unknown]. Like chi's ClientIPFromXFFTrustedProxies, never RealIP.
//
// A Resolver is immutable and safe for concurrent use. The nil *Resolver
// trusts nobody.
type Resolver struct {
	trusted []netip.Prefix
}

// New returns a Resolver that believes forwarding headers from peers inside
// trusted. A nil or empty list trusts nobody: the peer address is always the
// client. IPv4-mapped IPv6 prefixes are folded to IPv4 and every prefix is
// masked. New panics on an invalid (zero) prefix, a programmer error: build
// the list from user input with [ParsePrefixes].
func New(trusted []netip.Prefix) *Resolver {
	r := &Resolver{}
	for i, p := range trusted {
		if !p.IsValid() {
			panic(fmt.Sprintf("clientip.New: trusted prefix %d is invalid", i))
		}
		r.trusted = append(r.trusted, normalizePrefix(p))
	}
	return r
}

// ParsePrefixes parses a list of trusted proxies as written in a config file:
// CIDRs such as "10.0.0.0/8" or "::1/128", and bare IPs ("192.0.2.7", "::1"),
// which stand for a single address. Surrounding spaces are ignored; host bits
// are masked ("10.1.2.3/8" is 10.0.0.0/8). The error is a *[PrefixError]
// naming the index and text of the first bad entry.
func ParsePrefixes(cidrs []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(cidrs))
	for i, raw := range cidrs {
		p, err := parsePrefix(strings.TrimSpace(raw))
		if err != nil {
			return nil, &PrefixError{Index: i, Value: raw, Reason: err.Error()}
		}
		out = append(out, p)
	}
	return out, nil
}

// PrefixError reports an entry of a trusted-proxy list that is neither a CIDR
// nor an IP address.
type PrefixError struct {
	// Index is the position of the entry in the list, from 0.
	Index int
	// Value is the entry as given.
	Value string
	// Reason says what is wrong with it.
	Reason string
}

// Error implements error.
func (e *PrefixError) Error() string {
	return fmt.Sprintf("entry [%d] %q: %s; want a CIDR such as 10.0.0.0/8 or ::1/128, or an IP address",
		e.Index, e.Value, e.Reason)
}

func parsePrefix(s string) (netip.Prefix, error) {
	if s == "" {
		return netip.Prefix{}, fmt.Errorf("empty")
	}
	if strings.IndexByte(s, '%') >= 0 {
		return netip.Prefix{}, fmt.Errorf("an IPv6 zone is not allowed")
	}
	if strings.IndexByte(s, '/') >= 0 {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("not a valid CIDR")
		}
		return normalizePrefix(p), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("not a valid IP address")
	}
	return normalizePrefix(netip.PrefixFrom(a, a.BitLen())), nil
}

// normalizePrefix folds an IPv4-mapped IPv6 prefix (::ffff:10.0.0.0/104) to
// IPv4 (10.0.0.0/8), so that it matches the folded addresses it is compared
// with, and masks host bits.
func normalizePrefix(p netip.Prefix) netip.Prefix {
	a := p.Addr().WithZone("")
	if a.Is4In6() {
		bits := p.Bits() - 96
		if bits < 0 {
			bits = 0
		}
		p = netip.PrefixFrom(a.Unmap(), bits)
	}
	return p.Masked()
}

// Trusted returns a copy of the trusted prefixes.
func (r *Resolver) Trusted() []netip.Prefix {
	if r == nil {
		return nil
	}
	return slices.Clone(r.trusted)
}

// IsTrusted reports whether ip falls inside a trusted prefix.
func (r *Resolver) IsTrusted(ip netip.Addr) bool {
	if r == nil || !ip.IsValid() || ip == Unknown {
		return false
	}
	ip = ip.Unmap().WithZone("")
	for _, p := range r.trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// Peer returns the address of the TCP peer of req (its RemoteAddr, port and
// zone dropped, IPv4-mapped folded), or the zero Addr when it does not parse.
func Peer(req *http.Request) netip.Addr {
	a, _ := ParseAddr(req.RemoteAddr)
	return a
}

// IP returns the client address of req; see the package documentation for
// the rules. It returns the zero Addr only when RemoteAddr does not parse.
func (r *Resolver) IP(req *http.Request) netip.Addr {
	peer, ok := ParseAddr(req.RemoteAddr)
	if !ok || r == nil || len(r.trusted) == 0 || !r.IsTrusted(peer) {
		return peer
	}
	if xff := req.Header[HeaderXForwardedFor]; len(xff) > 0 {
		return r.walkXFF(xff, peer)
	}
	if fwd := req.Header[HeaderForwarded]; len(fwd) > 0 {
		return r.walkForwarded(fwd, peer)
	}
	return peer
}

// walkXFF walks the merged X-Forwarded-For entries right to left without
// allocating (entries are substrings of the header values).
func (r *Resolver) walkXFF(headers []string, peer netip.Addr) netip.Addr {
	var leftmost netip.Addr
	for _, h := range slices.Backward(headers) {
		for h != "" {
			var v string
			if i := strings.LastIndexByte(h, ','); i >= 0 {
				v, h = h[i+1:], h[:i]
			} else {
				v, h = h, ""
			}
			v = strings.TrimSpace(v)
			if v == "" {
				continue
			}
			ip, ok := ParseAddr(v)
			if !ok {
				return Unknown
			}
			if !r.IsTrusted(ip) {
				return ip
			}
			leftmost = ip
		}
	}
	if leftmost.IsValid() {
		return leftmost
	}
	return peer
}

// maxStackForwarded is how many Forwarded elements are collected without a
// heap allocation.
const maxStackForwarded = 16

// walkForwarded reads the for= parameter of each RFC 7239 element, left to
// right (quoted strings may hide commas), then walks them right to left.
func (r *Resolver) walkForwarded(headers []string, peer netip.Addr) netip.Addr {
	var buf [maxStackForwarded]string
	fors, ok := ForwardedFor(buf[:0], headers)
	if !ok {
		return Unknown
	}
	var leftmost netip.Addr
	for _, v := range slices.Backward(fors) {
		ip, ok := ParseAddr(v)
		if !ok {
			return Unknown
		}
		if !r.IsTrusted(ip) {
			return ip
		}
		leftmost = ip
	}
	if leftmost.IsValid() {
		return leftmost
	}
	return peer
}

// ForwardedFor appends to dst the value of the for= parameter of every
// element of the RFC 7239 Forwarded header lines, in order, unquoted. An
// element without for= contributes "" (a hop that did not say who it served).
// Empty elements are skipped. It reports false, with what was read so far,
// when the header is malformed (a pair without '=', an unterminated quoted
// string, a backslash escape inside a for= value).
func ForwardedFor(dst []string, headers []string) ([]string, bool) {
	for _, h := range headers {
		var ok bool
		if dst, ok = forwardedLine(dst, h); !ok {
			return dst, false
		}
	}
	return dst, true
}

func forwardedLine(dst []string, s string) ([]string, bool) {
	i := 0
	for {
		// One element: pairs separated by ';', ended by ',' or the end.
		var forVal string
		hasFor, empty := false, true
		for {
			i = skipOWS(s, i)
			if i >= len(s) || s[i] == ',' {
				break
			}
			if s[i] == ';' {
				i++
				continue
			}
			empty = false
			// token
			start := i
			for i < len(s) && s[i] != '=' && s[i] != ';' && s[i] != ',' && s[i] != ' ' && s[i] != '\t' && s[i] != '"' {
				i++
			}
			name := s[start:i]
			if i >= len(s) || s[i] != '=' || name == "" {
				return dst, false
			}
			i++ // '='
			var val string
			escaped := false
			if i < len(s) && s[i] == '"' {
				i++
				start = i
				for i < len(s) && s[i] != '"' {
					if s[i] == '\\' {
						escaped = true
						i++
					}
					i++
				}
				if i >= len(s) {
					return dst, false
				}
				val = s[start:i]
				i++ // closing quote
			} else {
				start = i
				for i < len(s) && s[i] != ';' && s[i] != ',' && s[i] != ' ' && s[i] != '\t' {
					if s[i] == '"' {
						return dst, false // a quote inside a token
					}
					i++
				}
				val = s[start:i]
			}
			if strings.EqualFold(name, "for") {
				if escaped || hasFor {
					// An escape has no place in an address; a repeated for= is ambiguous.
					return dst, false
				}
				forVal, hasFor = val, true
			}
		}
		if !empty {
			dst = append(dst, forVal)
		}
		if i >= len(s) {
			return dst, true
		}
		i++ // ','
	}
}

func skipOWS(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	return i
}

// ParseAddr parses one address as found in RemoteAddr or a forwarding
// header: "192.0.2.1", "192.0.2.1:4711", "2001:db8::1", "[2001:db8::1]",
// "[2001:db8::1]:4711", with an optional IPv6 zone ("fe80::1%eth0"). The port
// and zone are dropped and an IPv4-mapped address folds to IPv4. It does not
// allocate.
func ParseAddr(s string) (netip.Addr, bool) {
	if s == "" {
		return netip.Addr{}, false
	}
	host := s
	if s[0] == '[' {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return netip.Addr{}, false
		}
		host = s[1:end]
		if rest := s[end+1:]; rest != "" && (rest[0] != ':' || !validPort(rest[1:])) {
			return netip.Addr{}, false
		}
	} else if i := strings.IndexByte(s, ':'); i >= 0 && strings.IndexByte(s[i+1:], ':') < 0 {
		// Exactly one colon: IPv4 (or a name) with a port.
		host = s[:i]
		if !validPort(s[i+1:]) {
			return netip.Addr{}, false
		}
	}
	zoned := false
	if i := strings.IndexByte(host, '%'); i >= 0 {
		if i == len(host)-1 {
			return netip.Addr{}, false // an empty zone is malformed
		}
		host, zoned = host[:i], true // a zone never identifies a client; parsing one would allocate
	}
	a, err := netip.ParseAddr(host)
	if err != nil || (zoned && !a.Is6()) {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

func validPort(p string) bool {
	if p == "" || len(p) > 5 {
		return false
	}
	n := 0
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c < '0' || c > '9' {
			return false
		}
		n = n*10 + int(c-'0')
	}
	return n <= 65535
}
