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
	intNode  func(r *http.Request) (int64, bool)
)

// strExpr is a string operand: a literal, a request field, or a header or
// query entry by a constant name. It is read with a direct call, so that a
// translated comparison costs one closure call and one method call.
type strExpr struct {
	kind     strKind
	lit      string // the literal, or the (canonical) header or query name
	clientIP func(*http.Request) netip.Addr
}

type strKind uint8

const (
	sLit strKind = iota
	sMethod
	sPath
	sHost
	sScheme
	sProto
	sRoute
	sRemoteIP
	sHeader
	sQuery
)

// get reads the operand; ok is false for an error (a missing entry).
func (e *strExpr) get(r *http.Request) (string, bool) {
	switch e.kind {
	case sLit:
		return e.lit, true
	case sMethod:
		return r.Method, true
	case sPath:
		return urlPath(r), true
	case sHost:
		return hostOnly(r.Host), true
	case sScheme:
		return scheme(r), true
	case sProto:
		return r.Proto, true
	case sRoute:
		return routePattern(r), true
	case sRemoteIP:
		return ipString(e.clientIP(r)), true
	case sHeader:
		return firstHeader(r.Header, e.lit)
	}
	v, ok := queryFirst(rawQuery(r), e.lit)
	if !ok {
		return "", false
	}
	return unescapeQuery(v), true
}

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

// logical is && (decisive false) or || (decisive true) as CEL evaluates
// them: either side's decisive value decides, even when the other side is
// an error; otherwise an error on either side is the result.
func logical(a, b boolNode, decisive, otherwise tri) boolNode {
	return func(r *http.Request) tri {
		x := a(r)
		if x == decisive {
			return decisive
		}
		y := b(r)
		if y == decisive {
			return decisive
		}
		if x == triErr || y == triErr {
			return triErr
		}
		return otherwise
	}
}

func (n *native) call(c ast.CallExpr) boolNode {
	args := c.Args()
	switch fn := c.FunctionName(); {
	case (fn == operators.LogicalAnd || fn == operators.LogicalOr) && len(args) == 2:
		a, b := n.boolean(args[0]), n.boolean(args[1])
		if a == nil || b == nil {
			return nil
		}
		if fn == operators.LogicalAnd {
			return logical(a, b, triFalse, triTrue)
		}
		return logical(a, b, triTrue, triFalse)
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
		switch fn {
		case "startsWith":
			return func(r *http.Request) tri {
				v, ok := s.get(r)
				if !ok {
					return triErr
				}
				return triOf(strings.HasPrefix(v, lit))
			}
		case "endsWith":
			return func(r *http.Request) tri {
				v, ok := s.get(r)
				if !ok {
					return triErr
				}
				return triOf(strings.HasSuffix(v, lit))
			}
		}
		return func(r *http.Request) tri {
			v, ok := s.get(r)
			if !ok {
				return triErr
			}
			return triOf(strings.Contains(v, lit))
		}
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

// strTest applies a test to a string operand; an error stays an error.
func strTest(s *strExpr, test func(string) bool) boolNode {
	return func(r *http.Request) tri {
		v, ok := s.get(r)
		if !ok {
			return triErr
		}
		return triOf(test(v))
	}
}

// compare builds a comparison of two strings or two integers.
func (n *native) compare(op string, x, y ast.Expr) boolNode {
	if a, b := n.str(x), n.str(y); a != nil && b != nil {
		if b.kind != sLit && a.kind == sLit {
			a, b = b, a
			op = mirror(op)
		}
		if b.kind == sLit && (op == operators.Equals || op == operators.NotEquals) {
			// The common case, request.method == "GET", in one closure.
			lit, eq := b.lit, op == operators.Equals
			return func(r *http.Request) tri {
				v, ok := a.get(r)
				if !ok {
					return triErr
				}
				return triOf((v == lit) == eq)
			}
		}
		cmp := stringCmp(op)
		return func(r *http.Request) tri {
			u, ok1 := a.get(r)
			v, ok2 := b.get(r)
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

// mirror is the operator with its operands swapped: a < b is b > a.
func mirror(op string) string {
	switch op {
	case operators.Less:
		return operators.Greater
	case operators.LessEquals:
		return operators.GreaterEquals
	case operators.Greater:
		return operators.Less
	case operators.GreaterEquals:
		return operators.LessEquals
	}
	return op
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
		return func(r *http.Request) tri {
			v, ok := s.get(r)
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

// str returns the string operand e, or nil when e is not one.
func (n *native) str(e ast.Expr) *strExpr {
	if s, ok := stringLiteral(e); ok {
		return &strExpr{kind: sLit, lit: s}
	}
	if field, ok := requestSelect(e); ok {
		kinds := map[string]strKind{
			"method": sMethod, "path": sPath, "host": sHost, "scheme": sScheme,
			"proto": sProto, "route": sRoute, "remote_ip": sRemoteIP,
		}
		k, ok := kinds[field]
		if !ok {
			return nil
		}
		return &strExpr{kind: k, clientIP: n.clientIP}
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
		return &strExpr{kind: sHeader, lit: textproto.CanonicalMIMEHeaderKey(key)}
	}
	return &strExpr{kind: sQuery, lit: key}
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
