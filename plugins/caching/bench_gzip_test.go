package caching_test

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/proctime"

	"github.com/go-chi/chi/v5/middleware"

	"github.com/switchyard/switchyard/internal/instances"
	"github.com/switchyard/switchyard/internal/mapcache"

	_ "github.com/switchyard/switchyard/plugins/compression"
)

// The cached gzip hit: a 4 KB JSON document behind caching then gzip (level
// 5), asked for with Accept-Encoding: gzip, against the cache one writes by
// hand (a map under an RWMutex) in front of chi's middleware.Compress(5),
// holding the same gzip bytes. This is the in-process half of the bench
// suite's "Cached gzip hit" scenario: no network, so that a profile shows the
// two middlewares alone.

// gzipDoc is the document: 4 KB of JSON that compresses like API output.
var gzipDoc = func() []byte {
	var b strings.Builder
	b.WriteString(`{"id":"doc","kind":"catalog","items":[`)
	words := []string{"anchor", "bolt", "cable", "damper", "engine", "flange", "gasket", "hinge", "joint", "lever"}
	for i := 0; b.Len() < 4000; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"sku":"SKU-` + strconv.Itoa(10007*i%99991) + `","name":"` + words[i*7%len(words)] + " " +
			words[i*3%len(words)] + `","price":` + strconv.Itoa(i*1733%100000) + `,"stock":` + strconv.Itoa(i*31%500) + `}`)
	}
	b.WriteString("]}\n")
	return []byte(b.String())
}()

// gzipDocHandler serves gzipDoc as the bench suite's document handler does.
func gzipDocHandler() http.Handler {
	ct, cc, cl := []string{"application/json"}, []string{"public, max-age=300"}, []string{strconv.Itoa(len(gzipDoc))}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h["Content-Type"], h["Cache-Control"], h["Content-Length"] = ct, cc, cl
		if r.Method != http.MethodHead {
			_, _ = w.Write(gzipDoc)
		}
	})
}

func gzipRequest() *http.Request {
	r := httptest.NewRequest("GET", "http://bench.local/api/doc", nil)
	r.Header.Set("Accept-Encoding", "gzip")
	r.Header.Set("User-Agent", "bench/1.0")
	return r
}

// cachedGzip is caching in front of compression (gzip, level 5) in front of
// the document, as a route lists them, warmed until a request hits.
func cachedGzip(tb testing.TB) http.Handler {
	tb.Helper()
	reg := instances.New(instances.Options{})
	set, err := reg.Build(nil, []instances.Spec{
		{Name: "cache", Type: "caching", Config: map[string]any{"ttl": "300s", "max_size": "8MB"}},
		{Name: "gzip", Type: "compression", Config: map[string]any{"level": 5, "min_size": 1024, "encodings": []any{"gzip"}}},
	}, nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { set.Release(); reg.Close() })
	cache, _ := set.Get("cache")
	gz, _ := set.Get("gzip")
	h := cache.Wrap(gz.Wrap(gzipDocHandler()))
	warmGzip(tb, h, "HIT")
	return h
}

// mapCachedGzip is the hand-written cache in front of middleware.Compress(5).
func mapCachedGzip(tb testing.TB) http.Handler {
	tb.Helper()
	h := mapcache.New(10_000, 300*time.Second).Handler(middleware.Compress(5)(gzipDocHandler()))
	warmGzip(tb, h, "HIT")
	return h
}

// warmGzip sends requests until one is answered with X-Cache: want, and
// checks that the answer is the gzip-encoded document.
func warmGzip(tb testing.TB, h http.Handler, want string) {
	tb.Helper()
	for range 100 {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, gzipRequest())
		if rec.Header().Get("X-Cache") != want {
			continue
		}
		if rec.Code != 200 || rec.Header().Get("Content-Encoding") != "gzip" || rec.Body.Len() >= len(gzipDoc) {
			tb.Fatalf("hit: status %d, Content-Encoding %q, %d bytes", rec.Code, rec.Header().Get("Content-Encoding"), rec.Body.Len())
		}
		return
	}
	tb.Fatalf("no X-Cache: %s after 100 requests", want)
}

// serveGzipWriter serves one request per op into a reused writer.
func serveGzipWriter(b *testing.B, h http.Handler) {
	r := gzipRequest()
	w := &bufWriter{h: make(http.Header, 16), buf: make([]byte, 0, 8192)}
	b.ReportAllocs()
	b.SetBytes(int64(len(gzipDoc)))
	cpu0 := proctime.CPU()
	for b.Loop() {
		clear(w.h)
		w.status, w.buf = 0, w.buf[:0]
		h.ServeHTTP(w, r)
	}
	b.ReportMetric(float64(proctime.CPU()-cpu0)/float64(b.N), "cpu-ns/op")
	if w.status != http.StatusOK || len(w.buf) == 0 {
		b.Fatalf("status %d, %d bytes", w.status, len(w.buf))
	}
}

// BenchmarkGzipHit compares a cached gzip hit with the map+RWMutex cache of
// the same gzip bytes, serially and in parallel.
func BenchmarkGzipHit(b *testing.B) {
	b.Run("switchyard", func(b *testing.B) { serveGzipWriter(b, cachedGzip(b)) })
	b.Run("map-rwmutex", func(b *testing.B) { serveGzipWriter(b, mapCachedGzip(b)) })
	for _, tc := range []struct {
		name string
		h    func(testing.TB) http.Handler
	}{{"parallel/switchyard", cachedGzip}, {"parallel/map-rwmutex", mapCachedGzip}} {
		b.Run(tc.name, func(b *testing.B) {
			h := tc.h(b)
			b.ReportAllocs()
			b.SetBytes(int64(len(gzipDoc)))
			b.RunParallel(func(pb *testing.PB) {
				r := gzipRequest()
				w := &bufWriter{h: make(http.Header, 16), buf: make([]byte, 0, 8192)}
				for pb.Next() {
					clear(w.h)
					w.status, w.buf = 0, w.buf[:0]
					h.ServeHTTP(w, r)
				}
			})
		})
	}
}
