package conditions

import (
	"fmt"
	"net/http"
	"net/netip"
	"net/textproto"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/switchyard/switchyard/internal/reqvars"
)

// matcher is a compiled predicate. Matchers read the request and never
// change it.
type matcher func(*http.Request) bool

// Structured matchers compile to plain Go closures: no CEL, no allocation.

// matcherKeys lists the keys of a structured condition in the order their
// matchers run (cheapest first); all of them must hold.
var matcherKeys = []string{"method", "path", "host", "header", "query", "vars", "remote_ip", "all", "any", "not"}

// compileMap compiles a structured condition.
func (c *Compiler) compileMap(key string, m map[string]any, chain []string) (matcher, error) {
	if len(m) == 0 {
		return nil, errorf(key, "empty condition: expected at least one of %s", strings.Join(matcherKeys, ", "))
	}
	for _, k := range sortedKeys(m) {
		if !slices.Contains(matcherKeys, k) {
			return nil, errorf(key+"."+k, "unknown matcher %q: expected one of %s", k, strings.Join(matcherKeys, ", "))
		}
	}
	var ms []matcher
	for _, k := range matcherKeys {
		v, ok := m[k]
		if !ok {
			continue
		}
		var (
			mt  matcher
			err error
		)
		sub := key + "." + k
		switch k {
		case "method":
			mt, err = compileMethods(sub, v)
		case "path":
			mt, err = compilePaths(sub, v)
		case "host":
			mt, err = compileHosts(sub, v)
		case "header":
			mt, err = compileHeaders(sub, v)
		case "query":
			mt, err = compileQueries(sub, v)
		case "vars":
			mt, err = compileVars(sub, v)
		case "remote_ip":
			mt, err = compileRemoteIP(sub, v, c.clientIP)
		case "all", "any":
			mt, err = c.compileList(sub, k, v, chain)
		case "not":
			var inner *Condition
			inner, err = c.compile(sub, v, chain)
			if err == nil {
				im := inner.match
				mt = func(r *http.Request) bool { return !im(r) }
			}
		}
		if err != nil {
			return nil, err
		}
		ms = append(ms, mt)
	}
	return allOf(ms), nil
}

// allOf is the conjunction of ms.
func allOf(ms []matcher) matcher {
	switch len(ms) {
	case 1:
		return ms[0]
	case 2:
		a, b := ms[0], ms[1]
		return func(r *http.Request) bool { return a(r) && b(r) }
	}
	return func(r *http.Request) bool {
		for _, m := range ms {
			if !m(r) {
				return false
			}
		}
		return true
	}
}

// anyOf is the disjunction of ms.
func anyOf(ms []matcher) matcher {
	switch len(ms) {
	case 1:
		return ms[0]
	case 2:
		a, b := ms[0], ms[1]
		return func(r *http.Request) bool { return a(r) || b(r) }
	}
	return func(r *http.Request) bool {
		for _, m := range ms {
			if m(r) {
				return true
			}
		}
		return false
	}
}

func (c *Compiler) compileList(key, op string, v any, chain []string) (matcher, error) {
	items, ok := asList(v)
	if !ok {
		return nil, errorf(key, "expected a list of conditions, got %s", typeName(v))
	}
	if len(items) == 0 {
		return nil, errorf(key, "expected at least one condition")
	}
	ms := make([]matcher, len(items))
	for i, it := range items {
		cond, err := c.compile(key+"["+strconv.Itoa(i)+"]", it, chain)
		if err != nil {
			return nil, err
		}
		ms[i] = cond.match
	}
	if op == "all" {
		return allOf(ms), nil
	}
	return anyOf(ms), nil
}

func compileMethods(key string, v any) (matcher, error) {
	list, err := stringList(key, v)
	if err != nil {
		return nil, err
	}
	methods := make([]string, len(list))
	for i, s := range list {
		s = strings.ToUpper(strings.TrimSpace(s))
		if !isToken(s) {
			return nil, errorf(itemKey(key, v, i), "%q is not an HTTP method", list[i])
		}
		methods[i] = s
	}
	methods = slices.Compact(methods)
	if len(methods) == 1 {
		m := methods[0]
		return func(r *http.Request) bool { return r.Method == m }, nil
	}
	return func(r *http.Request) bool {
		for _, m := range methods {
			if r.Method == m {
				return true
			}
		}
		return false
	}, nil
}

func compilePaths(key string, v any) (matcher, error) {
	globs, err := globList(key, v, false)
	if err != nil {
		return nil, err
	}
	if len(globs) == 1 {
		g := globs[0]
		return func(r *http.Request) bool { return g.match(urlPath(r)) }, nil
	}
	return func(r *http.Request) bool {
		p := urlPath(r)
		for i := range globs {
			if globs[i].match(p) {
				return true
			}
		}
		return false
	}, nil
}

func compileHosts(key string, v any) (matcher, error) {
	globs, err := globList(key, v, true)
	if err != nil {
		return nil, err
	}
	if len(globs) == 1 {
		g := globs[0]
		return func(r *http.Request) bool { return g.match(hostOnly(r.Host)) }, nil
	}
	return func(r *http.Request) bool {
		h := hostOnly(r.Host)
		for i := range globs {
			if globs[i].match(h) {
				return true
			}
		}
		return false
	}, nil
}

// headerMatch is one entry of a header matcher: a canonical name and the
// glob its first value must match; present alone asks only for the header.
type headerMatch struct {
	name    string
	g       glob
	present bool
}

func compileHeaders(key string, v any) (matcher, error) {
	m, ok := asMap(v)
	if !ok || len(m) == 0 {
		return nil, errorf(key, "expected a map of header names to globs (\"\" means present), got %s", typeName(v))
	}
	var hs []headerMatch
	for _, name := range sortedKeys(m) {
		pat, err := globString(key+"."+name, m[name])
		if err != nil {
			return nil, err
		}
		if !isToken(name) {
			return nil, errorf(key+"."+name, "%q is not a header name", name)
		}
		hs = append(hs, headerMatch{name: textproto.CanonicalMIMEHeaderKey(name), g: compileGlob(pat, false), present: pat == ""})
	}
	return func(r *http.Request) bool {
		for i := range hs {
			h := &hs[i]
			val, ok := firstHeader(r.Header, h.name)
			if !ok || !h.present && !h.g.match(val) {
				return false
			}
		}
		return true
	}, nil
}

// compileVars compiles `vars: {NAME: glob}`: each request value that an
// earlier link set (registry.SetValue) must be present ("" means present)
// and, as text, match its glob.
func compileVars(key string, v any) (matcher, error) {
	m, ok := asMap(v)
	if !ok || len(m) == 0 {
		return nil, errorf(key, "expected a map of request value names to globs (\"\" means present), got %s", typeName(v))
	}
	var vs []headerMatch
	for _, name := range sortedKeys(m) {
		pat, err := globString(key+"."+name, m[name])
		if err != nil {
			return nil, err
		}
		vs = append(vs, headerMatch{name: name, g: compileGlob(pat, false), present: pat == ""})
	}
	return func(r *http.Request) bool {
		all := reqvars.From(r.Context())
		for i := range vs {
			h := &vs[i]
			val, ok := all.Get(h.name)
			if !ok {
				return false
			}
			if !h.present && !h.g.match(reqvars.Text(val)) {
				return false
			}
		}
		return true
	}, nil
}

func compileQueries(key string, v any) (matcher, error) {
	m, ok := asMap(v)
	if !ok || len(m) == 0 {
		return nil, errorf(key, "expected a map of query names to globs (\"\" means present), got %s", typeName(v))
	}
	var qs []headerMatch
	for _, name := range sortedKeys(m) {
		pat, err := globString(key+"."+name, m[name])
		if err != nil {
			return nil, err
		}
		qs = append(qs, headerMatch{name: name, g: compileGlob(pat, false), present: pat == ""})
	}
	return func(r *http.Request) bool {
		raw := rawQuery(r)
		for i := range qs {
			q := &qs[i]
			val, ok := queryFirst(raw, q.name)
			if !ok {
				return false
			}
			if !q.present && !matchQueryValue(&q.g, val) {
				return false
			}
		}
		return true
	}, nil
}

// matchQueryValue matches the decoded form of the raw query value against g,
// decoding on the stack when the value is short.
func matchQueryValue(g *glob, raw string) bool {
	if !needsUnescape(raw) {
		return g.match(raw)
	}
	var arr [128]byte
	return g.matchBytes(appendUnescaped(arr[:0], raw))
}

func compileRemoteIP(key string, v any, clientIP func(*http.Request) netip.Addr) (matcher, error) {
	list, err := stringList(key, v)
	if err != nil {
		return nil, err
	}
	prefixes := make([]netip.Prefix, len(list))
	for i, s := range list {
		p, err := parsePrefix(strings.TrimSpace(s))
		if err != nil {
			return nil, errorf(itemKey(key, v, i), "%v", err)
		}
		prefixes[i] = p
	}
	if len(prefixes) == 1 {
		p := prefixes[0]
		return func(r *http.Request) bool { return p.Contains(clientIP(r)) }, nil
	}
	return func(r *http.Request) bool {
		ip := clientIP(r)
		if !ip.IsValid() {
			return false
		}
		for _, p := range prefixes {
			if p.Contains(ip) {
				return true
			}
		}
		return false
	}, nil
}

// Decoding helpers for values as YAML, TOML and JSON decoders produce them.

func asMap(v any) (map[string]any, bool) {
	switch m := v.(type) {
	case map[string]any:
		return m, true
	case map[string]string:
		out := make(map[string]any, len(m))
		for k, s := range m {
			out[k] = s
		}
		return out, true
	case map[any]any:
		out := make(map[string]any, len(m))
		for k, x := range m {
			ks, ok := k.(string)
			if !ok {
				return nil, false
			}
			out[ks] = x
		}
		return out, true
	}
	return nil, false
}

func asList(v any) ([]any, bool) {
	switch l := v.(type) {
	case []any:
		return l, true
	case []string:
		out := make([]any, len(l))
		for i, s := range l {
			out[i] = s
		}
		return out, true
	case []map[string]any:
		out := make([]any, len(l))
		for i, m := range l {
			out[i] = m
		}
		return out, true
	}
	return nil, false
}

// stringList accepts a string or a non-empty list of strings.
func stringList(key string, v any) ([]string, error) {
	if s, ok := v.(string); ok {
		if strings.TrimSpace(s) == "" {
			return nil, errorf(key, "expected a non-empty string or list of strings")
		}
		return []string{s}, nil
	}
	items, ok := asList(v)
	if !ok {
		return nil, errorf(key, "expected a string or a list of strings, got %s", typeName(v))
	}
	if len(items) == 0 {
		return nil, errorf(key, "expected at least one value")
	}
	out := make([]string, len(items))
	for i, it := range items {
		s, ok := it.(string)
		if !ok || strings.TrimSpace(s) == "" {
			return nil, errorf(key+"["+strconv.Itoa(i)+"]", "expected a non-empty string, got %s", typeName(it))
		}
		out[i] = s
	}
	return out, nil
}

func globList(key string, v any, fold bool) ([]glob, error) {
	list, err := stringList(key, v)
	if err != nil {
		return nil, err
	}
	globs := make([]glob, len(list))
	for i, s := range list {
		globs[i] = compileGlob(s, fold)
	}
	return globs, nil
}

func globString(key string, v any) (string, error) {
	s, ok := v.(string)
	if !ok {
		return "", errorf(key, "expected a string glob (\"\" means present), got %s; quote the value", typeName(v))
	}
	return s, nil
}

// itemKey is the key path of the i-th value of v (v itself when a string).
func itemKey(key string, v any, i int) string {
	if _, ok := v.(string); ok {
		return key
	}
	return key + "[" + strconv.Itoa(i) + "]"
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "nothing"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		return "an integer"
	case float32, float64:
		return "a number"
	}
	if _, ok := asMap(v); ok {
		return "a map"
	}
	if _, ok := asList(v); ok {
		return "a list"
	}
	return fmt.Sprintf("%T", v)
}

// isToken reports whether s is an RFC 9110 token (method and header names).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' {
			continue
		}
		if !strings.ContainsRune("!#$%&'*+-.^_`|~", rune(c)) {
			return false
		}
	}
	return true
}
