package core

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/go-chi/chi/v5"
	"github.com/switchyard/switchyard/core/config"
	"github.com/switchyard/switchyard/core/handlers"
)

// otherMethod is the name chi routes every method it does not know under
// (any token method, such as M-SEARCH or PROPFIND): a route without methods:
// is registered for it, so that such requests reach the route's chain.
const otherMethod = "SWITCHYARD-OTHER-METHOD"

func init() { chi.RegisterMethod(otherMethod) }

// chiMethod reports whether chi routes m by name.
func chiMethod(m string) bool {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return true
	}
	return false
}

// extensionMethods routes a request whose method chi does not know as
// otherMethod; the request itself keeps its method.
func extensionMethods(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !chiMethod(r.Method) {
			if rc := chi.RouteContext(r.Context()); rc != nil {
				rc.RouteMethod = otherMethod
			}
		}
		next.ServeHTTP(w, r)
	})
}

// routeMethods returns the methods a route is registered for: HEAD comes
// with GET, as net/http's ServeMux does.
func routeMethods(ms []string) []string {
	out := make([]string, 0, len(ms)+1)
	for _, m := range ms {
		out = append(out, strings.ToUpper(m))
	}
	if slices.Contains(out, http.MethodGet) && !slices.Contains(out, http.MethodHead) {
		out = append(out, http.MethodHead)
	}
	return out
}

// safeRoute turns chi's setup panics (a pattern the validator let through)
// into an error: a bad edit must never take the host down.
func safeRoute(fn func()) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("invalid route: %v", p)
		}
	}()
	fn()
	return nil
}

func notFound(w http.ResponseWriter, _ *http.Request) {
	handlers.JSONError(w, http.StatusNotFound, "not found")
}

// methodNotAllowed answers 405 with the Allow header listing the methods
// that the path does match.
func methodNotAllowed(mux *chi.Mux) http.Handler {
	all := []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, m := range all {
			if mux.Match(chi.NewRouteContext(), m, r.URL.Path) {
				w.Header().Add("Allow", m)
			}
		}
		handlers.JSONError(w, http.StatusMethodNotAllowed, "method not allowed")
	})
}

// routeJSON renders a route's config canonically (pointers followed).
func routeJSON(rt config.Route) string {
	b, err := json.Marshal(rt)
	if err != nil {
		return fmt.Sprint(err)
	}
	return string(b)
}
