//go:build !race

package caching

import (
	"fmt"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
)

// TestMemoryBound fills a cache with ten times max_size of distinct entries
// and checks that cache_bytes stays within max_size + 10% throughout and that
// the live heap grows by at most 1.5 x max_size.
//
// The resident set also holds what the collector has not reclaimed yet: while
// the cache churns, evicted and refused entries are garbage until the next
// collection, and with the default GOGC=100 the collector lets the heap reach
// twice the live heap first; afterwards, heap spans that still hold a live
// entry among the reclaimed ones stay resident. So the first run (GOGC=100)
// checks the resident set it keeps against 1.75 x max_size and only logs the
// peak, and the second run gives the runtime a memory limit of 1.4 x
// max_size above the baseline (what GOMEMLIMIT does for a server) and checks
// that both the resident set it keeps and its peak during the fill stay
// within 1.5 x max_size.
func TestMemoryBound(t *testing.T) {
	if testing.Short() {
		t.Skip("fills 320MB through the cache, twice")
	}
	const maxSize = 32 << 20
	mb := func(v int64) string { return fmt.Sprintf("%.1fMB", float64(v)/(1<<20)) }
	limit := int64(maxSize * 3 / 2)
	for _, withLimit := range []bool{false, true} {
		name := "GOGC=100"
		if withLimit {
			name = "memory limit"
		}
		t.Run(name, func(t *testing.T) {
			runtime.GC()
			debug.FreeOSMemory()
			heap0, rss0 := heapInUse(), rss(t)
			if withLimit {
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				// The limit leaves a little room under the bound for what
				// the runtime does not count (as one sets GOMEMLIMIT).
				old := debug.SetMemoryLimit(int64(ms.Sys-ms.HeapReleased) + maxSize*14/10)
				defer debug.SetMemoryLimit(old)
			}
			r := fill(t, maxSize, 4<<10, rss0)
			runtime.GC()
			heap1 := heapInUse()
			debug.FreeOSMemory()
			rss1 := rss(t)
			t.Logf("max_size %s; filled %d entries (%s); peak cache_bytes %s; entries kept %d; live heap growth %s; retained RSS growth %s; peak RSS growth during the fill %s",
				mb(maxSize), r.filled, mb(r.filled*4<<10), mb(r.peakGauge), r.kept, mb(heap1-heap0), mb(rss1-rss0), mb(r.peakRSS-rss0))
			if l := int64(maxSize * 11 / 10); r.peakGauge > l {
				t.Errorf("cache_bytes peaked at %s, above max_size + 10%% (%s)", mb(r.peakGauge), mb(l))
			}
			if r.peakGauge < maxSize/2 {
				t.Errorf("cache_bytes peaked at %s: the cache did not fill", mb(r.peakGauge))
			}
			if g := heap1 - heap0; g > limit {
				t.Errorf("live heap grew by %s, above 1.5 x max_size (%s)", mb(g), mb(limit))
			}
			rssLimit := limit
			if !withLimit {
				rssLimit = maxSize * 7 / 4
			}
			if g := rss1 - rss0; g > rssLimit {
				t.Errorf("retained RSS grew by %s, above %.2f x max_size (%s)", mb(g), float64(rssLimit)/maxSize, mb(rssLimit))
			}
			if g := r.peakRSS - rss0; withLimit && g > limit {
				t.Errorf("with a memory limit, RSS peaked %s above the baseline, above 1.5 x max_size (%s)", mb(g), mb(limit))
			}
		})
	}
}

type fillResult struct {
	filled, kept, peakGauge, peakRSS int64
}

// fill sends 10 x maxSize of distinct bodySize responses through a new cache
// of maxSize, sampling cache_bytes and the RSS as it goes.
func fill(t *testing.T, maxSize, bodySize int, rss0 int64) fillResult {
	e := newEnv(t, map[string]any{"max_size": maxSize})
	body := []byte(strings.Repeat("m", bodySize))
	up := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=600")
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(body)
	})
	h := e.cache.Wrap(up)
	w := &discardWriter{h: http.Header{}}
	req, _ := http.NewRequest("GET", "http://example.com/", nil)
	r := fillResult{peakRSS: rss0}
	n := 10 * maxSize / bodySize
	for i := range n {
		req.URL.Path = "/obj/" + strconv.Itoa(i)
		w.reset()
		h.ServeHTTP(w, req)
		if i%250 == 0 || i == n-1 {
			r.peakGauge = max(r.peakGauge, int64(e.bytesGauge()))
			r.peakRSS = max(r.peakRSS, rss(t))
		}
	}
	e.cache.mem.rc.Wait()
	r.peakGauge = max(r.peakGauge, int64(e.bytesGauge()))
	r.filled, r.kept = int64(n), e.cache.mem.entries.Load()
	return r
}

func heapInUse() int64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}

// rss reads the resident set size of the process from /proc.
func rss(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Skipf("no /proc/self/statm: %v", err)
	}
	f := strings.Fields(string(b))
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return pages * int64(os.Getpagesize())
}

// TestEntryCost checks that the cost the memory tier charges for an entry
// matches the heap it holds, within 15%, for small and large bodies.
func TestEntryCost(t *testing.T) {
	for _, bodySize := range []int{64, 1500, 4096, 20000} {
		t.Run(strconv.Itoa(bodySize), func(t *testing.T) {
			const n = 4000
			e := newEnv(t, map[string]any{"max_size": "1GB", "max_object_size": "1MB"})
			body := []byte(strings.Repeat("c", bodySize))
			up := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Cache-Control", "max-age=600")
				w.Header().Set("Content-Type", "application/json")
				w.Header().Set("Etag", `"`+r.URL.Path+`"`)
				w.Write(body)
			})
			h := e.cache.Wrap(up)
			w := &discardWriter{h: http.Header{}}
			req, _ := http.NewRequest("GET", "http://example.com/", nil)
			serve := func(i int) {
				req.URL.Path = "/api/items/" + strconv.Itoa(i)
				w.reset()
				h.ServeHTTP(w, req)
			}
			serve(-1) // warm the pools
			runtime.GC()
			before := heapInUse()
			for i := range n {
				serve(i)
			}
			e.cache.mem.rc.Wait()
			runtime.GC()
			grown := heapInUse() - before
			entries := e.cache.mem.entries.Load()
			charged := e.cache.mem.bytes.Load()
			perHeap := float64(grown) / float64(entries)
			perCost := float64(charged) / float64(entries)
			t.Logf("body %d: %d entries, heap %.0f B/entry, charged %.0f B/entry", bodySize, entries, perHeap, perCost)
			if entries < n*9/10 {
				t.Fatalf("only %d of %d entries stored", entries, n)
			}
			if perCost < perHeap*0.85 || perCost > perHeap*1.15 {
				t.Errorf("charged %.0f B/entry for %.0f B/entry of heap", perCost, perHeap)
			}
			runtime.KeepAlive(h)
		})
	}
}
