package core

import (
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.opentelemetry.io/otel/trace"

	"github.com/switchyard/switchyard/clientip"
	"github.com/switchyard/switchyard/core/handlers"
	"github.com/switchyard/switchyard/internal/accesslog"
	"github.com/switchyard/switchyard/internal/tracing"
	"github.com/switchyard/switchyard/pool"
	"github.com/switchyard/switchyard/registry"
)

// hostMetrics are created once per host: reloads reuse them, so series never
// reset and nothing is registered twice.
type hostMetrics struct {
	reg      *prometheus.Registry
	factory  *registry.Metrics
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	conns    prometheus.Gauge
	panics   *prometheus.CounterVec
	reloads  *prometheus.CounterVec
	lastOK   prometheus.Gauge
	lastOKTS prometheus.Gauge
	condHits prometheus.Counter
	condMiss prometheus.Counter
	sourceUp prometheus.Gauge
	genInfo  *prometheus.GaugeVec
}

// newHostMetrics creates the host's metrics. inFlight is read at scrape
// time from the snapshots' own request counts, so serving a request touches
// no shared gauge.
func newHostMetrics(inFlight func() float64) *hostMetrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	f := registry.NewMetrics(reg)
	m := &hostMetrics{reg: reg, factory: f}
	m.requests = f.Counter("http_requests_total", "HTTP requests by route pattern, method and status code.", "route", "method", "code")
	m.duration = f.Histogram(prometheus.HistogramOpts{
		Name:                            "http_request_duration_seconds",
		Help:                            "Time to serve a request, by route pattern.",
		Buckets:                         []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		NativeHistogramBucketFactor:     1.1,
		NativeHistogramMaxBucketNumber:  160,
		NativeHistogramMinResetDuration: time.Hour,
	}, "route")
	m.conns = f.Gauge("connections_active", "Open client connections.").WithLabelValues()
	m.panics = f.Counter("plugin_panics_total", "Panics recovered inside plugins, by plugin instance.", "plugin")
	m.reloads = f.Counter("config_reloads_total", "Configuration reloads by result.", "result")
	m.lastOK = f.Gauge("config_last_reload_successful", "Whether the last configuration reload attempt was successful.").WithLabelValues()
	m.lastOKTS = f.Gauge("config_last_reload_success_timestamp_seconds", "Timestamp of the last successful configuration reload.").WithLabelValues()
	cc := f.Counter("condition_cache_requests_total", "Condition result cache lookups by result.", "result")
	m.condHits, m.condMiss = cc.WithLabelValues("hit"), cc.WithLabelValues("miss")
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "switchyard",
		Name: "http_requests_in_flight", Help: "Requests being served."}, inFlight))
	m.reloads.WithLabelValues("success")
	m.reloads.WithLabelValues("failure")
	m.sourceUp = f.Gauge("config_source_up", "Whether the configuration source (file, etcd) was reachable at the last look.").WithLabelValues()
	m.genInfo = f.Gauge("config_generation_info", "The configuration generation serving: 1 for its version.", "version")
	return m
}

// routeMetrics are the series of one route, resolved once per snapshot so
// that serving a request does no label lookup for the common cases.
type routeMetrics struct {
	pattern  string
	duration prometheus.Observer
	requests *prometheus.CounterVec
	// counters caches requests{route,method,code} for common methods and
	// codes; a nil slot is filled on first use.
	counters [len(methodIndex)][len(codeIndex)]atomic.Pointer[prometheus.Counter]
}

var methodIndex = [...]string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
	http.MethodPatch, http.MethodDelete, http.MethodOptions}

var codeIndex = [...]int{200, 201, 204, 206, 301, 302, 304, 400, 401, 403, 404, 405, 413, 429, 500, 502, 503, 504}

func (m *hostMetrics) route(pattern string) *routeMetrics {
	return &routeMetrics{pattern: pattern, duration: m.duration.WithLabelValues(pattern), requests: m.requests}
}

func (rm *routeMetrics) observe(method string, code int, d time.Duration) {
	rm.duration.Observe(d.Seconds())
	mi, ci := -1, -1
	for i, m := range methodIndex {
		if m == method {
			mi = i
			break
		}
	}
	for i, c := range codeIndex {
		if c == code {
			ci = i
			break
		}
	}
	if mi < 0 || ci < 0 {
		rm.requests.WithLabelValues(rm.pattern, methodLabel(method), strconv.Itoa(code)).Inc()
		return
	}
	slot := &rm.counters[mi][ci]
	c := slot.Load()
	if c == nil {
		cnt := rm.requests.WithLabelValues(rm.pattern, method, strconv.Itoa(code))
		slot.Store(&cnt)
		c = &cnt
	}
	(*c).Inc()
}

// methodLabel bounds the method label: a standard method is itself, any
// other method is OTHER, so that a client cannot create series at will.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "OTHER"
}

// connState counts open client connections.
func (m *hostMetrics) connState(_ net.Conn, s http.ConnState) {
	switch s {
	case http.StateNew:
		m.conns.Inc()
	case http.StateClosed, http.StateHijacked:
		m.conns.Dec()
	}
}

// instrumented records a route's metrics around its handler.
type instrumented struct {
	rm   *routeMetrics
	next http.Handler
	objs *pool.Objects[statusWriter]
	alog *accessLog      // nil: no access log
	tr   *tracing.Tracer // nil: no tracing
}

// epoch anchors request timing: time.Since(epoch) reads only the monotonic
// clock, where time.Now reads the wall clock too.
var epoch = time.Now()

func (in *instrumented) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Since(epoch)
	sw := in.objs.Get()
	var span trace.Span
	if in.tr != nil {
		r, span = in.tr.Start(r, in.rm.pattern)
	}
	sw.w, sw.bytes = w, 0 // the pool's reset cleared the rest, field by field
	// No defer: the chain's guards recover every panic but
	// http.ErrAbortHandler, which abandons the response anyway.
	in.next.ServeHTTP(sw, r)
	code := sw.status
	if code == 0 {
		code = http.StatusOK
	}
	d := time.Since(epoch) - start
	in.rm.observe(r.Method, code, d)
	if in.alog != nil {
		in.alog.log(r, in.rm.pattern, code, sw.bytes, d, &sw.notes)
	}
	if span != nil {
		tracing.End(span, code)
	}
	in.objs.Put(sw)
}

// accessLog is a snapshot's access log: the logger, and the client IP as
// the snapshot's server.trusted_proxies determine it.
type accessLog struct {
	lg  *accesslog.Logger
	ips *clientip.Resolver
}

func (a *accessLog) log(r *http.Request, route string, code int, bytes int64, d time.Duration, notes *accesslog.Notes) {
	if a.lg.Skip(r.URL.Path) {
		return
	}
	e := accesslog.Entry{Start: time.Now().Add(-d), Duration: d, ClientIP: a.ips.IP(r),
		Route: route, Status: code, Bytes: bytes, Notes: notes}
	a.lg.Log(r, &e)
}

// direct serves a route without middleware whose handler reports the status
// it wrote (the respond handler): the metrics take that status, so the
// ResponseWriter is not wrapped. A body announced over maxBody gets 413
// as on every route; the handler reads no body, so no reader needs limiting.
type direct struct {
	rm      *routeMetrics
	h       handlers.StatusServer
	maxBody int64
}

func (d *direct) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Since(epoch)
	var code int
	if d.maxBody > 0 && r.ContentLength > d.maxBody {
		code = http.StatusRequestEntityTooLarge
		handlers.JSONError(w, code, "request body too large")
	} else {
		code = d.h.ServeHTTPStatus(w, r)
	}
	d.rm.observe(r.Method, code, time.Since(epoch)-start)
}
