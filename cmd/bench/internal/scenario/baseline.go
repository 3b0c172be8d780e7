package scenario

import (
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/go-chi/httprate"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/switchyard/switchyard/core/config"
	"github.com/switchyard/switchyard/core/handlers"
	"github.com/switchyard/switchyard/internal/mapcache"
)

// The baselines: the same application handlers served the way one writes a
// Go service without Switchyard.

// healthBody is what the bare fast-path handler writes: the same bytes as
// Switchyard's /health.
var healthBody = []byte(`{"status":"ok","config_version":"0123456789ab"}` + "\n")

// bareHealth is the fast-path baseline: a net/http handler, no router.
func bareHealth() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", "no-store")
		_, _ = w.Write(healthBody)
	})
}

// chiRouted is the routed baseline: the routed scenario's routes on chi.
// Each route serves the very handler that Switchyard's `respond` builds from
// the same config, so that the comparison is of routing and host overhead
// alone.
func chiRouted() http.Handler {
	r := chi.NewRouter()
	for k := range RouteCount {
		h, err := handlers.Respond(config.Respond{Status: 200, Body: routedBody(k),
			Headers: map[string]string{"Content-Type": "application/json"}})
		if err != nil {
			panic("routed baseline: " + err.Error())
		}
		r.Method(http.MethodGet, routedPattern(k), h)
		r.Method(http.MethodHead, routedPattern(k), h)
	}
	return r
}

// chiProxy is the proxy baseline as a chi user writes it: an
// httputil.ReverseProxy to upstream with a transport tuned for the load (as
// many idle connections kept per host as may be busy), mounted on chi.
func chiProxy(upstream string) http.Handler {
	target, err := url.Parse(upstream)
	if err != nil {
		panic("proxy baseline: " + err.Error())
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.Transport = &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        0,
		MaxIdleConnsPerHost: 100,
		MaxConnsPerHost:     100,
		IdleConnTimeout:     90 * time.Second,
	}
	r := chi.NewRouter()
	r.Method(http.MethodGet, "/hello", rp)
	return r
}

// upstreamBody is what the proxy scenario's upstream answers.
var upstreamBody = []byte(`{"message":"Hello, World!"}` + "\n")

// UpstreamHandler is the proxy scenario's upstream: a bare net/http
// handler writing a small JSON document.
func UpstreamHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "application/json")
		_, _ = w.Write(upstreamBody)
	})
}

// chiCached is the cached-path baseline: chi serving the document from memory.
func chiCached() http.Handler {
	r := chi.NewRouter()
	r.Method(http.MethodGet, "/api/doc", DocHandler())
	r.Method(http.MethodHead, "/api/doc", DocHandler())
	return r
}

// chiCachedGzip is the cached gzip hit's baseline: chi with the
// hand-written map+RWMutex cache in front of middleware.Compress(5), so that
// the map holds the gzip bytes of the document (the key includes
// Accept-Encoding).
func chiCachedGzip() http.Handler {
	cache := mapcache.New(10_000, 300*time.Second)
	r := chi.NewRouter()
	r.With(cache.Handler, middleware.Compress(5)).Method(http.MethodGet, "/api/doc", DocHandler())
	r.With(cache.Handler, middleware.Compress(5)).Method(http.MethodHead, "/api/doc", DocHandler())
	return r
}

// chiDB is the DB-path baseline.
func chiDB(h http.Handler) http.Handler {
	r := chi.NewRouter()
	r.Method(http.MethodGet, "/db/items/{id}", h)
	return r
}

// chiFull is the full stack written the ordinary way: chi's client-IP
// middleware and go-chi/httprate for the rate limit, a Prometheus
// middleware, a map+RWMutex response cache for GET and HEAD, and
// middleware.Compress unless the request has X-No-Gzip.
func chiFull() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := newPromMiddleware(reg)
	cache := mapcache.New(10_000, 60*time.Second)

	r := chi.NewRouter()
	r.Use(middleware.ClientIPFromRemoteAddr)
	r.Use(httprate.LimitBy(1_000_000, time.Second, func(r *http.Request) (string, error) {
		return httprate.CanonicalizeIP(middleware.GetClientIP(r.Context())), nil
	}))
	r.Use(metrics.handler)
	r.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	r.With(
		cache.Handler,
		middleware.Maybe(middleware.Compress(5), func(r *http.Request) bool { return r.Header.Get("X-No-Gzip") == "" }),
	).Method(http.MethodGet, "/api/items/{id}", ItemHandler())
	return r
}

// promMiddleware counts requests by route pattern, method and status and
// times them by route pattern, as the usual chi Prometheus middleware does.
type promMiddleware struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newPromMiddleware(reg prometheus.Registerer) *promMiddleware {
	m := &promMiddleware{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "http_requests_total", Help: "HTTP requests by route, method and status code.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "http_request_duration_seconds", Help: "Time to serve a request, by route.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route"}),
	}
	reg.MustRegister(m.requests, m.duration)
	return m
}

func (m *promMiddleware) handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		next.ServeHTTP(ww, r)
		route := chi.RouteContext(r.Context()).RoutePattern()
		code := ww.Status()
		if code == 0 {
			code = http.StatusOK
		}
		m.requests.WithLabelValues(route, r.Method, strconv.Itoa(code)).Inc()
		m.duration.WithLabelValues(route).Observe(time.Since(start).Seconds())
	})
}
