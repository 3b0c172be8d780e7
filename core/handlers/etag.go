package handlers

import "strings"

// The entity-tag helpers follow net/http's fs.go (RFC 9110 §8.8.3, §13.1), so
// that respond answers conditional requests exactly as http.ServeContent does.

// scanETag returns the entity-tag at the start of s (after optional
// whitespace) and the rest of s, or "", "" when s does not start with one.
func scanETag(s string) (etag, remain string) {
	s = trimOWS(s)
	start := 0
	if strings.HasPrefix(s, "W/") {
		start = 2
	}
	if len(s[start:]) < 2 || s[start] != '"' {
		return "", ""
	}
	for i := start + 1; i < len(s); i++ {
		c := s[i]
		switch {
		case c == 0x21 || c >= 0x23 && c <= 0x7E || c >= 0x80:
		case c == '"':
			return s[:i+1], s[i+1:]
		default:
			return "", ""
		}
	}
	return "", ""
}

// validETag reports whether s is exactly one entity-tag.
func validETag(s string) bool {
	etag, rest := scanETag(s)
	return etag != "" && etag == s && rest == ""
}

// etagStrongMatch is the strong comparison: both strong and identical.
func etagStrongMatch(a, b string) bool {
	return a == b && a != "" && a[0] == '"'
}

// etagWeakMatch is the weak comparison: identical opaque tags.
func etagWeakMatch(a, b string) bool {
	return strings.TrimPrefix(a, "W/") == strings.TrimPrefix(b, "W/")
}

// trimOWS trims the HTTP optional whitespace (space, tab, CR, LF) on both
// ends, as textproto.TrimString does.
func trimOWS(s string) string {
	for len(s) > 0 && isOWS(s[0]) {
		s = s[1:]
	}
	for len(s) > 0 && isOWS(s[len(s)-1]) {
		s = s[:len(s)-1]
	}
	return s
}

func isOWS(b byte) bool { return b == ' ' || b == '\t' || b == '\n' || b == '\r' }

// condResult is the outcome of one precondition.
type condResult uint8

const (
	condNone condResult = iota
	condTrue
	condFalse
)

// matchList evaluates an If-Match (strong) or If-None-Match (weak) list
// against etag: condTrue when an element matches or the list is "*",
// condFalse otherwise (also for a malformed list).
func matchList(list, etag string, strong bool) condResult {
	for {
		list = trimOWS(list)
		if len(list) == 0 {
			break
		}
		if list[0] == ',' {
			list = list[1:]
			continue
		}
		if list[0] == '*' {
			return condTrue
		}
		tag, remain := scanETag(list)
		if tag == "" {
			break
		}
		if strong && etagStrongMatch(tag, etag) || !strong && etagWeakMatch(tag, etag) {
			return condTrue
		}
		list = remain
	}
	return condFalse
}
