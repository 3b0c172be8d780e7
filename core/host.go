package core

import (
	"database/sql"
	"log/slog"
	"net/http"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchyard/switchyard/clientip"
	"github.com/switchyard/switchyard/core/config"
	"github.com/switchyard/switchyard/core/handlers"
	"github.com/switchyard/switchyard/hotreload"
	"github.com/switchyard/switchyard/pool"
	"github.com/switchyard/switchyard/registry"
)

// Options configure a Host. The zero value works: a host with no config
// answers 503 until Load succeeds.
type Options struct {
	// Logger receives the host's logs; nil uses slog.Default().
	Logger *slog.Logger
	// Env is the environment used for SWITCHYARD_ overrides; nil means none.
	// Pass os.Environ() to honour them.
	Env []string
	// EnableAdmin forces server.admin.enabled on, as the devserver does.
	EnableAdmin bool
	// Now is the clock handed to plugins; nil means time.Now.
	Now func() time.Time
}

// Host serves requests through the current Snapshot and swaps in a new one
// on every successful reload.
type Host struct {
	opts    Options
	log     *slog.Logger
	cur     atomic.Pointer[Snapshot]
	metrics *hostMetrics
	reg     *registry.Registry

	buffers   *pool.Buffers
	workers   *pool.Workers // cpu.process_pool: CPU-heavy work
	threads   *pool.Workers // cpu.thread_pool: blocking work
	objects   *pool.Objects[statusWriter]
	proxies   *proxyStats // connection_pool: the proxy transports' connections
	poolStats *pool.Collector
	poolsMu   sync.Mutex
	pools     map[string]pool.StatsSource

	dbMu sync.Mutex
	dbs  map[string]*sql.DB

	handlersMu sync.RWMutex
	goHandlers map[string]http.Handler

	building atomic.Pointer[Snapshot] // the snapshot being built, for plugin factories
	reloadMu sync.Mutex               // serialises builds and swaps
	drainWG  sync.WaitGroup           // goroutines waiting for retired snapshots to drain

	drainingMu sync.Mutex
	draining   map[*Snapshot]struct{} // retired snapshots with requests in flight
	source     source
	runner     *hotreload.Runner
	watcher    *hotreload.Watcher

	srv serverState
}

// New returns a Host with no configuration loaded.
func New(opts Options) *Host {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	h := &Host{
		opts:       opts,
		log:        opts.Logger,
		goHandlers: map[string]http.Handler{},
		poolStats:  pool.NewCollector(),
	}
	h.metrics = newHostMetrics(h.inFlight)
	h.reg = registry.New(registry.Options{TTL: 60 * time.Second, MaxWarm: 1000, Logger: h.log})
	h.buffers = pool.NewBuffers(pool.BufferOptions{MaxSize: 1 << 20, Count: 100})
	h.workers = pool.NewWorkers("process_pool", pool.WorkerOptions{MaxWorkers: 4, QueueSize: 1000})
	h.threads = pool.NewWorkers("thread_pool", pool.WorkerOptions{MinWorkers: 4, MaxWorkers: 16, QueueSize: 1000})
	h.objects = pool.NewObjects(10000, time.Minute, func() *statusWriter { return new(statusWriter) },
		func(sw *statusWriter) { sw.w, sw.status = nil, 0 })
	h.setPool("buffer", h.buffers)
	h.setPool("process", h.workers)
	h.setPool("thread", h.threads)
	h.setPool("object", h.objects)
	h.proxies = newProxyStats(&h.cur)
	h.setPool("proxy", h.proxies)
	h.metrics.reg.MustRegister(h.poolStats)
	return h
}

// inFlight counts the requests running on the serving snapshot and on
// retired snapshots that are still draining.
func (h *Host) inFlight() float64 {
	var n int64
	if s := h.cur.Load(); s != nil {
		n += s.inflight.Load()
	}
	h.drainingMu.Lock()
	for s := range h.draining {
		n += s.inflight.Load()
	}
	h.drainingMu.Unlock()
	return float64(n)
}

// setPool publishes a pool's statistics as pool_* metrics and in the admin API.
func (h *Host) setPool(name string, src pool.StatsSource) {
	h.poolsMu.Lock()
	if h.pools == nil {
		h.pools = map[string]pool.StatsSource{}
	}
	h.pools[name] = src
	h.poolsMu.Unlock()
	h.poolStats.Set(name, src)
}

// Handle registers a handler under name so that routes can use it with
// `handler: name`. Register handlers before the configuration that uses them
// is loaded; a name registered twice panics (a programming error).
func (h *Host) Handle(name string, handler http.Handler) {
	h.handlersMu.Lock()
	defer h.handlersMu.Unlock()
	if name == "" || handler == nil {
		panic("core: Handle needs a name and a handler")
	}
	if _, dup := h.goHandlers[name]; dup {
		panic("core: handler " + name + " registered twice")
	}
	h.goHandlers[name] = handler
}

// HandleFunc is Handle for a function.
func (h *Host) HandleFunc(name string, fn func(http.ResponseWriter, *http.Request)) {
	h.Handle(name, http.HandlerFunc(fn))
}

func (h *Host) goHandler(name string) (http.Handler, bool) {
	h.handlersMu.RLock()
	defer h.handlersMu.RUnlock()
	hd, ok := h.goHandlers[name]
	return hd, ok
}

func (h *Host) goHandlerNames() []string {
	h.handlersMu.RLock()
	defer h.handlersMu.RUnlock()
	names := make([]string, 0, len(h.goHandlers))
	for n := range h.goHandlers {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Snapshot returns the snapshot serving now (nil before the first load).
func (h *Host) Snapshot() *Snapshot { return h.cur.Load() }

// Registry returns the host's plugin registry.
func (h *Host) Registry() *registry.Registry { return h.reg }

// Metrics returns the host's private Prometheus registry.
func (h *Host) Metrics() *prometheus.Registry { return h.metrics.reg }

// Buffers returns the host's buffer pool (performance.memory.buffer_pool).
func (h *Host) Buffers() *pool.Buffers { return h.buffers }

// ThreadPool returns the pool for blocking work (performance.cpu.thread_pool).
// Handlers registered in Go code submit to it; pool.Handler wraps a handler
// so that it runs there and a full queue answers 503.
func (h *Host) ThreadPool() *pool.Workers { return h.threads }

// ProcessPool returns the pool for CPU-heavy work (performance.cpu.process_pool).
func (h *Host) ProcessPool() *pool.Workers { return h.workers }

// ClientIP returns the client address of r, believing X-Forwarded-For and
// Forwarded only from server.trusted_proxies.
func (h *Host) ClientIP(r *http.Request) netip.Addr {
	if s := h.cur.Load(); s != nil {
		return s.ips.IP(r)
	}
	return clientip.Peer(r)
}

// pluginContext is what every plugin instance built for cfg receives.
func (h *Host) pluginContext(cfg *config.Config) registry.Context {
	rd := cfg.Performance.Response
	return registry.Context{
		Logger:   h.log,
		Metrics:  h.metrics.factory,
		Buffers:  h.buffers,
		Workers:  h.workers,
		ClientIP: h.ClientIP,
		CompileCondition: func(key string, src any) (func(*http.Request) bool, error) {
			s := h.building.Load()
			if s == nil {
				s = h.cur.Load()
			}
			c, err := s.conds.Compile(key, src)
			if err != nil {
				return nil, conditionErr(err)
			}
			return c.Match, nil
		},
		CompileExpr: func(key, expr string) (func(*http.Request) string, error) {
			s := h.building.Load()
			if s == nil {
				s = h.cur.Load()
			}
			f, err := s.conds.CompileString(key, expr)
			if err != nil {
				return nil, conditionErr(err)
			}
			return f, nil
		},
		Defaults: registry.Defaults{
			Compression: registry.CompressionDefaults{Level: rd.Compression.Level, MinSize: rd.Compression.MinSize},
			Caching:     registry.CachingDefaults{Enabled: rd.Caching.Enabled, Size: rd.Caching.Size, TTL: rd.Caching.TTL},
		},
		Now: h.opts.Now,
	}
}

// ServeHTTP serves r on the current snapshot: one atomic load, then either
// a fast path (no chain) or the router and the matched route's chain.
func (h *Host) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s := h.acquire()
	if s == nil {
		handlers.JSONError(w, http.StatusServiceUnavailable, "no configuration loaded")
		return
	}
	defer s.release()
	if s.maxReqs > 0 || s.closeAll {
		h.connLimits(s, w, r)
	}
	if fh := s.fast.match(r.URL.Path); fh != nil {
		fh.ServeHTTP(w, r)
		return
	}
	s.router.ServeHTTP(w, r)
}

// acquire loads the current snapshot and counts the request on it. A
// snapshot retired between the load and the count is left for the new one,
// so that no request ever starts on a snapshot that has been drained.
func (h *Host) acquire() *Snapshot {
	for {
		s := h.cur.Load()
		if s == nil {
			return nil
		}
		s.inflight.Add(1)
		if !s.retired.Load() {
			return s
		}
		s.release()
	}
}

func (s *Snapshot) release() {
	if s.inflight.Add(-1) == 0 && s.retired.Load() {
		select {
		case s.drained <- struct{}{}:
		default:
		}
	}
}

// instrument records the route's metrics around next.
func (h *Host) instrument(rm *routeMetrics, next http.Handler) http.Handler {
	return &instrumented{rm: rm, next: next, objs: h.objects}
}

type instrumented struct {
	rm   *routeMetrics
	next http.Handler
	objs *pool.Objects[statusWriter]
}

// epoch anchors request timing: time.Since(epoch) reads only the monotonic
// clock, where time.Now reads the wall clock too.
var epoch = time.Now()

func (in *instrumented) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Since(epoch)
	sw := in.objs.Get()
	sw.w = w // the pool's reset cleared the rest, field by field
	// No defer: the chain's guards recover every panic but
	// http.ErrAbortHandler, which abandons the response anyway.
	in.next.ServeHTTP(sw, r)
	code := sw.status
	if code == 0 {
		code = http.StatusOK
	}
	in.rm.observe(r.Method, code, time.Since(epoch)-start)
	in.objs.Put(sw)
}

// direct serves a route without middleware whose handler reports the status
// it wrote (the respond handler): the metrics take that status, so the
// ResponseWriter is not wrapped. A body announced over maxBody gets 413
// as on every route; the handler reads no body, so no reader needs limiting.
type direct struct {
	rm      *routeMetrics
	h       handlers.StatusServer
	maxBody int64
}

func (d *direct) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Since(epoch)
	var code int
	if d.maxBody > 0 && r.ContentLength > d.maxBody {
		code = http.StatusRequestEntityTooLarge
		handlers.JSONError(w, code, "request body too large")
	} else {
		code = d.h.ServeHTTPStatus(w, r)
	}
	d.rm.observe(r.Method, code, time.Since(epoch)-start)
}

// fastPaths bypass every chain.
type fastPaths struct {
	exact    map[string]http.Handler
	prefixes []fastPrefix
	// lens has bit n set when exact holds a path of n bytes (n < 64), and
	// bit 63 for the longer ones too: most paths skip the map's hashing.
	lens uint64
}

// addExact serves path by h.
func (f *fastPaths) addExact(path string, h http.Handler) {
	f.exact[path] = h
	f.lens |= 1 << min(len(path), 63)
}

type fastPrefix struct {
	prefix string
	h      http.Handler
}

func (f *fastPaths) match(path string) http.Handler {
	if f.lens&(1<<min(len(path), 63)) != 0 {
		if h, ok := f.exact[path]; ok {
			return h
		}
	}
	for i := range f.prefixes {
		if strings.HasPrefix(path, f.prefixes[i].prefix) {
			return f.prefixes[i].h
		}
	}
	return nil
}
