package handlers

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/switchyard/switchyard/pool"
)

// TestProxyCopyBuffers: with CopyBuffers the proxy copies bodies through the
// host's buffer pool, whatever its largest size, and gives every buffer back.
func TestProxyCopyBuffers(t *testing.T) {
	body := strings.Repeat("switchyard ", 20000) // 220 kB: many copies
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, body) }))
	defer up.Close()
	tr := NewTransport(defaultPool)
	defer tr.CloseIdleConnections()
	for _, tt := range []struct {
		name    string
		maxSize int
		wantCap int
	}{
		{"default size", 1 << 20, copyBufferSize},
		{"small pool", 4 << 10, 4 << 10},
	} {
		t.Run(tt.name, func(t *testing.T) {
			bp := pool.NewBuffers(pool.BufferOptions{MaxSize: tt.maxSize, Count: 10})
			h, err := Proxy(up.URL, tr, nil, CopyBuffers(bp))
			if err != nil {
				t.Fatal(err)
			}
			for range 3 {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
				if rec.Code != http.StatusOK || rec.Body.String() != body {
					t.Fatalf("status %d, body of %d bytes; want 200 and %d bytes", rec.Code, rec.Body.Len(), len(body))
				}
			}
			st := bp.Stats()
			if st.InUse != 0 {
				t.Errorf("buffers in use after the requests: %d, want 0", st.InUse)
			}
			if st.Misses > 1 {
				t.Errorf("pool misses = %d over 3 sequential requests, want at most 1 (the buffer is reused)", st.Misses)
			}
			b := bp.Get()
			if b.Cap() != tt.wantCap {
				t.Errorf("pooled buffer capacity %d, want %d", b.Cap(), tt.wantCap)
			}
		})
	}
}

func TestHostBuffersAllocs(t *testing.T) {
	hb := &hostBuffers{bp: pool.NewBuffers(pool.BufferOptions{MaxSize: 1 << 20, Count: 10})}
	hb.Put(hb.Get()) // warm both pools
	if n := testing.AllocsPerRun(100, func() { hb.Put(hb.Get()) }); n > 0 {
		t.Errorf("Get+Put allocates %.1f times, want 0", n)
	}
}
