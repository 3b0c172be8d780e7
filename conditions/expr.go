package conditions

import (
	"math"
	"net/http"
	"net/netip"
	"net/textproto"
	"regexp"
	"slices"
	"strings"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/checker"
	"github.com/google/cel-go/common"
	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/operators"
	"github.com/google/cel-go/common/types"
)

// program is a checked, planned CEL expression and what it reads.
type program struct {
	src   string
	prg   cel.Program
	reads reads
	// tracked is set when the program counts its cost while it runs and
	// stops at costLimit.
	tracked bool
	// expr is the checked tree.
	expr ast.Expr
}

// maxRequestBytes is the largest size assumed for any string or map that a
// request carries when bounding an expression's cost: the default
// server.max_header_bytes, which the request line and headers must fit in.
const maxRequestBytes = 1 << 20

// costEstimator gives the checker the sizes of request data and the cost of
// the helpers, so that an expression's worst case can be bounded statically.
type costEstimator struct{}

// EstimateSize implements checker.CostEstimator.
func (costEstimator) EstimateSize(n checker.AstNode) *checker.SizeEstimate {
	path := n.Path()
	if len(path) < 2 || path[0] != requestVar {
		return nil
	}
	if n.Type().Kind() == types.MapKind {
		// A header or query entry takes at least a few bytes.
		return &checker.SizeEstimate{Min: 0, Max: maxRequestBytes / 4}
	}
	return &checker.SizeEstimate{Min: 0, Max: maxRequestBytes}
}

// EstimateCallCost implements checker.CostEstimator.
func (costEstimator) EstimateCallCost(fn, _ string, target *checker.AstNode, args []checker.AstNode) *checker.CallEstimate {
	switch fn {
	case "path_match":
		// A glob backtracks to its last '*' only: at worst one pass over
		// the string per byte of the pattern.
		if len(args) == 2 {
			s, p := sizeMax(args[0]), sizeMax(args[1])
			return &checker.CallEstimate{CostEstimate: checker.CostEstimate{Min: 1, Max: satMul(s, p)/10 + 1}}
		}
	case "ip_in":
		return &checker.CallEstimate{CostEstimate: checker.CostEstimate{Min: 1, Max: 1}}
	}
	return nil
}

func sizeMax(n checker.AstNode) uint64 {
	if sz := n.ComputedSize(); sz != nil {
		return sz.Max
	}
	if p := n.Path(); len(p) >= 2 && p[0] == requestVar {
		return maxRequestBytes
	}
	return math.MaxUint64
}

func satMul(a, b uint64) uint64 {
	if a != 0 && b > math.MaxUint64/a {
		return math.MaxUint64
	}
	return a * b
}

// reads is the set of request attributes an expression reads, as far as the
// checked syntax tree tells. When opaque is set the set is not known (a whole
// map is iterated, a key is computed), and results cannot be cached.
type reads struct {
	fields  uint16   // fMethod... (fHeader and fQuery only with opaque)
	headers []string // canonical header names looked up by constant key
	queries []string // query names looked up by constant key
	opaque  bool
}

// compileProgram parses, checks and plans src, whose result must have type want.
func compileProgram(key, src string, want *types.Type) (*program, error) {
	env, err := celEnv()
	if err != nil {
		return nil, errorf(key, "expression environment: %v", err)
	}
	if strings.TrimSpace(src) == "" {
		return nil, errorf(key, "empty expression: expected a CEL expression over request, or the name of a condition")
	}
	checked, iss := env.Compile(src)
	if iss != nil && iss.Err() != nil {
		return nil, issueError(key, src, iss.Errors()[0])
	}
	if out := checked.OutputType(); !out.IsExactType(want) && !out.IsExactType(types.DynType) {
		return nil, &Error{Key: key, Column: 1, Msg: "expected an expression of type " + want.String() + ", got " + out.String()}
	}
	native := checked.NativeRep()
	if err := checkConstants(key, src, native); err != nil {
		return nil, err
	}
	// Without a comprehension an expression's cost is linear in the size of
	// the request, which the server bounds. A comprehension over request data
	// can be quadratic or worse: such an expression runs under CEL's cost
	// limit, counted while it runs. The counting costs far more than a small
	// expression itself, so it is left off where a comprehension is bounded
	// statically (a literal list), with every string and map of the request
	// assumed as large as a request can be.
	opts := []cel.ProgramOption{cel.EvalOptions(cel.OptOptimize)}
	tracked := false
	if hasComprehension(native.Expr()) {
		est, err := env.EstimateCost(checked, costEstimator{})
		tracked = err != nil || est.Max > costLimit
	}
	if tracked {
		opts = append(opts, cel.CostLimit(costLimit))
	}
	prg, err := env.Program(checked, opts...)
	if err != nil {
		return nil, &Error{Key: key, Column: 1, Msg: err.Error()}
	}
	p := &program{src: src, prg: prg, tracked: tracked, expr: native.Expr()}
	p.reads.collect(native.Expr())
	p.reads.finish()
	return p, nil
}

// hasComprehension reports whether e holds a comprehension (the macros all,
// exists, exists_one, map, filter).
func hasComprehension(e ast.Expr) bool {
	found := false
	ast.PostOrderVisit(e, ast.NewExprVisitor(func(e ast.Expr) {
		if e.Kind() == ast.ComprehensionKind {
			found = true
		}
	}))
	return found
}

// issueError turns a CEL issue into an *Error with the expression's position.
func issueError(key, src string, e *common.Error) *Error {
	msg := e.Message
	switch {
	case strings.HasPrefix(msg, "undefined field"):
		msg += " (request has " + fieldNames + ")"
	case strings.HasPrefix(msg, "undeclared reference to"):
		msg = strings.TrimSuffix(msg, " (in container '')") +
			" (an expression reads request and calls functions such as ip_in and path_match)"
	}
	return located(key, src, e.Location, msg)
}

func located(key, src string, loc common.Location, msg string) *Error {
	err := &Error{Key: key, Msg: msg}
	if loc == nil || loc.Line() < 1 {
		return err
	}
	err.Column = loc.Column() + 1
	if strings.Contains(src, "\n") {
		err.Line = loc.Line()
	}
	return err
}

// checkConstants validates constant arguments that the checker leaves to run
// time, so that they fail at load with their position: the CIDR of ip_in and
// the pattern of matches.
func checkConstants(key, src string, a *ast.AST) *Error {
	var bad *Error
	ast.PostOrderVisit(a.Expr(), ast.NewExprVisitor(func(e ast.Expr) {
		if bad != nil || e.Kind() != ast.CallKind {
			return
		}
		call := e.AsCall()
		args := call.Args()
		var (
			arg   ast.Expr
			check func(string) error
		)
		switch {
		case call.FunctionName() == "ip_in" && len(args) == 2:
			arg, check = args[1], func(s string) error {
				_, err := parsePrefix(s)
				return err
			}
		case call.FunctionName() == "matches" && len(args) >= 1:
			arg, check = args[len(args)-1], func(s string) error {
				_, err := regexp.Compile(s)
				return err
			}
		default:
			return
		}
		if s, ok := stringLiteral(arg); ok {
			if err := check(s); err != nil {
				bad = located(key, src, a.SourceInfo().GetStartLocation(arg.ID()), call.FunctionName()+": "+err.Error())
			}
		}
	}))
	return bad
}

func stringLiteral(e ast.Expr) (string, bool) {
	if e.Kind() != ast.LiteralKind {
		return "", false
	}
	s, ok := e.AsLiteral().(types.String)
	return string(s), ok
}

// mapField reports whether e is request.header or request.query, and which.
func mapField(e ast.Expr) (uint16, bool) {
	if e.Kind() != ast.SelectKind {
		return 0, false
	}
	sel := e.AsSelect()
	if sel.IsTestOnly() || !isRequest(sel.Operand()) {
		return 0, false
	}
	switch sel.FieldName() {
	case "header":
		return fHeader, true
	case "query":
		return fQuery, true
	}
	return 0, false
}

func isRequest(e ast.Expr) bool {
	return e.Kind() == ast.IdentKind && e.AsIdent() == requestVar
}

// addKey records a constant lookup in request.header or request.query.
func (rd *reads) addKey(which uint16, key string) {
	if which == fHeader {
		rd.headers = append(rd.headers, textproto.CanonicalMIMEHeaderKey(key))
	} else {
		rd.queries = append(rd.queries, key)
	}
}

// collect walks the checked tree. A request field read by name is recorded;
// a header or query entry looked up by a constant key (m["k"], m.k, has(m.k),
// "k" in m, m.exists("k")) is recorded by key; any other use of request or of
// its maps makes the set opaque.
func (rd *reads) collect(e ast.Expr) {
	switch e.Kind() {
	case ast.IdentKind:
		if isRequest(e) {
			rd.opaque = true
		}
	case ast.SelectKind:
		sel := e.AsSelect()
		if isRequest(sel.Operand()) {
			f, ok := lookupField(sel.FieldName())
			switch {
			case !ok:
				rd.opaque = true
			case f.bit == fHeader || f.bit == fQuery || f.bit == fVars:
				rd.fields |= f.bit
				rd.opaque = true // the whole map is used
			default:
				rd.fields |= f.bit
			}
			return
		}
		if which, ok := mapField(sel.Operand()); ok {
			rd.addKey(which, sel.FieldName())
			return
		}
		rd.collect(sel.Operand())
	case ast.CallKind:
		call := e.AsCall()
		args := call.Args()
		switch {
		case call.FunctionName() == operators.Index && len(args) == 2:
			if which, ok := mapField(args[0]); ok {
				if k, ok := stringLiteral(args[1]); ok {
					rd.addKey(which, k)
					return
				}
			}
		case (call.FunctionName() == operators.In || call.FunctionName() == operators.OldIn) && len(args) == 2:
			if which, ok := mapField(args[1]); ok {
				if k, ok := stringLiteral(args[0]); ok {
					rd.addKey(which, k)
					return
				}
			}
		case call.FunctionName() == "exists" && call.IsMemberFunction() && len(args) == 1:
			if which, ok := mapField(call.Target()); ok {
				if k, ok := stringLiteral(args[0]); ok {
					rd.addKey(which, k)
					return
				}
			}
		}
		if call.IsMemberFunction() {
			rd.collect(call.Target())
		}
		for _, a := range args {
			rd.collect(a)
		}
	case ast.ComprehensionKind:
		c := e.AsComprehension()
		if c.IterVar() == requestVar || c.IterVar2() == requestVar || c.AccuVar() == requestVar {
			rd.opaque = true // `request` is shadowed: be safe
		}
		rd.collect(c.IterRange())
		rd.collect(c.AccuInit())
		rd.collect(c.LoopCondition())
		rd.collect(c.LoopStep())
		rd.collect(c.Result())
	case ast.ListKind:
		for _, el := range e.AsList().Elements() {
			rd.collect(el)
		}
	case ast.MapKind:
		for _, en := range e.AsMap().Entries() {
			me := en.AsMapEntry()
			rd.collect(me.Key())
			rd.collect(me.Value())
		}
	case ast.StructKind:
		for _, f := range e.AsStruct().Fields() {
			rd.collect(f.AsStructField().Value())
		}
	}
}

// none reports whether nothing of the request is read.
func (rd *reads) none() bool {
	return rd.fields == 0 && len(rd.headers) == 0 && len(rd.queries) == 0 && !rd.opaque
}

func (rd *reads) finish() {
	slices.Sort(rd.headers)
	rd.headers = slices.Compact(rd.headers)
	slices.Sort(rd.queries)
	rd.queries = slices.Compact(rd.queries)
}

// eval runs the program on r and returns its result; an evaluation error is
// reported as ok == false.
func (p *program) eval(r *http.Request, clientIP func(*http.Request) netip.Addr) (any, bool) {
	st := getState(r, clientIP)
	out, _, err := p.prg.Eval(st)
	putState(st)
	if err != nil || out == nil {
		return nil, false
	}
	return out.Value(), true
}

// evalBool runs a bool program; an error or a non-bool result is false.
func (p *program) evalBool(r *http.Request, clientIP func(*http.Request) netip.Addr) bool {
	st := getState(r, clientIP)
	v := p.evalState(st)
	putState(st)
	return v
}

func (p *program) evalState(st *evalState) bool {
	out, _, err := p.prg.Eval(st)
	if err != nil {
		return false
	}
	b, ok := out.(types.Bool)
	return ok && bool(b)
}
