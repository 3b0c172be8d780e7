package scenario

import (
	"bytes"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/go-chi/httprate"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/switchyard/switchyard/core/config"
	"github.com/switchyard/switchyard/core/handlers"
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
	cache := newMapCache(10_000, 300*time.Second)
	r := chi.NewRouter()
	r.With(cache.handler, middleware.Compress(5)).Method(http.MethodGet, "/api/doc", DocHandler())
	r.With(cache.handler, middleware.Compress(5)).Method(http.MethodHead, "/api/doc", DocHandler())
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
	cache := newMapCache(10_000, 60*time.Second)

	r := chi.NewRouter()
	r.Use(middleware.ClientIPFromRemoteAddr)
	r.Use(httprate.LimitBy(1_000_000, time.Second, func(r *http.Request) (string, error) {
		return httprate.CanonicalizeIP(middleware.GetClientIP(r.Context())), nil
	}))
	r.Use(metrics.handler)
	r.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	r.With(
		cache.handler,
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

// mapCache is the response cache one writes by hand: a map under an
// RWMutex, keyed by method, host, URI and Accept-Encoding, holding 200
// responses without no-store or private for a fixed TTL, dropping an
// arbitrary entry when full.
type mapCache struct {
	mu      sync.RWMutex
	entries map[string]*cacheEntry
	max     int
	ttl     time.Duration
}

type cacheEntry struct {
	status  int
	header  http.Header
	body    []byte
	expires time.Time
}

func newMapCache(maxEntries int, ttl time.Duration) *mapCache {
	return &mapCache{entries: map[string]*cacheEntry{}, max: maxEntries, ttl: ttl}
}

func (c *mapCache) handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			next.ServeHTTP(w, r)
			return
		}
		key := r.Method + " " + r.Host + r.URL.RequestURI() + " " + r.Header.Get("Accept-Encoding")
		c.mu.RLock()
		e := c.entries[key]
		c.mu.RUnlock()
		if e != nil && time.Now().Before(e.expires) {
			h := w.Header()
			for k, v := range e.header {
				h[k] = v
			}
			h.Set("X-Cache", "HIT")
			w.WriteHeader(e.status)
			_, _ = w.Write(e.body)
			return
		}
		w.Header().Set("X-Cache", "MISS")
		cw := &captureWriter{ResponseWriter: w}
		next.ServeHTTP(cw, r)
		cc := w.Header().Get("Cache-Control")
		if cw.status != http.StatusOK || strings.Contains(cc, "no-store") || strings.Contains(cc, "private") {
			return
		}
		e = &cacheEntry{status: cw.status, header: w.Header().Clone(), body: cw.body.Bytes(), expires: time.Now().Add(c.ttl)}
		c.mu.Lock()
		if len(c.entries) >= c.max {
			for k := range c.entries {
				delete(c.entries, k)
				break
			}
		}
		c.entries[key] = e
		c.mu.Unlock()
	})
}

// captureWriter writes through and keeps a copy of the body.
type captureWriter struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (cw *captureWriter) WriteHeader(code int) {
	if cw.status == 0 {
		cw.status = code
	}
	cw.ResponseWriter.WriteHeader(code)
}

func (cw *captureWriter) Write(p []byte) (int, error) {
	if cw.status == 0 {
		cw.status = http.StatusOK
	}
	cw.body.Write(p)
	return cw.ResponseWriter.Write(p)
}

func (cw *captureWriter) Unwrap() http.ResponseWriter { return cw.ResponseWriter }
