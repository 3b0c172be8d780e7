package pool

// Stats is what every pool reports, exported as pool_* metrics by a
// [Collector]. Gauges (InUse, Idle, Capacity, QueueDepth, Workers) are the
// state at the time of the call; the other fields are counters since the
// pool was created. A field that has no meaning for a kind of pool is 0.
type Stats struct {
	// InUse counts items handed out and not yet returned: buffers and
	// objects between Get and Put, connections between Acquire and Release,
	// workers running a task.
	InUse int64
	// Idle counts items kept ready: pooled buffers, objects and connections,
	// and workers waiting for a task.
	Idle int64
	// Capacity is the configured bound: buffers or objects kept, the most
	// open connections, the most workers.
	Capacity int64
	// Gets counts requests for an item: Get, Acquire, Do and Submit calls.
	Gets int64
	// Hits counts gets served by an idle item (or, for workers, handed
	// straight to an idle worker).
	Hits int64
	// Misses counts gets that created something new: a buffer or object
	// allocated, a connection dialled, a worker goroutine started.
	Misses int64
	// Waits counts gets that had to wait: a task queued behind busy
	// workers, an Acquire that found MaxSize connections open.
	Waits int64
	// QueueDepth is how many are waiting now: queued tasks, or acquirers
	// waiting for a connection.
	QueueDepth int64
	// Rejected counts gets refused at once: ErrBusy from a full queue.
	Rejected int64
	// Dropped counts items let go instead of kept: a buffer over MaxSize,
	// an item over the kept count, an idle object past its TTL, an
	// unhealthy or expired connection, a worker recycled after
	// MaxTasksPerWorker tasks.
	Dropped int64
	// Workers is the number of worker goroutines alive (worker pools only).
	Workers int64
	// Panics counts tasks that panicked (worker pools only).
	Panics int64
}
