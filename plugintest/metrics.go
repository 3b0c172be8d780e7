package plugintest

import (
	"strings"

	dto "github.com/prometheus/client_model/go"
)

// Gather returns every metric the plugin registered through ctx.Metrics, as
// Prometheus would scrape them. Metrics live as long as the Instance, across
// Rebuilds, as they live as long as the host.
func (i *Instance) Gather() []*dto.MetricFamily {
	i.t.Helper()
	mfs, err := i.prom.Gather()
	if err != nil {
		i.t.Fatalf("plugintest: gathering metrics: %v", err)
	}
	return mfs
}

// CounterValue returns the sum of the counter series name{labels...}:
// labels are name/value pairs, and a series matches when it has all of them
// (so CounterValue("cache_requests_total", "result", "hit") adds up every
// instance). The switchyard_ prefix may be left out. A metric that does not
// exist yet reads 0; one that is not a counter fails the test.
func (i *Instance) CounterValue(name string, labels ...string) float64 {
	i.t.Helper()
	var sum float64
	i.each(name, dto.MetricType_COUNTER, labels, func(m *dto.Metric) { sum += m.GetCounter().GetValue() })
	return sum
}

// GaugeValue is CounterValue for a gauge.
func (i *Instance) GaugeValue(name string, labels ...string) float64 {
	i.t.Helper()
	var sum float64
	i.each(name, dto.MetricType_GAUGE, labels, func(m *dto.Metric) { sum += m.GetGauge().GetValue() })
	return sum
}

// HistogramCount returns the number of observations of the histogram
// series name{labels...}, matched as CounterValue matches.
func (i *Instance) HistogramCount(name string, labels ...string) uint64 {
	i.t.Helper()
	var n uint64
	i.each(name, dto.MetricType_HISTOGRAM, labels, func(m *dto.Metric) { n += m.GetHistogram().GetSampleCount() })
	return n
}

func (i *Instance) each(name string, typ dto.MetricType, labels []string, fn func(*dto.Metric)) {
	i.t.Helper()
	if len(labels)%2 != 0 {
		i.t.Fatalf("plugintest: metric %s: labels must be name/value pairs, got %q", name, labels)
		return
	}
	if !strings.HasPrefix(name, "switchyard_") {
		name = "switchyard_" + name
	}
	for _, mf := range i.Gather() {
		if mf.GetName() != name {
			continue
		}
		if mf.GetType() != typ {
			i.t.Fatalf("plugintest: metric %s is a %s, not a %s", name, mf.GetType(), typ)
			return
		}
		for _, m := range mf.GetMetric() {
			if hasLabels(m, labels) {
				fn(m)
			}
		}
	}
}

func hasLabels(m *dto.Metric, pairs []string) bool {
	for k := 0; k < len(pairs); k += 2 {
		found := false
		for _, lp := range m.GetLabel() {
			if lp.GetName() == pairs[k] && lp.GetValue() == pairs[k+1] {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}
