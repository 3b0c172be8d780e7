package ratelimit

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/switchyard/switchyard/internal/instances"
	"github.com/switchyard/switchyard/plugintest"
)

// limit5 is the acceptance tests' policy: 5 requests per 10 s.
func limit5(extra ...any) map[string]any {
	cfg := map[string]any{"rate": 5, "per": "10s"}
	for i := 0; i+1 < len(extra); i += 2 {
		cfg[extra[i].(string)] = extra[i+1]
	}
	return cfg
}

// Acceptance 1: 5 x 200, then 429 with Retry-After in 1..10 and r=0; r goes
// 4,3,2,1,0 under an unchanging policy; after Retry-After seconds a request
// succeeds.
func TestAcceptance1SequenceAndHeaders(t *testing.T) {
	e := newEnv(t)
	h := e.limiter("perip", limit5()).Wrap(okHandler)
	const client = "192.0.2.10:4000"

	for i, wantR := range []int64{4, 3, 2, 1, 0} {
		w := do(h, client)
		if w.Code != http.StatusOK {
			t.Fatalf("request %d: status %d, want 200", i+1, w.Code)
		}
		if got := w.Header().Get("RateLimit-Policy"); got != `"perip";q=5;w=10` {
			t.Fatalf("request %d: RateLimit-Policy %q", i+1, got)
		}
		name, r, reset := rl(t, w)
		if name != "perip" || r != wantR {
			t.Fatalf("request %d: RateLimit name %q r=%d, want perip r=%d", i+1, name, r, wantR)
		}
		if reset < 1 || reset > 10 {
			t.Fatalf("request %d: t=%d outside 1..10", i+1, reset)
		}
	}

	w := do(h, client)
	if w.Code != http.StatusTooManyRequests {
		t.Fatalf("6th request: status %d, want 429", w.Code)
	}
	ra := retryAfter(t, w)
	_, r, reset := rl(t, w)
	if ra < 1 || ra > 10 || r != 0 || ra < reset {
		t.Fatalf("429: Retry-After %d, r=%d, t=%d; want Retry-After in 1..10, r=0, Retry-After >= t", ra, r, reset)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("429 Content-Type %q", ct)
	}
	var body struct {
		Error      string `json:"error"`
		RetryAfter int64  `json:"retry_after"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.Error != "rate limit exceeded" || body.RetryAfter != ra {
		t.Fatalf("429 body %q (%v), want error and retry_after=%d", w.Body.String(), err, ra)
	}
	if w.Header().Get("RateLimit-Policy") != `"perip";q=5;w=10` {
		t.Fatalf("429 lost the policy header")
	}

	// One nanosecond short of Retry-After is still refused only when the
	// wait is a whole number of seconds; at Retry-After it must succeed.
	e.clock.Advance(time.Duration(ra) * time.Second)
	if w := do(h, client); w.Code != http.StatusOK {
		t.Fatalf("after Retry-After=%d: status %d, want 200", ra, w.Code)
	}
	if got, want := e.counter("perip", "allowed"), 6.0; got != want {
		t.Fatalf("allowed counter %v, want %v", got, want)
	}
	if got, want := e.counter("perip", "limited"), 1.0; got != want {
		t.Fatalf("limited counter %v, want %v", got, want)
	}
}

// Acceptance 2 (memory): 50 parallel requests admit exactly 5.
func TestAcceptance2ParallelMemory(t *testing.T) {
	e := newEnv(t)
	h := e.limiter("perip", limit5()).Wrap(okHandler)
	if got := parallel(h, 50); got != 5 {
		t.Fatalf("%d of 50 parallel requests succeeded, want exactly 5", got)
	}
}

// parallel sends n requests at once from one client and counts the 200s.
func parallel(h http.Handler, n int) int {
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	start := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Go(func() {
			<-start
			if w := do(h, "198.51.100.7:999"); w.Code == http.StatusOK {
				mu.Lock()
				ok++
				mu.Unlock()
			}
		})
	}
	close(start)
	wg.Wait()
	return ok
}

// Acceptance 3: X-Forwarded-For is believed only from trusted proxies, and
// IPv6 clients are grouped by /64.
func TestAcceptance3Spoofing(t *testing.T) {
	t.Run("untrusted peer rotating X-Forwarded-For", func(t *testing.T) {
		for _, tc := range []struct {
			name     string
			clientIP bool
		}{{"host ClientIP, no trusted proxy", true}, {"no host ClientIP", false}} {
			t.Run(tc.name, func(t *testing.T) {
				e := newEnv(t)
				if tc.clientIP {
					e.opts = append(e.opts, plugintest.WithClientIP(trustedClientIP(t)))
				}
				h := e.limiter("perip", limit5()).Wrap(okHandler)
				for i := 0; i < 8; i++ {
					w := do(h, "203.0.113.5:1234", "X-Forwarded-For", "10.9.8."+string(rune('0'+i)))
					if want := i < 5; (w.Code == http.StatusOK) != want {
						t.Fatalf("request %d: status %d (spoofed XFF must not escape the limit)", i+1, w.Code)
					}
				}
			})
		}
	})
	t.Run("trusted proxy: evil prefixes share the client's bucket", func(t *testing.T) {
		e := newEnv(t)
		e.opts = append(e.opts, plugintest.WithClientIP(trustedClientIP(t, "10.0.0.0/8")))
		h := e.limiter("perip", limit5()).Wrap(okHandler)
		for i := 0; i < 5; i++ {
			xff := "evil1, 198.51.100.9"
			if i%2 == 1 {
				xff = "evil2, 198.51.100.9"
			}
			if w := do(h, "10.0.0.1:5555", "X-Forwarded-For", xff); w.Code != http.StatusOK {
				t.Fatalf("request %d: status %d", i+1, w.Code)
			}
		}
		if w := do(h, "10.0.0.1:5555", "X-Forwarded-For", "evil3, 198.51.100.9"); w.Code != http.StatusTooManyRequests {
			t.Fatalf("6th request of C through the proxy: status %d, want 429", w.Code)
		}
		// Another client behind the same proxy has its own bucket.
		if w := do(h, "10.0.0.1:5555", "X-Forwarded-For", "198.51.100.10"); w.Code != http.StatusOK {
			t.Fatalf("other client through the proxy: status %d", w.Code)
		}
	})
	t.Run("IPv6 grouped by /64", func(t *testing.T) {
		e := newEnv(t)
		h := e.limiter("perip", limit5()).Wrap(okHandler)
		for i := 0; i < 5; i++ {
			peer := "[2001:db8::1]:80"
			if i%2 == 1 {
				peer = "[2001:db8::2]:80"
			}
			if w := do(h, peer); w.Code != http.StatusOK {
				t.Fatalf("request %d: status %d", i+1, w.Code)
			}
		}
		if w := do(h, "[2001:db8::2]:80"); w.Code != http.StatusTooManyRequests {
			t.Fatalf("2001:db8::2 after 5 from its /64: status %d, want 429", w.Code)
		}
		if w := do(h, "[2001:db8:0:1::1]:80"); w.Code != http.StatusOK {
			t.Fatalf("2001:db8:0:1::1 (another /64): status %d, want 200", w.Code)
		}
	})
	t.Run("ipv6_prefix 128 separates addresses", func(t *testing.T) {
		e := newEnv(t)
		h := e.limiter("perip", limit5("ipv6_prefix", 128)).Wrap(okHandler)
		for i := 0; i < 5; i++ {
			do(h, "[2001:db8::1]:80")
		}
		if w := do(h, "[2001:db8::2]:80"); w.Code != http.StatusOK {
			t.Fatalf("2001:db8::2 with /128 grouping: status %d", w.Code)
		}
	})
}

// Acceptance 4: Retry-After is computed from the bucket, not the window.
// At 10 per minute a unit returns every 6 s: after 10 requests at t=0, the
// three units back by t=20 s are allowed and the next request is told to
// retry in 4 s (when the fourth unit returns), not in 60; at t=24 s it
// succeeds.
func TestAcceptance4RetryAfterFromState(t *testing.T) {
	e := newEnv(t)
	h := e.limiter("login", map[string]any{"rate": 10, "per": "1m"}).Wrap(okHandler)
	const client = "192.0.2.44:1"
	for i := 0; i < 10; i++ {
		if w := do(h, client); w.Code != http.StatusOK {
			t.Fatalf("request %d at t=0: status %d", i+1, w.Code)
		}
	}
	w := do(h, client)
	if w.Code != http.StatusTooManyRequests || retryAfter(t, w) != 6 {
		t.Fatalf("11th at t=0: status %d Retry-After %q, want 429 and 6", w.Code, w.Header().Get("Retry-After"))
	}
	e.clock.Advance(20 * time.Second)
	for i := 0; i < 3; i++ {
		if w := do(h, client); w.Code != http.StatusOK {
			t.Fatalf("request %d at t=20s: status %d, want 200 (3 units returned)", i+1, w.Code)
		}
	}
	w = do(h, client)
	if w.Code != http.StatusTooManyRequests {
		t.Fatalf("4th at t=20s: status %d, want 429", w.Code)
	}
	if ra := retryAfter(t, w); ra != 4 {
		t.Fatalf("Retry-After %d at t=20s, want 4 (not the 60 s window)", ra)
	}
	e.clock.Advance(4*time.Second - time.Millisecond)
	if w := do(h, client); w.Code != http.StatusTooManyRequests {
		t.Fatalf("just before Retry-After: status %d, want 429", w.Code)
	}
	e.clock.Advance(time.Millisecond)
	if w := do(h, client); w.Code != http.StatusOK {
		t.Fatalf("at Retry-After: status %d, want 200", w.Code)
	}
}

// Acceptance 7: a route limit does not touch other routes, and requests
// without the keyed header never share one bucket.
func TestAcceptance7RouteAndMissingHeader(t *testing.T) {
	t.Run("limited /login leaves /api alone", func(t *testing.T) {
		e := newEnv(t)
		lim := e.limiter("login", limit5())
		r := chi.NewRouter()
		r.With(lim.Wrap).Post("/login", okHandler)
		r.Get("/api", okHandler)
		send := func(method, path string) int {
			req := httptest.NewRequest(method, path, nil)
			req.RemoteAddr = "192.0.2.1:1"
			w := httptest.NewRecorder()
			r.ServeHTTP(w, req)
			return w.Code
		}
		for i := 0; i < 5; i++ {
			send(http.MethodPost, "/login")
		}
		if c := send(http.MethodPost, "/login"); c != http.StatusTooManyRequests {
			t.Fatalf("/login after 5: %d, want 429", c)
		}
		if c := send(http.MethodGet, "/api"); c != http.StatusOK {
			t.Fatalf("/api: %d, want 200", c)
		}
	})
	t.Run("key route: one bucket per route pattern", func(t *testing.T) {
		e := newEnv(t)
		lim := e.limiter("routes", limit5("key", "route"))
		r := chi.NewRouter()
		r.With(lim.Wrap).Get("/login", okHandler)
		r.With(lim.Wrap).Get("/api/{id}", okHandler)
		send := func(path, remote string) *httptest.ResponseRecorder {
			req := httptest.NewRequest(http.MethodGet, path, nil)
			req.RemoteAddr = remote
			w := httptest.NewRecorder()
			r.ServeHTTP(w, req)
			return w
		}
		for i := 0; i < 5; i++ {
			send("/login", "192.0.2.1:1")
		}
		// Another client on the same route shares the route's bucket.
		if w := send("/login", "192.0.2.2:1"); w.Code != http.StatusTooManyRequests {
			t.Fatalf("/login from another client: %d, want 429", w.Code)
		}
		// Different paths of one pattern share a bucket; other routes are free.
		for i := 0; i < 5; i++ {
			if w := send("/api/"+string(rune('a'+i)), "192.0.2.1:1"); w.Code != http.StatusOK {
				t.Fatalf("/api/{id} request %d: %d", i+1, w.Code)
			}
		}
		if w := send("/api/zzz", "192.0.2.1:1"); w.Code != http.StatusTooManyRequests {
			t.Fatalf("/api/{id} 6th: %d, want 429", w.Code)
		}
	})
	t.Run("missing header keys by IP, never one shared bucket", func(t *testing.T) {
		e := newEnv(t)
		h := e.limiter("apikey", limit5("key", "header:X-API-Key")).Wrap(okHandler)
		for i := 0; i < 5; i++ {
			do(h, "192.0.2.1:1")
		}
		if w := do(h, "192.0.2.1:1"); w.Code != http.StatusTooManyRequests {
			t.Fatalf("6th without the header from one client: %d, want 429", w.Code)
		}
		if w := do(h, "192.0.2.2:1"); w.Code != http.StatusOK {
			t.Fatalf("another client without the header: %d, want 200", w.Code)
		}
		if w := do(h, "192.0.2.1:1", "X-API-Key", "alice"); w.Code != http.StatusOK {
			t.Fatalf("keyed request from the exhausted address: %d, want 200", w.Code)
		}
		for i := 0; i < 4; i++ {
			do(h, "192.0.2.99:1", "X-API-Key", "alice")
		}
		if w := do(h, "192.0.2.3:1", "X-API-Key", "alice"); w.Code != http.StatusTooManyRequests {
			t.Fatalf("alice's 6th request from a third address: %d, want 429", w.Code)
		}
		// An empty value is treated as missing.
		if w := do(h, "192.0.2.4:1", "X-API-Key", ""); w.Code != http.StatusOK {
			t.Fatalf("empty header value: %d", w.Code)
		}
	})
}

func TestExpressionKey(t *testing.T) {
	e := newEnv(t)
	h := e.limiter("tenant", limit5("key", `request.query["tenant"]`)).Wrap(okHandler)
	send := func(target, remote string) int {
		r := httptest.NewRequest(http.MethodGet, target, nil)
		r.RemoteAddr = remote
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}
	for i := 0; i < 5; i++ {
		send("/?tenant=a", "192.0.2."+string(rune('1'+i))+":1")
	}
	if c := send("/?tenant=a", "192.0.2.9:1"); c != http.StatusTooManyRequests {
		t.Fatalf("tenant a 6th: %d", c)
	}
	if c := send("/?tenant=b", "192.0.2.9:1"); c != http.StatusOK {
		t.Fatalf("tenant b: %d", c)
	}
	// An empty result keys by address.
	if c := send("/", "192.0.2.9:1"); c != http.StatusOK {
		t.Fatalf("no tenant: %d", c)
	}
}

func TestExpressionKeyErrorNamesTheKey(t *testing.T) {
	e := newEnv(t)
	_, err := e.reg.Build(e.services(), []instances.Spec{{Name: "x", Type: TypeName, Config: limit5("key", `request.hedaer`)}}, nil)
	if err == nil || !strings.Contains(err.Error(), "plugins.x.key: ") || !strings.Contains(err.Error(), "hedaer") {
		t.Fatalf("err = %v, want it to name plugins.x.key and the bad field", err)
	}
}

func TestDryRun(t *testing.T) {
	e := newEnv(t)
	h := e.limiter("dry", limit5("dry_run", true)).Wrap(okHandler)
	for i := 0; i < 20; i++ {
		if w := do(h, "192.0.2.1:1"); w.Code != http.StatusOK {
			t.Fatalf("dry run refused request %d", i+1)
		}
	}
	if got := e.counter("dry", "limited"); got != 15 {
		t.Fatalf("limited counter %v, want 15", got)
	}
	if n := e.logs.Count("dry run"); n != 1 {
		t.Fatalf("%d dry-run log lines within one second, want 1:\n%s", n, e.logs.String())
	}
	e.clock.Advance(1100 * time.Millisecond)
	for i := 0; i < 5; i++ {
		do(h, "192.0.2.1:1")
	}
	if n := e.logs.Count("dry run"); n != 2 {
		t.Fatalf("%d dry-run log lines after a second, want 2", n)
	}
	// Requests let through in dry run do not use quota.
	e.clock.Advance(2 * time.Second)
	w := do(h, "192.0.2.1:1")
	if _, r, _ := rl(t, w); r != 0 {
		t.Fatalf("r=%d", r)
	}
}

func TestLegacyHeadersAndName(t *testing.T) {
	e := newEnv(t)
	h := e.limiter("x", limit5("legacy_headers", true, "name", "api")).Wrap(okHandler)
	w := do(h, "192.0.2.1:1")
	want := map[string]string{
		"RateLimit-Policy":      `"api";q=5;w=10`,
		"RateLimit":             `"api";r=4;t=2`,
		"X-RateLimit-Limit":     "5",
		"X-RateLimit-Remaining": "4",
		"X-RateLimit-Reset":     "2",
	}
	for k, v := range want {
		if got := w.Header().Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	// Without legacy_headers none of the X- fields appear.
	h2 := e.limiter("y", limit5()).Wrap(okHandler)
	if w := do(h2, "192.0.2.1:1"); w.Header().Get("X-RateLimit-Limit") != "" {
		t.Errorf("legacy header without legacy_headers")
	}
}

// Two limiters in one chain list both policies.
func TestTwoLimitersInOneChain(t *testing.T) {
	e := newEnv(t)
	a := e.limiter("a", limit5())
	b := e.limiter("b", map[string]any{"rate": 100, "per": "1m"})
	h := a.Wrap(b.Wrap(okHandler))
	w := do(h, "192.0.2.1:1")
	got := w.Header().Values("RateLimit-Policy")
	if len(got) != 2 || got[0] != `"a";q=5;w=10` || got[1] != `"b";q=100;w=60` {
		t.Fatalf("RateLimit-Policy %q", got)
	}
	if v := w.Header().Values("RateLimit"); len(v) != 2 {
		t.Fatalf("RateLimit %q", v)
	}
	// The shared, precomputed value of a was not modified by the append.
	if w := do(a.Wrap(okHandler), "192.0.2.2:1"); len(w.Header().Values("RateLimit-Policy")) != 1 {
		t.Fatalf("precomputed policy value was modified")
	}
}

func TestStats(t *testing.T) {
	e := newEnv(t)
	l := e.limiter("s", limit5())
	h := l.Wrap(okHandler)
	for i := 0; i < 7; i++ {
		do(h, "192.0.2.1:1")
	}
	do(h, "192.0.2.2:1")
	st := l.Stats()
	if st["keys"] != 2 || st["allowed"] != uint64(6) || st["limited"] != uint64(2) || st["store"] != "memory" {
		t.Fatalf("Stats = %v", st)
	}
	infos := e.reg.Instances()
	if len(infos) != 1 || infos[0].Stats["keys"] != 2 {
		t.Fatalf("registry Instances = %+v", infos)
	}
}

// An unchanged config across builds is the same instance; a changed one is
// new and carries state over.
func TestReuseAcrossBuilds(t *testing.T) {
	e := newEnv(t)
	cfg := limit5()
	l1, s1 := e.build("r", cfg)
	l2, s2 := e.build("r", map[string]any{"per": "10s", "rate": 5})
	if l1 != l2 {
		t.Fatalf("unchanged config built a new instance")
	}
	for i := 0; i < 5; i++ {
		do(l1.Wrap(okHandler), "192.0.2.1:1")
	}
	s1.Release()
	l3, s3 := e.build("r", limit5("legacy_headers", true))
	if l3 == l2 {
		t.Fatalf("changed config reused the instance")
	}
	// Unchanged policy: the state is copied exactly.
	if w := do(l3.Wrap(okHandler), "192.0.2.1:1"); w.Code != http.StatusTooManyRequests {
		t.Fatalf("state lost when an unrelated key changed: %d", w.Code)
	}
	s2.Release()
	s3.Release()
}

func TestPeerWithoutAddress(t *testing.T) {
	e := newEnv(t)
	h := e.limiter("p", limit5()).Wrap(okHandler)
	for i := 0; i < 5; i++ {
		do(h, "@")
	}
	if w := do(h, "@"); w.Code != http.StatusTooManyRequests {
		t.Fatalf("unix-socket peer not limited: %d", w.Code)
	}
	if w := do(h, "pipe"); w.Code != http.StatusOK {
		t.Fatalf("other peer: %d", w.Code)
	}
}
