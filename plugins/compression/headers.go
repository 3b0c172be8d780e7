package compression

import (
	"fmt"
	"net/http"
	"strings"
)

// mediaPattern is one entry of content_types: type/subtype, type/* or
// type/*+suffix, lower case.
type mediaPattern struct {
	typ    string
	sub    string // exact subtype, or the suffix ("+json") when suffix is set
	anySub bool   // type/*
	suffix bool   // type/*+suffix
}

// parseMediaPattern checks and compiles one content_types entry.
func parseMediaPattern(s string) (mediaPattern, error) {
	p := strings.ToLower(strings.TrimSpace(s))
	typ, sub, ok := strings.Cut(p, "/")
	if !ok || !isToken(typ) || sub == "" {
		return mediaPattern{}, fmt.Errorf("invalid media type pattern %q: want type/subtype, type/* or type/*+suffix", s)
	}
	switch {
	case sub == "*":
		return mediaPattern{typ: typ, anySub: true}, nil
	case typ == "*":
		return mediaPattern{}, fmt.Errorf("invalid media type pattern %q: a wildcard type needs a wildcard subtype (*/*)", s)
	case strings.HasPrefix(sub, "*+"):
		if !isToken(sub[2:]) {
			return mediaPattern{}, fmt.Errorf("invalid media type pattern %q: want type/*+suffix", s)
		}
		return mediaPattern{typ: typ, sub: sub[1:], suffix: true}, nil
	case !isToken(sub) || strings.Contains(sub, "*"):
		return mediaPattern{}, fmt.Errorf("invalid media type pattern %q: want type/subtype, type/* or type/*+suffix", s)
	}
	return mediaPattern{typ: typ, sub: sub}, nil
}

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isTChar(s[i]) {
			return false
		}
	}
	return true
}

// matchMediaType reports whether the Content-Type value ct (parameters
// allowed) matches one of the patterns. It allocates nothing.
func matchMediaType(patterns []mediaPattern, ct string) bool {
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	ct = strings.TrimSpace(ct)
	typ, sub, ok := strings.Cut(ct, "/")
	if !ok || typ == "" || sub == "" {
		return false
	}
	for i := range patterns {
		p := &patterns[i]
		if p.typ != "*" && !asciiEqualFold(typ, p.typ) {
			continue
		}
		switch {
		case p.anySub:
			return true
		case p.suffix:
			if len(sub) > len(p.sub) && asciiEqualFold(sub[len(sub)-len(p.sub):], p.sub) {
				return true
			}
		case asciiEqualFold(sub, p.sub):
			return true
		}
	}
	return false
}

// hasToken reports whether a comma-separated header (all its lines) lists
// token, ignoring ASCII case and any "=value" of a directive.
func hasToken(lines []string, token string) bool {
	for _, s := range lines {
		for s != "" {
			var elem string
			elem, s, _ = strings.Cut(s, ",")
			if i := strings.IndexByte(elem, '='); i >= 0 {
				elem = elem[:i]
			}
			if asciiEqualFold(strings.TrimSpace(elem), token) {
				return true
			}
		}
	}
	return false
}

// varyValue is the Vary line the plugin adds; shared and never written to.
var varyValue = []string{"Accept-Encoding"}

// addVary appends Accept-Encoding to Vary unless it (or "*") is there.
func addVary(h http.Header) {
	vs, ok := h["Vary"]
	if !ok {
		h["Vary"] = varyValue
		return
	}
	if hasToken(vs, "Accept-Encoding") || hasToken(vs, "*") {
		return
	}
	h["Vary"] = append(vs, "Accept-Encoding")
}

// isUpgrade reports whether r asks to switch protocols (a WebSocket
// handshake): such exchanges are never touched.
func isUpgrade(h http.Header) bool {
	return len(h["Upgrade"]) > 0 && hasToken(h["Connection"], "upgrade")
}

// isStrongETag reports whether v is a strong entity-tag ("..." rather than W/"...").
func isStrongETag(v string) bool {
	return len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"'
}

// etagWithSuffix returns the strong tag "x" as "x-<coding>".
func etagWithSuffix(tag string, e encoding) string {
	return tag[:len(tag)-1] + "-" + encNames[e] + `"`
}

// etagSuffixed reports whether the opaque part of an entity-tag (without
// quotes) ends in one of the plugin's coding suffixes, and returns its length
// without the suffix.
func etagSuffixed(opaque string) (int, bool) {
	for e := encGzip; e < numEncodings; e++ {
		name := encNames[e]
		n := len(opaque) - len(name) - 1
		if n >= 0 && opaque[n] == '-' && opaque[n+1:] == name {
			return n, true
		}
	}
	return 0, false
}

// nextETag returns the next entity-tag of an If-None-Match/If-Match list:
// its W/ prefix (or ""), its opaque part without quotes, and the rest. ok is
// false when the list is malformed or ends.
func nextETag(s string) (weak bool, opaque, rest string, ok bool) {
	i := skipOWSAndCommas(s, 0)
	if i+1 < len(s) && s[i] == 'W' && s[i+1] == '/' {
		weak = true
		i += 2
	}
	if i >= len(s) || s[i] != '"' {
		return false, "", "", false
	}
	j := strings.IndexByte(s[i+1:], '"')
	if j < 0 {
		return false, "", "", false
	}
	return weak, s[i+1 : i+1+j], s[i+2+j:], true
}

// listHasSuffixedETag reports whether any tag in the header lines carries
// one of the plugin's suffixes.
func listHasSuffixedETag(lines []string) bool {
	for _, s := range lines {
		for {
			_, opaque, rest, ok := nextETag(s)
			if !ok {
				break
			}
			if _, yes := etagSuffixed(opaque); yes {
				return true
			}
			s = rest
		}
	}
	return false
}

// stripETagSuffixes rewrites an If-None-Match/If-Match value so that every
// entity-tag loses the plugin's coding suffix: "x-gzip" becomes "x", the
// tag the handler issued.
func stripETagSuffixes(lines []string) []string {
	out := make([]string, 0, len(lines))
	var b strings.Builder
	for _, s := range lines {
		b.Reset()
		for {
			weak, opaque, rest, ok := nextETag(s)
			if !ok {
				// "*" or something malformed: keep what is left as it was.
				if t := strings.TrimSpace(strings.Trim(s, ", \t")); t != "" {
					if b.Len() > 0 {
						b.WriteString(", ")
					}
					b.WriteString(t)
				}
				break
			}
			if n, yes := etagSuffixed(opaque); yes {
				opaque = opaque[:n]
			}
			if b.Len() > 0 {
				b.WriteString(", ")
			}
			if weak {
				b.WriteString("W/")
			}
			b.WriteByte('"')
			b.WriteString(opaque)
			b.WriteByte('"')
			s = rest
		}
		out = append(out, b.String())
	}
	return out
}

// suffixedTagFor looks in the request's original If-None-Match lines for the
// handler's tag (opaque part, without quotes) with a coding suffix added, and
// returns that coding: the variant the client holds.
func suffixedTagFor(lines []string, opaque string) (encoding, bool) {
	for _, s := range lines {
		for {
			_, o, rest, ok := nextETag(s)
			if !ok {
				break
			}
			if n, yes := etagSuffixed(o); yes && o[:n] == opaque {
				e, _ := parseEncodingName(o[n+1:])
				return e, true
			}
			s = rest
		}
	}
	return encIdentity, false
}
