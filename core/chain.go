package core

import (
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchyard/switchyard/conditions"
	"github.com/switchyard/switchyard/core/handlers"
	"github.com/switchyard/switchyard/internal/tracing"
	"github.com/switchyard/switchyard/registry"
)

// link is one compiled link of a chain.
type link struct {
	name   string
	typ    string // the plugin's type, for its trace span
	inst   registry.Instance
	cond   *conditions.Condition // nil: always runs
	source string                // the condition's source, for the admin API
}

// compose builds a chain once, at config load: the last link wraps the
// handler, the first link is outermost. Each plugin's own handler is guarded
// so that a panic inside it becomes a 500 attributed to that plugin; a link
// whose condition does not hold passes straight to the next one
// (conditions.Condition.Wrap). With tr, each link that runs has a span of
// its own.
func compose(links []link, final http.Handler, panics *prometheus.CounterVec, log *slog.Logger, tr *tracing.Tracer) http.Handler {
	h := guard("", final, nil, log)
	for i := len(links) - 1; i >= 0; i-- {
		l := links[i]
		mw := func(next http.Handler) http.Handler {
			g := guard(l.name, l.inst.Wrap(next), panics.WithLabelValues(l.name), log)
			if tr != nil {
				return tr.Link(l.name, l.typ, g)
			}
			return g
		}
		if l.cond != nil {
			mw = l.cond.Wrap(mw)
		}
		h = mw(h)
	}
	return h
}

// guarded recovers a panic raised by its own handler. Because the handler's
// next is guarded too, a panic that reaches a guard was raised by the plugin
// it guards (or, for the innermost guard, by the route's handler).
type guarded struct {
	plugin  string
	next    http.Handler
	counter prometheus.Counter
	log     *slog.Logger
}

func guard(plugin string, next http.Handler, counter prometheus.Counter, log *slog.Logger) http.Handler {
	return &guarded{plugin: plugin, next: next, counter: counter, log: log}
}

func (g *guarded) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if p := recover(); p != nil {
			g.recovered(w, r, p)
		}
	}()
	g.next.ServeHTTP(w, r)
}

func (g *guarded) recovered(w http.ResponseWriter, r *http.Request, p any) {
	if p == http.ErrAbortHandler {
		panic(p)
	}
	if g.counter != nil {
		g.counter.Inc()
	}
	where := "handler"
	if g.plugin != "" {
		where = "plugin"
	}
	g.log.Error("panic recovered", where, g.plugin, "method", r.Method, "path", r.URL.Path,
		"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
	handlers.JSONError(w, http.StatusInternalServerError, "internal server error")
}
