package registry

import (
	"net/http"

	"github.com/switchyard/switchyard/internal/reqvars"
)

// SetValue returns r carrying the request value name = v, for the links,
// conditions and handler later in the chain: pass the returned request on
// (next.ServeHTTP(w, registry.SetValue(r, "user", id))).
//
// Later links read it with [Value] or [ValueOf], a `when:` condition as
// request.vars.NAME (CEL) or with the structured matcher vars: {NAME: glob},
// a ratelimit key as var:NAME or in a CEL key expression, a Go handler with
// [Value]. Conditions see strings, booleans, integers and floats as such,
// and other types as CEL converts them.
//
// The first value set on a request costs three small allocations (the
// values, a context and the request copy); later values are added in place
// and r itself is returned. A request that sets nothing pays nothing. Set
// again, a name takes the new value. Names are case-sensitive; use names
// CEL can select (letters, digits and _) so that request.vars.NAME reads
// them, or request.vars["na-me"] otherwise. The values of one request are
// not safe for concurrent SetValue calls from several goroutines.
func SetValue(r *http.Request, name string, v any) *http.Request {
	return reqvars.Set(r, name, v)
}

// Value returns the request value name that an earlier link set on r. It
// allocates nothing.
func Value(r *http.Request, name string) (any, bool) {
	return reqvars.Get(r, name)
}

// ValueOf returns the request value name when it was set with type T.
func ValueOf[T any](r *http.Request, name string) (T, bool) {
	v, ok := reqvars.Get(r, name)
	t, isT := v.(T)
	return t, ok && isT
}
