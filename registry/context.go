package registry

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Context is what the host hands a plugin factory: the instance's name and the
// host services a plugin may use. Plugins reach the host only through it.
// Every field is set by the host; plugintest fills them for tests.
type Context struct {
	// Name is the instance's name, the key under `plugins:`.
	Name string
	// Type is the plugin type the instance was registered under.
	Type string
	// Logger is the host's logger with plugin and type attributes attached.
	Logger *slog.Logger
	// Metrics creates, or finds, metrics on the host's registry. Metrics live
	// as long as the host: a rebuilt instance gets the same vectors back.
	Metrics *Metrics
	// Buffers is the host's buffer pool (performance.memory.buffer_pool).
	Buffers BufferPool
	// Workers runs CPU-heavy work (performance.cpu.process_pool).
	Workers WorkerPool
	// ClientIP returns the client address as the host determines it, believing
	// X-Forwarded-For only from server.trusted_proxies.
	ClientIP func(*http.Request) netip.Addr
	// CompileCondition compiles a condition (a CEL expression, a named
	// condition or a structured matcher) as `when:` accepts it. keyPath names
	// the config key in errors.
	CompileCondition func(keyPath string, src any) (func(*http.Request) bool, error)
	// CompileExpr compiles a CEL expression of type string over the request
	// object, such as the ratelimit plugin's key expression.
	CompileExpr func(keyPath, expr string) (func(*http.Request) string, error)
	// Defaults are the host-wide defaults of performance.response.
	Defaults Defaults
	// Previous is the instance of the same name in the configuration that is
	// serving now, when there is one and its config differs (else nil). A new
	// instance may read state from it (a rate limiter carries its buckets over);
	// it must not modify it, since it keeps serving until the swap.
	Previous Instance
	// Now is the clock; tests replace it.
	Now func() time.Time
}

// Defaults are the performance.response settings that the built-in plugins use
// as their own defaults.
type Defaults struct {
	// Compression holds performance.response.compression.
	Compression CompressionDefaults
	// Caching holds performance.response.caching.
	Caching CachingDefaults
}

// CompressionDefaults is performance.response.compression.
type CompressionDefaults struct {
	// Level is the compression level on gzip's 1..9 scale.
	Level int
	// MinSize is the smallest body that is compressed.
	MinSize Size
}

// CachingDefaults is performance.response.caching.
type CachingDefaults struct {
	// Enabled turns caching plugins off when false (they pass requests through).
	Enabled bool
	// Size is performance.response.caching.size, the number of entries a
	// cache aims to hold; a plugin's own max_size (bytes) wins.
	Size int
	// TTL is the longest a caching plugin that sets no ttl keeps a response
	// stored. It caps freshness; it never makes a response without explicit
	// or heuristic freshness cacheable.
	TTL time.Duration
}

// BufferPool hands out reusable byte buffers.
type BufferPool interface {
	// Get returns an empty buffer.
	Get() *bytes.Buffer
	// Put returns a buffer; the caller must not use it afterwards.
	Put(*bytes.Buffer)
}

// WorkerPool runs work on a bounded set of workers.
type WorkerPool interface {
	// Do runs fn on a worker and waits for it. It returns an error at once
	// when the queue is full, or ctx's error when ctx ends while queued.
	Do(ctx context.Context, fn func()) error
}

// StatsReporter is implemented by instances that report live statistics for
// the admin API and dashboard. Stats must be safe to call concurrently.
type StatsReporter interface {
	Stats() map[string]any
}

// Purger is implemented by caching instances: Purge drops the entries whose
// key equals key (when key is not empty) or whose path starts with prefix, and
// returns how many it dropped.
type Purger interface {
	Purge(key, prefix string) int
}

// Metrics creates metrics on a Prometheus registerer once and hands the same
// collector back to every later caller, so that plugins rebuilt by a reload
// keep counting into the same series. Names get the switchyard_ namespace.
type Metrics struct {
	reg  prometheus.Registerer
	mu   sync.Mutex
	vecs map[string]metric
}

type metric struct {
	kind   string
	labels string
	c      prometheus.Collector
}

// NewMetrics returns a Metrics registering on reg; a nil reg keeps the
// metrics unregistered (useful in tests).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	return &Metrics{reg: reg, vecs: map[string]metric{}}
}

// Counter returns the counter vector name{labels...}.
func (m *Metrics) Counter(name, help string, labels ...string) *prometheus.CounterVec {
	return m.get("counter", name, labels, func() prometheus.Collector {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "switchyard", Name: name, Help: help}, labels)
	}).(*prometheus.CounterVec)
}

// Gauge returns the gauge vector name{labels...}.
func (m *Metrics) Gauge(name, help string, labels ...string) *prometheus.GaugeVec {
	return m.get("gauge", name, labels, func() prometheus.Collector {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "switchyard", Name: name, Help: help}, labels)
	}).(*prometheus.GaugeVec)
}

// Histogram returns the histogram vector opts.Name{labels...}; the namespace
// is set for the caller.
func (m *Metrics) Histogram(opts prometheus.HistogramOpts, labels ...string) *prometheus.HistogramVec {
	opts.Namespace = "switchyard"
	return m.get("histogram", opts.Name, labels, func() prometheus.Collector {
		return prometheus.NewHistogramVec(opts, labels)
	}).(*prometheus.HistogramVec)
}

func (m *Metrics) get(kind, name string, labels []string, mk func() prometheus.Collector) prometheus.Collector {
	m.mu.Lock()
	defer m.mu.Unlock()
	ls := fmt.Sprint(labels)
	if v, ok := m.vecs[name]; ok {
		if v.kind != kind || v.labels != ls {
			panic(fmt.Sprintf("registry: metric %s defined as %s%s and again as %s%s", name, v.kind, v.labels, kind, ls))
		}
		return v.c
	}
	c := mk()
	if m.reg != nil {
		if err := m.reg.Register(c); err != nil {
			panic("registry: metric " + name + ": " + err.Error())
		}
	}
	m.vecs[name] = metric{kind: kind, labels: ls, c: c}
	return c
}
