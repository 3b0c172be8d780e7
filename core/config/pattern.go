package config

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"regexp/syntax"
	"strings"

	"github.com/go-chi/chi/v5"
)

// The route pattern presets and the chi regexps they expand to.
const (
	// PresetUUID matches a lower-case version-4 UUID.
	PresetUUID = `[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}`
	// PresetInt matches one or more decimal digits.
	PresetInt = `[0-9]+`
	// PresetSlug matches lower-case words of letters and digits joined by
	// single hyphens.
	PresetSlug = `[a-z0-9]+(?:-[a-z0-9]+)*`
)

var presets = map[string]string{"uuid": PresetUUID, "int": PresetInt, "slug": PresetSlug}

// methods are the HTTP methods a route may list.
var methods = []string{
	http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
	http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace,
}

// ExpandPattern expands the route presets {x:uuid}, {x:int} and {x:slug}
// into chi regexp parameters and checks the pattern as chi would, returning
// an error where chi would panic: the path starts with "/", braces balance,
// every parameter has a name and no name repeats, every regexp compiles, and
// `*` appears only at the end.
func ExpandPattern(p string) (string, error) {
	if p == "" {
		return "", errors.New("empty route pattern")
	}
	if p[0] != '/' {
		return "", fmt.Errorf("route pattern %q must start with /", p)
	}
	var b strings.Builder
	names := map[string]bool{}
	for i := 0; i < len(p); {
		switch c := p[i]; c {
		case '{':
			end := closingBrace(p, i)
			if end < 0 {
				return "", fmt.Errorf("route pattern %q: '{' at offset %d has no closing '}'", p, i)
			}
			name, re, isRe := strings.Cut(p[i+1:end], ":")
			if name == "" {
				return "", fmt.Errorf("route pattern %q: parameter at offset %d has no name", p, i)
			}
			if strings.ContainsAny(name, "/{}*") {
				return "", fmt.Errorf("route pattern %q: bad parameter name %q", p, name)
			}
			if names[name] {
				return "", fmt.Errorf("route pattern %q: parameter {%s} appears twice", p, name)
			}
			names[name] = true
			if isRe {
				if expanded, ok := presets[re]; ok {
					re = expanded
				} else if re == "" {
					return "", fmt.Errorf("route pattern %q: parameter {%s:} has an empty regexp", p, name)
				}
				if _, err := regexp.Compile(anchor(re)); err != nil {
					return "", fmt.Errorf("route pattern %q: invalid regexp in {%s}: %v", p, name, regexpReason(err, re))
				}
				b.WriteString("{" + name + ":" + re + "}")
			} else {
				b.WriteString("{" + name + "}")
			}
			i = end + 1
		case '}':
			return "", fmt.Errorf("route pattern %q: '}' at offset %d has no opening '{'", p, i)
		case '*':
			if i != len(p)-1 {
				return "", fmt.Errorf("route pattern %q: '*' may only end a pattern; use a {param} in the middle", p)
			}
			b.WriteByte('*')
			i++
		default:
			b.WriteByte(c)
			i++
		}
	}
	out := b.String()
	if err := tryChi(out); err != nil {
		return "", fmt.Errorf("route pattern %q: %v", p, err)
	}
	return out, nil
}

// closingBrace finds the '}' closing the '{' at open, counting nested
// braces as chi does (so {id:[0-9]{3}} is one parameter), or -1.
func closingBrace(p string, open int) int {
	depth := 0
	for i := open; i < len(p); i++ {
		switch p[i] {
		case '{':
			depth++
		case '}':
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	return -1
}

// anchor adds ^ and $ as chi does before compiling a parameter regexp.
func anchor(re string) string {
	if !strings.HasPrefix(re, "^") {
		re = "^" + re
	}
	if !strings.HasSuffix(re, "$") {
		re += "$"
	}
	return re
}

// regexpReason says why re did not compile, quoting the regexp as written
// (not as anchored).
func regexpReason(err error, re string) string {
	var se *syntax.Error
	if errors.As(err, &se) {
		return fmt.Sprintf("%s in %q", se.Code, re)
	}
	return err.Error()
}

// tryChi registers the pattern on a scratch chi router, turning any panic
// into an error: whatever chi refuses is refused at load, never at serve.
func tryChi(pattern string) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	chi.NewRouter().Handle(pattern, http.NotFoundHandler())
	return nil
}

// routeKey reduces an expanded pattern to its shape, parameter names left
// out: /users/{id} and /users/{uid} are the same route for chi.
func routeKey(expanded string) string {
	var b strings.Builder
	for i := 0; i < len(expanded); {
		if expanded[i] == '{' {
			end := closingBrace(expanded, i)
			if end < 0 {
				b.WriteString(expanded[i:])
				break
			}
			_, re, isRe := strings.Cut(expanded[i+1:end], ":")
			b.WriteByte('{')
			if isRe {
				b.WriteString(":" + re)
			}
			b.WriteByte('}')
			i = end + 1
			continue
		}
		b.WriteByte(expanded[i])
		i++
	}
	return b.String()
}

// validPathGlob checks a fast path: a path starting with /, optionally
// ending in * to match everything below it.
func validPathGlob(p string) error {
	if !strings.HasPrefix(p, "/") {
		return fmt.Errorf("%q must start with /", p)
	}
	if i := strings.IndexByte(p, '*'); i >= 0 && i != len(p)-1 {
		return fmt.Errorf("%q: '*' may only end a fast path", p)
	}
	if strings.ContainsAny(p, "{}") {
		return fmt.Errorf("%q: fast paths are plain paths or prefixes ending in *, without {params}", p)
	}
	return nil
}
