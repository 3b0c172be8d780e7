package core

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"

	"github.com/switchyard/switchyard/internal/wait"
	"github.com/switchyard/switchyard/registry"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/dgraph-io/ristretto/v2.(*defaultPolicy[...]).processItems"))
}

// The test-only plugin types.

// gates are the channels that hold a count plugin's requests (its hold
// key) until a test closes them.
var gates sync.Map // name -> chan struct{}

// gate returns the gate of that name, made on first use.
func gate(name string) chan struct{} {
	g, _ := gates.LoadOrStore(name, make(chan struct{}))
	return g.(chan struct{})
}

type countConfig struct {
	// Tag distinguishes configs so that a change rebuilds the instance.
	Tag string `koanf:"tag"`
	// Delay holds each request inside the plugin.
	Delay time.Duration `koanf:"delay"`
	// Hold holds each request inside the plugin until the test closes the
	// gate of that name (see gate).
	Hold string `koanf:"hold"`
	// Panic makes the plugin panic.
	Panic bool `koanf:"panic"`
}

type counter struct {
	cfg      countConfig
	prev     *counter // ctx.Previous: the instance whose state this one took
	hits     atomic.Int64
	inflight atomic.Int64
	closed   atomic.Int64
	// closedWithInflight records a Close that ran while a request was in flight.
	closedWithInflight atomic.Bool
}

func (c *counter) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.inflight.Add(1)
		defer c.inflight.Add(-1)
		c.hits.Add(1)
		if c.cfg.Panic {
			panic("plugin exploded")
		}
		if c.cfg.Delay > 0 {
			select { // a slow plugin
			case <-time.After(c.cfg.Delay):
			case <-r.Context().Done():
			}
		}
		if c.cfg.Hold != "" {
			select {
			case <-gate(c.cfg.Hold):
			case <-r.Context().Done():
			}
		}
		w.Header().Add("X-Count", c.cfg.Tag)
		next.ServeHTTP(w, r)
	})
}

func (c *counter) Close() error {
	if c.inflight.Load() != 0 {
		c.closedWithInflight.Store(true)
	}
	c.closed.Add(1)
	return nil
}

var (
	countersMu sync.Mutex
	counters   = map[string]*counter{} // by instance name, latest build
)

func lastCounter(name string) *counter {
	countersMu.Lock()
	defer countersMu.Unlock()
	return counters[name]
}

func init() {
	registry.Register("count", func(ctx *registry.Context, cfg *countConfig) (registry.Instance, error) {
		c := &counter{cfg: *cfg}
		c.prev, _ = ctx.Previous.(*counter)
		countersMu.Lock()
		counters[ctx.Name] = c
		countersMu.Unlock()
		return c, nil
	})
}

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// newHost loads yaml into a fresh host and closes it when the test ends.
func newHost(t *testing.T, yaml string) *Host {
	t.Helper()
	h := New(Options{Logger: quietLogger()})
	if err := h.LoadBytes("test.yaml", []byte(yaml), t.TempDir()); err != nil {
		h.Close()
		t.Fatalf("load: %v", err)
	}
	t.Cleanup(h.Close)
	return h
}

func do(h http.Handler, method, target string, hdr ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec
}

const basicYAML = `
plugins:
  counter: {type: count, tag: g}
middleware:
  - use: counter
routes:
  - path: /hello
    methods: [GET]
    handler:
      respond: {status: 200, body: "Hello, World!", headers: {Content-Type: text/plain}}
  - path: /users/{id:uuid}
    handler: {respond: {body: uuid}}
  - path: /items/{n:int}
    handler: {respond: {body: int}}
  - path: /posts/{s:slug}
    handler: {respond: {body: slug}}
  - path: /regex/{code:[A-Z]{3}}
    handler: {respond: {body: regex}}
  - path: /fast
    handler: {respond: {body: fast}}
performance:
  routing:
    fast_paths: ["/static/*", "/health", "/metrics", "/fast"]
`

func TestRoutesAndPresets(t *testing.T) {
	h := newHost(t, basicYAML)
	tests := []struct {
		name, method, path string
		code               int
		body               string
	}{
		{"hello", "GET", "/hello", 200, "Hello, World!"},
		{"head comes with get", "HEAD", "/hello", 200, ""},
		{"uuid v4", "GET", "/users/3f2b8c1e-9a4d-4c6b-8e2f-1a2b3c4d5e6f", 200, "uuid"},
		{"uuid v1 rejected", "GET", "/users/3f2b8c1e-9a4d-1c6b-8e2f-1a2b3c4d5e6f", 404, ""},
		{"uuid upper rejected", "GET", "/users/3F2B8C1E-9A4D-4C6B-8E2F-1A2B3C4D5E6F", 404, ""},
		{"uuid junk", "GET", "/users/nope", 404, ""},
		{"int", "GET", "/items/12345", 200, "int"},
		{"int negative rejected", "GET", "/items/-1", 404, ""},
		{"int letters rejected", "GET", "/items/12a", 404, ""},
		{"slug", "GET", "/posts/hello-world-2", 200, "slug"},
		{"slug upper rejected", "GET", "/posts/Hello", 404, ""},
		{"slug double hyphen rejected", "GET", "/posts/a--b", 404, ""},
		{"slug trailing hyphen rejected", "GET", "/posts/a-", 404, ""},
		{"chi regexp", "GET", "/regex/ABC", 200, "regex"},
		{"chi regexp rejects", "GET", "/regex/abc", 404, ""},
		{"not found", "GET", "/nope", 404, `{"error":"not found"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := do(h, tt.method, tt.path)
			if rec.Code != tt.code {
				t.Fatalf("%s %s = %d, want %d (%s)", tt.method, tt.path, rec.Code, tt.code, rec.Body)
			}
			if tt.body != "" && strings.TrimSpace(rec.Body.String()) != tt.body {
				t.Fatalf("body = %q, want %q", rec.Body, tt.body)
			}
		})
	}
}

func TestMethodNotAllowedListsAllow(t *testing.T) {
	h := newHost(t, basicYAML)
	rec := do(h, "POST", "/hello")
	if rec.Code != 405 {
		t.Fatalf("code = %d", rec.Code)
	}
	allow := strings.Join(rec.Header().Values("Allow"), ",")
	if allow != "GET,HEAD" {
		t.Fatalf("Allow = %q", allow)
	}
}

func TestFastPathsRunNoChain(t *testing.T) {
	h := newHost(t, basicYAML)
	c := lastCounter("counter")
	before := c.hits.Load()
	for _, p := range []string{"/health", "/metrics", "/fast", "/static/x.txt"} {
		rec := do(h, "GET", p)
		if rec.Header().Get("X-Count") != "" {
			t.Fatalf("%s ran the chain", p)
		}
	}
	if got := c.hits.Load() - before; got != 0 {
		t.Fatalf("fast paths ran the counting plugin %d times", got)
	}
	if rec := do(h, "GET", "/fast"); rec.Body.String() != "fast" {
		t.Fatalf("/fast = %d %q", rec.Code, rec.Body)
	}
	do(h, "GET", "/hello")
	if got := c.hits.Load() - before; got != 1 {
		t.Fatalf("a routed request ran the plugin %d times, want 1", got)
	}
}

func TestHealthReportsVersion(t *testing.T) {
	h := newHost(t, basicYAML)
	rec := do(h, "GET", "/health")
	want := fmt.Sprintf(`{"status":"ok","config_version":"%s"}`, h.Snapshot().Version)
	if strings.TrimSpace(rec.Body.String()) != want || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("health = %q", rec.Body)
	}
}

func TestPluginPanicBecomes500(t *testing.T) {
	h := newHost(t, `
plugins:
  boom: {type: count, panic: true}
routes:
  - path: /boom
    middleware: [{use: boom}]
    handler: {respond: {body: never}}
  - path: /ok
    handler: {respond: {body: ok}}
`)
	for range 2 {
		if rec := do(h, "GET", "/boom"); rec.Code != 500 {
			t.Fatalf("panic = %d %q", rec.Code, rec.Body)
		}
		if rec := do(h, "GET", "/ok"); rec.Code != 200 {
			t.Fatalf("next request = %d", rec.Code)
		}
	}
	if n := testutil.ToFloat64(h.metrics.panics.WithLabelValues("boom")); n != 2 {
		t.Fatalf("plugin_panics_total{plugin=boom} = %v", n)
	}
}

func TestHandlerRegisteredInGo(t *testing.T) {
	h := New(Options{Logger: quietLogger()})
	defer h.Close()
	h.HandleFunc("app.users", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "users") })
	if err := h.LoadBytes("t.yaml", []byte("routes:\n  - path: /users/{id}\n    handler: app.users\n"), "."); err != nil {
		t.Fatal(err)
	}
	if rec := do(h, "GET", "/users/7"); rec.Body.String() != "users" {
		t.Fatalf("got %q", rec.Body)
	}
	err := h.LoadBytes("t.yaml", []byte("routes:\n  - path: /x\n    handler: app.nope\n"), ".")
	if err == nil || !strings.Contains(err.Error(), "routes[0].handler") {
		t.Fatalf("err = %v", err)
	}
}

func TestLoadErrorsKeepServing(t *testing.T) {
	h := newHost(t, basicYAML)
	v := h.Snapshot().Version
	bad := []struct{ name, yaml, want string }{
		{"undefined plugin", "routes:\n  - path: /x\n    middleware: [{use: nope}]\n    handler: {respond: {body: x}}\n", "nope"},
		{"bad regexp", "routes:\n  - path: /x/{id:[a-}\n    handler: {respond: {body: x}}\n", "routes[0].path"},
		{"plugin key", "plugins:\n  c: {type: count, tga: x}\nroutes: []\n", "plugins.c.tga"},
		{"duplicate in chain", "plugins:\n  c: {type: count}\nmiddleware: [{use: c}]\nroutes:\n  - path: /x\n    middleware: [{use: c}]\n    handler: {respond: {body: x}}\n", "c"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			err := h.LoadBytes("test.yaml", []byte(tt.yaml), t.TempDir())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			if h.Snapshot().Version != v {
				t.Fatal("a rejected config replaced the serving one")
			}
			if rec := do(h, "GET", "/hello"); rec.Code != 200 {
				t.Fatal("old config stopped serving")
			}
		})
	}
}

// A changed instance is closed exactly once, and only after the request
// that was in flight on it has finished.
func TestRetiredInstanceClosedAfterInflight(t *testing.T) {
	cfg := func(tag string) string {
		return fmt.Sprintf("performance: {middleware: {registry: {ttl: 0s}}}\nplugins:\n  slow: {type: count, tag: %s, hold: %s}\nroutes:\n  - path: /slow\n    middleware: [{use: slow}]\n    handler: {respond: {body: ok}}\n", tag, t.Name())
	}
	release := gate(t.Name())
	defer gates.Delete(t.Name())
	h := newHost(t, cfg("a"))
	old := lastCounter("slow")
	done := make(chan int)
	go func() { done <- do(h, "GET", "/slow").Code }()
	wait.For(t, "the request in flight", func() bool { return old.inflight.Load() != 0 })
	if err := h.LoadBytes("test.yaml", []byte(cfg("b")), t.TempDir()); err != nil {
		t.Fatal(err)
	}
	if lastCounter("slow") == old {
		t.Fatal("changed config reused the instance")
	}
	// Give a wrong close a moment to happen; a right one waits for release.
	if wait.Check(20*time.Millisecond, func() bool { return old.closed.Load() != 0 }) {
		t.Fatal("closed while a request was in flight")
	}
	close(release)
	if code := <-done; code != 200 {
		t.Fatalf("in-flight request = %d", code)
	}
	wait.For(t, "the old instance to close", func() bool { return old.closed.Load() != 0 })
	if old.closed.Load() != 1 || old.closedWithInflight.Load() {
		t.Fatalf("closed %d times (with in-flight: %v)", old.closed.Load(), old.closedWithInflight.Load())
	}
}

func TestUnchangedInstanceSurvivesReload(t *testing.T) {
	h := newHost(t, basicYAML)
	c := lastCounter("counter")
	edited := strings.Replace(basicYAML, "  - path: /fast\n", "  - path: /extra\n    handler: {respond: {body: x}}\n  - path: /fast\n", 1)
	if err := h.LoadBytes("test.yaml", []byte(edited), t.TempDir()); err != nil {
		t.Fatal(err)
	}
	if lastCounter("counter") != c || c.closed.Load() != 0 {
		t.Fatal("unchanged plugin was rebuilt or closed")
	}
	if rec := do(h, "GET", "/extra"); rec.Code != 200 {
		t.Fatal("new route not served")
	}
}

// startHost serves h on a loopback port.
func startHost(t *testing.T, yaml string) (*Host, string) {
	t.Helper()
	h := New(Options{Logger: quietLogger()})
	for n, f := range testHandlers {
		h.HandleFunc(n, f)
	}
	if err := h.LoadBytes("test.yaml", []byte(yaml), t.TempDir()); err != nil {
		t.Fatal(err)
	}
	if err := h.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Shutdown(context.Background()) })
	return h, "http://" + h.Addr().String()
}

func TestOversizedHeaderAndBody(t *testing.T) {
	_, base := startHost(t, `
server: {max_header_bytes: 4KB, max_body_bytes: 1KB}
routes:
  - path: /echo
    methods: [POST]
    handler: echo
`)
	req, _ := http.NewRequest("GET", base+"/hello", nil)
	req.Header.Set("X-Big", strings.Repeat("a", 16<<10))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 431 {
		t.Fatalf("oversized header = %d, want 431", resp.StatusCode)
	}
	resp, err = http.Post(base+"/echo", "text/plain", bytes.NewReader(make([]byte, 4096)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 413 {
		t.Fatalf("oversized body = %d, want 413", resp.StatusCode)
	}
}

func TestMaxRequestsPerConnection(t *testing.T) {
	_, base := startHost(t, `
performance: {network: {http: {max_requests: 3}}}
routes:
  - path: /hello
    handler: {respond: {body: hi}}
`)
	var closes []bool
	for range 4 {
		resp, err := http.Get(base + "/hello")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		closes = append(closes, resp.Close)
	}
	if fmt.Sprint(closes) != "[false false true false]" {
		t.Fatalf("Connection: close per response = %v", closes)
	}
}

func TestGracefulShutdown(t *testing.T) {
	h := New(Options{Logger: quietLogger()})
	entered, release := make(chan struct{}), make(chan struct{})
	h.HandleFunc("slow", func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		select {
		case <-release:
		case <-r.Context().Done():
		}
		io.WriteString(w, "done")
	})
	if err := h.LoadBytes("t.yaml", []byte("routes:\n  - path: /slow\n    handler: slow\n"), "."); err != nil {
		t.Fatal(err)
	}
	if err := h.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	addr := h.Addr().String()
	type result struct {
		code int
		body string
		err  error
	}
	res := make(chan result, 1)
	go func() {
		resp, err := http.Get("http://" + addr + "/slow")
		if err != nil {
			res <- result{err: err}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		res <- result{code: resp.StatusCode, body: string(b)}
	}()
	<-entered
	shut := make(chan error, 1)
	go func() { shut <- h.Shutdown(context.Background()) }()
	// The listener closes while the request is still in flight.
	wait.For(t, "new connections refused after shutdown began", func() bool {
		c, err := net.DialTimeout("tcp", addr, 500*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	if len(shut) > 0 {
		t.Fatal("Shutdown returned with a request in flight")
	}
	close(release)
	r := <-res
	if r.err != nil || r.code != 200 || r.body != "done" {
		t.Fatalf("in-flight request: %+v", r)
	}
	if err := <-shut; err != nil {
		t.Fatal(err)
	}
}

var testHandlers = map[string]http.HandlerFunc{
	"echo": func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			var mb *http.MaxBytesError
			if errors.As(err, &mb) {
				http.Error(w, "too large", http.StatusRequestEntityTooLarge)
				return
			}
		}
		w.Write(b)
	},
}

func TestStaticFastPathConfinedToRoot(t *testing.T) {
	dir := t.TempDir()
	pub := filepath.Join(dir, "public")
	os.Mkdir(pub, 0o755)
	os.WriteFile(filepath.Join(pub, "a.txt"), []byte("public file"), 0o644)
	os.WriteFile(filepath.Join(dir, "secret.txt"), []byte("secret"), 0o644)
	h := newHost(t, "static: {root: "+pub+"}\nroutes: []\n")
	if rec := do(h, "GET", "/static/a.txt"); rec.Body.String() != "public file" {
		t.Fatalf("static = %d %q", rec.Code, rec.Body)
	}
	for _, p := range []string{"/static/../secret.txt", "/static/%2e%2e/secret.txt", "/static/..%2fsecret.txt", "/static/..\\secret.txt"} {
		r := httptest.NewRequest("GET", "/", nil)
		r.URL.Path = p
		if rr, err := http.NewRequest("GET", "http://x"+p, nil); err == nil {
			r = rr
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		if strings.Contains(rec.Body.String(), "secret") || (rec.Code != 400 && rec.Code != 404) {
			t.Fatalf("%s = %d %q", p, rec.Code, rec.Body)
		}
	}
}

// TestRequestMetricsByStatus: http_requests_total counts each answer under
// its real status, both on a respond route without middleware (which
// reports its own status, so its writer is not wrapped) and on routes
// whose writer is wrapped (a Go handler, a chain).
func TestRequestMetricsByStatus(t *testing.T) {
	h := New(Options{Logger: quietLogger()})
	h.HandleFunc("created", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusCreated) })
	h.HandleFunc("implicit", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) })
	yaml := `
server: {max_body_bytes: 1KB}
plugins:
  counter: {type: count, tag: m}
routes:
  - path: /plain
    handler: {respond: {body: plain}}
  - path: /teapot
    handler: {respond: {status: 418, body: short and stout}}
  - path: /chained
    middleware: [{use: counter}]
    handler: {respond: {body: chained}}
  - path: /created
    handler: created
  - path: /implicit
    handler: implicit
`
	if err := h.LoadBytes("test.yaml", []byte(yaml), t.TempDir()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	etag := do(h, "GET", "/plain").Header().Get("Etag")
	if etag == "" {
		t.Fatal("respond sent no ETag")
	}
	big := httptest.NewRequest("POST", "/plain", strings.NewReader(strings.Repeat("x", 2048)))
	if rec := httptest.NewRecorder(); func() bool { h.ServeHTTP(rec, big); return rec.Code != 413 }() {
		t.Fatal("a body over max_body_bytes on a respond route was not refused with 413")
	}
	do(h, "GET", "/plain", "If-None-Match", etag)
	do(h, "GET", "/plain", "If-None-Match", etag)
	do(h, "HEAD", "/teapot")
	do(h, "GET", "/chained")
	do(h, "GET", "/chained", "If-None-Match", `"other"`)
	do(h, "GET", "/created")
	do(h, "GET", "/implicit")

	tests := []struct {
		route, method, code string
		want                float64
	}{
		{"/plain", "GET", "200", 1},
		{"/plain", "GET", "304", 2},
		{"/plain", "POST", "413", 1},
		{"/teapot", "HEAD", "418", 1},
		{"/chained", "GET", "200", 2},
		{"/created", "GET", "201", 1},
		{"/implicit", "GET", "200", 1},
	}
	mfs, err := h.Metrics().Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "switchyard_http_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			l := map[string]string{}
			for _, lp := range m.GetLabel() {
				l[lp.GetName()] = lp.GetValue()
			}
			got[l["route"]+" "+l["method"]+" "+l["code"]] = m.GetCounter().GetValue()
		}
	}
	for _, tt := range tests {
		if k := tt.route + " " + tt.method + " " + tt.code; got[k] != tt.want {
			t.Errorf("requests_total{%s} = %v, want %v (all: %v)", k, got[k], tt.want, got)
		}
	}
}
