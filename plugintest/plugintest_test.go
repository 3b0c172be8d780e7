package plugintest

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/switchyard/switchyard/internal/wait"
	"github.com/switchyard/switchyard/registry"
)

// probeConfig is the config of the test plugin type "plugintest-probe".
type probeConfig struct {
	// Label is added to every response as X-Probe-Label.
	Label string `koanf:"label" json:"label"`
	// Key is a CEL string expression; its value is sent as X-Probe-Key.
	Key string `koanf:"key" json:"key"`
	// When is a condition; X-Probe-When says whether it held.
	When any `koanf:"when" json:"when"`
	// Level is the default-carrying key: it defaults to the compression level.
	Level int `koanf:"level" json:"level"`
}

// SetDefaults takes level from the type's host section.
func (c *probeConfig) SetDefaults(host registry.Section) error {
	var d struct {
		Level int `koanf:"level"`
	}
	err := host.Decode(&d)
	c.Level = d.Level
	return err
}

func (c *probeConfig) Validate() error {
	if c.Label == "bad" {
		return &registry.FieldError{Key: "label", Msg: "must not be bad"}
	}
	return nil
}

type probePlugin struct {
	ctx     registry.Context
	cfg     probeConfig
	key     func(*http.Request) string
	when    func(*http.Request) bool
	total   *atomic.Int64 // carried over from Previous
	closed  atomic.Int32
	hadPrev bool
}

func (p *probePlugin) Wrap(next http.Handler) http.Handler {
	counter := p.ctx.Metrics().Counter("probe_requests_total", "Requests through the probe.", "plugin", "label")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := p.total.Add(1)
		h := w.Header()
		h.Set("X-Probe-Label", p.cfg.Label)
		h.Set("X-Probe-Level", strconv.Itoa(p.cfg.Level))
		h.Set("X-Probe-Now", p.ctx.Now().UTC().Format(time.RFC3339))
		h.Set("X-Probe-IP", p.ctx.ClientIP(r).String())
		h.Set("X-Probe-Count", strconv.FormatInt(n, 10))
		h.Set("X-Probe-Prev", strconv.FormatBool(p.hadPrev))
		if p.key != nil {
			h.Set("X-Probe-Key", p.key(r))
		}
		if p.when != nil {
			h.Set("X-Probe-When", strconv.FormatBool(p.when(r)))
		}
		if rc := chi.RouteContext(r.Context()); rc != nil {
			h.Set("X-Probe-Route", rc.RoutePattern())
		}
		counter.WithLabelValues(p.ctx.Name, p.cfg.Label).Inc()
		next.ServeHTTP(w, r)
	})
}

func (p *probePlugin) Close() error { p.closed.Add(1); return nil }

func init() {
	registry.Register("plugintest-probe", func(ctx *registry.Context, cfg *probeConfig) (registry.Instance, error) {
		p := &probePlugin{ctx: *ctx, cfg: *cfg, total: new(atomic.Int64)}
		if prev, ok := ctx.Previous.(*probePlugin); ok {
			p.total, p.hadPrev = prev.total, true
		}
		if cfg.Key != "" {
			f, err := ctx.CompileExpr("plugins."+ctx.Name+".key", cfg.Key)
			if err != nil {
				return nil, err
			}
			p.key = f
		}
		if cfg.When != nil {
			f, err := ctx.CompileCondition("plugins."+ctx.Name+".when", cfg.When)
			if err != nil {
				return nil, err
			}
			p.when = f
		}
		ctx.Logger().Info("probe built", "label", cfg.Label)
		return p, nil
	})
}

func get(path string) *http.Request { return httptest.NewRequest(http.MethodGet, path, nil) }

func TestNewServesThroughThePlugin(t *testing.T) {
	inst := New(t, "plugintest-probe", "label: hello")
	rec := inst.Serve(get("/a/b"))
	if rec.Code != 200 || rec.Body.String() != "ok\n" {
		t.Fatalf("got %d %q", rec.Code, rec.Body.String())
	}
	for k, want := range map[string]string{
		"X-Probe-Label": "hello",
		"X-Probe-Level": "0", // no performance.response.plugintest-probe section
		"X-Probe-IP":    "192.0.2.1",
		"X-Probe-Now":   "2026-01-01T00:00:00Z",
		"X-Probe-Route": "/*",
		"X-Probe-Prev":  "false",
	} {
		if got := rec.Header().Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if inst.Name() != "plugintest-probe" {
		t.Errorf("Name = %q", inst.Name())
	}
	if _, ok := inst.Plugin().(*probePlugin); !ok {
		t.Errorf("Plugin() = %T", inst.Plugin())
	}
}

func TestOptions(t *testing.T) {
	clock := NewClock(time.Date(2030, 5, 6, 7, 8, 9, 0, time.UTC))
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusTeapot)
	})
	inst := New(t, "plugintest-probe", "{label: x, level: 2}",
		WithName("custom"), WithClock(clock), WithNext(next), WithRoute("/api/{id}"),
		WithClientIP(func(*http.Request) netip.Addr { return netip.MustParseAddr("10.1.2.3") }))
	rec := inst.Serve(get("/api/7"))
	if rec.Code != http.StatusTeapot {
		t.Fatalf("status %d", rec.Code)
	}
	for k, want := range map[string]string{
		"X-Probe-Level": "2",
		"X-Probe-IP":    "10.1.2.3",
		"X-Probe-Now":   "2030-05-06T07:08:09Z",
		"X-Probe-Route": "/api/{id}",
	} {
		if got := rec.Header().Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if got := inst.Serve(get("/other")).Code; got != http.StatusNotFound {
		t.Errorf("a path off the route got %d, want chi's 404", got)
	}
	if inst.CounterValue("probe_requests_total", "plugin", "custom") != 1 {
		t.Errorf("counter not labelled with the instance name")
	}
}

func TestHostSectionOption(t *testing.T) {
	inst := New(t, "plugintest-probe", "", WithHostSection("level: 9"))
	if got := inst.Serve(get("/")).Header().Get("X-Probe-Level"); got != "9" {
		t.Fatalf("level = %q", got)
	}
}

func TestClockAdvances(t *testing.T) {
	inst := New(t, "plugintest-probe", "")
	inst.Clock().Advance(36 * time.Hour)
	if got := inst.Serve(get("/")).Header().Get("X-Probe-Now"); got != "2026-01-02T12:00:00Z" {
		t.Fatalf("now = %q", got)
	}
	inst.Clock().Set(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC))
	if got := inst.Serve(get("/")).Header().Get("X-Probe-Now"); got != "2027-01-01T00:00:00Z" {
		t.Fatalf("now = %q", got)
	}
}

func TestConditionsAndExpressions(t *testing.T) {
	inst := New(t, "plugintest-probe", `
key: 'request.header["X-User"] + "@" + request.path'
when: is_api
`, WithConditions(map[string]any{"is_api": `request.path.startsWith("/api/")`}))
	req := get("/api/x")
	req.Header.Set("X-User", "ann")
	rec := inst.Serve(req)
	if got := rec.Header().Get("X-Probe-Key"); got != "ann@/api/x" {
		t.Errorf("key = %q", got)
	}
	if got := rec.Header().Get("X-Probe-When"); got != "true" {
		t.Errorf("when on /api/x = %q", got)
	}
	if got := inst.Serve(get("/web")).Header().Get("X-Probe-When"); got != "false" {
		t.Errorf("when on /web = %q", got)
	}
}

func TestBuildErrorsNameTheKey(t *testing.T) {
	tests := []struct {
		name, typ, snippet, want string
	}{
		{"unknown key", "plugintest-probe", "lable: x", "plugins.plugintest-probe.lable: unknown key"},
		{"wrong type", "plugintest-probe", "level: high", "plugins.plugintest-probe.level: expected int"},
		{"validation", "plugintest-probe", "label: bad", "plugins.plugintest-probe.label: must not be bad"},
		{"bad expression", "plugintest-probe", "key: 'request.nope'", "plugins.plugintest-probe.key"},
		{"unknown condition", "plugintest-probe", "when: {method: 7}", "plugins.plugintest-probe.when"},
		{"unknown type", "plugintest-nope", "", `unknown plugin type "plugintest-nope"`},
		{"other type", "plugintest-probe", "type: compression", `type: is compression, but the instance is built as "plugintest-probe"`},
		{"not a mapping", "plugintest-probe", "- a\n- b", "want a YAML mapping"},
		{"bad yaml", "plugintest-probe", "label: [", "config snippet: yaml:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inst, err := Build(t, tt.typ, tt.snippet)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
			if inst != nil {
				t.Fatal("an instance came back with the error")
			}
		})
	}
}

func TestSnippetMayCarryItsType(t *testing.T) {
	inst := New(t, "plugintest-probe", "type: plugintest-probe\nlabel: typed")
	if got := inst.Serve(get("/")).Header().Get("X-Probe-Label"); got != "typed" {
		t.Fatalf("label = %q", got)
	}
}

func TestNewFailsTheTestOnABuildError(t *testing.T) {
	errs := record(func(tb TB) { New(tb, "plugintest-probe", "label: bad") })
	if len(errs) != 1 || !strings.Contains(errs[0], "plugintest: building plugintest-probe: plugins.plugintest-probe.label: must not be bad") {
		t.Fatalf("failures = %q", errs)
	}
}

func TestRebuildReusesAndRetires(t *testing.T) {
	inst := New(t, "plugintest-probe", "label: one")
	first := inst.Plugin().(*probePlugin)
	h := inst.Handler(http.HandlerFunc(okHandler))
	serve := func() *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, get("/"))
		return rec
	}
	serve()
	if !inst.Rebuild("{label: one}") {
		t.Fatal("unchanged config was not reused")
	}
	if inst.Plugin() != registry.Instance(first) {
		t.Fatal("reuse gave another instance")
	}
	if inst.Rebuild("label: two") {
		t.Fatal("changed config reported as reused")
	}
	second := inst.Plugin().(*probePlugin)
	rec := serve()
	if rec.Header().Get("X-Probe-Label") != "two" || rec.Header().Get("X-Probe-Prev") != "true" || rec.Header().Get("X-Probe-Count") != "2" {
		t.Fatalf("after the rebuild: %v", rec.Header())
	}
	wait.For(t, "the old instance to close", func() bool { return first.closed.Load() == 1 })
	if second.closed.Load() != 0 {
		t.Fatal("serving instance closed")
	}
	if inst.CounterValue("probe_requests_total") != 2 || inst.CounterValue("probe_requests_total", "label", "two") != 1 {
		t.Fatalf("metrics did not survive the rebuild: %v", inst.Gather())
	}
	inst.Close()
	inst.Close()
	if second.closed.Load() != 1 {
		t.Fatalf("closed %d times", second.closed.Load())
	}
	if got := inst.Serve(get("/")).Code; got != http.StatusServiceUnavailable {
		t.Fatalf("a closed instance served %d", got)
	}
}

func TestRebuildWaitsForRequestsInFlight(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	inst := New(t, "plugintest-probe", "label: one", WithNext(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/block" {
			close(entered)
			<-release
		}
	})))
	first := inst.Plugin().(*probePlugin)
	done := make(chan *httptest.ResponseRecorder)
	go func() { done <- inst.Serve(get("/block")) }()
	<-entered
	inst.Rebuild("label: two")
	if got := inst.Serve(get("/")).Header().Get("X-Probe-Label"); got != "two" {
		t.Fatalf("a new request ran on %q", got)
	}
	// Give a wrong close a moment to happen; a right one waits for release.
	if wait.Check(20*time.Millisecond, func() bool { return first.closed.Load() != 0 }) {
		t.Fatal("closed while a request was in flight on it")
	}
	close(release)
	if got := (<-done).Header().Get("X-Probe-Label"); got != "one" {
		t.Fatalf("the request in flight ran on %q", got)
	}
	wait.For(t, "the old instance to close", func() bool { return first.closed.Load() == 1 })
}

func TestRebuildErrorFailsAndKeepsServing(t *testing.T) {
	inst := New(t, "plugintest-probe", "label: one")
	errs := record(func(tb TB) {
		inst.t = tb
		inst.Rebuild("label: bad")
	})
	if len(errs) != 1 || !strings.Contains(errs[0], "plugins.plugintest-probe.label: must not be bad") {
		t.Fatalf("failures = %q", errs)
	}
	inst.t = t
	if got := inst.Serve(get("/")).Header().Get("X-Probe-Label"); got != "one" {
		t.Fatalf("label = %q", got)
	}
}

// wraps counts the Wrap calls of plugintest-wrapcount instances.
var wraps atomic.Int32

func TestWrapIsCalledOncePerInstance(t *testing.T) {
	wraps.Store(0)
	registerOnce("plugintest-wrapcount", func(*registry.Context, *probeConfig) (registry.Instance, error) {
		return registry.MiddlewareFunc(func(next http.Handler) http.Handler {
			wraps.Add(1)
			return next
		}), nil
	})
	inst := New(t, "plugintest-wrapcount", "label: a")
	for range 5 {
		inst.Serve(get("/"))
	}
	if wraps.Load() != 1 {
		t.Fatalf("Wrap called %d times for 5 requests", wraps.Load())
	}
	inst.Rebuild("label: b")
	for range 5 {
		inst.Serve(get("/"))
	}
	if wraps.Load() != 2 {
		t.Fatalf("Wrap called %d times after a rebuild", wraps.Load())
	}
}

func TestMetricsAssertions(t *testing.T) {
	inst := New(t, "plugintest-probe", "label: m")
	if got := inst.CounterValue("switchyard_probe_requests_total"); got != 0 {
		t.Fatalf("before any request: %v", got)
	}
	for range 3 {
		inst.Serve(get("/"))
	}
	if got := inst.CounterValue("probe_requests_total", "plugin", "plugintest-probe", "label", "m"); got != 3 {
		t.Fatalf("counter = %v", got)
	}
	if got := inst.CounterValue("probe_requests_total", "label", "other"); got != 0 {
		t.Fatalf("unmatched labels = %v", got)
	}
	if got := inst.GaugeValue("nothing_here"); got != 0 {
		t.Fatalf("missing gauge = %v", got)
	}
	if got := inst.HistogramCount("nothing_here"); got != 0 {
		t.Fatalf("missing histogram = %v", got)
	}
	errs := record(func(tb TB) {
		inst.t = tb
		inst.GaugeValue("probe_requests_total")
	})
	inst.t = t
	if len(errs) != 1 || !strings.Contains(errs[0], "switchyard_probe_requests_total is a COUNTER, not a GAUGE") {
		t.Fatalf("failures = %q", errs)
	}
	errs = record(func(tb TB) {
		inst.t = tb
		inst.CounterValue("probe_requests_total", "label")
	})
	inst.t = t
	if len(errs) != 1 || !strings.Contains(errs[0], "labels must be name/value pairs") {
		t.Fatalf("failures = %q", errs)
	}
}

func TestLogsAreRecorded(t *testing.T) {
	inst := New(t, "plugintest-probe", "label: logged")
	logs := inst.Logs()
	if len(logs) != 1 {
		t.Fatalf("logs = %+v", logs)
	}
	e := logs[0]
	if e.Message != "probe built" || e.Attrs["label"] != "logged" || e.Attrs["plugin"] != "plugintest-probe" || e.Attrs["type"] != "plugintest-probe" {
		t.Fatalf("entry = %+v", e)
	}
}

func TestCloseReportsAPanickingClose(t *testing.T) {
	errs := record(func(tb TB) { New(tb, "plugintest-closepanic", "") })
	if len(errs) != 1 || !strings.Contains(errs[0], "Close of instance plugintest-closepanic panicked: deliberate panic in Close") {
		t.Fatalf("failures = %q", errs)
	}
	errs = record(func(tb TB) { New(tb, "plugintest-closeerror", "") })
	if len(errs) != 1 || !strings.Contains(errs[0], "returned an error: deliberate Close error") {
		t.Fatalf("failures = %q", errs)
	}
}

func TestCloseReportsARequestThatNeverEnds(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	entered := make(chan struct{})
	errs := record(func(tb TB) {
		inst := New(tb, "plugintest-good", "", WithTimeout(50*time.Millisecond), WithNext(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
			close(entered)
			<-release
		})))
		go inst.Serve(get("/"))
		<-entered
	})
	if len(errs) != 1 || !strings.Contains(errs[0], "a retired instance was not closed within 50ms") {
		t.Fatalf("failures = %q", errs)
	}
}

func TestRemoteIP(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.1:1234":      "192.0.2.1",
		"[2001:db8::1]:80":    "2001:db8::1",
		"[::ffff:10.0.0.1]:1": "10.0.0.1",
		"10.0.0.2":            "10.0.0.2",
		"garbage":             "invalid IP",
	} {
		r := get("/")
		r.RemoteAddr = in
		if got := RemoteIP(r).String(); got != want {
			t.Errorf("RemoteIP(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestClockIsSafeForConcurrentUse(t *testing.T) {
	c := NewClock(time.Time{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 100 {
			c.Advance(time.Second)
		}
	}()
	for range 100 {
		_ = c.Now()
	}
	<-done
	if got := c.Now(); !got.Equal(clockStart.Add(100 * time.Second)) {
		t.Fatalf("now = %v", got)
	}
}

// registerOnce registers a test type unless an earlier run of the test in
// the same binary (-count) already has.
func registerOnce[C any](name string, f registry.Factory[C]) {
	if _, ok := registry.Lookup(name); !ok {
		registry.Register(name, f)
	}
}
