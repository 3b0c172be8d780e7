package core

import (
	"database/sql"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchyard/switchyard/core/config"
	"github.com/switchyard/switchyard/internal/accesslog"
	"github.com/switchyard/switchyard/pool"
)

// Pools are a host's pools, sized by the performance block and resized in
// place on every reload. Each publishes its statistics as the pool_*
// metrics under its name (buffer, process, thread, object, proxy, db:NAME)
// and in the admin API.
type Pools struct {
	// Buffers is performance.memory.buffer_pool.
	Buffers *pool.Buffers
	// Threads is performance.cpu.thread_pool, for blocking work: handlers
	// registered in Go code submit to it, and pool.Handler wraps a handler
	// so that it runs there and a full queue answers 503.
	Threads *pool.Workers
	// Process is performance.cpu.process_pool, for CPU-heavy work; plugins
	// get it as registry.Context.Workers.
	Process *pool.Workers

	cur       *atomic.Pointer[Snapshot] // the host's serving snapshot
	objects   *pool.Objects[statusWriter]
	proxies   *proxyStats // connection_pool: the proxy transports' connections
	collector *pool.Collector

	mu      sync.Mutex
	sources map[string]pool.StatsSource
	dbs     map[string]*sql.DB
}

// newPools makes the pools of the host whose serving snapshot cur holds,
// with the defaults of the performance block until a configuration sizes
// them, and registers their metrics in reg.
func newPools(cur *atomic.Pointer[Snapshot], reg *prometheus.Registry) *Pools {
	p := &Pools{
		Buffers:   pool.NewBuffers(pool.BufferOptions{MaxSize: 1 << 20, Count: 100}),
		Threads:   pool.NewWorkers("thread_pool", pool.WorkerOptions{MinWorkers: 4, MaxWorkers: 16, QueueSize: 1000}),
		Process:   pool.NewWorkers("process_pool", pool.WorkerOptions{MaxWorkers: 4, QueueSize: 1000}),
		cur:       cur,
		proxies:   newProxyStats(cur),
		collector: pool.NewCollector(),
		sources:   map[string]pool.StatsSource{},
		dbs:       map[string]*sql.DB{},
	}
	p.objects = pool.NewObjects(10000, time.Minute, func() *statusWriter { return new(statusWriter) },
		func(sw *statusWriter) { sw.w, sw.status, sw.notes = nil, 0, accesslog.Notes{} })
	p.publish("buffer", p.Buffers)
	p.publish("process", p.Process)
	p.publish("thread", p.Threads)
	p.publish("object", p.objects)
	p.publish("proxy", p.proxies)
	reg.MustRegister(p.collector)
	return p
}

// publish exports a pool's statistics as pool_* metrics and in the admin API.
func (p *Pools) publish(name string, src pool.StatsSource) {
	p.mu.Lock()
	p.sources[name] = src
	p.mu.Unlock()
	p.collector.Set(name, src)
}

// Stats returns the statistics of every pool now, by name.
func (p *Pools) Stats() map[string]pool.Stats {
	p.mu.Lock()
	srcs := make(map[string]pool.StatsSource, len(p.sources))
	for n, src := range p.sources {
		srcs[n] = src
	}
	p.mu.Unlock()
	out := make(map[string]pool.Stats, len(srcs))
	for n, src := range srcs {
		out[n] = src.Stats()
	}
	return out
}

// ProxyTransport returns the transport that the proxy routes of the serving
// configuration use (performance.memory.connection_pool), or nil before the
// first load. A reload that changes the connection pool builds a new one;
// the old one closes its idle connections once its last request is done.
func (p *Pools) ProxyTransport() *http.Transport {
	if s := p.cur.Load(); s != nil {
		return s.transport
	}
	return nil
}

// RegisterDB puts a database/sql pool under performance.memory.connection_pool:
// max_size open connections, min_size idle, ttl lifetime. Settings change in
// place on reload; its statistics appear as the pool db:NAME.
func (p *Pools) RegisterDB(name string, db *sql.DB) {
	p.mu.Lock()
	p.dbs[name] = db
	p.mu.Unlock()
	p.publish("db:"+name, dbStats{db})
	if s := p.cur.Load(); s != nil {
		p.applyDB(s.Loaded.Config.Performance.Memory.ConnectionPool)
	}
}

// apply resizes the pools in place to the performance block of c.
func (p *Pools) apply(c *config.Config) {
	perf := c.Performance
	p.Buffers.Resize(pool.BufferOptions{MaxSize: int(perf.Memory.BufferPool.Size), Count: perf.Memory.BufferPool.Count, Prealloc: perf.Memory.BufferPool.Prealloc})
	p.objects.Resize(perf.Memory.ObjectPool.Size, perf.Memory.ObjectPool.TTL)
	p.Threads.Resize(pool.WorkerOptions{MinWorkers: perf.CPU.ThreadPool.MinWorkers, MaxWorkers: perf.CPU.ThreadPool.MaxWorkers, QueueSize: perf.CPU.ThreadPool.QueueSize})
	workers := perf.CPU.ProcessPool.Workers
	p.Process.Resize(pool.WorkerOptions{MinWorkers: workers, MaxWorkers: workers, QueueSize: max(4*workers, 64), MaxTasksPerWorker: perf.CPU.ProcessPool.MaxTasksPerChild})
	p.applyDB(perf.Memory.ConnectionPool)
}

func (p *Pools) applyDB(cp config.ConnectionPool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, db := range p.dbs {
		db.SetMaxOpenConns(cp.MaxSize)
		db.SetMaxIdleConns(cp.MinSize)
		db.SetConnMaxLifetime(cp.TTL)
	}
}

// close stops the worker pools and the object pool's reaper.
func (p *Pools) close() {
	p.Threads.Close()
	p.Process.Close()
	p.objects.Close()
}

// dbStats reports a database/sql pool in the pool_* metrics.
type dbStats struct{ db *sql.DB }

func (d dbStats) Stats() pool.Stats {
	st := d.db.Stats()
	return pool.Stats{InUse: int64(st.InUse), Idle: int64(st.Idle), Waits: st.WaitCount}
}
