package core

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/switchyard/switchyard/core/config"
	"github.com/switchyard/switchyard/core/handlers"
)

// discard is a ResponseWriter that keeps nothing, so that benchmarks measure
// the router and the host rather than a recorder.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(b []byte) (int, error) { return len(b), nil }
func (d *discard) WriteHeader(int)             {}

func twentyRoutes() (yaml string, paths []string) {
	var b strings.Builder
	b.WriteString("routes:\n")
	for i := range 19 {
		p := fmt.Sprintf("/api/v1/resource%d/{id}", i)
		paths = append(paths, p)
		fmt.Fprintf(&b, "  - path: %s\n    methods: [GET]\n    handler: {respond: {body: r%d}}\n", p, i)
	}
	paths = append(paths, "/hello")
	b.WriteString("  - path: /hello\n    methods: [GET]\n    handler:\n      respond: {status: 200, body: \"Hello, World!\", headers: {Content-Type: text/plain}}\n")
	return b.String(), paths
}

func serveLoop(b *testing.B, h http.Handler) {
	req := httptest.NewRequest("GET", "/hello", nil)
	w := &discard{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		h.ServeHTTP(w, req)
	}
}

// BenchmarkRouted compares the host serving a respond route with an empty
// chain and metrics on against bare chi serving the same handler.
func BenchmarkRouted(b *testing.B) {
	yaml, paths := twentyRoutes()
	// Both candidates run with the same live heap (a loaded host), so that
	// garbage collection, whose cost scales with the live heap, weighs on
	// them alike: the comparison is of the request path alone.
	h := New(Options{Logger: quietLogger()})
	defer h.Close()
	if err := h.LoadBytes("bench.yaml", []byte(yaml), b.TempDir()); err != nil {
		b.Fatal(err)
	}
	b.Run("bare-chi", func(b *testing.B) {
		mux := chi.NewMux()
		for i, p := range paths {
			body := fmt.Sprintf("r%d", i)
			hdr := map[string]string(nil)
			if p == "/hello" {
				body, hdr = "Hello, World!", map[string]string{"Content-Type": "text/plain"}
			}
			h, err := handlers.Respond(config.Respond{Status: 200, Body: body, Headers: hdr})
			if err != nil {
				b.Fatal(err)
			}
			mux.Method("GET", p, h)
		}
		serveLoop(b, mux)
	})
	b.Run("switchyard", func(b *testing.B) {
		serveLoop(b, h)
	})
}

// BenchmarkRoutedGoHandler is BenchmarkRouted with a handler registered
// in Go, which does not report its status: the host wraps the
// ResponseWriter to learn it, as on every route with middleware.
func BenchmarkRoutedGoHandler(b *testing.B) {
	yaml, paths := twentyRoutes()
	yaml = strings.Replace(yaml, "    handler:\n      respond: {status: 200, body: \"Hello, World!\", headers: {Content-Type: text/plain}}\n",
		"    handler: bench.hello\n", 1)
	hello := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Content-Type"] = []string{"text/plain"}
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte("Hello, World!"))
	})
	h := New(Options{Logger: quietLogger()})
	defer h.Close()
	h.Handle("bench.hello", hello)
	if err := h.LoadBytes("bench.yaml", []byte(yaml), b.TempDir()); err != nil {
		b.Fatal(err)
	}
	b.Run("bare-chi", func(b *testing.B) {
		mux := chi.NewMux()
		for i, p := range paths {
			var hh http.Handler = hello
			if p != "/hello" {
				var err error
				if hh, err = handlers.Respond(config.Respond{Status: 200, Body: fmt.Sprintf("r%d", i)}); err != nil {
					b.Fatal(err)
				}
			}
			mux.Method("GET", p, hh)
		}
		serveLoop(b, mux)
	})
	b.Run("switchyard", func(b *testing.B) {
		serveLoop(b, h)
	})
}

// BenchmarkFastPath is /health on the host against a bare handler.
func BenchmarkFastPath(b *testing.B) {
	req := httptest.NewRequest("GET", "/health", nil)
	b.Run("bare", func(b *testing.B) {
		hh := healthHandler("v")
		w := &discard{h: http.Header{}}
		b.ReportAllocs()
		for b.Loop() {
			clear(w.h)
			hh.ServeHTTP(w, req)
		}
	})
	b.Run("switchyard", func(b *testing.B) {
		h := New(Options{Logger: quietLogger()})
		defer h.Close()
		if err := h.LoadBytes("bench.yaml", []byte("routes: []\n"), b.TempDir()); err != nil {
			b.Fatal(err)
		}
		w := &discard{h: http.Header{}}
		b.ReportAllocs()
		for b.Loop() {
			clear(w.h)
			h.ServeHTTP(w, req)
		}
	})
}
