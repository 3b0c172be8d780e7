package conditions

import (
	"encoding/json"
	"maps"
	"net/http"
	"net/netip"
	"slices"
	"strings"

	"github.com/google/cel-go/common/types"
)

// Options configure a Compiler. The zero value works: client IPs come from
// r.RemoteAddr and nothing is cached.
type Options struct {
	// ClientIP returns the client IP as the host determines it (trusted
	// proxies applied). nil means the host part of r.RemoteAddr.
	ClientIP func(*http.Request) netip.Addr
	// Cache caches results of conditions that are dearer than a lookup; nil
	// disables caching.
	Cache *Cache
}

// Compiler compiles conditions against one set of named conditions. It is
// safe for concurrent use once built.
type Compiler struct {
	clientIP func(*http.Request) netip.Addr
	cache    *Cache
	sources  map[string]any
	named    map[string]*Condition

	interpretOnly bool
}

// Condition is a compiled condition: a predicate over a request that reads it
// without changing it.
type Condition struct {
	src   string
	match matcher
}

// Match reports whether the condition holds for r. An expression whose
// evaluation fails (a missing map key, the cost limit) does not hold.
func (c *Condition) Match(r *http.Request) bool { return c.match(r) }

// Wrap guards the middleware mw with the condition, as chi's
// middleware.Maybe does: the returned middleware runs mw's handler for the
// requests the condition holds for and hands the others straight to next.
// mw(next) is built once, here, not per request.
func (c *Condition) Wrap(mw func(http.Handler) http.Handler) func(http.Handler) http.Handler {
	match := c.match
	return func(next http.Handler) http.Handler {
		return &guard{match: match, h: mw(next), next: next}
	}
}

// guard is a guarded link: a struct rather than a HandlerFunc closure, one
// call less per request.
type guard struct {
	match   matcher
	h, next http.Handler
}

func (g *guard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if g.match(r) {
		g.h.ServeHTTP(w, r)
		return
	}
	g.next.ServeHTTP(w, r)
}

// String returns the condition's source, for the admin API: the expression
// or name as written, or a structured condition as JSON.
func (c *Condition) String() string { return c.src }

// NewCompiler compiles the named conditions (the `conditions:` map of the
// config; values are expression or name strings, or structured matchers as
// map[string]any, as decoded from YAML, TOML or JSON). Named conditions may
// reference each other by name; a reference cycle is an error.
func NewCompiler(named map[string]any, opts Options) (*Compiler, error) {
	return newCompiler(named, opts, false)
}

// newCompiler is NewCompiler; interpretOnly keeps every expression on the CEL
// interpreter (tests compare the Go translation and the cache against it).
func newCompiler(named map[string]any, opts Options, interpretOnly bool) (*Compiler, error) {
	c := &Compiler{
		clientIP:      opts.ClientIP,
		cache:         opts.Cache,
		sources:       maps.Clone(named),
		named:         make(map[string]*Condition, len(named)),
		interpretOnly: interpretOnly,
	}
	if c.clientIP == nil {
		c.clientIP = remoteAddrIP
	} else {
		hostIP := opts.ClientIP
		c.clientIP = func(r *http.Request) netip.Addr { return hostIP(r).Unmap() }
	}
	names := make([]string, 0, len(named))
	for name := range named {
		if !isName(name) {
			return nil, errorf("conditions."+name, "a condition name is letters, digits, '_' and '-', starting with a letter or '_'")
		}
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if _, err := c.compileNamed("conditions."+name, 0, name, nil); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// Compile compiles one condition source (a `when:` value): an expression, the
// name of a condition, a structured matcher map, or a boolean. keyPath (such
// as "routes[2].middleware[0].when") names the condition in errors.
func (c *Compiler) Compile(keyPath string, src any) (*Condition, error) {
	return c.compile(keyPath, src, nil)
}

// CompileFunc is Compile returning the condition's Match method: the
// predicate that registry.Context.CompileCondition hands a plugin.
func (c *Compiler) CompileFunc(keyPath string, src any) (func(*http.Request) bool, error) {
	cond, err := c.Compile(keyPath, src)
	if err != nil {
		return nil, err
	}
	return cond.Match, nil
}

// CompileString compiles a CEL expression of type string over the request
// object, such as the ratelimit plugin's key expression. The function returns
// "" when an evaluation fails.
func (c *Compiler) CompileString(keyPath, expr string) (func(*http.Request) string, error) {
	p, err := compileProgram(keyPath, expr, types.StringType)
	if err != nil {
		return nil, err
	}
	clientIP := c.clientIP
	if !p.tracked && !c.interpretOnly {
		if s := (&native{clientIP: clientIP}).str(p.expr); s != nil {
			return func(r *http.Request) string {
				v, _ := s.get(r) // an error gives "", as below
				return v
			}, nil
		}
	}
	return func(r *http.Request) string {
		v, ok := p.eval(r, clientIP)
		if !ok {
			return ""
		}
		s, _ := v.(string)
		return s
	}, nil
}

// Named returns a compiled named condition.
func (c *Compiler) Named(name string) (*Condition, bool) {
	cond, ok := c.named[name]
	return cond, ok
}

// compileNamed compiles the named condition name, referenced at key (column
// col when the reference is a string). chain holds the names whose
// compilation is under way, to find reference cycles.
func (c *Compiler) compileNamed(key string, col int, name string, chain []string) (*Condition, error) {
	if cond, ok := c.named[name]; ok {
		return cond, nil
	}
	if i := slices.Index(chain, name); i >= 0 {
		cycle := append(slices.Clone(chain[i:]), name)
		return nil, &Error{Key: key, Column: col, Msg: "reference cycle: " + strings.Join(cycle, " -> ")}
	}
	src, ok := c.sources[name]
	if !ok {
		return nil, &Error{Key: key, Column: col, Msg: "unknown condition " + quote(name) + ": not defined under conditions"}
	}
	cond, err := c.compile("conditions."+name, src, append(slices.Clip(chain), name))
	if err != nil {
		return nil, err
	}
	c.named[name] = cond
	return cond, nil
}

func (c *Compiler) compile(key string, src any, chain []string) (*Condition, error) {
	switch v := src.(type) {
	case string:
		return c.compileString(key, v, chain)
	case bool:
		return constant(v), nil
	case nil:
		return nil, errorf(key, "empty condition: expected an expression, a condition name or a map of matchers")
	}
	m, ok := asMap(src)
	if !ok {
		return nil, errorf(key, "expected an expression or condition name (a string) or a map of matchers, got %s", typeName(src))
	}
	mt, err := c.compileMap(key, m, chain)
	if err != nil {
		return nil, err
	}
	return &Condition{src: render(m), match: mt}, nil
}

func (c *Compiler) compileString(key, s string, chain []string) (*Condition, error) {
	name := strings.TrimSpace(s)
	col := strings.Index(s, name) + 1
	if _, ok := c.sources[name]; ok {
		named, err := c.compileNamed(key, col, name, chain)
		if err != nil {
			return nil, err
		}
		return &Condition{src: name, match: named.match}, nil
	}
	if name == "true" || name == "false" {
		// The constants need no expression environment.
		return &Condition{src: s, match: constant(name == "true").match}, nil
	}
	if isName(name) && !celWords[name] {
		return nil, &Error{Key: key, Column: col, Msg: "unknown condition " + quote(name) + ": not defined under conditions, and not an expression"}
	}
	p, err := compileProgram(key, s, types.BoolType)
	if err != nil {
		return nil, err
	}
	return &Condition{src: s, match: c.exprMatcher(p)}, nil
}

// exprMatcher returns the predicate of a bool expression, through the cache
// when the expression is worth caching (see useCache).
func (c *Compiler) exprMatcher(p *program) matcher {
	if p.reads.none() {
		// An expression that reads nothing of the request (CEL has no clock
		// and no randomness) has one answer: evaluate it now.
		v := p.evalBool(&http.Request{Header: http.Header{}}, c.clientIP)
		return func(*http.Request) bool { return v }
	}
	if !p.tracked && !c.interpretOnly {
		if m := (&native{clientIP: c.clientIP}).compile(p.expr); m != nil {
			return m
		}
	}
	if c.cache != nil && useCache(p) {
		cp := &cachedProgram{p: p, cache: c.cache, id: c.cache.id(p.src), clientIP: c.clientIP}
		return cp.match
	}
	clientIP := c.clientIP
	return func(r *http.Request) bool { return p.evalBool(r, clientIP) }
}

// useCache is the cache rule for an expression that did not translate to Go:
// its results are cached when the set of request attributes it reads is known
// at compile time (no iteration over a whole map, no computed key).
// Structured matchers and translated expressions are never cached: they cost
// less than a lookup.
func useCache(p *program) bool {
	return !p.reads.opaque && len(p.reads.headers)+len(p.reads.queries) <= maxKeyEntries
}

// celWords are bare words that are expressions, not condition names.
var celWords = map[string]bool{"true": true, "false": true, "null": true, "request": true}

func constant(v bool) *Condition {
	if v {
		return &Condition{src: "true", match: func(*http.Request) bool { return true }}
	}
	return &Condition{src: "false", match: func(*http.Request) bool { return false }}
}

// isName reports whether s can name a condition.
func isName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z':
		case i > 0 && (c == '-' || '0' <= c && c <= '9'):
		default:
			return false
		}
	}
	return true
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// render writes a structured condition as compact JSON with sorted keys.
func render(m map[string]any) string {
	b, err := json.Marshal(normalize(m))
	if err != nil {
		return "<structured condition>"
	}
	return string(b)
}

// normalize turns decoder-specific maps and lists into map[string]any and
// []any, so that the value renders as JSON.
func normalize(v any) any {
	if m, ok := asMap(v); ok {
		out := make(map[string]any, len(m))
		for k, x := range m {
			out[k] = normalize(x)
		}
		return out
	}
	if l, ok := asList(v); ok {
		out := make([]any, len(l))
		for i, x := range l {
			out[i] = normalize(x)
		}
		return out
	}
	return v
}
