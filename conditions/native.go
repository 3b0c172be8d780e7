package conditions

import (
	"net/http"
	"net/netip"
	"net/textproto"
	"regexp"
	"strings"

	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/operators"
	"github.com/google/cel-go/common/types"
)

// Common expressions (comparisons of request fields with constants, prefix
// and glob tests, header and query lookups, ip_in, and their combinations)
// are translated from the checked tree into Go closures that give exactly
// CEL's answer, error semantics included, without the interpreter, without
// allocating, and faster than a cache lookup. Anything outside that subset
// runs as a CEL program. The differential tests hold the two to the same
// answers.

// tri is a CEL boolean result: false, true, or an error (a missing map key).
type tri uint8

const (
	triFalse tri = iota
	triTrue
	triErr
)

func triOf(b bool) tri {
	if b {
		return triTrue
	}
	return triFalse
}

type (
	boolNode func(r *http.Request) tri
	// strNode returns ok == false for an error.
	strNode func(r *http.Request) (s string, ok bool)
	intNode func(r *http.Request) (int64, bool)
)

// native translates checked expressions for one compiler.
type native struct {
	clientIP func(*http.Request) netip.Addr
}

// compileNative returns the Go predicate of the expression, or nil when the
// expression is outside the subset.
func (n *native) compile(e ast.Expr) matcher {
	b := n.boolean(e)
	if b == nil {
		return nil
	}
	return func(r *http.Request) bool { return b(r) == triTrue }
}

func (n *native) boolean(e ast.Expr) boolNode {
	switch e.Kind() {
	case ast.LiteralKind:
		if v, ok := e.AsLiteral().(types.Bool); ok {
			t := triOf(bool(v))
			return func(*http.Request) tri { return t }
		}
		return nil
	case ast.SelectKind:
		sel := e.AsSelect()
		if !sel.IsTestOnly() {
			return nil
		}
		if isRequest(sel.Operand()) {
			if _, ok := lookupField(sel.FieldName()); ok {
				return func(*http.Request) tri { return triTrue }
			}
			return nil
		}
		if which, ok := mapField(sel.Operand()); ok {
			return n.presence(which, sel.FieldName())
		}
		return nil
	case ast.CallKind:
		return n.call(e.AsCall())
	}
	return nil
}

func (n *native) call(c ast.CallExpr) boolNode {
	args := c.Args()
	switch fn := c.FunctionName(); {
	case fn == operators.LogicalAnd && len(args) == 2:
		a, b := n.boolean(args[0]), n.boolean(args[1])
		if a == nil || b == nil {
			return nil
		}
		return func(r *http.Request) tri {
			x := a(r)
			if x == triFalse {
				return triFalse
			}
			y := b(r)
			if y == triFalse {
				return triFalse
			}
			if x == triErr || y == triErr {
				return triErr
			}
			return triTrue
		}
	case fn == operators.LogicalOr && len(args) == 2:
		a, b := n.boolean(args[0]), n.boolean(args[1])
		if a == nil || b == nil {
			return nil
		}
		return func(r *http.Request) tri {
			x := a(r)
			if x == triTrue {
				return triTrue
			}
			y := b(r)
			if y == triTrue {
				return triTrue
			}
			if x == triErr || y == triErr {
				return triErr
			}
			return triFalse
		}
	case fn == operators.LogicalNot && len(args) == 1:
		a := n.boolean(args[0])
		if a == nil {
			return nil
		}
		return func(r *http.Request) tri {
			switch a(r) {
			case triTrue:
				return triFalse
			case triFalse:
				return triTrue
			}
			return triErr
		}
	case fn == operators.Conditional && len(args) == 3:
		cond, a, b := n.boolean(args[0]), n.boolean(args[1]), n.boolean(args[2])
		if cond == nil || a == nil || b == nil {
			return nil
		}
		return func(r *http.Request) tri {
			switch cond(r) {
			case triTrue:
				return a(r)
			case triFalse:
				return b(r)
			}
			return triErr
		}
	case fn == operators.Equals || fn == operators.NotEquals || fn == operators.Less ||
		fn == operators.LessEquals || fn == operators.Greater || fn == operators.GreaterEquals:
		if len(args) == 2 {
			return n.compare(fn, args[0], args[1])
		}
	case fn == operators.In && len(args) == 2:
		if which, ok := mapField(args[1]); ok {
			if k, ok := stringLiteral(args[0]); ok {
				return n.presence(which, k)
			}
			return nil
		}
		return n.inList(args[0], args[1])
	case (fn == "startsWith" || fn == "endsWith" || fn == "contains") && c.IsMemberFunction() && len(args) == 1:
		s := n.str(c.Target())
		lit, ok := stringLiteral(args[0])
		if s == nil || !ok {
			return nil
		}
		test := strings.HasPrefix
		if fn == "endsWith" {
			test = strings.HasSuffix
		} else if fn == "contains" {
			test = strings.Contains
		}
		return strTest(s, func(v string) bool { return test(v, lit) })
	case fn == "matches":
		var target, pattern ast.Expr
		switch {
		case c.IsMemberFunction() && len(args) == 1:
			target, pattern = c.Target(), args[0]
		case !c.IsMemberFunction() && len(args) == 2:
			target, pattern = args[0], args[1]
		default:
			return nil
		}
		s := n.str(target)
		lit, ok := stringLiteral(pattern)
		if s == nil || !ok {
			return nil
		}
		re, err := regexp.Compile(lit)
		if err != nil {
			return nil
		}
		return strTest(s, re.MatchString)
	case fn == "path_match" && len(args) == 2:
		s := n.str(args[0])
		lit, ok := stringLiteral(args[1])
		if s == nil || !ok {
			return nil
		}
		g := compileGlob(lit, false)
		return strTest(s, g.match)
	case fn == "ip_in" && len(args) == 2:
		lit, ok := stringLiteral(args[1])
		if !ok {
			return nil
		}
		p, err := parsePrefix(lit)
		if err != nil {
			return nil
		}
		if sel, ok := requestSelect(args[0]); ok && sel == "remote_ip" {
			// The client address itself, without rendering it as a
			// string and parsing it back.
			clientIP := n.clientIP
			return func(r *http.Request) tri {
				a := clientIP(r)
				return triOf(a.IsValid() && p.Contains(a.Unmap()))
			}
		}
		s := n.str(args[0])
		if s == nil {
			return nil
		}
		return strTest(s, func(v string) bool {
			a, err := netip.ParseAddr(v)
			return err == nil && p.Contains(a.Unmap())
		})
	}
	return nil
}

// strTest applies a test to a string node; an error stays an error.
func strTest(s strNode, test func(string) bool) boolNode {
	return func(r *http.Request) tri {
		v, ok := s(r)
		if !ok {
			return triErr
		}
		return triOf(test(v))
	}
}

// compare builds a comparison of two strings or two integers.
func (n *native) compare(op string, x, y ast.Expr) boolNode {
	if a, b := n.str(x), n.str(y); a != nil && b != nil {
		cmp := stringCmp(op)
		return func(r *http.Request) tri {
			u, ok1 := a(r)
			v, ok2 := b(r)
			if !ok1 || !ok2 {
				return triErr
			}
			return triOf(cmp(u, v))
		}
	}
	if a, b := n.integer(x), n.integer(y); a != nil && b != nil {
		cmp := intCmp(op)
		return func(r *http.Request) tri {
			u, ok1 := a(r)
			v, ok2 := b(r)
			if !ok1 || !ok2 {
				return triErr
			}
			return triOf(cmp(u, v))
		}
	}
	if op != operators.Equals && op != operators.NotEquals {
		return nil
	}
	if a, b := n.boolean(x), n.boolean(y); a != nil && b != nil {
		eq := op == operators.Equals
		return func(r *http.Request) tri {
			u, v := a(r), b(r)
			if u == triErr || v == triErr {
				return triErr
			}
			return triOf((u == v) == eq)
		}
	}
	return nil
}

func stringCmp(op string) func(a, b string) bool {
	switch op {
	case operators.Equals:
		return func(a, b string) bool { return a == b }
	case operators.NotEquals:
		return func(a, b string) bool { return a != b }
	case operators.Less:
		return func(a, b string) bool { return a < b }
	case operators.LessEquals:
		return func(a, b string) bool { return a <= b }
	case operators.Greater:
		return func(a, b string) bool { return a > b }
	}
	return func(a, b string) bool { return a >= b }
}

func intCmp(op string) func(a, b int64) bool {
	switch op {
	case operators.Equals:
		return func(a, b int64) bool { return a == b }
	case operators.NotEquals:
		return func(a, b int64) bool { return a != b }
	case operators.Less:
		return func(a, b int64) bool { return a < b }
	case operators.LessEquals:
		return func(a, b int64) bool { return a <= b }
	case operators.Greater:
		return func(a, b int64) bool { return a > b }
	}
	return func(a, b int64) bool { return a >= b }
}

// inList is x in [constants...], for strings or integers.
func (n *native) inList(x, list ast.Expr) boolNode {
	if list.Kind() != ast.ListKind {
		return nil
	}
	elems := list.AsList().Elements()
	if s := n.str(x); s != nil {
		set := make([]string, len(elems))
		for i, el := range elems {
			lit, ok := stringLiteral(el)
			if !ok {
				return nil
			}
			set[i] = lit
		}
		return strTest(s, func(v string) bool {
			for _, m := range set {
				if v == m {
					return true
				}
			}
			return false
		})
	}
	if in := n.integer(x); in != nil {
		set := make([]int64, len(elems))
		for i, el := range elems {
			lit, ok := intLiteral(el)
			if !ok {
				return nil
			}
			set[i] = lit
		}
		return func(r *http.Request) tri {
			v, ok := in(r)
			if !ok {
				return triErr
			}
			for _, m := range set {
				if v == m {
					return triTrue
				}
			}
			return triFalse
		}
	}
	return nil
}

// presence is whether a header or query entry exists.
func (n *native) presence(which uint16, key string) boolNode {
	if which == fHeader {
		name := textproto.CanonicalMIMEHeaderKey(key)
		return func(r *http.Request) tri {
			return triOf(len(r.Header[name]) > 0)
		}
	}
	return func(r *http.Request) tri {
		_, ok := queryFirst(rawQuery(r), key)
		return triOf(ok)
	}
}

// requestSelect reports whether e is request.<field>, and the field.
func requestSelect(e ast.Expr) (string, bool) {
	if e.Kind() != ast.SelectKind {
		return "", false
	}
	sel := e.AsSelect()
	if sel.IsTestOnly() || !isRequest(sel.Operand()) {
		return "", false
	}
	return sel.FieldName(), true
}

func (n *native) str(e ast.Expr) strNode {
	if s, ok := stringLiteral(e); ok {
		return func(*http.Request) (string, bool) { return s, true }
	}
	if field, ok := requestSelect(e); ok {
		switch field {
		case "method":
			return func(r *http.Request) (string, bool) { return r.Method, true }
		case "path":
			return func(r *http.Request) (string, bool) { return urlPath(r), true }
		case "host":
			return func(r *http.Request) (string, bool) { return hostOnly(r.Host), true }
		case "scheme":
			return func(r *http.Request) (string, bool) { return scheme(r), true }
		case "proto":
			return func(r *http.Request) (string, bool) { return r.Proto, true }
		case "route":
			return func(r *http.Request) (string, bool) { return routePattern(r), true }
		case "remote_ip":
			clientIP := n.clientIP
			return func(r *http.Request) (string, bool) { return ipString(clientIP(r)), true }
		}
		return nil
	}
	var which uint16
	var key string
	switch e.Kind() {
	case ast.SelectKind: // request.header.Name
		sel := e.AsSelect()
		w, ok := mapField(sel.Operand())
		if !ok || sel.IsTestOnly() {
			return nil
		}
		which, key = w, sel.FieldName()
	case ast.CallKind: // request.header["Name"]
		c := e.AsCall()
		args := c.Args()
		if c.FunctionName() != operators.Index || len(args) != 2 {
			return nil
		}
		w, ok := mapField(args[0])
		k, lit := stringLiteral(args[1])
		if !ok || !lit {
			return nil
		}
		which, key = w, k
	default:
		return nil
	}
	if which == fHeader {
		name := textproto.CanonicalMIMEHeaderKey(key)
		return func(r *http.Request) (string, bool) { return firstHeader(r.Header, name) }
	}
	return func(r *http.Request) (string, bool) {
		v, ok := queryFirst(rawQuery(r), key)
		if !ok {
			return "", false
		}
		return unescapeQuery(v), true
	}
}

func (n *native) integer(e ast.Expr) intNode {
	if v, ok := intLiteral(e); ok {
		return func(*http.Request) (int64, bool) { return v, true }
	}
	if field, ok := requestSelect(e); ok && field == "content_length" {
		return func(r *http.Request) (int64, bool) { return r.ContentLength, true }
	}
	return nil
}

func intLiteral(e ast.Expr) (int64, bool) {
	if e.Kind() != ast.LiteralKind {
		return 0, false
	}
	v, ok := e.AsLiteral().(types.Int)
	return int64(v), ok
}
