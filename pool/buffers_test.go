package pool

import (
	"bytes"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"unsafe"
)

func TestShardFillsCacheLines(t *testing.T) {
	if n := unsafe.Sizeof(shard[*bytes.Buffer]{}); n%64 != 0 {
		t.Fatalf("shard is %d bytes, not a multiple of 64", n)
	}
}

func TestBuffersStats(t *testing.T) {
	b := NewBuffers(BufferOptions{MaxSize: 64 << 10, Count: 4})
	if s := b.Stats(); s != (Stats{Capacity: 4}) {
		t.Fatalf("new pool stats = %+v", s)
	}
	b1, b2 := b.Get(), b.Get()
	if b1.Cap() != DefaultBufferInitialSize || b1.Len() != 0 {
		t.Fatalf("new buffer cap %d len %d", b1.Cap(), b1.Len())
	}
	want := Stats{InUse: 2, Capacity: 4, Gets: 2, Misses: 2}
	if s := b.Stats(); s != want {
		t.Fatalf("after 2 gets: %+v, want %+v", s, want)
	}
	b1.WriteString("hello")
	b.Put(b1)
	b.Put(b2)
	want = Stats{Idle: 2, Capacity: 4, Gets: 2, Misses: 2}
	if s := b.Stats(); s != want {
		t.Fatalf("after 2 puts: %+v, want %+v", s, want)
	}
	b3 := b.Get()
	if b3.Len() != 0 {
		t.Fatalf("pooled buffer not reset: %q", b3.String())
	}
	if b3 != b1 && b3 != b2 {
		t.Fatal("Get did not reuse a pooled buffer")
	}
	want = Stats{InUse: 1, Idle: 1, Capacity: 4, Gets: 3, Hits: 1, Misses: 2}
	if s := b.Stats(); s != want {
		t.Fatalf("after reuse: %+v, want %+v", s, want)
	}
}

func TestBuffersCountBound(t *testing.T) {
	tests := []struct {
		name  string
		count int
		puts  int
	}{
		{name: "zero keeps none", count: 0, puts: 5},
		{name: "one", count: 1, puts: 5},
		{name: "under", count: 10, puts: 3},
		{name: "over", count: 10, puts: 25},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := NewBuffers(BufferOptions{Count: tt.count})
			bufs := make([]*bytes.Buffer, tt.puts)
			for i := range bufs {
				bufs[i] = b.Get()
			}
			for _, buf := range bufs {
				b.Put(buf)
			}
			s := b.Stats()
			kept := min(tt.count, tt.puts)
			if s.Idle != int64(kept) || s.Dropped != int64(tt.puts-kept) || s.InUse != 0 {
				t.Fatalf("stats %+v, want Idle %d Dropped %d", s, kept, tt.puts-kept)
			}
		})
	}
}

// TestBuffersShards: Count is spread over the shards, yet a single goroutine
// can fill all of it and take all of it back.
func TestBuffersShards(t *testing.T) {
	for _, shards := range []int{1, 2, 4, 8} {
		t.Run(strconv.Itoa(shards), func(t *testing.T) {
			b := newBuffers(BufferOptions{Count: 10}, shards)
			bufs := make([]*bytes.Buffer, 13)
			for i := range bufs {
				bufs[i] = b.Get()
			}
			for _, buf := range bufs {
				b.Put(buf)
			}
			if s := b.Stats(); s.Idle != 10 || s.Dropped != 3 || s.Capacity != 10 {
				t.Fatalf("stats %+v", s)
			}
			for range 10 {
				b.Get()
			}
			if s := b.Stats(); s.Idle != 0 || s.Hits != 10 || s.Misses != 13 {
				t.Fatalf("stats %+v", s)
			}
			b.Resize(BufferOptions{Count: 7, Prealloc: true})
			if s := b.Stats(); s.Idle != 7 || s.Capacity != 7 {
				t.Fatalf("after prealloc: %+v", s)
			}
		})
	}
}

func TestBuffersCountBoundConcurrent(t *testing.T) {
	const count = 8
	b := NewBuffers(BufferOptions{Count: count, MaxSize: 1 << 16})
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for i := range 500 {
				buf := b.GetSize((g*i)%(1<<15) + 1)
				buf.WriteString("x")
				if s := b.Stats(); s.Idle > count {
					t.Errorf("idle %d > count %d", s.Idle, count)
					return
				}
				b.Put(buf)
			}
		})
	}
	wg.Wait()
	s := b.Stats()
	if s.Idle > count || s.InUse != 0 || s.Gets != 16*500 || s.Hits+s.Misses != s.Gets {
		t.Fatalf("after concurrent use: %+v", s)
	}
}

func TestBuffersOversizeNotPooled(t *testing.T) {
	const maxSize = 8 << 10
	b := NewBuffers(BufferOptions{MaxSize: maxSize, Count: 10})
	buf := b.Get()
	buf.Write(make([]byte, maxSize+1)) // grows past MaxSize
	b.Put(buf)
	if s := b.Stats(); s.Idle != 0 || s.Dropped != 1 {
		t.Fatalf("grown buffer kept: %+v", s)
	}
	big := b.GetSize(maxSize + 100)
	if big.Cap() < maxSize+100 {
		t.Fatalf("one-off buffer cap %d", big.Cap())
	}
	b.Put(big)
	if s := b.Stats(); s.Idle != 0 || s.Dropped != 2 || s.Misses != 2 {
		t.Fatalf("one-off buffer kept: %+v", s)
	}
	tiny := bytes.NewBuffer(make([]byte, 0, 16))
	b.Put(tiny)
	if s := b.Stats(); s.Idle != 0 {
		t.Fatalf("tiny buffer kept: %+v", s)
	}
	exact := b.GetSize(maxSize)
	exact.Write(make([]byte, maxSize))
	b.Put(exact)
	if s := b.Stats(); s.Idle != 1 {
		t.Fatalf("buffer of exactly MaxSize not kept: %+v", s)
	}
}

// The tests of which buffer Get picks use one shard: with several, a
// goroutine that moves to another CPU may be served from another shard first.

func TestBuffersGetSize(t *testing.T) {
	b := newBuffers(BufferOptions{MaxSize: 1 << 20, Count: 10}, 1)
	tests := []struct {
		name    string
		n       int
		wantCap int
	}{
		{name: "zero gets initial", n: 0, wantCap: DefaultBufferInitialSize},
		{name: "small gets initial", n: 100, wantCap: DefaultBufferInitialSize},
		{name: "rounded up", n: 5000, wantCap: 8192},
		{name: "power of two", n: 65536, wantCap: 65536},
		{name: "capped at max", n: 1<<20 - 1, wantCap: 1 << 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			buf := b.GetSize(tt.n)
			if buf.Cap() != tt.wantCap {
				t.Fatalf("GetSize(%d).Cap() = %d, want %d", tt.n, buf.Cap(), tt.wantCap)
			}
			b.Put(buf)
			again := b.GetSize(tt.n)
			if again != buf {
				t.Fatalf("GetSize(%d) did not reuse the buffer of cap %d", tt.n, buf.Cap())
			}
			b.Put(again)
		})
	}
	// A buffer whose capacity is not a power of two serves only requests it can hold.
	b2 := newBuffers(BufferOptions{MaxSize: 1 << 20, Count: 10}, 1)
	odd := bytes.NewBuffer(make([]byte, 0, 6000))
	b2.Put(odd)
	if got := b2.GetSize(7000); got == odd || got.Cap() < 7000 {
		t.Fatalf("GetSize(7000) returned cap %d", got.Cap())
	}
	if got := b2.GetSize(5000); got != odd {
		t.Fatalf("GetSize(5000) did not take the 6000-byte buffer (cap %d)", got.Cap())
	}
	// Get takes the smallest idle buffer.
	b3 := newBuffers(BufferOptions{MaxSize: 1 << 20, Count: 10}, 1)
	large, small := b3.GetSize(1<<16), b3.GetSize(1<<10)
	b3.Put(large)
	b3.Put(small)
	if got := b3.Get(); got != small {
		t.Fatalf("Get took cap %d, want the smallest", got.Cap())
	}
}

func TestBuffersPrealloc(t *testing.T) {
	b := NewBuffers(BufferOptions{MaxSize: 1 << 20, Count: 32, Prealloc: true})
	if s := b.Stats(); s.Idle != 32 {
		t.Fatalf("preallocated idle = %d, want 32", s.Idle)
	}
	bufs := make([]*bytes.Buffer, 32)
	for i := range bufs {
		bufs[i] = b.Get()
	}
	if s := b.Stats(); s.Misses != 0 || s.Hits != 32 || s.Idle != 0 {
		t.Fatalf("gets from a preallocated pool: %+v", s)
	}
	if b.Get(); b.Stats().Misses != 1 {
		t.Fatal("the 33rd get was not a miss")
	}
	// Kept buffers survive garbage collection, unlike a sync.Pool.
	for _, buf := range bufs {
		b.Put(buf)
	}
	runtime.GC()
	runtime.GC()
	if s := b.Stats(); s.Idle != 32 {
		t.Fatalf("idle after GC = %d, want 32", s.Idle)
	}
	for range 32 {
		b.Get()
	}
	if s := b.Stats(); s.Misses != 1 {
		t.Fatalf("buffers lost to GC: %+v", s)
	}
}

func TestBuffersResize(t *testing.T) {
	opts := func(maxSize, count int, prealloc bool) BufferOptions {
		return BufferOptions{MaxSize: maxSize, Count: count, Prealloc: prealloc, InitialSize: 1024}
	}
	b := newBuffers(opts(1<<20, 10, false), 1)
	var bufs []*bytes.Buffer
	for i := range 10 {
		bufs = append(bufs, b.GetSize(1024<<(i%8))) // 1 KiB .. 128 KiB, 1 KiB, 2 KiB
	}
	for _, buf := range bufs {
		b.Put(buf)
	}
	if s := b.Stats(); s.Idle != 10 {
		t.Fatalf("idle %d", s.Idle)
	}
	// takeAndReturn checks that every idle buffer has a capacity of at most
	// maxCap, and puts them back.
	takeAndReturn := func(t *testing.T, n int, maxCap int) {
		t.Helper()
		var got []*bytes.Buffer
		for range n {
			buf := b.Get()
			if buf.Cap() > maxCap {
				t.Errorf("idle buffer of cap %d, want at most %d", buf.Cap(), maxCap)
			}
			got = append(got, buf)
		}
		for _, buf := range got {
			b.Put(buf)
		}
	}
	steps := []struct {
		name     string
		o        BufferOptions
		wantIdle int64
		maxCap   int
	}{
		{name: "count down keeps the smallest", o: opts(1<<20, 4, false), wantIdle: 4, maxCap: 2048},
		{name: "count up with prealloc fills", o: opts(1<<20, 12, true), wantIdle: 12, maxCap: 2048},
		{name: "same options change nothing", o: opts(1<<20, 12, true), wantIdle: 12, maxCap: 2048},
		{name: "max size down drops larger", o: opts(1024, 12, false), wantIdle: 10, maxCap: 1024},
		{name: "count up without prealloc adds nothing", o: opts(1<<20, 20, false), wantIdle: 10, maxCap: 1024},
		{name: "disable", o: opts(1<<20, 0, true), wantIdle: 0},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			b.Resize(st.o)
			s := b.Stats()
			if s.Idle != st.wantIdle || s.Capacity != int64(st.o.Count) || s.InUse != 0 {
				t.Fatalf("after Resize(%+v): %+v, want idle %d", st.o, s, st.wantIdle)
			}
			takeAndReturn(t, int(st.wantIdle), st.maxCap)
		})
	}
	if got := b.Options(); got.MaxSize != 1<<20 || got.Count != 0 || !got.Prealloc {
		t.Fatalf("Options() = %+v", got)
	}
}

func TestBuffersMaxSizeDownDropsIdle(t *testing.T) {
	b := newBuffers(BufferOptions{MaxSize: 1 << 20, Count: 10}, 1)
	small, large := b.GetSize(1024), b.GetSize(1<<18)
	b.Put(small)
	b.Put(large)
	b.Resize(BufferOptions{MaxSize: 4096, Count: 10})
	if s := b.Stats(); s.Idle != 1 || s.Dropped != 1 {
		t.Fatalf("after MaxSize down: %+v", s)
	}
	if got := b.GetSize(1024); got != small {
		t.Fatal("the small buffer was not kept")
	}
}

func TestBuffersNil(t *testing.T) {
	var b *Buffers
	buf := b.Get()
	if buf == nil || buf.Len() != 0 {
		t.Fatal("nil pool Get")
	}
	b.Put(buf)
	if b.Stats() != (Stats{}) {
		t.Fatal("nil pool has stats")
	}
}

func TestBuffersAllocs(t *testing.T) {
	b := NewBuffers(BufferOptions{Count: 16, Prealloc: true})
	if n := testing.AllocsPerRun(1000, func() {
		buf := b.Get()
		buf.WriteString("some body")
		b.Put(buf)
	}); n != 0 {
		t.Fatalf("Get/Put allocates %v times", n)
	}
	if n := testing.AllocsPerRun(1000, func() { b.Put(b.GetSize(3000)) }); n != 0 {
		t.Fatalf("GetSize/Put allocates %v times", n)
	}
}

func BenchmarkBuffers(b *testing.B) {
	b.Run("pool", func(b *testing.B) {
		p := NewBuffers(BufferOptions{Count: 64, Prealloc: true})
		b.ReportAllocs()
		for b.Loop() {
			buf := p.Get()
			buf.WriteString("x")
			p.Put(buf)
		}
	})
	b.Run("pool-parallel", func(b *testing.B) {
		p := NewBuffers(BufferOptions{Count: 64, Prealloc: true})
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				buf := p.Get()
				buf.WriteString("x")
				p.Put(buf)
			}
		})
	})
	b.Run("sync.Pool-parallel", func(b *testing.B) {
		p := sync.Pool{New: func() any { return bytes.NewBuffer(make([]byte, 0, 4096)) }}
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				buf := p.Get().(*bytes.Buffer)
				buf.WriteString("x")
				buf.Reset()
				p.Put(buf)
			}
		})
	})
	b.Run("no-pool-64KiB", func(b *testing.B) {
		body := make([]byte, 64<<10)
		b.ReportAllocs()
		for b.Loop() {
			var buf bytes.Buffer
			buf.Write(body)
		}
	})
	b.Run("pool-64KiB", func(b *testing.B) {
		body := make([]byte, 64<<10)
		p := NewBuffers(BufferOptions{Count: 64})
		b.ReportAllocs()
		for b.Loop() {
			buf := p.Get()
			buf.Write(body)
			p.Put(buf)
		}
	})
}
