package plugintest

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	yaml "go.yaml.in/yaml/v3"

	"github.com/switchyard/switchyard/core/config"
	"github.com/switchyard/switchyard/internal/drain"
	"github.com/switchyard/switchyard/internal/instances"
	"github.com/switchyard/switchyard/pool"
	"github.com/switchyard/switchyard/registry"
)

// TB is the part of testing.TB that plugintest uses. *testing.T and
// *testing.B satisfy it, and so does any recorder a test of a test kit needs.
type TB interface {
	Helper()
	Name() string
	Logf(format string, args ...any)
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
	Failed() bool
	Cleanup(func())
}

// Option changes how New, Build and Conformance set an instance up.
type Option func(*options)

type options struct {
	name       string
	clock      *Clock
	realTime   bool
	next       http.Handler
	route      string
	conditions map[string]any
	clientIP   func(*http.Request) netip.Addr
	now        func() time.Time
	logger     *slog.Logger
	metrics    *registry.Metrics
	buffers    registry.BufferPool
	workers    registry.WorkerPool
	sections   map[string]map[string]any
	changed    *string
	timeout    time.Duration
	only       map[string]bool // Conformance checks to run (package tests); nil = all
	requests   []func(*http.Request)
	refusals   []int
}

// WithName sets the instance name, the key it would have under `plugins:`
// and the value of the `plugin` label of its metrics. The default is the
// plugin type's name.
func WithName(name string) Option { return func(o *options) { o.name = name } }

// WithClock hands the plugin c as its clock (registry.Context.Now), so that
// several instances share one fake time. By default each instance gets a
// Clock of its own.
func WithClock(c *Clock) Option { return func(o *options) { o.clock = c } }

// WithRealTime hands the plugin time.Now as its clock instead of a fake one.
// Conformance uses it unless WithClock is given.
func WithRealTime() Option { return func(o *options) { o.realTime = true } }

// WithNext sets the handler that Serve sends requests to after the plugin.
// The default answers 200 with the body "ok\n" as text/plain.
func WithNext(h http.Handler) Option { return func(o *options) { o.next = h } }

// WithRoute sets the chi route pattern that the plugin is mounted on, which
// it sees through chi.RouteContext (the default, "/*", matches every path).
// Requests that do not match get chi's 404.
func WithRoute(pattern string) Option { return func(o *options) { o.route = pattern } }

// WithConditions sets the named conditions (the `conditions:` block of a
// configuration) that ctx.CompileCondition and ctx.CompileExpr resolve names
// against.
func WithConditions(named map[string]any) Option {
	return func(o *options) { o.conditions = named }
}

// WithClientIP replaces the client-IP function handed to the plugin. The
// default is the host part of r.RemoteAddr, as a host with no trusted proxies
// determines it.
func WithClientIP(fn func(*http.Request) netip.Addr) Option {
	return func(o *options) { o.clientIP = fn }
}

// WithHostSection sets the plugin type's section of the host config,
// performance.response.TYPE, as YAML (for example "level: 9"), which the
// type's SetDefaults receives. The default is what a host with no
// performance block hands over.
func WithHostSection(yamlSection string) Option {
	return func(o *options) {
		var m map[string]any
		if err := yaml.Unmarshal([]byte(yamlSection), &m); err != nil {
			m = map[string]any{"invalid YAML given to WithHostSection": err.Error()}
		}
		o.sections = map[string]map[string]any{"": m}
	}
}

// WithNow hands the plugin now as its clock, for a test that keeps a fake
// clock of its own ([WithClock] shares a plugintest [Clock]).
func WithNow(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithLogger sends the plugin's logs to l, for [NewServices]; an [Instance]
// keeps its own logs for [Instance.Logs].
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithMetrics creates the plugin's metrics on m, for [NewServices]; an
// [Instance] keeps a registry of its own that [Instance.Gather] reads.
func WithMetrics(m *registry.Metrics) Option { return func(o *options) { o.metrics = m } }

// WithBuffers hands the plugin b as its buffer pool.
func WithBuffers(b registry.BufferPool) Option { return func(o *options) { o.buffers = b } }

// WithWorkers hands the plugin w as its worker pool.
func WithWorkers(w registry.WorkerPool) Option { return func(o *options) { o.workers = w } }

// WithChangedConfig gives Conformance a second config snippet for the same
// plugin type that decodes differently from the first. Its reload checks then
// also rebuild the instance under the same name with this config, so the
// new instance receives the serving one as ctx.Previous: state carried over
// must keep working after the previous instance is closed.
func WithChangedConfig(yamlSnippet string) Option {
	return func(o *options) { o.changed = &yamlSnippet }
}

// WithTimeout bounds every wait of Conformance and of Close (default 10s):
// a request that hangs, a chunk that never arrives, a Close that does not
// return.
func WithTimeout(d time.Duration) Option { return func(o *options) { o.timeout = d } }

// WithRequest changes every request that Conformance sends before it reaches
// the plugin: a plugin that refuses requests without credentials (an API
// key, a signature, an allowed address) is tested with fn adding them:
//
//	plugintest.Conformance(t, "apikey", "keys: [k1]",
//		plugintest.WithRequest(func(r *http.Request) { r.Header.Set("X-Api-Key", "k1") }))
//
// fn runs on the server side, on a copy of the request, so that requests
// written straight on a connection get it too; it may set headers, the
// remote address, the TLS state or the context. Several WithRequest options
// run in order.
func WithRequest(fn func(*http.Request)) Option {
	return func(o *options) { o.requests = append(o.requests, fn) }
}

// WithRefusal declares the statuses the plugin refuses a request with, such
// as 401 for missing credentials, 403 for a denied address or 429 for a
// spent quota. Conformance then also runs the refusal check: a request
// without WithRequest's changes gets one of these statuses, complete (a
// body that ends, nothing on the wire after a HEAD, the connection usable
// for the next request), and never reaches the handler. A check whose own
// request is refused with a declared status is skipped rather than failed;
// one refused with an undeclared status fails at once, naming the status.
func WithRefusal(statuses ...int) Option {
	return func(o *options) { o.refusals = append(o.refusals, statuses...) }
}

func buildOptions(typ string, opts []Option) options {
	o := options{name: typ, route: "/*", timeout: 10 * time.Second}
	for _, fn := range opts {
		fn(&o)
	}
	if o.next == nil {
		o.next = http.HandlerFunc(okHandler)
	}
	return o
}

func okHandler(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok\n"))
}

// Instance is one plugin instance built through the real registry, with the
// host services a plugin receives: a metrics registry of its own, a buffer
// pool, a worker pool, a fake clock, the client IP from RemoteAddr and a
// condition compiler. It serves requests the way the host does: every
// request runs on the instance that was current when it started, and
// Rebuild retires the old instance only after its last request has finished.
type Instance struct {
	t       TB
	typ     string
	opts    options
	reg     *instances.Registry
	svc     *Services
	section map[string]any // performance.response.TYPE
	prom    *prometheus.Registry
	clock   *Clock
	buffers *pool.Buffers
	workers *pool.Workers
	logs    *logSink

	cur      atomic.Pointer[generation]
	mu       sync.Mutex // serialises builds and Close
	retiring sync.WaitGroup
	closed   bool
	serveMu  sync.Mutex // guards serve and checked
	serve    http.Handler
	checked  int // log entries already searched for Close problems
}

// generation is one built instance and the requests running on it.
type generation struct {
	name string
	set  *instances.Set
	inst registry.Instance
	gate *drain.Gate
	done chan struct{} // closed once the registry has released the instance
}

func gateOf(g *generation) *drain.Gate { return g.gate }

// New builds an instance of plugin type typ from yamlSnippet, the keys the
// instance would have under `plugins: NAME:` in a config file (with or
// without its `type:`), and fails the test when it does not build. The
// instance is closed when the test ends.
//
// The package that registers typ must be linked into the test binary: a
// plugin's own tests are, other plugins are imported for their side effect.
func New(t TB, typ, yamlSnippet string, opts ...Option) *Instance {
	t.Helper()
	inst, err := Build(t, typ, yamlSnippet, opts...)
	if err != nil {
		t.Fatalf("plugintest: building %s: %v", typ, err)
		return nil
	}
	return inst
}

// Build is New returning the build error instead of failing the test: a
// config error (naming the key, such as "plugins.quota.limit: must be > 0"),
// or the plugin factory's error.
func Build(t TB, typ, yamlSnippet string, opts ...Option) (*Instance, error) {
	t.Helper()
	o := buildOptions(typ, opts)
	spec, section, err := parseSnippet(typ, o.name, yamlSnippet)
	if err != nil {
		return nil, err
	}
	if s, ok := o.sections[""]; ok {
		section = s
	}
	i := &Instance{t: t, typ: typ, opts: o, logs: &logSink{}, section: section}
	i.setup()
	g, err := i.build(spec)
	if err != nil {
		i.shutdownServices()
		return nil, err
	}
	i.cur.Store(g)
	t.Cleanup(i.Close)
	return i, nil
}

func (i *Instance) setup() {
	o := i.opts
	logger := slog.New(&logHandler{sink: i.logs})
	i.prom = prometheus.NewRegistry()
	i.reg = instances.New(instances.Options{Logger: logger})
	i.buffers = pool.NewBuffers(pool.BufferOptions{MaxSize: 1 << 20, Count: 16})
	i.workers = pool.NewWorkers("plugintest", pool.WorkerOptions{MaxWorkers: 2, QueueSize: 64})
	i.clock = o.clock
	if i.clock == nil {
		i.clock = NewClock(time.Time{})
	}
	o.clock, o.logger, o.metrics = nil, logger, registry.NewMetrics(i.prom)
	if o.now == nil {
		o.now = i.clock.Now
		if o.realTime && i.opts.clock == nil {
			o.now = time.Now
		}
	}
	if o.buffers == nil {
		o.buffers = i.buffers
	}
	if o.workers == nil {
		o.workers = i.workers
	}
	i.svc = NewServices(func(dst *options) { *dst = o })
}

// RemoteIP is the default client-IP function: the host part of
// r.RemoteAddr, the zero Addr when it does not parse.
func RemoteIP(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, _ := netip.ParseAddr(host)
	return a.Unmap()
}

// parseSnippet turns a YAML snippet into the instance spec the host would
// build from it, and the type's host section: the snippet goes through the
// host's own config loader, so its values are normalised exactly as a config
// file's are, and the performance.response section is the host's default.
func parseSnippet(typ, name, snippet string) (instances.Spec, map[string]any, error) {
	keys := map[string]any{}
	if strings.TrimSpace(snippet) != "" {
		var v any
		if err := yaml.Unmarshal([]byte(snippet), &v); err != nil {
			return instances.Spec{}, nil, fmt.Errorf("config snippet: %w", err)
		}
		switch m := v.(type) {
		case nil:
		case map[string]any:
			keys = m
		default:
			return instances.Spec{}, nil, fmt.Errorf("config snippet: want a YAML mapping of the %s type's keys, got %T", typ, v)
		}
	}
	if t, ok := keys["type"]; ok && t != typ {
		return instances.Spec{}, nil, fmt.Errorf("config snippet: type: is %v, but the instance is built as %q", t, typ)
	}
	keys["type"] = typ
	doc, err := json.Marshal(map[string]any{"plugins": map[string]any{name: keys}})
	if err != nil {
		return instances.Spec{}, nil, fmt.Errorf("config snippet: %w", err)
	}
	l, err := config.LoadBytes("plugintest.json", doc, ".", nil)
	if err != nil {
		return instances.Spec{}, nil, err
	}
	for _, sp := range instances.Specs(l.Config.Plugins) {
		if sp.Name == name {
			return sp, l.Sections()[typ], nil
		}
	}
	return instances.Spec{}, nil, fmt.Errorf("config snippet: instance %q missing after loading", name)
}

func (i *Instance) build(spec instances.Spec) (*generation, error) {
	set, err := i.reg.Build(i.svc, []instances.Spec{spec}, map[string]map[string]any{i.typ: i.section})
	if err != nil {
		return nil, err
	}
	inst, _ := set.Get(spec.Name)
	return &generation{name: spec.Name, set: set, inst: inst, gate: drain.New(), done: make(chan struct{})}, nil
}

// Plugin returns the instance serving now, as the registry built it; a test
// asserts it to the plugin's own type to look inside.
func (i *Instance) Plugin() registry.Instance {
	if g := i.cur.Load(); g != nil {
		return g.inst
	}
	return nil
}

// Name returns the instance name.
func (i *Instance) Name() string {
	if g := i.cur.Load(); g != nil {
		return g.name
	}
	return i.opts.name
}

// Clock returns the fake clock the plugin reads time from.
func (i *Instance) Clock() *Clock { return i.clock }

// Rebuild builds the instance again from yamlSnippet, as a reload of the
// configuration would: the registry hands back the very same instance when
// the decoded config is unchanged (Rebuild then reports true), and otherwise
// builds a new one that receives the serving one as ctx.Previous. Requests
// that already started finish on the old instance; it is retired, and closed
// once the last of them has finished. A build error fails the test and leaves
// the serving instance in place.
func (i *Instance) Rebuild(yamlSnippet string) (reused bool) {
	i.t.Helper()
	_, reused, err := i.rebuild(i.Name(), yamlSnippet)
	if err != nil {
		i.t.Fatalf("plugintest: rebuilding %s: %v", i.typ, err)
	}
	return reused
}

// rebuild builds spec under name and swaps it in; it returns the retired
// generation.
func (i *Instance) rebuild(name, snippet string) (*generation, bool, error) {
	spec, _, err := parseSnippet(i.typ, name, snippet)
	if err != nil {
		return nil, false, err
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.closed {
		return nil, false, fmt.Errorf("instance already closed")
	}
	g, err := i.build(spec)
	if err != nil {
		return nil, false, err
	}
	old := i.cur.Swap(g)
	reused := slices.Contains(g.set.Kept(), name)
	if old != nil {
		i.retire(old)
	}
	return old, reused, nil
}

// retire releases g's registry set once its last request has finished, on a
// goroutine of its own, as the host does.
func (i *Instance) retire(g *generation) {
	g.gate.Retire()
	i.retiring.Add(1)
	go func() {
		defer i.retiring.Done()
		g.gate.Wait()
		g.set.Release()
		close(g.done)
	}()
}

// Handler returns next behind the plugin, mounted on a chi router at the
// route pattern (WithRoute) as the host mounts a chain. Every request runs on
// the instance current when it starts; the plugin's Wrap is called once per
// instance, never per request. Panics are not recovered: a panic of the
// plugin or of next reaches the caller, as it would reach the host's guard.
func (i *Instance) Handler(next http.Handler) http.Handler {
	return &handler{i: i, next: next, chains: map[*generation]http.Handler{}}
}

type handler struct {
	i      *Instance
	next   http.Handler
	mu     sync.Mutex
	chains map[*generation]http.Handler
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g := drain.Acquire(&h.i.cur, gateOf)
	if g == nil {
		http.Error(w, "plugintest: instance closed", http.StatusServiceUnavailable)
		return
	}
	defer g.gate.Leave()
	h.chain(g).ServeHTTP(w, r)
}

func (h *handler) chain(g *generation) http.Handler {
	h.mu.Lock()
	defer h.mu.Unlock()
	if c, ok := h.chains[g]; ok {
		return c
	}
	for old := range h.chains {
		select {
		case <-old.done:
			delete(h.chains, old)
		default:
		}
	}
	mux := chi.NewMux()
	mux.Handle(h.i.opts.route, g.inst.Wrap(h.next))
	h.chains[g] = mux
	return mux
}

// Serve sends req through the plugin to the WithNext handler and returns
// the recorded response.
func (i *Instance) Serve(req *http.Request) *httptest.ResponseRecorder {
	i.serveMu.Lock()
	if i.serve == nil {
		i.serve = i.Handler(i.opts.next)
	}
	h := i.serve
	i.serveMu.Unlock()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// Logs returns what the plugin (and the registry about it) logged so far.
func (i *Instance) Logs() []LogEntry { return i.logs.entries() }

// Close retires the serving instance, waits for its last request and for its
// Close method, and stops the worker pool. The test fails when a Close of
// the plugin panicked, returned an error or did not return within the
// timeout. It runs by itself when the test ends; calling it twice is a no-op.
func (i *Instance) Close() {
	i.mu.Lock()
	if i.closed {
		i.mu.Unlock()
		return
	}
	i.closed = true
	if g := i.cur.Swap(nil); g != nil {
		i.retire(g)
	}
	i.mu.Unlock()
	done := make(chan struct{})
	go func() { i.retiring.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(i.opts.timeout):
		i.t.Errorf("plugintest: %s: a retired instance was not closed within %v: a request still runs on it, or its Close does not return", i.typ, i.opts.timeout)
		return
	}
	i.shutdownServices()
	for _, p := range i.takeCloseProblems() {
		i.t.Errorf("plugintest: %s: %s", i.typ, p)
	}
}

func (i *Instance) shutdownServices() {
	i.reg.Close()
	i.workers.Close()
}

// takeCloseProblems lists the Close panics and errors the registry logged
// since the last call.
func (i *Instance) takeCloseProblems() []string {
	var out []string
	entries := i.logs.entries()
	i.serveMu.Lock()
	from := i.checked
	i.checked = len(entries)
	i.serveMu.Unlock()
	for _, e := range entries[min(from, len(entries)):] {
		switch e.Message {
		case "plugin Close panicked":
			out = append(out, fmt.Sprintf("Close of instance %v panicked: %v", e.Attrs["plugin"], e.Attrs["panic"]))
		case "plugin Close failed":
			out = append(out, fmt.Sprintf("Close of instance %v returned an error: %v", e.Attrs["plugin"], e.Attrs["err"]))
		}
	}
	return out
}
