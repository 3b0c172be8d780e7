package core

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/switchyard/switchyard/clientip"
	"github.com/switchyard/switchyard/conditions"
	"github.com/switchyard/switchyard/core/config"
	"github.com/switchyard/switchyard/core/handlers"
	"github.com/switchyard/switchyard/registry"
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
	plugins       *registry.Set
	conds         *conditions.Compiler
	condCache     *conditions.Cache
	ownsCondCache bool
	ips           *clientip.Resolver
	adminAllow    []netip.Prefix
	adminPrefix   string
	maxBody       int64
	maxReqs       int64
	closeAll      bool // http.pipeline: false
	routes        []RouteInfo
	transport     *http.Transport
	ownsTransport bool
	closers       []io.Closer // static handlers' open directories

	inflight    atomic.Int64
	retired     atomic.Bool
	drained     chan struct{} // buffered: signalled when the last request leaves a retired snapshot
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

// builder assembles a Snapshot; on any error everything it made is undone.
type builder struct {
	h    *Host
	l    *config.Loaded
	cfg  *config.Config
	snap *Snapshot
	errs []error
	// finals holds each route's handler, by route index, as router built
	// it: a fast path serves the same one.
	finals []http.Handler
}

func (b *builder) fail(key string, err error) {
	b.errs = append(b.errs, &registry.BuildError{Key: key, Err: err})
}

// build makes a complete snapshot from l without touching what is serving.
func (h *Host) build(l *config.Loaded, cur *Snapshot) (s *Snapshot, err error) {
	cfg := l.Config
	b := &builder{h: h, l: l, cfg: cfg}
	s = &Snapshot{Version: l.Version, Loaded: l, Built: time.Now(), drained: make(chan struct{}, 1)}
	b.snap = s
	defer func() {
		if err != nil {
			if s.plugins != nil {
				s.plugins.Discard() // never served: close what this build made
			}
			s.releaseResources()
			err = l.Annotate(err)
		}
	}()

	prefixes, perr := clientip.ParsePrefixes(cfg.Server.TrustedProxies)
	if perr != nil {
		return s, &registry.BuildError{Key: "server.trusted_proxies", Err: perr}
	}
	s.ips = clientip.New(prefixes)
	allow, perr := clientip.ParsePrefixes(cfg.Server.Admin.Allow)
	if perr != nil {
		return s, &registry.BuildError{Key: "server.admin.allow", Err: perr}
	}
	s.adminAllow = allow
	s.adminPrefix = strings.TrimRight(cfg.Server.Admin.Prefix, "/")
	s.maxBody = int64(cfg.Server.MaxBodyBytes)
	s.maxReqs = int64(cfg.Performance.Network.HTTP.MaxRequests)
	s.closeAll = !cfg.Performance.Network.HTTP.Pipeline

	// Conditions: the result cache survives a reload that keeps its settings.
	cs := cfg.Performance.Middleware.Conditions
	if cur != nil && cur.condCache != nil && cur.Loaded.Config.Performance.Middleware.Conditions == cs {
		s.condCache = cur.condCache // ownership moves at the swap (see Host.commit)
	} else if cs.CacheSize > 0 {
		cache, cerr := conditions.NewCache(cs.CacheSize, cs.TTL, h.metrics.condHits, h.metrics.condMiss)
		if cerr != nil {
			return s, &registry.BuildError{Key: "performance.middleware.conditions", Err: cerr}
		}
		s.condCache, s.ownsCondCache = cache, true
	}
	comp, cerr := conditions.NewCompiler(cfg.Conditions, conditions.Options{ClientIP: h.ClientIP, Cache: s.condCache})
	if cerr != nil {
		return s, conditionErr(cerr)
	}
	s.conds = comp

	// Transport for proxies: a new one only when the pool settings changed.
	cp := cfg.Performance.Memory.ConnectionPool
	if cur != nil && cur.transport != nil && cur.Loaded.Config.Performance.Memory.ConnectionPool == cp {
		s.transport = cur.transport // ownership moves at the swap (see Host.commit)
	} else {
		s.transport, s.ownsTransport = h.proxies.newProxyTransport(cp), true
	}

	// Plugins through the registry: unchanged instances come back as they are.
	specs := make([]registry.Spec, 0, len(cfg.Plugins))
	for name, raw := range cfg.Plugins {
		rest := make(map[string]any, len(raw))
		typ, _ := raw["type"].(string)
		for k, v := range raw {
			if k != "type" {
				rest[k] = v
			}
		}
		specs = append(specs, registry.Spec{Name: name, Type: typ, Config: rest})
	}
	sort.Slice(specs, func(i, j int) bool { return specs[i].Name < specs[j].Name })
	h.building.Store(s)
	set, berr := h.reg.Build(h.pluginContext(cfg), specs)
	h.building.Store(nil)
	if berr != nil {
		return s, berr
	}
	s.plugins = set

	b.router()
	s.fast = b.fastPaths()
	if len(b.errs) > 0 {
		return s, errors.Join(b.errs...)
	}
	h.noteRoutingCache(cur, cfg)
	return s, nil
}

func conditionErr(err error) error {
	var ce *conditions.Error
	if errors.As(err, &ce) {
		return &registry.BuildError{Key: ce.Key, Err: errors.New(strings.TrimPrefix(ce.Error(), ce.Key+": "))}
	}
	return err
}

// compileLinks turns config links into compiled links.
func (b *builder) compileLinks(prefix string, links []config.Link, global bool, infos *[]LinkInfo) []link {
	out := make([]link, 0, len(links))
	for i, l := range links {
		key := fmt.Sprintf("%s[%d]", prefix, i)
		inst, ok := b.snap.plugins.Get(l.Use)
		if !ok {
			b.fail(key+".use", fmt.Errorf("undefined plugin %q", l.Use))
			continue
		}
		lk := link{name: l.Use, inst: inst}
		if l.When != nil && l.When != "" {
			c, err := b.snap.conds.Compile(key+".when", l.When)
			if err != nil {
				b.errs = append(b.errs, conditionErr(err))
				continue
			}
			lk.cond, lk.source = c.Match, c.String()
		}
		out = append(out, lk)
		typ, _ := b.cfg.Plugins[l.Use]["type"].(string)
		*infos = append(*infos, LinkInfo{Plugin: l.Use, Type: typ, When: lk.source, Global: global})
	}
	return out
}

// router builds the chi router of the snapshot, with every chain composed.
func (b *builder) router() {
	h, s, cfg := b.h, b.snap, b.cfg
	mux := chi.NewMux()
	b.finals = make([]http.Handler, len(cfg.Routes))
	var globalInfo []LinkInfo
	global := b.compileLinks("middleware", cfg.Middleware, true, &globalInfo)

	unmatched := h.metrics.route("unmatched")
	mux.NotFound(h.instrument(unmatched, compose(global, http.HandlerFunc(notFound), h.metrics.panics, h.log)).ServeHTTP)
	mux.MethodNotAllowed(h.instrument(unmatched, compose(global, methodNotAllowed(mux), h.metrics.panics, h.log)).ServeHTTP)

	for i, rt := range cfg.Routes {
		key := fmt.Sprintf("routes[%d]", i)
		pattern, err := config.ExpandPattern(rt.Path)
		if err != nil {
			b.fail(key+".path", err)
			continue
		}
		final, name, err := b.handler(key+".handler", rt.Handler)
		if err != nil {
			b.errs = append(b.errs, err)
			continue
		}
		b.finals[i] = final
		info := RouteInfo{Path: rt.Path, Pattern: pattern, Methods: rt.Methods, Handler: name, config: routeJSON(rt)}
		var links []link
		if !rt.SkipGlobal {
			links = append(links, global...)
			info.Chain = append(info.Chain, globalInfo...)
		}
		links = append(links, b.compileLinks(key+".middleware", rt.Middleware, false, &info.Chain)...)
		var endpoint http.Handler
		if ss, ok := final.(handlers.StatusServer); ok && len(links) == 0 {
			endpoint = &direct{rm: h.metrics.route(rt.Path), h: ss, maxBody: s.maxBody}
		} else {
			endpoint = h.instrument(h.metrics.route(rt.Path),
				handlers.MaxBody(s.maxBody, compose(links, final, h.metrics.panics, h.log)))
		}
		if err := safeRoute(func() {
			methods := routeMethods(rt.Methods)
			if len(methods) == 0 {
				mux.Handle(pattern, endpoint)
				return
			}
			for _, m := range methods {
				mux.Method(m, pattern, endpoint)
			}
		}); err != nil {
			b.fail(key+".path", err)
			continue
		}
		s.routes = append(s.routes, info)
	}
	s.router = mux
}

// routeMethods returns the methods a route is registered for: HEAD comes
// with GET, as net/http's ServeMux does.
func routeMethods(ms []string) []string {
	out := make([]string, 0, len(ms)+1)
	for _, m := range ms {
		out = append(out, strings.ToUpper(m))
	}
	if slices.Contains(out, http.MethodGet) && !slices.Contains(out, http.MethodHead) {
		out = append(out, http.MethodHead)
	}
	return out
}

// safeRoute turns chi's setup panics (a pattern the validator let through)
// into an error: a bad edit must never take the host down.
func safeRoute(fn func()) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("invalid route: %v", p)
		}
	}()
	fn()
	return nil
}

// handler builds a route's handler.
func (b *builder) handler(key string, hc config.Handler) (http.Handler, string, error) {
	switch {
	case hc.Respond != nil:
		h, err := handlers.Respond(*hc.Respond)
		if err != nil {
			return nil, "", &registry.BuildError{Key: key + ".respond", Err: err}
		}
		return h, "respond", nil
	case hc.Static != nil:
		h, err := handlers.Static(hc.Static.Root)
		if err != nil {
			return nil, "", &registry.BuildError{Key: key + ".static.root", Err: err}
		}
		b.snap.closers = append(b.snap.closers, h)
		return h, "static", nil
	case hc.Proxy != nil:
		ips := b.snap.ips
		h, err := handlers.Proxy(hc.Proxy.Upstream, b.h.proxies.roundTripper(b.snap.transport, b.cfg.Performance.Memory.ConnectionPool.MaxSize), b.h.log,
			handlers.TrustForwarded(func(r *http.Request) bool { return ips.IsTrusted(clientip.Peer(r)) }))
		if err != nil {
			return nil, "", &registry.BuildError{Key: key + ".proxy.upstream", Err: err}
		}
		return h, "proxy " + hc.Proxy.Upstream, nil
	case hc.Name != "":
		h, ok := b.h.goHandler(hc.Name)
		if !ok {
			return nil, "", &registry.BuildError{Key: key, Err: fmt.Errorf("no handler registered in Go code under %q (registered: %v)", hc.Name, b.h.goHandlerNames())}
		}
		return h, hc.Name, nil
	}
	return nil, "", &registry.BuildError{Key: key, Err: errors.New("expected one of respond, static, proxy or a registered handler name")}
}

func notFound(w http.ResponseWriter, _ *http.Request) {
	handlers.JSONError(w, http.StatusNotFound, "not found")
}

// methodNotAllowed answers 405 with the Allow header listing the methods
// that the path does match.
func methodNotAllowed(mux *chi.Mux) http.Handler {
	all := []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, m := range all {
			if mux.Match(chi.NewRouteContext(), m, r.URL.Path) {
				w.Header().Add("Allow", m)
			}
		}
		handlers.JSONError(w, http.StatusMethodNotAllowed, "method not allowed")
	})
}

// releaseResources undoes what a snapshot owns once no request runs on it.
func (s *Snapshot) releaseResources() {
	s.releaseOnce.Do(s.doRelease)
}

func (s *Snapshot) doRelease() {
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
}

// routeJSON renders a route's config canonically (pointers followed).
func routeJSON(rt config.Route) string {
	b, err := json.Marshal(rt)
	if err != nil {
		return fmt.Sprint(err)
	}
	return string(b)
}
