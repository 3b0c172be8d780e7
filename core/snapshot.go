package core

import (
	"crypto/tls"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/switchyard/switchyard/clientip"
	"github.com/switchyard/switchyard/conditions"
	"github.com/switchyard/switchyard/core/config"
	"github.com/switchyard/switchyard/internal/drain"
	"github.com/switchyard/switchyard/internal/instances"
	"github.com/switchyard/switchyard/internal/tracing"
)

// Snapshot is one immutable generation of the configuration: router,
// compiled chains and conditions, pool settings and version. A request runs
// entirely on the snapshot it started with.
type Snapshot struct {
	// Version is a short hash of the effective configuration.
	Version string
	// Loaded is the configuration the snapshot was built from.
	Loaded *config.Loaded
	// Built is when the snapshot was built.
	Built time.Time

	router        *chi.Mux
	fast          fastPaths
	plugins       *instances.Set
	conds         *conditions.Compiler
	condCache     *conditions.Cache
	ownsCondCache bool
	ips           *clientip.Resolver
	maxBody       int64
	maxReqs       int64
	closeAll      bool // http.pipeline: false
	routes        []RouteInfo
	transport     *http.Transport
	ownsTransport bool
	closers       []io.Closer     // static handlers' open directories
	tls           *tls.Config     // server.tls read from its files; nil: plain HTTP
	alog          *accessLog      // nil: no access log
	tracer        *tracing.Tracer // nil: no tracing

	gate        *drain.Gate // requests in flight; retired at the swap
	releaseOnce sync.Once
}

// RouteInfo describes a compiled route for the admin API.
type RouteInfo struct {
	Path    string     `json:"path"`
	Pattern string     `json:"pattern"`
	Methods []string   `json:"methods"`
	Handler string     `json:"handler"`
	Chain   []LinkInfo `json:"chain"`

	// config is the route as configured, so that a reload can tell a
	// changed handler (a new respond body, say) from an unchanged one.
	config string
}

// LinkInfo describes one link of a route's chain.
type LinkInfo struct {
	Plugin string `json:"plugin"`
	Type   string `json:"type"`
	When   string `json:"when,omitempty"`
	Global bool   `json:"global"`
}

// Routes lists the snapshot's routes with their chains.
func (s *Snapshot) Routes() []RouteInfo { return s.routes }

// Config returns the effective configuration.
func (s *Snapshot) Config() *config.Config { return s.Loaded.Config }

// ClientIP returns the client address of r under this snapshot's
// server.trusted_proxies.
func (s *Snapshot) ClientIP(r *http.Request) netip.Addr { return s.ips.IP(r) }

// fastPaths bypass every chain.
type fastPaths struct {
	exact    map[string]http.Handler
	prefixes []fastPrefix
	// lens has bit n set when exact holds a path of n bytes (n < 64), and
	// bit 63 for the longer ones too: most paths skip the map's hashing.
	lens uint64
}

type fastPrefix struct {
	prefix string
	h      http.Handler
}

// addExact serves path by h.
func (f *fastPaths) addExact(path string, h http.Handler) {
	f.exact[path] = h
	f.lens |= 1 << min(len(path), 63)
}

// match returns the handler of the fast path that path is, or nil.
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

func gateOf(s *Snapshot) *drain.Gate { return s.gate }

// release undoes what a snapshot owns once no request runs on it: its
// plugin instances go back to the registry, and the caches, transports and
// directories it alone held are closed. It runs once.
func (s *Snapshot) release() {
	s.releaseOnce.Do(func() {
		if s.plugins != nil {
			s.plugins.Release()
		}
		if s.ownsCondCache && s.condCache != nil {
			s.condCache.Close()
		}
		if s.ownsTransport && s.transport != nil {
			s.transport.CloseIdleConnections()
		}
		for _, c := range s.closers {
			_ = c.Close()
		}
	})
}

// retired holds the snapshots swapped out with requests still in flight.
type retired struct {
	mu       sync.Mutex
	draining map[*Snapshot]struct{}
	wg       sync.WaitGroup
}

// retire stops s from taking requests and, off the request path, releases
// it once its last request has finished.
func (rs *retired) retire(s *Snapshot) {
	s.gate.Retire()
	if s.gate.InFlight() == 0 {
		s.release()
		return
	}
	rs.mu.Lock()
	if rs.draining == nil {
		rs.draining = map[*Snapshot]struct{}{}
	}
	rs.draining[s] = struct{}{}
	rs.mu.Unlock()
	rs.wg.Go(func() {
		s.gate.Wait()
		rs.mu.Lock()
		delete(rs.draining, s)
		rs.mu.Unlock()
		s.release()
	})
}

// inFlight counts the requests on the snapshots still draining.
func (rs *retired) inFlight() int64 {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	var n int64
	for s := range rs.draining {
		n += s.gate.InFlight()
	}
	return n
}

// wait returns once every retired snapshot is released.
func (rs *retired) wait() { rs.wg.Wait() }
