package quota_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/switchyard/switchyard/internal/instances"
)

// BenchmarkAllowed measures one allowed request of a known client through
// the quota middleware, without the recorder's own cost.
func BenchmarkAllowed(b *testing.B) {
	for _, tc := range []struct{ name, header, key string }{
		{"by ip", "", ""},
		{"by header", "X-Api-Key", "k1"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			reg := instances.New(instances.Options{})
			defer reg.Close()
			set, err := reg.Build(nil, []instances.Spec{{Name: "q", Type: "quota",
				Config: map[string]any{"limit": 1 << 40, "header": tc.header}}}, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer set.Release()
			inst, _ := set.Get("q")
			h := inst.Wrap(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			req.RemoteAddr = "10.1.2.3:4567"
			if tc.key != "" {
				req.Header.Set(tc.header, tc.key)
			}
			w := &discardWriter{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				h.ServeHTTP(w, req)
			}
		})
	}
}

type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(int)             {}
