package core

import (
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/switchyard/switchyard/core/config"
	"github.com/switchyard/switchyard/core/handlers"
	"github.com/switchyard/switchyard/internal/server"
)

// fastPaths builds the paths that bypass every chain: /health, /metrics,
// /static/*, the admin routes, and the routes named in
// performance.routing.fast_paths (served by their handler alone).
func (b *builder) fastPaths() fastPaths {
	h, s, cfg := b.h, b.snap, b.cfg
	f := fastPaths{exact: map[string]http.Handler{}}
	health := healthHandler(s.Version)
	f.addExact("/health", b.instrumentFast("/health", health))
	f.addExact("/metrics", b.instrument("/metrics", promhttp.HandlerFor(h.metrics.reg, promhttp.HandlerOpts{
		EnableOpenMetrics: true,
		ErrorLog:          server.ErrorLog(h.log),
	})))
	// /static/* is always a fast path; without a root directory it answers 404.
	var static http.Handler = http.HandlerFunc(notFound)
	if cfg.Static.Root != "" {
		if st, err := handlers.Static(cfg.Static.Root); err == nil {
			s.closers = append(s.closers, st)
			static = http.StripPrefix("/static", staticRest(st))
		} else {
			h.log.Debug("static.root is not a directory: /static/* answers 404", "root", cfg.Static.Root, "err", err)
		}
	}
	f.prefixes = append(f.prefixes, fastPrefix{"/static/", b.instrument("/static/*", static)})
	if cfg.Server.Admin.Enabled { // build checked that h.opts.Admin is set
		prefix := strings.TrimRight(cfg.Server.Admin.Prefix, "/")
		admin := h.opts.Admin(h, s)
		f.addExact(prefix, admin)
		f.prefixes = append(f.prefixes, fastPrefix{prefix + "/", admin})
	}
	// User fast paths: the matching routes' handlers, without their chains.
	bare := chi.NewMux()
	for i, rt := range cfg.Routes {
		pattern, err := config.ExpandPattern(rt.Path)
		if err != nil {
			continue
		}
		for _, fp := range cfg.Performance.Routing.FastPaths {
			if fp != rt.Path || isBuiltinFast(fp) {
				continue
			}
			final := b.finals[i]
			if final == nil { // the route failed to build: the load fails
				continue
			}
			ep := b.instrumentFast(rt.Path, final)
			_ = safeRoute(func() {
				if ms := routeMethods(rt.Methods); len(ms) > 0 {
					for _, m := range ms {
						bare.Method(m, pattern, ep)
					}
				} else {
					bare.Handle(pattern, ep)
				}
			})
			if !strings.ContainsAny(pattern, "{*") {
				f.addExact(pattern, bare)
			} else {
				f.prefixes = append(f.prefixes, fastPrefix{literalPrefix(pattern), matchOr(bare, s)})
			}
		}
	}
	return f
}

func isBuiltinFast(p string) bool {
	return p == "/health" || p == "/metrics" || p == "/static/*"
}

// literalPrefix is the part of a pattern before its first parameter.
func literalPrefix(p string) string {
	if i := strings.IndexAny(p, "{*"); i >= 0 {
		return p[:i]
	}
	return p
}

// matchOr serves from the bare router when it has the path, else from the
// snapshot's full router.
func matchOr(bare *chi.Mux, s *Snapshot) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if bare.Match(chi.NewRouteContext(), r.Method, r.URL.Path) {
			bare.ServeHTTP(w, r)
			return
		}
		s.router.ServeHTTP(w, r)
	})
}

// staticRest serves the path below /static/ from the static handler, which
// reads the route wildcard: give it one.
func staticRest(st http.Handler) http.Handler {
	mux := chi.NewMux()
	mux.Handle("/*", st)
	return mux
}

// healthHandler answers /health. It reports the status it wrote, so that
// the host need not wrap the ResponseWriter to learn it.
func healthHandler(version string) handlers.StatusServer {
	return &health{body: []byte(`{"status":"ok","config_version":"` + version + `"}` + "\n")}
}

type health struct{ body []byte }

var (
	healthType    = []string{"application/json"}
	healthNoStore = []string{"no-store"}
)

func (h *health) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.ServeHTTPStatus(w, r) }

func (h *health) ServeHTTPStatus(w http.ResponseWriter, r *http.Request) int {
	hd := w.Header()
	hd["Content-Type"] = healthType
	hd["Cache-Control"] = healthNoStore
	if r.Method != http.MethodHead {
		_, _ = w.Write(h.body)
	}
	return http.StatusOK
}
