package core

import (
	"log/slog"
	"maps"
	"net/http"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchyard/switchyard/clientip"
	"github.com/switchyard/switchyard/core/handlers"
	"github.com/switchyard/switchyard/internal/drain"
	"github.com/switchyard/switchyard/internal/instances"
	"github.com/switchyard/switchyard/internal/server"
)

// Options configure a Host. The zero value works: a host with no config
// answers 503 until a load succeeds.
type Options struct {
	// Logger receives the host's logs; nil uses slog.Default().
	Logger *slog.Logger
	// Env is the environment used for SWITCHYARD_ overrides; nil means none.
	// Pass os.Environ() to honour them.
	Env []string
	// EnableAdmin forces server.admin.enabled on, as the devserver does.
	EnableAdmin bool
	// Admin serves the admin routes of a snapshot whose server.admin.enabled
	// is on; pass admin.Handler (package core/admin). Nil: a configuration
	// that enables the admin API is rejected.
	Admin func(*Host, *Snapshot) http.Handler
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
	plugins *instances.Registry
	pools   *Pools
	reload  *reloader
	store   *ConfigStore
	srv     *server.Server
	retired retired // snapshots still draining

	handlersMu sync.RWMutex
	goHandlers map[string]http.Handler
}

// New returns a Host with no configuration loaded.
func New(opts Options) *Host {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	h := &Host{opts: opts, log: opts.Logger, goHandlers: map[string]http.Handler{}}
	h.metrics = newHostMetrics(h.inFlight)
	h.plugins = instances.New(instances.Options{TTL: 60 * time.Second, MaxWarm: 1000, Logger: h.log})
	h.pools = newPools(&h.cur, h.metrics.reg)
	h.reload = newReloader(h)
	h.store = &ConfigStore{h: h}
	h.srv = server.New(server.Options{Handler: h, Logger: h.log, ConnState: h.metrics.connState})
	return h
}

// inFlight counts the requests running on the serving snapshot and on
// retired snapshots that are still draining.
func (h *Host) inFlight() float64 {
	var n int64
	if s := h.cur.Load(); s != nil {
		n += s.gate.InFlight()
	}
	return float64(n + h.retired.inFlight())
}

// ServeHTTP serves r on the current snapshot: one atomic load, then either
// a fast path (no chain) or the router and the matched route's chain.
func (h *Host) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s := drain.Acquire(&h.cur, gateOf)
	if s == nil {
		handlers.JSONError(w, http.StatusServiceUnavailable, "no configuration loaded")
		return
	}
	defer s.gate.Leave()
	if s.maxReqs > 0 || s.closeAll {
		connLimits(s, w, r)
	}
	if r.TransferEncoding != nil {
		// net/http drops a Content-Length sent along with Transfer-Encoding
		// before any handler sees it; RFC 9112 §6.1 asks to close such a
		// connection, so every HTTP/1.1 request with a chunked body is
		// answered with Connection: close.
		w.Header()["Connection"] = connectionClose
	}
	if fh := s.fast.match(r.URL.Path); fh != nil {
		fh.ServeHTTP(w, r)
		return
	}
	s.router.ServeHTTP(w, r)
}

// connectionClose is the Connection header value that makes net/http close
// the connection after the response.
var connectionClose = []string{"close"}

// connLimits applies http.max_requests and http.pipeline: false by asking
// net/http to close the connection after this response.
func connLimits(s *Snapshot, w http.ResponseWriter, r *http.Request) {
	if s.closeAll || server.CountRequest(r) >= s.maxReqs {
		w.Header().Set("Connection", "close")
	}
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

// goHandler returns the handler registered under name, and the sorted names
// of all of them for an error that lists them.
func (h *Host) goHandler(name string) (http.Handler, []string) {
	h.handlersMu.RLock()
	defer h.handlersMu.RUnlock()
	if hd, ok := h.goHandlers[name]; ok {
		return hd, nil
	}
	return nil, slices.Sorted(maps.Keys(h.goHandlers))
}

// Snapshot returns the snapshot serving now (nil before the first load).
func (h *Host) Snapshot() *Snapshot { return h.cur.Load() }

// Plugins returns the host's live and warm plugin instances.
func (h *Host) Plugins() *instances.Registry { return h.plugins }

// Metrics returns the host's private Prometheus registry.
func (h *Host) Metrics() *prometheus.Registry { return h.metrics.reg }

// Pools returns the host's pools: buffers, worker pools, the proxy
// transports' connections and any database/sql pool registered with it.
func (h *Host) Pools() *Pools { return h.pools }

// ClientIP returns the client address of r, believing X-Forwarded-For and
// Forwarded only from server.trusted_proxies.
func (h *Host) ClientIP(r *http.Request) netip.Addr {
	if s := h.cur.Load(); s != nil {
		return s.ClientIP(r)
	}
	return clientip.Peer(r)
}
