package compression

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/switchyard/switchyard/internal/instances"
	"github.com/switchyard/switchyard/plugintest"
	"github.com/switchyard/switchyard/registry"
)

// serve runs one request through c around h with httptest.NewRecorder.
func serve(c *Compressor, h http.Handler, req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	c.Wrap(h).ServeHTTP(rec, req)
	return rec
}

func gzipRequest(method string) *http.Request {
	req := httptest.NewRequest(method, "/", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	return req
}

func TestVaryIsAppended(t *testing.T) {
	body := []byte(strings.Repeat("vary ", 400))
	tests := []struct {
		name     string
		existing []string
		want     []string
	}{
		{"none", nil, []string{"Accept-Encoding"}},
		{"other header kept", []string{"Origin"}, []string{"Origin", "Accept-Encoding"}},
		{"already listed, other case", []string{"Origin, accept-encoding"}, []string{"Origin, accept-encoding"}},
		{"star", []string{"*"}, []string{"*"}},
	}
	c, _ := testInstance(t, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := serve(c, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header()["Vary"] = tt.existing
				w.Header().Set("Content-Type", "text/plain")
				_, _ = w.Write(body)
			}), gzipRequest("GET"))
			if got := rec.Header()["Vary"]; strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Errorf("Vary = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestContentTypeSniffedFromUncompressedBytes(t *testing.T) {
	c, _ := testInstance(t, nil)
	html := []byte("<!DOCTYPE html><html><body>" + strings.Repeat("<p>hello</p>", 200) + "</body></html>")
	// Small writes first: the sniff must see the start of the document, not
	// only the write that crossed min_size.
	rec := serve(c, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i < len(html); i += 100 {
			_, _ = w.Write(html[i:min(i+100, len(html))])
		}
	}), gzipRequest("GET"))
	if ct := rec.Header().Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type = %q, want text/html; charset=utf-8", ct)
	}
	if rec.Header().Get("Content-Encoding") != "gzip" || !bytes.Equal(decode(t, "gzip", rec.Body.Bytes()), html) {
		t.Errorf("Content-Encoding %q; body does not round-trip", rec.Header().Get("Content-Encoding"))
	}

	png := append([]byte("\x89PNG\x0D\x0A\x1A\x0A"), bytes.Repeat([]byte{0}, 3000)...)
	rec = serve(c, bodyHandler(png, nil), gzipRequest("GET"))
	if ct, ce := rec.Header().Get("Content-Type"), rec.Header().Get("Content-Encoding"); ct != "image/png" || ce != "" {
		t.Errorf("sniffed PNG: Content-Type %q Content-Encoding %q, want image/png and none", ct, ce)
	}
}

func TestMinSizeBoundary(t *testing.T) {
	c, _ := testInstance(t, map[string]any{"min_size": 100})
	tests := []struct {
		name   string
		writes []int
		want   string
	}{
		{"one below", []int{99}, ""},
		{"exactly min_size", []int{100}, "gzip"},
		{"small writes reaching it", []int{30, 30, 30, 10}, "gzip"},
		{"small writes staying below", []int{30, 30, 30, 9}, ""},
		{"empty", nil, ""},
		{"empty writes", []int{0, 0}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var want bytes.Buffer
			rec := serve(c, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/plain")
				for _, n := range tt.writes {
					p := bytes.Repeat([]byte{'a' + byte(n%26)}, n)
					want.Write(p)
					if m, err := w.Write(p); m != n || err != nil {
						t.Errorf("Write(%d bytes) = %d, %v", n, m, err)
					}
				}
			}), gzipRequest("GET"))
			if ce := rec.Header().Get("Content-Encoding"); ce != tt.want {
				t.Fatalf("Content-Encoding = %q, want %q", ce, tt.want)
			}
			if got := decode(t, tt.want, rec.Body.Bytes()); !bytes.Equal(got, want.Bytes()) {
				t.Fatalf("body %q, want %q", got, want.Bytes())
			}
			if tt.want == "" && len(tt.writes) > 0 && !hasVaryAE(rec.Header()) {
				t.Error("identity body below min_size lacks Vary")
			}
		})
	}
}

func TestContentLengthDecidesEarly(t *testing.T) {
	c, _ := testInstance(t, nil)
	body := []byte(strings.Repeat("x", 5000))
	rec := serve(c, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Content-Length", "5000")
		w.Header().Set("Accept-Ranges", "bytes")
		w.WriteHeader(http.StatusOK)
		// The decision is made: nothing should be held.
		if rw := w.(*responseWriter); rw.state != stateEncoding {
			t.Errorf("state after WriteHeader with Content-Length = %v, want encoding", rw.state)
		}
		_, _ = w.Write(body)
	}), gzipRequest("GET"))
	h := rec.Header()
	if h.Get("Content-Encoding") != "gzip" || h.Get("Content-Length") != strconv.Itoa(rec.Body.Len()) || h.Get("Accept-Ranges") != "" {
		t.Errorf("headers %v: want gzip with the encoded Content-Length (%d) and without Accept-Ranges", h, rec.Body.Len())
	}
}

// Once min_size is reached, bytes go out while the handler still runs.
func TestLargeBodyIsNotHeld(t *testing.T) {
	chunk := jsonBody(64 << 10)
	wrote := make(chan struct{})
	finish := make(chan struct{})
	srv, _ := testServer(t, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		for range 4 {
			_, _ = w.Write(chunk)
		}
		close(wrote)
		<-finish
	}))
	req, _ := http.NewRequest("GET", srv.URL, nil)
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := rawClient(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	<-wrote
	got := make([]byte, 1)
	done := make(chan error, 1)
	go func() { _, err := io.ReadFull(resp.Body, got); done <- err }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no compressed bytes reached the client while the handler was running")
	}
	close(finish)
}

func TestFlushWithoutBytes(t *testing.T) {
	c, _ := testInstance(t, nil)
	t.Run("typed stream is encoded", func(t *testing.T) {
		rec := serve(c, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			w.(http.Flusher).Flush()
			if !rec0(w).Flushed {
				t.Error("Flush did not reach the recorder")
			}
			_, _ = w.Write([]byte("data: 1\n\n"))
		}), gzipRequest("GET"))
		if rec.Header().Get("Content-Encoding") != "gzip" || string(decode(t, "gzip", rec.Body.Bytes())) != "data: 1\n\n" {
			t.Errorf("Content-Encoding %q body %q", rec.Header().Get("Content-Encoding"), rec.Body.Bytes())
		}
	})
	t.Run("untyped empty flush is not", func(t *testing.T) {
		rec := serve(c, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.(http.Flusher).Flush()
		}), gzipRequest("GET"))
		if ce := rec.Header().Get("Content-Encoding"); ce != "" || rec.Body.Len() != 0 {
			t.Errorf("Content-Encoding %q with %d body bytes, want identity and none", ce, rec.Body.Len())
		}
	})
}

// rec0 digs the recorder out of the plugin's writer.
func rec0(w http.ResponseWriter) *httptest.ResponseRecorder {
	return w.(interface{ Unwrap() http.ResponseWriter }).Unwrap().(*httptest.ResponseRecorder)
}

// deadlineRecorder is a ResponseWriter with deadlines, as net/http's is.
type deadlineRecorder struct {
	*httptest.ResponseRecorder
	deadline time.Time
}

func (d *deadlineRecorder) SetWriteDeadline(t time.Time) error { d.deadline = t; return nil }

func TestResponseControllerReachesUnderlyingWriter(t *testing.T) {
	c, _ := testInstance(t, nil)
	dr := &deadlineRecorder{ResponseRecorder: httptest.NewRecorder()}
	when := time.Now().Add(time.Minute)
	c.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := http.NewResponseController(w).SetWriteDeadline(when); err != nil {
			t.Errorf("SetWriteDeadline: %v", err)
		}
		if _, _, err := http.NewResponseController(w).Hijack(); !errors.Is(err, http.ErrNotSupported) {
			t.Errorf("Hijack on a recorder = %v, want ErrNotSupported", err)
		}
	})).ServeHTTP(dr, gzipRequest("GET"))
	if !dr.deadline.Equal(when) {
		t.Errorf("deadline %v did not reach the underlying writer", dr.deadline)
	}
}

func TestConnectIsNotTouched(t *testing.T) {
	c, _ := testInstance(t, nil)
	var sawWrapper bool
	req := gzipRequest(http.MethodConnect)
	serve(c, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, sawWrapper = w.(*responseWriter)
	}), req)
	if sawWrapper {
		t.Error("CONNECT went through the compressing writer")
	}
}

func TestPanickingHandlerLeavesNothingBehind(t *testing.T) {
	c, _ := testInstance(t, map[string]any{"min_size": 10})
	boom := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte(strings.Repeat("partial ", 100)))
		panic("handler failed")
	})
	func() {
		defer func() {
			if recover() == nil {
				t.Error("the panic was swallowed")
			}
		}()
		serve(c, boom, gzipRequest("GET"))
	}()
	if n := c.encoders.inUse.Load(); n != 0 {
		t.Errorf("%d encoders not returned after a panic", n)
	}
	// The instance keeps serving correctly.
	body := []byte(strings.Repeat("after ", 100))
	rec := serve(c, bodyHandler(body, map[string]string{"Content-Type": "text/plain"}), gzipRequest("GET"))
	if !bytes.Equal(decode(t, rec.Header().Get("Content-Encoding"), rec.Body.Bytes()), body) {
		t.Error("response after a panic is wrong")
	}
}

func TestReadFrom(t *testing.T) {
	c, _ := testInstance(t, nil)
	body := jsonBody(100_000)
	for _, accept := range []string{"gzip", ""} {
		req := httptest.NewRequest("GET", "/", nil)
		if accept != "" {
			req.Header.Set("Accept-Encoding", accept)
		}
		rec := serve(c, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			n, err := io.Copy(w, io.LimitReader(bytes.NewReader(body), int64(len(body))))
			if n != int64(len(body)) || err != nil {
				t.Errorf("io.Copy = %d, %v", n, err)
			}
		}), req)
		if got := decode(t, rec.Header().Get("Content-Encoding"), rec.Body.Bytes()); !bytes.Equal(got, body) {
			t.Errorf("accept %q: body differs", accept)
		}
	}
}

func TestMetricsAndStats(t *testing.T) {
	c, metrics := testInstance(t, nil)
	body := jsonBody(10_000)
	h := bodyHandler(body, map[string]string{"Content-Type": "application/json"})
	for _, accept := range []string{"gzip", "gzip", "zstd", "br", "", "identity"} {
		req := httptest.NewRequest("GET", "/", nil)
		if accept != "" {
			req.Header.Set("Accept-Encoding", accept)
		}
		serve(c, h, req)
	}
	responses := metrics.Counter("compression_responses_total", "", "plugin", "encoding")
	for enc, want := range map[string]float64{"gzip": 2, "zstd": 1, "br": 1, "identity": 2} {
		if got := testutil.ToFloat64(responses.WithLabelValues("comp", enc)); got != want {
			t.Errorf("compression_responses_total{encoding=%q} = %v, want %v", enc, got, want)
		}
	}
	bytesTotal := metrics.Counter("compression_bytes_total", "", "plugin", "direction")
	in, out := testutil.ToFloat64(bytesTotal.WithLabelValues("comp", "in")), testutil.ToFloat64(bytesTotal.WithLabelValues("comp", "out"))
	if in != float64(4*len(body)) || out <= 0 || out >= in/2 {
		t.Errorf("bytes in %v out %v, want in %d and out well below", in, out, 4*len(body))
	}
	st := c.Stats()
	if r := st["responses"].(map[string]uint64); r["gzip"] != 2 || r["identity"] != 2 {
		t.Errorf("Stats responses = %v", r)
	}
	if ratio := st["ratio"].(float64); ratio < 2 || ratio != in/out {
		t.Errorf("Stats ratio = %v, want in/out = %v", ratio, in/out)
	}
}

func TestConfig(t *testing.T) {
	tests := []struct {
		name    string
		cfg     map[string]any
		wantErr string
	}{
		{"defaults", nil, ""},
		{"all keys", map[string]any{"level": 9, "min_size": "2KB", "encodings": []any{"gzip"}, "content_types": []any{"text/html", "application/*+json"}}, ""},
		{"level too low", map[string]any{"level": 0}, "plugins.comp.level: must be between 1"},
		{"level too high", map[string]any{"level": 10}, "plugins.comp.level: must be between 1"},
		{"level wrong type", map[string]any{"level": "fast"}, "plugins.comp.level"},
		{"bad size", map[string]any{"min_size": "lots"}, "plugins.comp.min_size"},
		{"unknown encoding", map[string]any{"encodings": []any{"gzip", "deflate"}}, `encodings[1]: unknown encoding "deflate"`},
		{"duplicate encoding", map[string]any{"encodings": []any{"gzip", "GZIP"}}, "encodings[1]"},
		{"no encodings", map[string]any{"encodings": []any{}}, "encodings: must list"},
		{"bad media type", map[string]any{"content_types": []any{"text/html", "json"}}, "content_types[1]: invalid media type pattern"},
		{"wildcard type", map[string]any{"content_types": []any{"*/json"}}, "content_types[0]"},
		{"empty allow list", map[string]any{"content_types": []any{}}, "content_types: must list"},
		{"unknown key", map[string]any{"levle": 3}, "plugins.comp.levle: unknown key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := instances.New(instances.Options{})
			defer reg.Close()
			set, err := reg.Build(nil, []instances.Spec{{Name: "comp", Type: TypeName, Config: tt.cfg}}, nil)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				set.Release()
				return
			}
			if err == nil {
				set.Release()
				t.Fatalf("no error, want one containing %q", tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %q does not contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestDefaultsComeFromPerformanceBlock(t *testing.T) {
	var cfg Config
	cfg.SetDefaults(nil)
	if cfg.Level != 6 || cfg.MinSize != 1024 || strings.Join(cfg.Encodings, ",") != "zstd,br,gzip" || len(cfg.ContentTypes) != 9 {
		t.Errorf("bare defaults = %+v", cfg)
	}
	cfg = Config{}
	if err := cfg.SetDefaults(registry.Section{"level": 3, "min_size": 0}); err != nil {
		t.Fatal(err)
	}
	if cfg.Level != 3 || cfg.MinSize != 0 {
		t.Errorf("host defaults level 3 min 0 gave level %d min %d", cfg.Level, cfg.MinSize)
	}
	// Decoding a user's list must not write into the shared default.
	c, _ := testInstance(t, map[string]any{"encodings": []any{"gzip"}})
	if len(c.prefs) != 1 || defaultEncodings[0] != "zstd" {
		t.Errorf("prefs %v, package default %v", c.prefs, defaultEncodings)
	}

	reg := instances.New(instances.Options{})
	defer reg.Close()
	set, err := reg.Build(nil, []instances.Spec{{Name: "comp", Type: TypeName}},
		map[string]map[string]any{TypeName: {"level": 2, "min_size": 64}})
	if err != nil {
		t.Fatal(err)
	}
	defer set.Release()
	inst, _ := set.Get("comp")
	if st := inst.(*Compressor).Stats(); st["level"] != 2 || st["min_size"] != int64(64) {
		t.Errorf("instance from host defaults: level %v min_size %v", st["level"], st["min_size"])
	}
}

func TestCustomContentTypes(t *testing.T) {
	c, _ := testInstance(t, map[string]any{"content_types": []any{"application/vnd.custom", "application/*+yaml"}})
	body := []byte(strings.Repeat("key: value\n", 300))
	for ct, want := range map[string]string{
		"application/vnd.custom; charset=utf-8": "gzip",
		"APPLICATION/x.thing+YAML":              "gzip",
		"text/plain":                            "",
		"application/yaml":                      "",
	} {
		rec := serve(c, bodyHandler(body, map[string]string{"Content-Type": ct}), gzipRequest("GET"))
		if got := rec.Header().Get("Content-Encoding"); got != want {
			t.Errorf("%s: Content-Encoding %q, want %q", ct, got, want)
		}
	}
}

// countingBuffers is a host buffer pool that checks every Get is Put back.
type countingBuffers struct {
	gets, puts atomic.Int64
	pool       sync.Pool
}

func (b *countingBuffers) Get() *bytes.Buffer {
	b.gets.Add(1)
	if v, ok := b.pool.Get().(*bytes.Buffer); ok {
		return v
	}
	return new(bytes.Buffer)
}

func (b *countingBuffers) Put(buf *bytes.Buffer) {
	b.puts.Add(1)
	buf.Reset()
	b.pool.Put(buf)
}

// inlineWorkers is a host worker pool that runs work at once, or refuses.
type inlineWorkers struct {
	ran    atomic.Int64
	refuse bool
}

func (w *inlineWorkers) Do(ctx context.Context, fn func()) error {
	if w.refuse {
		return errors.New("queue full")
	}
	w.ran.Add(1)
	fn()
	return nil
}

func TestHostPools(t *testing.T) {
	buffers := &countingBuffers{}
	for _, refuse := range []bool{false, true} {
		workers := &inlineWorkers{refuse: refuse}
		reg := instances.New(instances.Options{})
		set, err := reg.Build(plugintest.NewServices(plugintest.WithBuffers(buffers), plugintest.WithWorkers(workers)), []instances.Spec{{Name: "comp", Type: TypeName}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		inst, _ := set.Get("comp")
		c := inst.(*Compressor)
		big := jsonBody(1 << 21)
		for _, body := range [][]byte{[]byte("tiny"), jsonBody(3000), big} {
			rec := serve(c, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write(body[:min(len(body), 10)]) // held in a host buffer
				_, _ = w.Write(body[min(len(body), 10):])
			}), gzipRequest("GET"))
			if !bytes.Equal(decode(t, rec.Header().Get("Content-Encoding"), rec.Body.Bytes()), body) {
				t.Fatalf("%d-byte body does not round-trip", len(body))
			}
		}
		if want := int64(0); refuse && workers.ran.Load() != want {
			t.Errorf("refusing pool ran %d jobs", workers.ran.Load())
		}
		if !refuse && workers.ran.Load() != 1 {
			t.Errorf("worker pool ran %d jobs, want 1 (the 2 MB write)", workers.ran.Load())
		}
		set.Release()
		reg.Close()
	}
	if g, p := buffers.gets.Load(), buffers.puts.Load(); g == 0 || g != p {
		t.Errorf("host buffers: %d gets, %d puts", g, p)
	}
}
