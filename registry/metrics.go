package registry

import (
	"fmt"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

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
