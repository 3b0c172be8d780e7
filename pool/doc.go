// Package pool holds the pools behind the performance block of a Switchyard
// config: byte buffers, per-request objects, bounded worker pools, a generic
// connection pool, and a Prometheus collector that exports all of them as
// pool_* metrics. It is a leaf: it imports nothing else of Switchyard, so a
// plugin can use it directly and the host can hand its pools to plugins.
//
// Every pool resizes live (the host calls Resize on each reload that changes
// its keys) and reports a [Stats] value.
//
// # Buffers
//
// [Buffers] (performance.memory.buffer_pool) keeps at most Count idle
// *bytes.Buffer in power-of-two size classes up to MaxSize. Plugins capture
// and encode bodies in them. A buffer that grew past MaxSize is not kept, and
// a request for more than MaxSize gets a one-off buffer. Idle buffers sit in
// per-CPU shards rather than in a sync.Pool, so they survive garbage
// collections and the Count and Prealloc keys mean what they say. Each shard
// has its own lock and its own share of Count, and a goroutine mostly works
// on the shard of the CPU it runs on, so the request path shares no global
// lock or counter. Get and Put make no allocation.
//
//	bufs := pool.NewBuffers(pool.BufferOptions{MaxSize: 1 << 20, Count: 100, Prealloc: true})
//	buf := bufs.Get()
//	defer bufs.Put(buf)
//
// # Objects
//
// [Objects] (performance.memory.object_pool) keeps at most Size idle
// objects of one type and drops those idle for longer than the TTL. Put
// calls the reset function first, so idle objects hold no references.
//
// # Workers
//
// [Workers] (performance.cpu.thread_pool and performance.cpu.process_pool)
// runs tasks on at most MaxWorkers goroutines with at most QueueSize waiting.
// A full queue answers [ErrBusy] at once, never a hang; [Handler] turns that
// into 503 Service Unavailable with Retry-After: 1. MaxTasksPerWorker
// recycles a worker goroutine after that many tasks, like a process pool's
// maxtasksperchild.
//
// # Pool
//
// [Pool] (the generic half of performance.memory.connection_pool) pools
// connections of any comparable type for plugin authors: reuse of idle
// connections, at most MaxSize open with waiting acquirers counted,
// MinSize kept warm, a health check on release, and a TTL lifetime.
//
// # Metrics
//
// [Collector] exports the [Stats] of named pools as switchyard_pool_*
// metrics, read at scrape time: pool_in_use, pool_idle, pool_capacity,
// pool_queue_depth, pool_workers, pool_gets_total, pool_hits_total,
// pool_misses_total, pool_waits_total, pool_rejected_total,
// pool_dropped_total and pool_panics_total, each labelled {pool="name"}.
package pool
