package conditions

import "strings"

// globKind selects the matching strategy of a compiled glob; the common shapes
// ("/api/*", "*.png", "*bot*", an exact value) avoid the general matcher.
type globKind uint8

const (
	globExact    globKind = iota // no '*'
	globAny                      // "*" alone
	globPrefix                   // "lit*"
	globSuffix                   // "*lit"
	globContains                 // "*lit*"
	globGeneral                  // anything else
)

// glob is a compiled wildcard pattern: '*' matches any run of bytes, '/'
// included; every other byte matches itself. With fold set, ASCII letters
// match case-insensitively (the pattern is stored lower-case).
type glob struct {
	pattern string
	lit     string
	kind    globKind
	fold    bool
}

// compileGlob classifies pattern. fold makes the match ASCII case-insensitive.
func compileGlob(pattern string, fold bool) glob {
	if fold {
		pattern = strings.ToLower(pattern)
	}
	g := glob{pattern: pattern, fold: fold}
	n := strings.Count(pattern, "*")
	switch {
	case n == 0:
		g.kind, g.lit = globExact, pattern
	case pattern == strings.Repeat("*", n):
		g.kind = globAny
	case n == 1 && pattern[len(pattern)-1] == '*':
		g.kind, g.lit = globPrefix, pattern[:len(pattern)-1]
	case n == 1 && pattern[0] == '*':
		g.kind, g.lit = globSuffix, pattern[1:]
	case n == 2 && pattern[0] == '*' && pattern[len(pattern)-1] == '*':
		g.kind, g.lit = globContains, pattern[1:len(pattern)-1]
	default:
		g.kind = globGeneral
	}
	return g
}

// match reports whether s matches the glob.
func (g *glob) match(s string) bool {
	if g.fold {
		return matchFold(g, s)
	}
	switch g.kind {
	case globExact:
		return s == g.lit
	case globAny:
		return true
	case globPrefix:
		return strings.HasPrefix(s, g.lit)
	case globSuffix:
		return strings.HasSuffix(s, g.lit)
	case globContains:
		return strings.Contains(s, g.lit)
	}
	return matchGlob(g.pattern, s, false)
}

// matchBytes is match for a byte slice (an unescaped query value).
func (g *glob) matchBytes(b []byte) bool {
	if g.kind == globAny {
		return true
	}
	return matchGlob(g.pattern, b, g.fold)
}

func matchFold(g *glob, s string) bool {
	switch g.kind {
	case globExact:
		return len(s) == len(g.lit) && hasPrefixFold(s, g.lit)
	case globAny:
		return true
	case globPrefix:
		return hasPrefixFold(s, g.lit)
	case globSuffix:
		return len(s) >= len(g.lit) && hasPrefixFold(s[len(s)-len(g.lit):], g.lit)
	}
	return matchGlob(g.pattern, s, true)
}

// hasPrefixFold reports whether s starts with the lower-case lit, ignoring
// ASCII case.
func hasPrefixFold(s, lit string) bool {
	if len(s) < len(lit) {
		return false
	}
	for i := 0; i < len(lit); i++ {
		if lower(s[i]) != lit[i] {
			return false
		}
	}
	return true
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + ('a' - 'A')
	}
	return c
}

// matchGlob reports whether s matches pattern, '*' matching any run of bytes.
// It backtracks only to the last '*', so it runs in O(len(pattern)*len(s)) at
// worst and allocates nothing. With fold, s is compared lower-cased (the
// pattern must be lower-case already).
func matchGlob[T ~string | ~[]byte](pattern string, s T, fold bool) bool {
	px, sx := 0, 0
	starPx, starSx := -1, 0
	for px < len(pattern) || sx < len(s) {
		if px < len(pattern) {
			c := pattern[px]
			if c == '*' {
				starPx, starSx = px, sx
				px++
				continue
			}
			if sx < len(s) {
				b := s[sx]
				if fold {
					b = lower(b)
				}
				if b == c {
					px++
					sx++
					continue
				}
			}
		}
		if starPx >= 0 && starSx < len(s) {
			starSx++
			px, sx = starPx+1, starSx
			continue
		}
		return false
	}
	return true
}
