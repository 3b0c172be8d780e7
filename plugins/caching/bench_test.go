package caching_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/switchyard/switchyard/core/config"
	"github.com/switchyard/switchyard/core/handlers"
	"github.com/switchyard/switchyard/internal/instances"

	_ "github.com/switchyard/switchyard/plugins/caching"
)

// body4K is a 4 KB JSON document.
var body4K = `{"items":[` + strings.Repeat(`{"id":1234567,"name":"switchyard"},`, 120) + `{"id":0}]}`

// respond4K is the respond handler serving body4K, as a route would.
func respond4K(tb testing.TB) http.Handler {
	tb.Helper()
	h, err := handlers.Respond(config.Respond{Body: body4K[:4096], Headers: map[string]string{
		"Content-Type": "application/json", "Cache-Control": "max-age=3600"}})
	if err != nil {
		tb.Fatal(err)
	}
	return h
}

// cached4K is a caching instance in front of respond4K, warmed with one miss.
func cached4K(tb testing.TB) http.Handler {
	tb.Helper()
	reg := instances.New(instances.Options{})
	set, err := reg.Build(nil, []instances.Spec{{Name: "bench", Type: "caching"}}, nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(set.Release)
	inst, _ := set.Get("bench")
	h := inst.Wrap(respond4K(tb))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, benchRequest())
	if rec.Header().Get("X-Cache") != "MISS" {
		tb.Fatalf("warm-up: X-Cache %q", rec.Header().Get("X-Cache"))
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, benchRequest())
	if rec.Header().Get("X-Cache") != "HIT" || rec.Body.Len() != 4096 {
		tb.Fatalf("not a hit: X-Cache %q, %d bytes", rec.Header().Get("X-Cache"), rec.Body.Len())
	}
	return h
}

func benchRequest() *http.Request {
	r := httptest.NewRequest("GET", "http://api.example/v1/items?page=2&sort=name", nil)
	r.Header.Set("Accept", "application/json")
	r.Header.Set("Accept-Encoding", "gzip, br")
	r.Header.Set("User-Agent", "bench/1.0")
	return r
}

// bufWriter is a reusable ResponseWriter that copies the body into its
// buffer, as a server's buffered writer does; reset keeps the header map and
// the buffer.
type bufWriter struct {
	h      http.Header
	status int
	buf    []byte
}

func (w *bufWriter) Header() http.Header { return w.h }
func (w *bufWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}
func (w *bufWriter) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	w.buf = append(w.buf, p...)
	return len(p), nil
}

// serveRecorder serves one request per op into a new httptest.ResponseRecorder.
func serveRecorder(b *testing.B, h http.Handler) {
	r := benchRequest()
	b.ReportAllocs()
	b.SetBytes(4096)
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		if rec.Body.Len() != 4096 {
			b.Fatalf("%d bytes", rec.Body.Len())
		}
	}
}

// serveWriter serves one request per op into a reused writer.
func serveWriter(b *testing.B, h http.Handler) {
	r := benchRequest()
	w := &bufWriter{h: make(http.Header, 16), buf: make([]byte, 0, 8192)}
	b.ReportAllocs()
	b.SetBytes(4096)
	for b.Loop() {
		clear(w.h)
		w.status, w.buf = 0, w.buf[:0]
		h.ServeHTTP(w, r)
		if len(w.buf) != 4096 {
			b.Fatalf("%d bytes", len(w.buf))
		}
	}
}

// BenchmarkHit4K compares a cache hit for a 4 KB response with the respond
// handler producing it, in the same run, with two writers: a new
// httptest.ResponseRecorder per request, and a reused writer (which shows the
// cache's own cost and allocations).
func BenchmarkHit4K(b *testing.B) {
	b.Run("recorder/respond", func(b *testing.B) { serveRecorder(b, respond4K(b)) })
	b.Run("recorder/cache-hit", func(b *testing.B) { serveRecorder(b, cached4K(b)) })
	b.Run("writer/respond", func(b *testing.B) { serveWriter(b, respond4K(b)) })
	b.Run("writer/cache-hit", func(b *testing.B) { serveWriter(b, cached4K(b)) })
}

// BenchmarkHit4KParallel is the hit path under b.RunParallel.
func BenchmarkHit4KParallel(b *testing.B) {
	for _, tc := range []struct {
		name string
		h    func(testing.TB) http.Handler
	}{{"respond", respond4K}, {"cache-hit", cached4K}} {
		b.Run(tc.name, func(b *testing.B) {
			h := tc.h(b)
			b.ReportAllocs()
			b.SetBytes(4096)
			b.RunParallel(func(pb *testing.PB) {
				r := benchRequest()
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

// BenchmarkMiss4K is a miss that stores: a new URL every op.
func BenchmarkMiss4K(b *testing.B) {
	reg := instances.New(instances.Options{})
	set, err := reg.Build(nil, []instances.Spec{{Name: "bench", Type: "caching", Config: map[string]any{"max_size": "16MB"}}}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer set.Release()
	inst, _ := set.Get("bench")
	h := inst.Wrap(respond4K(b))
	r := benchRequest()
	w := &bufWriter{h: make(http.Header, 16), buf: make([]byte, 0, 8192)}
	b.ReportAllocs()
	b.SetBytes(4096)
	i := 0
	for b.Loop() {
		i++
		r.URL.RawQuery = "n=" + itoa(i)
		clear(w.h)
		w.status, w.buf = 0, w.buf[:0]
		h.ServeHTTP(w, r)
	}
}

func itoa(i int) string {
	var b [20]byte
	n := len(b)
	for {
		n--
		b[n] = byte('0' + i%10)
		i /= 10
		if i == 0 {
			return string(b[n:])
		}
	}
}
