package ratelimit

import (
	"encoding/binary"
	"net/http"
	"net/netip"
	"runtime"
	"testing"
	"time"
)

func TestShardLayout(t *testing.T) {
	tests := []struct {
		maxKeys, shards int
	}{
		{1, 1}, {31, 1}, {32, 2}, {100, 4}, {1000, 32}, {10_000, 256}, {1_000_000, 256},
	}
	for _, tc := range tests {
		s := newMemStore(newPolicy(1, time.Second, 1), tc.maxKeys)
		if len(s.shards) != tc.shards || s.perShard*len(s.shards) > tc.maxKeys {
			t.Errorf("max_keys %d: %d shards of %d, want %d shards and at most max_keys in all",
				tc.maxKeys, len(s.shards), s.perShard, tc.shards)
		}
		for h := uint64(0); h < 1<<16; h += 997 {
			_ = s.shardOf(h * 0x9e3779b97f4a7c15) // must not go out of range
		}
	}
}

func TestIdleKeysExpire(t *testing.T) {
	p := newPolicy(5, 10*time.Second, 5) // a key is idle 10 s after its last request at most
	s := newMemStore(p, 1_000_000)
	sec := int64(time.Second)
	for i := uint64(0); i < 10_000; i++ {
		s.take(i*0x9e3779b97f4a7c15, 0)
	}
	if keys, _, _ := s.counts(); keys != 10_000 {
		t.Fatalf("keys %d", keys)
	}
	// 20 s later the first keys are full buckets again: new keys push them out.
	for i := uint64(10_000); i < 20_000; i++ {
		s.take(i*0x9e3779b97f4a7c15, 20*sec)
	}
	keys, _, _ := s.counts()
	if keys > 11_000 {
		t.Fatalf("%d keys tracked after 10,000 idle keys expired and 10,000 new came, want about 10,000", keys)
	}
}

// Acceptance 6: 1,000,000 distinct keys keep the key count at or under
// max_keys, a hot key stays limited, and the heap stays under 200 MB.
func TestAcceptance6BoundedKeys(t *testing.T) {
	if testing.Short() {
		t.Skip("1,000,000 keys")
	}
	tests := []struct {
		name    string
		maxKeys int
	}{
		{"max_keys 100000", 100_000},
		{"default max_keys", DefaultMaxKeys},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if raceEnabled && tc.maxKeys == DefaultMaxKeys {
				t.Skip("heap figures are not representative under the race detector")
			}
			e := newEnv(t)
			var before runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)

			l := e.limiter("flood", map[string]any{"rate": 5, "per": "10s", "max_keys": tc.maxKeys})
			h := l.Wrap(okHandler)
			const hot = "192.0.2.200:1"
			for i := 0; i < 5; i++ {
				do(h, hot)
			}
			// A million distinct clients (IPv4 10.x.y.z), each sending once,
			// interleaved with the hot client, all within its window.
			req, _ := http.NewRequest(http.MethodGet, "/", nil)
			w := &nopWriter{h: http.Header{}}
			var b [4]byte
			for i := 0; i < 1_000_000; i++ {
				binary.BigEndian.PutUint32(b[:], 10<<24|uint32(i))
				req.RemoteAddr = netip.AddrPortFrom(netip.AddrFrom4(b), 1).String()
				clear(w.h)
				w.code = 0
				h.ServeHTTP(w, req)
				if w.code != http.StatusOK {
					t.Fatalf("client %d refused", i)
				}
				if i%100_000 == 0 {
					if w := do(h, hot); w.Code != http.StatusTooManyRequests {
						t.Fatalf("hot key allowed after %d other keys", i)
					}
					e.clock.Advance(time.Millisecond)
				}
			}
			keys, _, _ := l.mem.counts()
			if keys > tc.maxKeys {
				t.Fatalf("%d keys tracked, max_keys %d", keys, tc.maxKeys)
			}
			if w := do(h, hot); w.Code != http.StatusTooManyRequests {
				t.Fatalf("hot key no longer limited after 1,000,000 keys")
			}
			var after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&after)
			heap := int64(after.HeapInuse) - int64(before.HeapInuse)
			t.Logf("%d keys tracked (max %d), heap in use grew by %.1f MB", keys, tc.maxKeys, float64(heap)/(1<<20))
			if heap > 200<<20 {
				t.Fatalf("heap grew by %d MB for 1,000,000 keys, want < 200 MB", heap>>20)
			}
			runtime.KeepAlive(l)
		})
	}
}

// nopWriter is a ResponseWriter that keeps one header map, for benchmarks.
type nopWriter struct {
	h    http.Header
	code int
}

func (w *nopWriter) Header() http.Header { return w.h }
func (w *nopWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return len(b), nil
}
func (w *nopWriter) WriteHeader(code int) { w.code = code }
