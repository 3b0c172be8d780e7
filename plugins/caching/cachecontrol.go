package caching

// Cache-Control parsing, RFC 9111 §5.2:
//
//	Cache-Control   = #cache-directive
//	cache-directive = token [ "=" ( token / quoted-string ) ]
//
// Directive names compare case-insensitively. A request or response may carry
// several field lines; they combine as one comma-separated list. When a
// directive appears twice, the first occurrence wins (RFC 9111 §4.2.1 allows
// "the first occurrence"). A delta-seconds value that is not a non-negative
// integer makes max-age and s-maxage count as "already stale" and is ignored
// for the other directives; values above 2^31 are read as 2^31 (§1.2.2).
// Elements that do not follow the grammar are skipped up to the next comma.
// The parser allocates nothing: names and values are substrings of the input.

// Directive flags of a cacheControl.
const (
	ccNoStore uint32 = 1 << iota
	ccNoCache
	ccPrivate
	ccPublic
	ccMustRevalidate
	ccProxyRevalidate
	ccMustUnderstand
	ccImmutable
	ccNoTransform
	ccOnlyIfCached
	ccMaxStaleAny   // max-stale without a value: any staleness is acceptable
	ccMaxAgeInvalid // max-age was present with an invalid value
	ccSMaxAgeInvalid
)

// unset marks a numeric directive that is absent.
const unset = -1

// deltaMax is the largest delta-seconds value (RFC 9111 §1.2.2).
const deltaMax = 1 << 31

// cacheControl is the parsed form of a request's or a response's
// Cache-Control field lines. Numeric directives are in seconds, unset when
// absent.
type cacheControl struct {
	flags                uint32
	maxAge               int64
	sMaxAge              int64
	maxStale             int64
	minFresh             int64
	staleWhileRevalidate int64
	staleIfError         int64
	// privateFields and noCacheFields are the field-name lists of a
	// qualified private="..." or no-cache="..." (the first occurrence).
	privateFields string
	noCacheFields string
}

func (cc *cacheControl) has(f uint32) bool { return cc.flags&f != 0 }

// parseCacheControl parses every field line of a Cache-Control header.
func parseCacheControl(lines []string) cacheControl {
	var cc cacheControl
	cc.parse(lines)
	return cc
}

// parse sets cc to the directives of lines, in place.
func (cc *cacheControl) parse(lines []string) {
	*cc = cacheControl{
		maxAge: unset, sMaxAge: unset, maxStale: unset, minFresh: unset,
		staleWhileRevalidate: unset, staleIfError: unset,
	}
	for _, s := range lines {
		for s != "" {
			var name, val string
			var hasVal bool
			name, val, hasVal, s = nextDirective(s)
			if name != "" {
				cc.apply(name, val, hasVal)
			}
		}
	}
}

// nextDirective returns the first directive of s and the rest of s after it.
// name is empty for an empty or malformed element.
func nextDirective(s string) (name, val string, hasVal bool, rest string) {
	i := 0
	for i < len(s) && (s[i] == ',' || s[i] == ' ' || s[i] == '\t') {
		i++
	}
	start := i
	for i < len(s) && isTokenChar(s[i]) {
		i++
	}
	name = s[start:i]
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	if i < len(s) && s[i] == '=' {
		i++
		for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
			i++
		}
		hasVal = true
		if i < len(s) && s[i] == '"' {
			i++
			vs := i
			for i < len(s) && s[i] != '"' {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				i++
			}
			if i >= len(s) { // unterminated quoted-string: malformed
				return "", "", false, ""
			}
			val = s[vs:i]
			i++ // closing quote
		} else {
			vs := i
			for i < len(s) && isTokenChar(s[i]) {
				i++
			}
			val = s[vs:i]
		}
	}
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	if i < len(s) && s[i] != ',' {
		// Garbage after the directive: the element is malformed. Skip to the
		// next comma that is not inside a quoted-string.
		name = ""
		inQuote := false
		for i < len(s) {
			c := s[i]
			switch {
			case inQuote && c == '\\':
				i++
			case c == '"':
				inQuote = !inQuote
			case c == ',' && !inQuote:
				return "", "", false, s[i:]
			}
			i++
		}
		return "", "", false, ""
	}
	if name == "" {
		if i < len(s) {
			return "", "", false, s[i+1:]
		}
		return "", "", false, ""
	}
	if i < len(s) {
		i++ // the comma
	}
	return name, val, hasVal, s[i:]
}

func (cc *cacheControl) apply(name, val string, hasVal bool) {
	switch len(name) {
	case 6:
		if asciiEqualFold(name, "public") {
			cc.flags |= ccPublic
		}
	case 7:
		switch {
		case asciiEqualFold(name, "max-age"):
			if cc.maxAge == unset {
				if d, ok := parseDelta(val, hasVal); ok {
					cc.maxAge = d
				} else {
					cc.maxAge = 0
					cc.flags |= ccMaxAgeInvalid
				}
			}
		case asciiEqualFold(name, "private"):
			if cc.flags&ccPrivate == 0 && hasVal {
				cc.privateFields = val
			}
			cc.flags |= ccPrivate
		}
	case 8:
		switch {
		case asciiEqualFold(name, "no-store"):
			cc.flags |= ccNoStore
		case asciiEqualFold(name, "no-cache"):
			if cc.flags&ccNoCache == 0 && hasVal {
				cc.noCacheFields = val
			}
			cc.flags |= ccNoCache
		case asciiEqualFold(name, "s-maxage"):
			if cc.sMaxAge == unset {
				if d, ok := parseDelta(val, hasVal); ok {
					cc.sMaxAge = d
				} else {
					cc.sMaxAge = 0
					cc.flags |= ccSMaxAgeInvalid
				}
			}
		}
	case 9:
		switch {
		case asciiEqualFold(name, "max-stale"):
			if cc.maxStale == unset && cc.flags&ccMaxStaleAny == 0 {
				if !hasVal {
					cc.flags |= ccMaxStaleAny
				} else if d, ok := parseDelta(val, true); ok {
					cc.maxStale = d
				}
			}
		case asciiEqualFold(name, "min-fresh"):
			if cc.minFresh == unset {
				if d, ok := parseDelta(val, hasVal); ok {
					cc.minFresh = d
				}
			}
		case asciiEqualFold(name, "immutable"):
			cc.flags |= ccImmutable
		}
	case 12:
		if asciiEqualFold(name, "no-transform") {
			cc.flags |= ccNoTransform
		}
	case 14:
		switch {
		case asciiEqualFold(name, "only-if-cached"):
			cc.flags |= ccOnlyIfCached
		case asciiEqualFold(name, "stale-if-error"):
			if cc.staleIfError == unset {
				if d, ok := parseDelta(val, hasVal); ok {
					cc.staleIfError = d
				}
			}
		}
	case 15:
		switch {
		case asciiEqualFold(name, "must-revalidate"):
			cc.flags |= ccMustRevalidate
		case asciiEqualFold(name, "must-understand"):
			cc.flags |= ccMustUnderstand
		}
	case 16:
		if asciiEqualFold(name, "proxy-revalidate") {
			cc.flags |= ccProxyRevalidate
		}
	case 22:
		if asciiEqualFold(name, "stale-while-revalidate") {
			if cc.staleWhileRevalidate == unset {
				if d, ok := parseDelta(val, hasVal); ok {
					cc.staleWhileRevalidate = d
				}
			}
		}
	}
}

// parseDelta parses delta-seconds: one or more digits, saturating at 2^31.
func parseDelta(s string, hasVal bool) (int64, bool) {
	if !hasVal || s == "" {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		if n < deltaMax {
			n = n*10 + int64(c-'0')
		}
	}
	if n > deltaMax {
		n = deltaMax
	}
	return n, true
}

// isTokenChar reports whether c is a tchar of RFC 9110 §5.6.2.
func isTokenChar(c byte) bool {
	if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
		return true
	}
	switch c {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
		return true
	}
	return false
}

// asciiEqualFold compares s with lower, which is lower-case ASCII.
func asciiEqualFold(s, lower string) bool {
	if len(s) != len(lower) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// fieldListContains reports whether a comma-separated list of field names
// (the value of private="..." or no-cache="...") names field,
// case-insensitively. field is lower-case.
func fieldListContains(list, field string) bool {
	for list != "" {
		i := 0
		for i < len(list) && (list[i] == ',' || list[i] == ' ' || list[i] == '\t') {
			i++
		}
		j := i
		for j < len(list) && list[j] != ',' && list[j] != ' ' && list[j] != '\t' {
			j++
		}
		if asciiEqualFold(list[i:j], field) {
			return true
		}
		list = list[j:]
	}
	return false
}
