package conditions

import (
	"fmt"
	"net/http"
	"net/netip"
	"net/textproto"
	"reflect"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/operators"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
	"github.com/google/cel-go/interpreter"

	"github.com/switchyard/switchyard/internal/reqvars"
)

// The CEL side: the `request` object type, its lazily read fields, the
// helpers, and the one environment that every expression is checked in.

const (
	requestVar      = "request"
	requestTypeName = "switchyard.Request"
)

// Request fields, in the order they enter a cache key.
const (
	fMethod = 1 << iota
	fPath
	fHost
	fScheme
	fRemoteIP
	fContentLength
	fProto
	fRoute
	fHeader // the header map as a whole
	fQuery  // the query map as a whole
	fVars   // the request values set by earlier links (never cached)
)

// requestField describes one field of the request object.
type requestField struct {
	name string
	bit  uint16
	typ  *types.Type
	get  func(st *evalState) ref.Val
}

var (
	stringMapType = types.NewMapType(types.StringType, types.StringType)
	dynMapType    = types.NewMapType(types.StringType, types.DynType)
)

// requestFields lists the fields of the request object, sorted by name.
var requestFields = []requestField{
	{"content_length", fContentLength, types.IntType, func(st *evalState) ref.Val { return types.Int(st.r.ContentLength) }},
	{"header", fHeader, stringMapType, func(st *evalState) ref.Val { return &st.header }},
	{"host", fHost, types.StringType, func(st *evalState) ref.Val { return types.String(hostOnly(st.r.Host)) }},
	{"method", fMethod, types.StringType, func(st *evalState) ref.Val { return methodVal(st.r.Method) }},
	{"path", fPath, types.StringType, func(st *evalState) ref.Val { return types.String(urlPath(st.r)) }},
	{"proto", fProto, types.StringType, func(st *evalState) ref.Val { return protoVal(st.r.Proto) }},
	{"query", fQuery, stringMapType, func(st *evalState) ref.Val { return &st.query }},
	{"remote_ip", fRemoteIP, types.StringType, func(st *evalState) ref.Val { return types.String(ipString(st.remoteIP())) }},
	{"route", fRoute, types.StringType, func(st *evalState) ref.Val { return types.String(routePattern(st.r)) }},
	{"scheme", fScheme, types.StringType, func(st *evalState) ref.Val { return schemeVal(st.r) }},
	{"vars", fVars, dynMapType, func(st *evalState) ref.Val { return &st.vars }},
}

// fieldNames is the list of request fields for error messages.
var fieldNames = func() string {
	names := make([]string, len(requestFields))
	for i, f := range requestFields {
		names[i] = f.name
	}
	return strings.Join(names, ", ")
}()

func lookupField(name string) (*requestField, bool) {
	i := sort.Search(len(requestFields), func(i int) bool { return requestFields[i].name >= name })
	if i < len(requestFields) && requestFields[i].name == name {
		return &requestFields[i], true
	}
	return nil, false
}

// Values boxed once, so that reading a common method, scheme or protocol
// allocates nothing.
var (
	boxedMethods = func() map[string]ref.Val {
		m := map[string]ref.Val{}
		for _, s := range []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"} {
			m[s] = types.String(s)
		}
		return m
	}()
	boxedProtos = func() map[string]ref.Val {
		m := map[string]ref.Val{}
		for _, s := range []string{"HTTP/1.0", "HTTP/1.1", "HTTP/2.0", "HTTP/3.0"} {
			m[s] = types.String(s)
		}
		return m
	}()
	boxedHTTP  ref.Val = types.String("http")
	boxedHTTPS ref.Val = types.String("https")
)

func methodVal(m string) ref.Val {
	if v, ok := boxedMethods[m]; ok {
		return v
	}
	return types.String(m)
}

func protoVal(p string) ref.Val {
	if v, ok := boxedProtos[p]; ok {
		return v
	}
	return types.String(p)
}

func schemeVal(r *http.Request) ref.Val {
	if r.TLS != nil {
		return boxedHTTPS
	}
	return boxedHTTP
}

// provider adds the request object type to CEL's own type registry.
type provider struct {
	*types.Registry
	objType *types.Type
	fields  map[string]*types.FieldType
}

func newProvider() (*provider, error) {
	reg, err := types.NewRegistry()
	if err != nil {
		return nil, err
	}
	p := &provider{
		Registry: reg,
		objType:  types.NewObjectType(requestTypeName),
		fields:   make(map[string]*types.FieldType, len(requestFields)),
	}
	for i := range requestFields {
		f := &requestFields[i]
		p.fields[f.name] = &types.FieldType{
			Type:  f.typ,
			IsSet: func(any) bool { return true },
			GetFrom: func(target any) (any, error) {
				st, ok := target.(*evalState)
				if !ok {
					return nil, fmt.Errorf("request.%s read from %T", f.name, target)
				}
				return f.get(st), nil
			},
		}
	}
	return p, nil
}

// FindStructType implements types.Provider.
func (p *provider) FindStructType(name string) (*types.Type, bool) {
	if name == requestTypeName {
		return types.NewTypeTypeWithParam(p.objType), true
	}
	return p.Registry.FindStructType(name)
}

// FindStructFieldNames implements types.Provider.
func (p *provider) FindStructFieldNames(name string) ([]string, bool) {
	if name == requestTypeName {
		names := make([]string, len(requestFields))
		for i, f := range requestFields {
			names[i] = f.name
		}
		return names, true
	}
	return p.Registry.FindStructFieldNames(name)
}

// FindStructFieldType implements types.Provider.
func (p *provider) FindStructFieldType(name, field string) (*types.FieldType, bool) {
	if name == requestTypeName {
		ft, ok := p.fields[field]
		return ft, ok
	}
	return p.Registry.FindStructFieldType(name, field)
}

// NewValue implements types.Provider: a request cannot be built in an
// expression.
func (p *provider) NewValue(name string, fields map[string]ref.Val) ref.Val {
	if name == requestTypeName {
		return types.NewErr("a %s cannot be constructed", requestTypeName)
	}
	return p.Registry.NewValue(name, fields)
}

// Limits of an expression.
const (
	// maxExprLen bounds the source of one expression, in code points.
	maxExprLen = 8192
	// costLimit bounds the work of one evaluation of an expression that
	// iterates over request data, in CEL cost units (about one per operation,
	// one per ten bytes of string scanned): a few milliseconds at most, and
	// a single pass over a couple of thousand headers. An evaluation over it
	// fails, and the condition does not hold.
	costLimit = 10_000
)

// celEnv is the one CEL environment, built on the first expression that is
// compiled: a configuration without expressions never builds it (the
// environment and its function tables weigh a few hundred KiB). Concurrent
// first compilations wait for one build.
var celEnv = sync.OnceValues(newEnv)

func newEnv() (*cel.Env, error) {
	envBuilds.Add(1)
	p, err := newProvider()
	if err != nil {
		return nil, err
	}
	return cel.NewEnv(
		cel.CustomTypeAdapter(p.Registry),
		cel.CustomTypeProvider(p),
		cel.Variable(requestVar, p.objType),
		cel.ParserExpressionSizeLimit(maxExprLen),
		cel.Function("ip_in",
			cel.Overload("ip_in_string_string", []*cel.Type{cel.StringType, cel.StringType}, cel.BoolType,
				cel.BinaryBinding(ipIn))),
		cel.Function("path_match",
			cel.Overload("path_match_string_string", []*cel.Type{cel.StringType, cel.StringType}, cel.BoolType,
				cel.BinaryBinding(globMatch))),
		cel.Macros(
			cel.GlobalMacro("path_match", 1, expandPathMatch),
			cel.ReceiverMacro("exists", 1, expandExists),
		),
	)
}

// envBuilds counts the builds of the CEL environment (at most one), for the
// tests that hold it lazy.
var envBuilds atomic.Int32

// expandPathMatch rewrites path_match(glob) into path_match(request.path, glob).
func expandPathMatch(eh cel.MacroExprFactory, _ ast.Expr, args []ast.Expr) (ast.Expr, *cel.Error) {
	return eh.NewCall("path_match", eh.NewSelect(eh.NewIdent(requestVar), "path"), args[0]), nil
}

// expandExists rewrites m.exists(key) (one argument; the two-argument form is
// CEL's own macro) into key in m.
func expandExists(eh cel.MacroExprFactory, target ast.Expr, args []ast.Expr) (ast.Expr, *cel.Error) {
	return eh.NewCall(operators.In, args[0], target), nil
}

// ipIn implements ip_in(ip, cidr): whether the address ip lies in the CIDR
// (or equals the single address) cidr. An ip that is not an address (the
// empty remote_ip of a request whose client is unknown) is in no network.
func ipIn(ip, cidr ref.Val) ref.Val {
	s, ok1 := ip.(types.String)
	c, ok2 := cidr.(types.String)
	if !ok1 || !ok2 {
		return types.NoSuchOverloadErr()
	}
	p, err := parsePrefix(string(c))
	if err != nil {
		return types.NewErr("ip_in: %v", err)
	}
	a, err := netip.ParseAddr(string(s))
	if err != nil {
		return types.False
	}
	return types.Bool(p.Contains(a.Unmap()))
}

// globMatch implements path_match(s, glob).
func globMatch(s, pattern ref.Val) ref.Val {
	str, ok1 := s.(types.String)
	pat, ok2 := pattern.(types.String)
	if !ok1 || !ok2 {
		return types.NoSuchOverloadErr()
	}
	return types.Bool(matchGlob(string(pat), string(str), false))
}

// parsePrefix parses a CIDR or a single address (as a full-length prefix).
func parsePrefix(s string) (netip.Prefix, error) {
	if strings.IndexByte(s, '/') >= 0 {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not a CIDR", s)
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), max(p.Bits()-96, 0))
		}
		return p, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not a CIDR or an IP address", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// evalState is the activation of one evaluation: it resolves `request` to
// itself and reads each field from the request only when the expression asks
// for it. States are pooled; nothing of the request outlives the evaluation.
type evalState struct {
	r        *http.Request
	clientIP func(*http.Request) netip.Addr
	ip       netip.Addr
	ipRead   bool
	header   headerMap
	query    queryMap
	vars     varsMap
}

var statePool = sync.Pool{New: func() any {
	st := &evalState{}
	st.header.st = st
	st.query.st = st
	st.vars.st = st
	return st
}}

func getState(r *http.Request, clientIP func(*http.Request) netip.Addr) *evalState {
	st := statePool.Get().(*evalState)
	st.r = r
	st.clientIP = clientIP
	return st
}

func putState(st *evalState) {
	st.r = nil
	st.clientIP = nil
	st.ip = netip.Addr{}
	st.ipRead = false
	st.header.all = nil
	st.query.all = nil
	st.vars.all = nil
	statePool.Put(st)
}

func (st *evalState) remoteIP() netip.Addr {
	if !st.ipRead {
		st.ip = st.clientIP(st.r)
		st.ipRead = true
	}
	return st.ip
}

// ResolveName implements interpreter.Activation.
func (st *evalState) ResolveName(name string) (any, bool) {
	if name == requestVar {
		return st, true
	}
	return nil, false
}

// Parent implements interpreter.Activation.
func (st *evalState) Parent() interpreter.Activation { return nil }

// lazyMap is the part of a request map that needs all entries (iteration,
// size, equality, conversion); it builds them once per evaluation.
type lazyMap struct {
	all traits.Mapper
}

func (m *lazyMap) materialize(build func() map[string]string) traits.Mapper {
	if m.all == nil {
		m.all = types.NewStringStringMap(types.DefaultTypeAdapter, build())
	}
	return m.all
}

// headerMap is request.header: canonical names to first values.
type headerMap struct {
	lazyMap
	st *evalState
}

func (m *headerMap) entries() traits.Mapper {
	return m.materialize(func() map[string]string {
		h := m.st.r.Header
		out := make(map[string]string, len(h))
		for k, v := range h {
			if len(v) > 0 {
				out[k] = v[0]
			}
		}
		return out
	})
}

// Find implements traits.Mapper; the key is canonicalized first.
func (m *headerMap) Find(key ref.Val) (ref.Val, bool) {
	k, ok := key.(types.String)
	if !ok {
		return nil, false
	}
	v, found := firstHeader(m.st.r.Header, textproto.CanonicalMIMEHeaderKey(string(k)))
	if !found {
		return nil, false
	}
	return types.String(v), true
}

// Contains implements traits.Container.
func (m *headerMap) Contains(key ref.Val) ref.Val {
	_, found := m.Find(key)
	return types.Bool(found)
}

// Get implements traits.Indexer.
func (m *headerMap) Get(key ref.Val) ref.Val { return getOrErr(m, key) }

// Iterator implements traits.Iterable.
func (m *headerMap) Iterator() traits.Iterator { return m.entries().Iterator() }

// Size implements traits.Sizer.
func (m *headerMap) Size() ref.Val { return m.entries().Size() }

// ConvertToNative implements ref.Val.
func (m *headerMap) ConvertToNative(t reflect.Type) (any, error) {
	return m.entries().ConvertToNative(t)
}

// ConvertToType implements ref.Val.
func (m *headerMap) ConvertToType(t ref.Type) ref.Val { return m.entries().ConvertToType(t) }

// Equal implements ref.Val.
func (m *headerMap) Equal(other ref.Val) ref.Val { return m.entries().Equal(other) }

// Type implements ref.Val.
func (m *headerMap) Type() ref.Type { return types.MapType }

// Value implements ref.Val.
func (m *headerMap) Value() any { return m.entries().Value() }

// queryMap is request.query: names to first values, decoded.
type queryMap struct {
	lazyMap
	st *evalState
}

func (m *queryMap) entries() traits.Mapper {
	return m.materialize(func() map[string]string {
		out := map[string]string{}
		queryPairs(rawQuery(m.st.r), func(k, v string) {
			k = unescapeQuery(k)
			if _, dup := out[k]; !dup {
				out[k] = unescapeQuery(v)
			}
		})
		return out
	})
}

// Find implements traits.Mapper.
func (m *queryMap) Find(key ref.Val) (ref.Val, bool) {
	k, ok := key.(types.String)
	if !ok {
		return nil, false
	}
	v, found := queryFirst(rawQuery(m.st.r), string(k))
	if !found {
		return nil, false
	}
	return types.String(unescapeQuery(v)), true
}

// Contains implements traits.Container.
func (m *queryMap) Contains(key ref.Val) ref.Val {
	k, ok := key.(types.String)
	if !ok {
		return types.False
	}
	_, found := queryFirst(rawQuery(m.st.r), string(k))
	return types.Bool(found)
}

// Get implements traits.Indexer.
func (m *queryMap) Get(key ref.Val) ref.Val { return getOrErr(m, key) }

// Iterator implements traits.Iterable.
func (m *queryMap) Iterator() traits.Iterator { return m.entries().Iterator() }

// Size implements traits.Sizer.
func (m *queryMap) Size() ref.Val { return m.entries().Size() }

// ConvertToNative implements ref.Val.
func (m *queryMap) ConvertToNative(t reflect.Type) (any, error) {
	return m.entries().ConvertToNative(t)
}

// ConvertToType implements ref.Val.
func (m *queryMap) ConvertToType(t ref.Type) ref.Val { return m.entries().ConvertToType(t) }

// Equal implements ref.Val.
func (m *queryMap) Equal(other ref.Val) ref.Val { return m.entries().Equal(other) }

// Type implements ref.Val.
func (m *queryMap) Type() ref.Type { return types.MapType }

// Value implements ref.Val.
func (m *queryMap) Value() any { return m.entries().Value() }

// varsMap is request.vars: the values that earlier links of the chain set
// with registry.SetValue.
type varsMap struct {
	all traits.Mapper
	st  *evalState
}

func (m *varsMap) entries() traits.Mapper {
	if m.all == nil {
		out := map[string]any{}
		reqvars.From(m.st.r.Context()).All(func(k string, v any) { out[k] = v })
		m.all = types.NewStringInterfaceMap(types.DefaultTypeAdapter, out)
	}
	return m.all
}

// Find implements traits.Mapper.
func (m *varsMap) Find(key ref.Val) (ref.Val, bool) {
	k, ok := key.(types.String)
	if !ok {
		return nil, false
	}
	v, found := reqvars.Get(m.st.r, string(k))
	if !found {
		return nil, false
	}
	return types.DefaultTypeAdapter.NativeToValue(v), true
}

// Contains implements traits.Container.
func (m *varsMap) Contains(key ref.Val) ref.Val {
	_, found := m.Find(key)
	return types.Bool(found)
}

// Get implements traits.Indexer.
func (m *varsMap) Get(key ref.Val) ref.Val { return getOrErr(m, key) }

// Iterator implements traits.Iterable.
func (m *varsMap) Iterator() traits.Iterator { return m.entries().Iterator() }

// Size implements traits.Sizer.
func (m *varsMap) Size() ref.Val { return m.entries().Size() }

// ConvertToNative implements ref.Val.
func (m *varsMap) ConvertToNative(t reflect.Type) (any, error) {
	return m.entries().ConvertToNative(t)
}

// ConvertToType implements ref.Val.
func (m *varsMap) ConvertToType(t ref.Type) ref.Val { return m.entries().ConvertToType(t) }

// Equal implements ref.Val.
func (m *varsMap) Equal(other ref.Val) ref.Val { return m.entries().Equal(other) }

// Type implements ref.Val.
func (m *varsMap) Type() ref.Type { return types.MapType }

// Value implements ref.Val.
func (m *varsMap) Value() any { return m.entries().Value() }

func getOrErr(m traits.Mapper, key ref.Val) ref.Val {
	if v, ok := m.Find(key); ok {
		return v
	}
	return types.NewErr("no such key: %v", key)
}

var (
	_ traits.Mapper = (*headerMap)(nil)
	_ traits.Mapper = (*queryMap)(nil)
	_ traits.Mapper = (*varsMap)(nil)
)
