package ratelimit

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/wait"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/switchyard/switchyard/clientip"
	"github.com/switchyard/switchyard/internal/instances"
	"github.com/switchyard/switchyard/plugintest"
	"github.com/switchyard/switchyard/registry"
)

// fakeClock is a settable clock for registry.Context.Now.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)}
}

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

// trustedClientIP implements the host's trusted-proxy rule: X-Forwarded-For
// is believed only when the peer is a trusted proxy, walking it right to
// left and taking the first untrusted address; junk yields the peer, and a
// chain of trusted proxies only yields its leftmost entry.
func trustedClientIP(t testing.TB, trusted ...string) func(*http.Request) netip.Addr {
	t.Helper()
	var nets []netip.Prefix
	for _, s := range trusted {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			t.Fatalf("trusted proxy %q: %v", s, err)
		}
		nets = append(nets, p)
	}
	isTrusted := func(a netip.Addr) bool {
		for _, p := range nets {
			if p.Contains(a) {
				return true
			}
		}
		return false
	}
	return func(r *http.Request) netip.Addr {
		peer := clientip.Peer(r).Unmap()
		if !isTrusted(peer) {
			return peer
		}
		var hops []string
		for _, v := range r.Header.Values("X-Forwarded-For") {
			hops = append(hops, strings.Split(v, ",")...)
		}
		client := peer
		for i := len(hops) - 1; i >= 0; i-- {
			a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
			if err != nil {
				return peer
			}
			client = a.Unmap()
			if !isTrusted(client) {
				return client
			}
		}
		return client
	}
}

// env is a registry with a fake clock and a private metrics registry.
type env struct {
	t       testing.TB
	reg     *instances.Registry
	clock   *fakeClock
	prom    *prometheus.Registry
	metrics *registry.Metrics
	logs    *wait.Buffer
	opts    []plugintest.Option // the host services of the instances built
}

// services are the host services for the next build.
func (e *env) services() registry.Services { return plugintest.NewServices(e.opts...) }

func newEnv(t testing.TB) *env {
	t.Helper()
	e := &env{t: t, reg: instances.New(instances.Options{}), clock: newFakeClock(), prom: prometheus.NewRegistry(), logs: &wait.Buffer{}}
	e.metrics = registry.NewMetrics(e.prom)
	e.opts = []plugintest.Option{
		plugintest.WithNow(e.clock.Now),
		plugintest.WithMetrics(e.metrics),
		plugintest.WithLogger(slog.New(slog.NewTextHandler(e.logs, nil))),
	}
	t.Cleanup(e.reg.Close)
	return e
}

// build builds one ratelimit instance named name and returns it and its set.
func (e *env) build(name string, cfg map[string]any) (*Limiter, *instances.Set) {
	e.t.Helper()
	set, err := e.reg.Build(e.services(), []instances.Spec{{Name: name, Type: TypeName, Config: cfg}}, nil)
	if err != nil {
		e.t.Fatalf("build %s: %v", name, err)
	}
	inst, ok := set.Get(name)
	if !ok {
		e.t.Fatalf("instance %s missing", name)
	}
	return inst.(*Limiter), set
}

// limiter builds an instance and releases it when the test ends.
func (e *env) limiter(name string, cfg map[string]any) *Limiter {
	e.t.Helper()
	l, set := e.build(name, cfg)
	e.t.Cleanup(set.Release)
	return l
}

func (e *env) counter(plugin, result string) float64 {
	e.t.Helper()
	return testutil.ToFloat64(e.metrics.Counter("ratelimit_requests_total", "", "plugin", "result").WithLabelValues(plugin, result))
}

// okHandler answers 200 "ok".
var okHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte("ok"))
})

// do sends one request from remote through h.
func do(h http.Handler, remote string, hdr ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.RemoteAddr = remote
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Add(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// rl parses the RateLimit field "name";r=R;t=T.
func rl(t testing.TB, w *httptest.ResponseRecorder) (name string, r, reset int64) {
	t.Helper()
	v := w.Header().Get("RateLimit")
	parts := strings.Split(v, ";")
	if len(parts) != 3 || !strings.HasPrefix(parts[1], "r=") || !strings.HasPrefix(parts[2], "t=") {
		t.Fatalf("RateLimit = %q, want \"name\";r=R;t=T", v)
	}
	name, err := strconv.Unquote(parts[0])
	if err != nil {
		t.Fatalf("RateLimit name %q: %v", parts[0], err)
	}
	r, err1 := strconv.ParseInt(parts[1][2:], 10, 64)
	reset, err2 := strconv.ParseInt(parts[2][2:], 10, 64)
	if err1 != nil || err2 != nil {
		t.Fatalf("RateLimit = %q: bad numbers", v)
	}
	return name, r, reset
}

func retryAfter(t testing.TB, w *httptest.ResponseRecorder) int64 {
	t.Helper()
	n, err := strconv.ParseInt(w.Header().Get("Retry-After"), 10, 64)
	if err != nil {
		t.Fatalf("Retry-After %q: %v", w.Header().Get("Retry-After"), err)
	}
	return n
}

// bgCtx is a context for direct store calls in tests.
var bgCtx = context.Background()
