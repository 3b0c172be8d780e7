package pool

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/wait"
)

type reqState struct {
	path  string
	attrs []string
	n     int
}

func newStatePool(size int, ttl time.Duration, made *atomic.Int64) *Objects[reqState] {
	return NewObjects(size, ttl,
		func() *reqState { made.Add(1); return &reqState{attrs: make([]string, 0, 8)} },
		func(s *reqState) { *s = reqState{attrs: s.attrs[:0]} })
}

func TestObjectsStatsAndReset(t *testing.T) {
	var made atomic.Int64
	o := newStatePool(2, 0, &made)
	defer o.Close()
	a := o.Get()
	a.path, a.n = "/x", 7
	a.attrs = append(a.attrs, "k")
	o.Put(a)
	b := o.Get()
	if b != a {
		t.Fatal("Get did not reuse the object")
	}
	if b.path != "" || b.n != 0 || len(b.attrs) != 0 || cap(b.attrs) != 8 {
		t.Fatalf("object not reset: %+v", *b)
	}
	want := Stats{InUse: 1, Capacity: 2, Gets: 2, Hits: 1, Misses: 1}
	if s := o.Stats(); s != want || made.Load() != 1 {
		t.Fatalf("stats %+v (made %d), want %+v", s, made.Load(), want)
	}
	o.Put(nil)
	if s := o.Stats(); s.InUse != 1 {
		t.Fatal("Put(nil) was counted")
	}
}

func TestObjectsSizeBound(t *testing.T) {
	var made atomic.Int64
	o := newStatePool(3, 0, &made)
	defer o.Close()
	objs := make([]*reqState, 10)
	for i := range objs {
		objs[i] = o.Get()
	}
	for _, v := range objs {
		o.Put(v)
	}
	if s := o.Stats(); s.Idle != 3 || s.Dropped != 7 || s.InUse != 0 {
		t.Fatalf("stats %+v, want 3 idle and 7 dropped", s)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 1000 {
				v := o.Get()
				v.n++
				o.Put(v)
			}
		})
	}
	wg.Wait()
	if s := o.Stats(); s.Idle > 3 || s.InUse != 0 || s.Hits+s.Misses != s.Gets {
		t.Fatalf("after concurrent use: %+v", s)
	}
}

func TestObjectsTTL(t *testing.T) {
	var made atomic.Int64
	const ttl = 40 * time.Millisecond
	o := newStatePool(10, ttl, &made)
	defer o.Close()
	objs := []*reqState{o.Get(), o.Get(), o.Get()}
	start := time.Now()
	for _, v := range objs {
		o.Put(v)
	}
	// Not dropped before the TTL: the poll sees a drop within one interval.
	var early string
	wait.For(t, "idle objects were not dropped after the TTL", func() bool {
		s := o.Stats()
		if age := time.Since(start); s.Idle != 3 && age < ttl && early == "" {
			early = fmt.Sprintf("dropped after %v, before the TTL %v: %+v", age, ttl, s)
		}
		return s.Idle == 0
	})
	if early != "" {
		t.Fatal(early)
	}
	if age := time.Since(start); age < ttl {
		t.Fatalf("dropped after %v, before the TTL %v", age, ttl)
	}
	if s := o.Stats(); s.Dropped != 3 {
		t.Fatalf("stats %+v, want 3 dropped", s)
	}
	// An object in steady use is not dropped: each round it idles while
	// the sweeper runs once (a quarter of the TTL), six rounds in all.
	v := o.Get()
	want := made.Load()
	for range 6 {
		o.Put(v)
		put, tick := time.Now(), o.clock.Load()
		wait.For(t, "a sweep", func() bool { return o.clock.Load() != tick })
		idle := time.Since(put)
		v = o.Get()
		if made.Load() != want {
			if idle < ttl {
				t.Fatalf("made %d objects, want %d: a busy object expired after %v idle", made.Load(), want, idle)
			}
			want = made.Load() // the machine stalled past the TTL: a fair drop
		}
	}
	o.Put(v)
}

func TestObjectsResize(t *testing.T) {
	var made atomic.Int64
	o := newStatePool(10, 0, &made)
	defer o.Close()
	for _, v := range []*reqState{o.Get(), o.Get(), o.Get(), o.Get(), o.Get()} {
		o.Put(v)
	}
	steps := []struct {
		name     string
		size     int
		ttl      time.Duration
		wantIdle int64
	}{
		{name: "shrink drops at once", size: 2, wantIdle: 2},
		{name: "grow keeps", size: 20, wantIdle: 2},
		{name: "ttl on drops old ones", size: 20, ttl: 10 * time.Millisecond, wantIdle: 0},
		{name: "ttl off", size: 20, ttl: 0, wantIdle: 0},
		{name: "zero keeps none", size: 0, wantIdle: 0},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			o.Resize(st.size, st.ttl)
			wait.For(t, "idle count", func() bool { return o.Stats().Idle == st.wantIdle })
			if s := o.Stats(); s.Capacity != int64(st.size) {
				t.Fatalf("capacity %d, want %d", s.Capacity, st.size)
			}
		})
	}
	o.Put(o.Get())
	if s := o.Stats(); s.Idle != 0 {
		t.Fatalf("size 0 kept an object: %+v", s)
	}
}

func TestObjectsClose(t *testing.T) {
	var made atomic.Int64
	o := newStatePool(4, time.Minute, &made)
	o.Put(o.Get())
	o.Close()
	o.Close()
	if s := o.Stats(); s.Idle != 0 {
		t.Fatalf("idle after Close: %+v", s)
	}
	v := o.Get()
	o.Put(v)
	if s := o.Stats(); s.Idle != 0 {
		t.Fatalf("Put after Close kept: %+v", s)
	}
	o.Resize(10, time.Second) // no effect, no goroutine
}

func TestObjectsNilNewPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("NewObjects accepted a nil newFn")
		}
	}()
	NewObjects[reqState](1, 0, nil, nil)
}

func TestObjectsAllocs(t *testing.T) {
	var made atomic.Int64
	o := newStatePool(16, time.Minute, &made)
	defer o.Close()
	o.Put(o.Get())
	if n := testing.AllocsPerRun(1000, func() {
		v := o.Get()
		v.n++
		o.Put(v)
	}); n != 0 {
		t.Fatalf("Get/Put allocates %v times", n)
	}
}

func BenchmarkObjects(b *testing.B) {
	var made atomic.Int64
	b.Run("pool", func(b *testing.B) {
		o := newStatePool(64, time.Minute, &made)
		defer o.Close()
		b.ReportAllocs()
		for b.Loop() {
			v := o.Get()
			v.n++
			o.Put(v)
		}
	})
	b.Run("pool-parallel", func(b *testing.B) {
		o := newStatePool(64, time.Minute, &made)
		defer o.Close()
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				v := o.Get()
				v.n++
				o.Put(v)
			}
		})
	})
	b.Run("new", func(b *testing.B) {
		b.ReportAllocs()
		var sink *reqState
		for b.Loop() {
			sink = &reqState{attrs: make([]string, 0, 8)}
			sink.n++
		}
		_ = sink
	})
}
