package caching

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/switchyard/switchyard/internal/instances"
	"github.com/switchyard/switchyard/plugintest"
	"github.com/switchyard/switchyard/registry"
)

// fakeClock is a settable clock for registry.Context.Now.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// env is one caching instance built through the registry.
type env struct {
	t       *testing.T
	reg     *instances.Registry
	set     *instances.Set
	cache   *Cache
	clock   *fakeClock
	metrics *registry.Metrics
	promReg *prometheus.Registry
}

type envOpt func() plugintest.Option

// newEnv builds a "caching" instance named "c" with cfg through a real
// registry; the set is released (and the instance closed) when the test ends.
func newEnv(t *testing.T, cfg map[string]any, opts ...envOpt) *env {
	t.Helper()
	pr := prometheus.NewRegistry()
	e := &env{t: t, reg: instances.New(instances.Options{}), clock: newFakeClock(), promReg: pr}
	e.metrics = registry.NewMetrics(pr)
	base := []plugintest.Option{plugintest.WithMetrics(e.metrics), plugintest.WithNow(e.clock.Now)}
	for _, o := range opts {
		base = append(base, o())
	}
	set, err := e.reg.Build(plugintest.NewServices(base...), []instances.Spec{{Name: "c", Type: "caching", Config: cfg}}, nil)
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	e.set = set
	inst, ok := set.Get("c")
	if !ok {
		t.Fatal("instance c missing")
	}
	e.cache = inst.(*Cache)
	t.Cleanup(func() { set.Release() })
	return e
}

func withRealClock() envOpt { return func() plugintest.Option { return plugintest.WithNow(time.Now) } }

// server serves the cache in front of up on a loopback httptest server.
func (e *env) server(up http.Handler) *httptest.Server {
	e.t.Helper()
	srv := httptest.NewServer(e.cache.Wrap(up))
	e.t.Cleanup(srv.Close)
	return srv
}

// counter is an upstream handler that counts its calls and answers with fn.
type counter struct {
	n  atomic.Int64
	fn func(n int64, w http.ResponseWriter, r *http.Request)
}

func (u *counter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := u.n.Add(1)
	u.fn(n, w, r)
}

func (u *counter) calls() int64 { return u.n.Load() }

type resp struct {
	status int
	header http.Header
	body   string
}

// get sends a request to srv and reads the whole response.
func get(t *testing.T, srv *httptest.Server, method, path string, hdr map[string]string) resp {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return resp{status: res.StatusCode, header: res.Header, body: string(b)}
}

// counterValue reads cache_requests_total{plugin="c",result}.
func (e *env) counterValue(result string) float64 {
	return testutil.ToFloat64(e.metrics.Counter("cache_requests_total", "", "plugin", "result").WithLabelValues("c", result))
}

func (e *env) bytesGauge() float64 {
	return testutil.ToFloat64(e.metrics.Gauge("cache_bytes", "", "plugin").WithLabelValues("c"))
}

// httptraceWithHints returns req's context with a trace that counts 103
// responses into n.
func httptraceWithHints(req *http.Request, n *int) context.Context {
	return httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		Got1xxResponse: func(code int, _ textproto.MIMEHeader) error {
			if code == http.StatusEarlyHints {
				*n++
			}
			return nil
		},
	})
}

// followers counts the requests waiting for a leader's response: the
// goroutines in handler.follow. They joined the flight before they got there.
func followers() int {
	buf := make([]byte, 64<<10)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return bytes.Count(buf[:n], []byte("caching.(*handler).follow("))
		}
		buf = make([]byte, 2*len(buf))
	}
}

// discardWriter is a reusable ResponseWriter: it keeps its header map (reset
// clears it) and copies the body into a reusable buffer, as a server's
// buffered writer does.
type discardWriter struct {
	h      http.Header
	status int
	buf    []byte
}

func (w *discardWriter) Header() http.Header { return w.h }

func (w *discardWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

func (w *discardWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.buf = append(w.buf, p...)
	return len(p), nil
}

func (w *discardWriter) reset() {
	clear(w.h)
	w.status = 0
	w.buf = w.buf[:0]
}
