package pool

import (
	"context"
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// gather returns the value of every sample as "metric{pool}" -> value.
func gather(t *testing.T, reg prometheus.Gatherer) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var pool string
			for _, l := range m.GetLabel() {
				if l.GetName() == "pool" {
					pool = l.GetValue()
				}
			}
			key := mf.GetName() + "{" + pool + "}"
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				out[key] = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				out[key] = m.GetGauge().GetValue()
			default:
				t.Fatalf("%s has type %v", key, mf.GetType())
			}
		}
	}
	return out
}

func TestCollector(t *testing.T) {
	c := NewCollector()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(c); err != nil {
		t.Fatal(err)
	}
	if got := gather(t, reg); len(got) != 0 {
		t.Fatalf("metrics with no pools: %v", got)
	}

	bufs := NewBuffers(BufferOptions{Count: 5, Prealloc: true})
	bufs.Get()
	w := NewWorkers("thread_pool", WorkerOptions{MinWorkers: 1, MaxWorkers: 3, QueueSize: 7})
	defer w.Close()
	if err := w.Do(context.Background(), func() {}); err != nil {
		t.Fatal(err)
	}
	c.Set("buffer_pool", bufs)
	c.Set(w.Name(), w)
	c.Set("custom", StatsFunc(func() Stats { return Stats{Waits: 9, QueueDepth: 2, Rejected: 3, Dropped: 4, Panics: 1} }))

	got := gather(t, reg)
	want := map[string]float64{
		"switchyard_pool_idle{buffer_pool}":         4,
		"switchyard_pool_in_use{buffer_pool}":       1,
		"switchyard_pool_capacity{buffer_pool}":     5,
		"switchyard_pool_gets_total{buffer_pool}":   1,
		"switchyard_pool_hits_total{buffer_pool}":   1,
		"switchyard_pool_misses_total{buffer_pool}": 0,
		"switchyard_pool_capacity{thread_pool}":     3,
		"switchyard_pool_gets_total{thread_pool}":   1,
		"switchyard_pool_workers{thread_pool}":      1,
		"switchyard_pool_waits_total{custom}":       9,
		"switchyard_pool_queue_depth{custom}":       2,
		"switchyard_pool_rejected_total{custom}":    3,
		"switchyard_pool_dropped_total{custom}":     4,
		"switchyard_pool_panics_total{custom}":      1,
		"switchyard_pool_in_use{custom}":            0,
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
	if n := len(got); n != 3*len(poolMetrics) {
		t.Errorf("%d samples, want %d", n, 3*len(poolMetrics))
	}

	// Stats are read at scrape time.
	bufs.Get()
	if g := gather(t, reg)["switchyard_pool_in_use{buffer_pool}"]; g != 2 {
		t.Errorf("in_use after another Get = %v, want 2", g)
	}
	// Replace and remove by name.
	c.Set("buffer_pool", NewBuffers(BufferOptions{Count: 50}))
	c.Remove("custom")
	c.Set(w.Name(), nil)
	got = gather(t, reg)
	if got["switchyard_pool_capacity{buffer_pool}"] != 50 || len(got) != len(poolMetrics) {
		t.Errorf("after replace/remove: %v", got)
	}
	if names := c.Names(); !slices.Equal(names, []string{"buffer_pool"}) {
		t.Errorf("Names() = %v", names)
	}
	if snap := c.Snapshot(); snap["buffer_pool"].Capacity != 50 {
		t.Errorf("Snapshot() = %+v", snap)
	}
}
