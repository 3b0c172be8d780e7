package ratelimit

import (
	"net/http"
	"net/netip"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/instances"
	"github.com/switchyard/switchyard/internal/redistest"
	"github.com/switchyard/switchyard/plugintest"
)

// benchLimiter builds a limiter on the real clock through the registry.
func benchLimiter(b testing.TB, cfg map[string]any) *Limiter {
	b.Helper()
	reg := instances.New(instances.Options{})
	set, err := reg.Build(plugintest.NewServices(plugintest.WithNow(time.Now)), []instances.Spec{{Name: "bench", Type: TypeName, Config: cfg}}, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { set.Release(); reg.Close() })
	inst, _ := set.Get("bench")
	return inst.(*Limiter)
}

// neverLimited is a policy that a benchmark cannot exhaust: a unit returns
// every nanosecond and a bucket holds a billion.
var neverLimited = map[string]any{"rate": 1_000_000_000, "per": "1s"}

var noop = http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})

// TestAllowPathAllocs guards the hot path: an allowed request on the memory
// store allocates nothing, headers included.
func TestAllowPathAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	for _, legacy := range []bool{false, true} {
		cfg := map[string]any{"rate": 1_000_000_000, "per": "1s", "legacy_headers": legacy}
		h := benchLimiter(t, cfg).Wrap(noop)
		r, _ := http.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = "192.0.2.1:1234"
		w := &nopWriter{h: make(http.Header, 8)}
		h.ServeHTTP(w, r)
		if n := testing.AllocsPerRun(1000, func() {
			clear(w.h)
			h.ServeHTTP(w, r)
		}); n != 0 {
			t.Errorf("legacy_headers=%v: %v allocations per allowed request, want 0", legacy, n)
		}
		if w.h.Get("RateLimit") == "" {
			t.Fatalf("no RateLimit header")
		}
	}
}

// Acceptance 9: an allowed decision in memory with one key, the whole
// middleware (key, decision, headers) included.
func BenchmarkAllowMemory1Key(b *testing.B) {
	h := benchLimiter(b, neverLimited).Wrap(noop)
	r, _ := http.NewRequest(http.MethodGet, "/", nil)
	r.RemoteAddr = "192.0.2.1:1234"
	w := &nopWriter{h: make(http.Header, 8)}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		h.ServeHTTP(w, r)
	}
}

// The store's decision alone, one key.
func BenchmarkMemStoreTake1Key(b *testing.B) {
	l := benchLimiter(b, neverLimited)
	k := bucketKey{kind: kindIP, ip: netip.MustParseAddr("192.0.2.1")}
	h := k.hash()
	b.ReportAllocs()
	for b.Loop() {
		l.mem.take(h, l.clock())
	}
}

// Acceptance 9: 100,000 keys under b.RunParallel, whole middleware. A unit
// returns every second and a bucket holds a million, so every request leaves
// its key a second of debt: all keys stay tracked for the whole run (none
// refills between two visits, however loaded the machine), the RateLimit
// values move as the keys are revisited, and none is ever refused.
func BenchmarkAllowMemory100kKeysParallel(b *testing.B) {
	const n = 100_000
	l := benchLimiter(b, map[string]any{"rate": 1, "per": "1s", "burst": 1_000_000})
	h := l.Wrap(noop)
	addrs := make([]string, n)
	for i := range addrs {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		addrs[i] = netip.AddrPortFrom(a, 1).String()
	}
	warm, _ := http.NewRequest(http.MethodGet, "/", nil)
	ww := &nopWriter{h: http.Header{}}
	for _, a := range addrs {
		warm.RemoteAddr = a
		clear(ww.h)
		h.ServeHTTP(ww, warm)
	}
	if keys, _, _ := l.mem.counts(); keys != n {
		b.Fatalf("%d keys tracked after the warm-up, want %d", keys, n)
	}
	var seq atomic.Uint64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		r, _ := http.NewRequest(http.MethodGet, "/", nil)
		w := &nopWriter{h: make(http.Header, 8)}
		i := int(seq.Add(1) * 7919)
		for pb.Next() {
			i++
			r.RemoteAddr = addrs[i%n]
			clear(w.h)
			h.ServeHTTP(w, r)
			if w.code != 0 {
				b.Fatalf("refused: %d", w.code)
			}
		}
	})
	if keys, _, _ := l.mem.counts(); keys != n {
		b.Fatalf("%d keys tracked after the run, want %d", keys, n)
	}
}

// A refusal, for comparison (not on the allowed path).
func BenchmarkRefuseMemory(b *testing.B) {
	h := benchLimiter(b, map[string]any{"rate": 1, "per": "1h"}).Wrap(noop)
	r, _ := http.NewRequest(http.MethodGet, "/", nil)
	r.RemoteAddr = "192.0.2.1:1234"
	w := &nopWriter{h: make(http.Header, 8)}
	h.ServeHTTP(w, r)
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		h.ServeHTTP(w, r)
	}
}

// Acceptance 9: a decision on a real redis-server over loopback.
func BenchmarkRedisDecision(b *testing.B) {
	srv := redistest.Start(b)
	cfg := map[string]any{"rate": 1_000_000, "per": "1s", "store": "redis",
		"redis": map[string]any{"addr": srv.Addr(), "timeout": "1s"}}
	b.Run("serial", func(b *testing.B) {
		l := benchLimiter(b, cfg)
		h := l.Wrap(noop)
		r, _ := http.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = "192.0.2.1:1234"
		w := &nopWriter{h: make(http.Header, 8)}
		b.ReportAllocs()
		for b.Loop() {
			clear(w.h)
			h.ServeHTTP(w, r)
		}
		if n := l.redisErrors.Load(); n != 0 {
			b.Fatalf("%d Redis errors", n)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		l := benchLimiter(b, cfg)
		h := l.Wrap(noop)
		var seq atomic.Uint64
		b.ReportAllocs()
		b.SetParallelism(4)
		b.RunParallel(func(pb *testing.PB) {
			r, _ := http.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = "192.0.2." + strconv.Itoa(int(seq.Add(1))) + ":1"
			w := &nopWriter{h: make(http.Header, 8)}
			for pb.Next() {
				clear(w.h)
				h.ServeHTTP(w, r)
			}
		})
		if n := l.redisErrors.Load(); n != 0 {
			b.Fatalf("%d Redis errors", n)
		}
	})
}
