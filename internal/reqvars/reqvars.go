// Package reqvars holds the named values that the links of a chain set on a
// request for the links, conditions and handler after them. Plugins use it
// through registry.SetValue and registry.Value; the condition compiler reads
// it for request.vars. It imports nothing of Switchyard.
package reqvars

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
)

// ctxKey is the context key of a request's values.
type ctxKey struct{ name string }

var key = &ctxKey{"switchyard request values"}

// Vars are the values set on one request, in the order they were first set.
// A chain rarely sets more than a handful, so they are kept in two slices
// and found by a linear scan.
type Vars struct {
	names []string
	vals  []any
}

// Set returns r carrying name = v. The first value set on a request gives
// it a new context (one allocation for the values, one for the context and
// one for the request copy); later values are added to the same set in
// place and r itself is returned. Setting a name again replaces its value.
// The values of a request are not safe for concurrent Set from several
// goroutines.
func Set(r *http.Request, name string, v any) *http.Request {
	if vs := From(r.Context()); vs != nil {
		vs.set(name, v)
		return r
	}
	vs := &Vars{names: make([]string, 0, 4), vals: make([]any, 0, 4)}
	vs.set(name, v)
	return r.WithContext(context.WithValue(r.Context(), key, vs))
}

// From returns the values of a request context, nil when none was set.
func From(ctx context.Context) *Vars {
	vs, _ := ctx.Value(key).(*Vars)
	return vs
}

// Get returns the value of name on r. It allocates nothing.
func Get(r *http.Request, name string) (any, bool) {
	vs := From(r.Context())
	if vs == nil {
		return nil, false
	}
	return vs.Get(name)
}

func (vs *Vars) set(name string, v any) {
	for i, n := range vs.names {
		if n == name {
			vs.vals[i] = v
			return
		}
	}
	vs.names = append(vs.names, name)
	vs.vals = append(vs.vals, v)
}

// Get returns the value of name.
func (vs *Vars) Get(name string) (any, bool) {
	if vs == nil {
		return nil, false
	}
	for i, n := range vs.names {
		if n == name {
			return vs.vals[i], true
		}
	}
	return nil, false
}

// Len is the number of values.
func (vs *Vars) Len() int {
	if vs == nil {
		return 0
	}
	return len(vs.names)
}

// All calls fn for each value in the order they were first set.
func (vs *Vars) All(fn func(name string, v any)) {
	if vs == nil {
		return
	}
	for i, n := range vs.names {
		fn(n, vs.vals[i])
	}
}

// Text is a request value as text, the way matchers compare it and rate
// limiters key on it: strings as they are, Stringers by their String,
// booleans and integers in decimal, anything else as fmt prints it.
func Text(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case fmt.Stringer:
		return x.String()
	case bool:
		return strconv.FormatBool(x)
	case int:
		return strconv.Itoa(x)
	case int64:
		return strconv.FormatInt(x, 10)
	}
	return fmt.Sprint(v)
}
