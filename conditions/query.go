package conditions

import "strings"

// The query string is read the way url.ParseQuery reads it, without building
// its map: pairs are separated by '&'; a pair containing ';' or a malformed
// %-escape is ignored; a pair without '=' has the empty value; '+' is a space.
// The value of a name is that of its first valid pair.

// queryFirst returns the raw (still escaped) value of the first valid pair
// named name in the raw query.
func queryFirst(raw, name string) (string, bool) {
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		if pair == "" || strings.IndexByte(pair, ';') >= 0 {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		if !escapedEquals(k, name) || !validEscapes(v) {
			continue
		}
		return v, true
	}
	return "", false
}

// queryPairs calls fn for every valid pair with its raw key and value.
func queryPairs(raw string, fn func(k, v string)) {
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		if pair == "" || strings.IndexByte(pair, ';') >= 0 {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		if !validEscapes(k) || !validEscapes(v) {
			continue
		}
		fn(k, v)
	}
}

// needsUnescape reports whether s holds an escape or a '+'.
func needsUnescape(s string) bool {
	return strings.IndexByte(s, '%') >= 0 || strings.IndexByte(s, '+') >= 0
}

// unescapeQuery decodes a query component whose escapes are valid.
func unescapeQuery(s string) string {
	if !needsUnescape(s) {
		return s
	}
	return string(appendUnescaped(make([]byte, 0, len(s)), s))
}

// appendUnescaped appends the decoded form of the query component s, whose
// escapes must be valid, to dst.
func appendUnescaped(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '%':
			dst = append(dst, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
		case '+':
			dst = append(dst, ' ')
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

// validEscapes reports whether every '%' in s starts a two-digit hex escape.
func validEscapes(s string) bool {
	for i := strings.IndexByte(s, '%'); i >= 0; {
		if i+2 >= len(s) || !ishex(s[i+1]) || !ishex(s[i+2]) {
			return false
		}
		j := strings.IndexByte(s[i+3:], '%')
		if j < 0 {
			return true
		}
		i += 3 + j
	}
	return true
}

// escapedEquals reports whether the query component s, once decoded, equals
// name. A component with a malformed escape equals nothing.
func escapedEquals(s, name string) bool {
	if !needsUnescape(s) {
		return s == name
	}
	j := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '%':
			if i+2 >= len(s) || !ishex(s[i+1]) || !ishex(s[i+2]) {
				return false
			}
			c = unhex(s[i+1])<<4 | unhex(s[i+2])
			i += 2
		case '+':
			c = ' '
		}
		if j >= len(name) || name[j] != c {
			// Keep checking the rest for malformed escapes is unnecessary: a
			// mismatch is a mismatch either way.
			return false
		}
		j++
	}
	return j == len(name)
}

func ishex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}
