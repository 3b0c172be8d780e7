package caching

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/switchyard/switchyard/internal/redistest"
)

// TestRedisTier runs two hosts (two caches with their own memory tiers and
// upstream counters) on one real redis-server: a miss on host A is a hit on
// host B, Vary variants and purges reach the shared tier, and stopping Redis
// causes no client error.
func TestRedisTier(t *testing.T) {
	srv := redistest.Start(t)
	cfg := map[string]any{"store": "redis", "redis": map[string]any{"addr": srv.Addr(), "prefix": "test:shared:", "timeout": "200ms"}}
	hostA := newEnv(t, cfg, withRealClock())
	hostB := newEnv(t, cfg, withRealClock())
	handler := func(n int64, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		if r.URL.Path == "/vary" {
			w.Header().Set("Vary", "Accept-Language")
		}
		fmt.Fprint(w, r.URL.Path, " ", r.Header.Get("Accept-Language"), " from ", n)
	}
	// The hosts sit behind one name, as behind a load balancer.
	get := func(t *testing.T, srv *httptest.Server, method, path string, hdr map[string]string) resp {
		t.Helper()
		h := map[string]string{"Host": "shop.example"}
		for k, v := range hdr {
			h[k] = v
		}
		return get(t, srv, method, path, h)
	}
	upA, upB := &counter{fn: handler}, &counter{fn: handler}
	a, b := hostA.server(upA), hostB.server(upB)

	if r := get(t, a, "GET", "/shared", nil); r.header.Get("X-Cache") != "MISS" {
		t.Fatalf("host A first request: X-Cache %q", r.header.Get("X-Cache"))
	}
	r := get(t, b, "GET", "/shared", nil)
	if r.header.Get("X-Cache") != "HIT" || r.body != "/shared  from 1" || upB.calls() != 0 {
		t.Fatalf("host B: X-Cache %q body %q upstream B calls %d; want a hit from the shared tier", r.header.Get("X-Cache"), r.body, upB.calls())
	}
	if got := r.header.Get("Age"); got == "" {
		t.Error("a response read from Redis has no Age")
	}
	// Now in B's memory tier too.
	if !hostB.cache.hasLocal("/shared") {
		t.Error("host B did not keep the shared entry in memory")
	}

	// Vary: the record and the variants are shared.
	get(t, a, "GET", "/vary", map[string]string{"Accept-Language": "en"})
	get(t, a, "GET", "/vary", map[string]string{"Accept-Language": "fr"})
	for _, lang := range []string{"en", "fr"} {
		r := get(t, b, "GET", "/vary", map[string]string{"Accept-Language": lang})
		if r.header.Get("X-Cache") != "HIT" || r.body != "/vary "+lang+" from "+map[string]string{"en": "2", "fr": "3"}[lang] {
			t.Errorf("host B /vary %s: X-Cache %q body %q", lang, r.header.Get("X-Cache"), r.body)
		}
	}
	if r := get(t, b, "GET", "/vary", map[string]string{"Accept-Language": "de"}); r.header.Get("X-Cache") != "MISS" {
		t.Errorf("host B /vary de: X-Cache %q, want MISS", r.header.Get("X-Cache"))
	}

	// A purge on A reaches the shared tier: a third host misses.
	get(t, a, "GET", "/purged", nil)
	if n, err := hostA.cache.Purge("", "/purged"); n != 1 || err != nil {
		t.Errorf("Purge dropped %d URLs, want 1", n)
	}
	hostC := newEnv(t, cfg, withRealClock())
	upC := &counter{fn: handler}
	c := hostC.server(upC)
	if r := get(t, c, "GET", "/purged", nil); r.header.Get("X-Cache") != "MISS" {
		t.Errorf("purged URL still in the shared tier: X-Cache %q", r.header.Get("X-Cache"))
	}
	if r := get(t, c, "GET", "/shared", nil); r.header.Get("X-Cache") != "HIT" {
		t.Errorf("host C /shared: X-Cache %q, want HIT from the shared tier", r.header.Get("X-Cache"))
	}

	// Redis goes away: no errors, only misses, each bounded by the timeout.
	srv.Stop()
	for i := range 20 {
		for _, s := range []struct {
			name string
			env  *env
			url  string
		}{{"A", hostA, a.URL}, {"B", hostB, b.URL}} {
			path := fmt.Sprintf("/after-stop/%d", i%5)
			start := time.Now()
			req, _ := http.NewRequest("GET", s.url+path, nil)
			req.Host = "shop.example"
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("host %s with Redis down: %v", s.name, err)
			}
			res.Body.Close()
			if res.StatusCode != 200 {
				t.Fatalf("host %s with Redis down: status %d", s.name, res.StatusCode)
			}
			if took := time.Since(start); took > time.Second {
				t.Errorf("host %s with Redis down: request took %v", s.name, took)
			}
		}
	}
	http.DefaultClient.CloseIdleConnections()
	if r := get(t, a, "GET", "/shared", nil); r.status != 200 || r.header.Get("X-Cache") != "HIT" {
		t.Errorf("memory tier with Redis down: %d %q", r.status, r.header.Get("X-Cache"))
	}
	errs := testutil.ToFloat64(hostA.metrics.Counter("cache_redis_errors_total", "", "plugin").WithLabelValues("c")) +
		testutil.ToFloat64(hostB.metrics.Counter("cache_redis_errors_total", "", "plugin").WithLabelValues("c"))
	if errs == 0 {
		t.Error("cache_redis_errors_total did not count the outage")
	}
	if hostA.cache.Stats()["redis_available"] != false {
		t.Error("Stats does not report the shared tier as unavailable")
	}
}

// hasLocal reports whether the memory tier holds the GET of path on the
// httptest server's host.
func (c *Cache) hasLocal(path string) bool {
	found := false
	c.mem.each(func(s *slot) {
		if s.e != nil && s.e.path == path {
			found = true
		}
	})
	return found
}
