package pool

import (
	"bytes"
	"math/bits"
	"sync"
	"sync/atomic"
)

// Defaults of [BufferOptions].
const (
	// DefaultBufferMaxSize is the MaxSize used when BufferOptions.MaxSize is 0.
	DefaultBufferMaxSize = 1 << 20
	// DefaultBufferInitialSize is the InitialSize used when
	// BufferOptions.InitialSize is 0.
	DefaultBufferInitialSize = 4 << 10
)

const (
	minBufferShift = 9 // the smallest class holds capacities in [512, 1024)
	minBufferCap   = 1 << minBufferShift
	bufferClasses  = 63 - minBufferShift
)

// BufferOptions sizes a [Buffers] pool (performance.memory.buffer_pool).
// The zero value keeps no buffers: every Get allocates.
type BufferOptions struct {
	// MaxSize is the largest capacity, in bytes, of a buffer kept in the
	// pool (buffer_pool.size). A buffer that grew past it is dropped on Put,
	// and GetSize for more than MaxSize returns a one-off buffer. 0 means
	// DefaultBufferMaxSize.
	MaxSize int
	// Count is the most buffers kept idle (buffer_pool.count). 0 keeps none.
	Count int
	// Prealloc fills the pool with Count buffers of InitialSize bytes when it
	// is created and whenever Resize leaves it with fewer
	// (buffer_pool.prealloc).
	Prealloc bool
	// InitialSize is the capacity of a buffer allocated by Get on a miss and
	// of each preallocated buffer. 0 means DefaultBufferInitialSize; it is
	// capped at MaxSize.
	InitialSize int
}

func (o BufferOptions) normalize() BufferOptions {
	if o.MaxSize <= 0 {
		o.MaxSize = DefaultBufferMaxSize
	}
	o.Count = max(o.Count, 0)
	if o.InitialSize <= 0 {
		o.InitialSize = DefaultBufferInitialSize
	}
	o.InitialSize = max(min(o.InitialSize, o.MaxSize), 64)
	return o
}

// Buffers is a pool of *bytes.Buffer in power-of-two size classes up to
// MaxSize, keeping at most Count idle buffers. Idle buffers sit in
// per-CPU shards, each with its own lock and its share of Count, so Get and
// Put on different cores share neither a lock nor a counter; unlike a
// sync.Pool, kept buffers survive garbage collections, so Count and Prealloc
// mean what they say.
//
// A Buffers is safe for concurrent use. The nil *Buffers is a valid pool
// that keeps nothing: Get allocates and Put discards.
type Buffers struct {
	st      *store[*bytes.Buffer]
	maxSize atomic.Int64
	initial atomic.Int64

	mu   sync.Mutex // serialises Resize
	opts BufferOptions
}

// NewBuffers returns a buffer pool sized by o.
func NewBuffers(o BufferOptions) *Buffers {
	return newBuffers(o, 0)
}

func newBuffers(o BufferOptions, shards int) *Buffers {
	b := &Buffers{st: newStore[*bytes.Buffer](bufferClasses, shards)}
	b.Resize(o)
	return b
}

// bufferClass returns the class of a buffer of capacity c (the class whose
// lower bound is the largest power of two <= c), or -1 below the smallest.
func bufferClass(c int) int {
	if c < minBufferCap {
		return -1
	}
	return bits.Len(uint(c)) - 1 - minBufferShift
}

// Get returns an empty buffer from the pool, or a new one of InitialSize
// bytes when none is idle. The smallest idle buffer of the caller's shard is
// taken first, then the smallest of any other shard.
func (b *Buffers) Get() *bytes.Buffer {
	return b.GetSize(0)
}

// GetSize returns an empty buffer with a capacity of at least n bytes. When
// none is idle it allocates one of n rounded up to a power of two (capped at
// MaxSize) or InitialSize, whichever is larger. For n over MaxSize it
// returns a one-off buffer of n bytes that Put will not keep.
func (b *Buffers) GetSize(n int) *bytes.Buffer {
	if b == nil {
		return bytes.NewBuffer(make([]byte, 0, max(n, DefaultBufferInitialSize)))
	}
	maxSize := int(b.maxSize.Load())
	if n > maxSize {
		sh := b.st.borrow()
		sh.misses.Add(1)
		b.st.ret(sh)
		return bytes.NewBuffer(make([]byte, 0, n))
	}
	from := max(bufferClass(n), 0)
	var accept func(*bytes.Buffer) bool
	if n > minBufferCap && n&(n-1) != 0 {
		accept = func(buf *bytes.Buffer) bool { return buf.Cap() >= n }
	}
	sh := b.st.borrow()
	buf, ok := b.st.pop(sh, from, accept)
	b.st.ret(sh)
	if ok {
		return buf
	}
	size := int(b.initial.Load())
	if n > size {
		size = min(1<<bits.Len(uint(n-1)), maxSize)
	}
	return bytes.NewBuffer(make([]byte, 0, size))
}

// Put returns buf to the pool. It is reset and kept unless its capacity is
// over MaxSize (or under 512 bytes) or Count buffers are already idle. buf
// must not be used after Put. Put(nil) does nothing.
func (b *Buffers) Put(buf *bytes.Buffer) {
	if b == nil || buf == nil {
		return
	}
	sh := b.st.borrow()
	c := buf.Cap()
	if class := bufferClass(c); class >= 0 && c <= int(b.maxSize.Load()) {
		buf.Reset()
		b.st.push(sh, class, buf)
	} else {
		sh.drops.Add(1)
	}
	b.st.ret(sh)
}

// Resize applies new options to a live pool: idle buffers over the new
// MaxSize and idle buffers beyond the new Count (the largest first) are
// released at once, and with Prealloc the pool is filled up to Count.
// Buffers in use are not affected until they are Put.
func (b *Buffers) Resize(o BufferOptions) {
	o = o.normalize()
	b.mu.Lock()
	defer b.mu.Unlock()
	b.opts = o
	b.maxSize.Store(int64(o.MaxSize))
	b.initial.Store(int64(o.InitialSize))
	maxSize := o.MaxSize
	b.st.filter(func(buf *bytes.Buffer) bool { return buf.Cap() <= maxSize }, nil)
	b.st.setLimit(o.Count, nil)
	if size := max(o.InitialSize, minBufferCap); o.Prealloc && size <= o.MaxSize {
		b.st.fill(bufferClass(size), func() *bytes.Buffer { return bytes.NewBuffer(make([]byte, 0, size)) })
	}
}

// Options returns the options in force, with defaults filled in.
func (b *Buffers) Options() BufferOptions {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.opts
}

// Stats reports the pool's state. Misses are Gets that allocated; InUse is
// Gets minus Puts; Dropped counts buffers not kept by Put (oversize, pool
// full) and idle buffers released by Resize.
func (b *Buffers) Stats() Stats {
	if b == nil {
		return Stats{}
	}
	hits, puts, misses, drops := b.st.counters()
	gets := hits + misses
	return Stats{
		InUse:    gets - puts - drops,
		Idle:     b.st.idle(),
		Capacity: b.st.limit(),
		Gets:     gets,
		Hits:     hits,
		Misses:   misses,
		Dropped:  drops + b.st.trimmed.Load(),
	}
}
