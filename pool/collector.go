package pool

import (
	"maps"
	"slices"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// StatsSource is anything that reports pool statistics: every pool of this
// package, or a caller's adapter (for example over database/sql's DBStats).
type StatsSource interface {
	Stats() Stats
}

// StatsFunc adapts a function to a StatsSource.
type StatsFunc func() Stats

// Stats calls f.
func (f StatsFunc) Stats() Stats { return f() }

// Collector exports the statistics of named pools as Prometheus metrics,
// read at scrape time, all labelled {pool="name"}:
//
//	switchyard_pool_in_use          gauge    items handed out now
//	switchyard_pool_idle            gauge    items kept ready now
//	switchyard_pool_capacity        gauge    configured bound
//	switchyard_pool_queue_depth     gauge    tasks or acquirers waiting now
//	switchyard_pool_workers         gauge    worker goroutines alive
//	switchyard_pool_gets_total      counter  gets, acquires and tasks submitted
//	switchyard_pool_hits_total      counter  gets served by an idle item
//	switchyard_pool_misses_total    counter  gets that created an item
//	switchyard_pool_waits_total     counter  gets that waited
//	switchyard_pool_rejected_total  counter  gets refused because the queue was full
//	switchyard_pool_dropped_total   counter  items let go instead of kept
//	switchyard_pool_panics_total    counter  tasks that panicked
//
// Pools are added, replaced and removed by name at any time; a Collector
// is registered once and is safe for concurrent use.
type Collector struct {
	mu      sync.RWMutex
	sources map[string]StatsSource
}

type poolMetric struct {
	desc  *prometheus.Desc
	kind  prometheus.ValueType
	value func(Stats) int64
}

func newPoolMetric(name, help string, kind prometheus.ValueType, value func(Stats) int64) poolMetric {
	return poolMetric{
		desc:  prometheus.NewDesc(prometheus.BuildFQName("switchyard", "pool", name), help, []string{"pool"}, nil),
		kind:  kind,
		value: value,
	}
}

var poolMetrics = []poolMetric{
	newPoolMetric("in_use", "Items of the pool handed out and not yet returned (buffers, objects, connections checked out; busy workers).",
		prometheus.GaugeValue, func(s Stats) int64 { return s.InUse }),
	newPoolMetric("idle", "Items of the pool kept ready (idle buffers, objects, connections, workers).",
		prometheus.GaugeValue, func(s Stats) int64 { return s.Idle }),
	newPoolMetric("capacity", "Configured bound of the pool (items kept, most connections, most workers; 0 = unbounded).",
		prometheus.GaugeValue, func(s Stats) int64 { return s.Capacity }),
	newPoolMetric("queue_depth", "Tasks or acquirers waiting for the pool now.",
		prometheus.GaugeValue, func(s Stats) int64 { return s.QueueDepth }),
	newPoolMetric("workers", "Worker goroutines alive in a worker pool.",
		prometheus.GaugeValue, func(s Stats) int64 { return s.Workers }),
	newPoolMetric("gets_total", "Gets, acquires and tasks submitted to the pool.",
		prometheus.CounterValue, func(s Stats) int64 { return s.Gets }),
	newPoolMetric("hits_total", "Gets served by an idle item of the pool.",
		prometheus.CounterValue, func(s Stats) int64 { return s.Hits }),
	newPoolMetric("misses_total", "Gets that created a new item (allocation, dial, worker start).",
		prometheus.CounterValue, func(s Stats) int64 { return s.Misses }),
	newPoolMetric("waits_total", "Gets that had to wait (queued tasks, acquirers at the connection limit).",
		prometheus.CounterValue, func(s Stats) int64 { return s.Waits }),
	newPoolMetric("rejected_total", "Gets refused at once because the queue was full.",
		prometheus.CounterValue, func(s Stats) int64 { return s.Rejected }),
	newPoolMetric("dropped_total", "Items let go instead of kept (oversize, over the count, expired, unhealthy, recycled).",
		prometheus.CounterValue, func(s Stats) int64 { return s.Dropped }),
	newPoolMetric("panics_total", "Tasks of a worker pool that panicked.",
		prometheus.CounterValue, func(s Stats) int64 { return s.Panics }),
}

// NewCollector returns a Collector with no pools.
func NewCollector() *Collector {
	return &Collector{sources: make(map[string]StatsSource)}
}

// Set adds the pool s under name, or replaces the pool of that name. A nil
// s removes it.
func (c *Collector) Set(name string, s StatsSource) {
	if s == nil {
		c.Remove(name)
		return
	}
	c.mu.Lock()
	c.sources[name] = s
	c.mu.Unlock()
}

// Remove stops exporting the pool called name.
func (c *Collector) Remove(name string) {
	c.mu.Lock()
	delete(c.sources, name)
	c.mu.Unlock()
}

// Names returns the names of the pools, sorted.
func (c *Collector) Names() []string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return slices.Sorted(maps.Keys(c.sources))
}

// Snapshot returns the current statistics of every pool, by name (for the
// admin API).
func (c *Collector) Snapshot() map[string]Stats {
	c.mu.RLock()
	sources := maps.Clone(c.sources)
	c.mu.RUnlock()
	out := make(map[string]Stats, len(sources))
	for name, s := range sources {
		out[name] = s.Stats()
	}
	return out
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range poolMetrics {
		ch <- m.desc
	}
}

// Collect implements prometheus.Collector. Statistics are read outside the
// Collector's lock, one pool at a time.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	for name, st := range c.Snapshot() {
		for _, m := range poolMetrics {
			ch <- prometheus.MustNewConstMetric(m.desc, m.kind, float64(m.value(st)), name)
		}
	}
}

var _ prometheus.Collector = (*Collector)(nil)
