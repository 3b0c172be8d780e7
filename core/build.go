package core

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/switchyard/switchyard/clientip"
	"github.com/switchyard/switchyard/conditions"
	"github.com/switchyard/switchyard/core/config"
	"github.com/switchyard/switchyard/core/handlers"
	"github.com/switchyard/switchyard/internal/accesslog"
	"github.com/switchyard/switchyard/internal/drain"
	"github.com/switchyard/switchyard/internal/instances"
	"github.com/switchyard/switchyard/internal/tlsconf"
	"github.com/switchyard/switchyard/internal/tracing"
	"github.com/switchyard/switchyard/registry"
)

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
	b.errs = append(b.errs, keyed(key, err))
}

// keyed is err placed at the config key path key.
func keyed(key string, err error) *config.Error {
	return &config.Error{Key: key, Msg: err.Error()}
}

// build makes a complete snapshot of h from l, reusing what it can of cur,
// without touching what is serving. On error everything it made is undone
// and the error is config.Errors.
func build(h *Host, l *config.Loaded, cur *Snapshot) (s *Snapshot, err error) {
	cfg := l.Config
	b := &builder{h: h, l: l, cfg: cfg}
	s = &Snapshot{Version: l.Version, Loaded: l, Built: time.Now(), gate: drain.New()}
	b.snap = s
	defer func() {
		if err != nil {
			if s.plugins != nil {
				s.plugins.Discard() // never served: close what this build made
			}
			s.release()
			err = l.Annotate(err)
		}
	}()

	prefixes, perr := clientip.ParsePrefixes(cfg.Server.TrustedProxies)
	if perr != nil {
		return s, keyed("server.trusted_proxies", perr)
	}
	s.ips = clientip.New(prefixes)
	if _, perr := clientip.ParsePrefixes(cfg.Server.Admin.Allow); perr != nil {
		return s, keyed("server.admin.allow", perr)
	}
	if cfg.Server.Admin.Enabled && h.opts.Admin == nil {
		return s, keyed("server.admin.enabled", errors.New("this binary serves no admin API (core.Options.Admin is not set)"))
	}
	if err := b.tls(); err != nil {
		return s, err
	}
	if err := b.accessLog(); err != nil {
		return s, err
	}
	if err := b.tracing(); err != nil {
		return s, err
	}
	s.maxBody = int64(cfg.Server.MaxBodyBytes)
	s.maxReqs = int64(cfg.Performance.Network.HTTP.MaxRequests)
	s.closeAll = !cfg.Performance.Network.HTTP.Pipeline

	// Conditions: the result cache survives a reload that keeps its settings.
	cs := cfg.Performance.Middleware.Conditions
	if cur != nil && cur.condCache != nil && cur.Loaded.Config.Performance.Middleware.Conditions == cs {
		s.condCache = cur.condCache // ownership moves at the swap (see Host.commit)
	} else if cs.CacheSize > 0 && usesConditions(cfg) {
		cache, cerr := conditions.NewCache(cs.CacheSize, cs.TTL, h.metrics.condHits, h.metrics.condMiss)
		if cerr != nil {
			return s, keyed("performance.middleware.conditions", cerr)
		}
		s.condCache, s.ownsCondCache = cache, true
	}
	comp, cerr := conditions.NewCompiler(cfg.Conditions, conditions.Options{ClientIP: h.ClientIP, Cache: s.condCache})
	if cerr != nil {
		return s, cerr
	}
	s.conds = comp

	// Transport for proxies: a new one only when the pool settings changed.
	cp := cfg.Performance.Memory.ConnectionPool
	if cur != nil && cur.transport != nil && cur.Loaded.Config.Performance.Memory.ConnectionPool == cp {
		s.transport = cur.transport // ownership moves at the swap (see Host.commit)
	} else {
		s.transport, s.ownsTransport = h.pools.proxies.newProxyTransport(cp), true
	}

	// Plugins through the registry: unchanged instances come back as they are.
	// A plugin that fails to build does not stop the build: the routes,
	// handlers and conditions are still checked, so that one load reports
	// every error it can find.
	dir, _ := filepath.Abs(cmp.Or(l.Dir, "."))
	set, berr := h.plugins.Build(&services{h: h, conds: comp, dir: dir}, instances.Specs(cfg.Plugins), l.Sections())
	if berr != nil {
		b.errs = append(b.errs, berr)
	}
	s.plugins = set

	b.router()
	s.fast = b.fastPaths()
	if len(b.errs) > 0 {
		return s, errors.Join(b.errs...)
	}
	b.noteRoutingCache(cur)
	return s, nil
}

// tls reads the certificates of server.tls: a pair that cannot be read,
// does not match or has expired fails the build (the error names the file
// and the key), so that the certificate serving now keeps serving.
func (b *builder) tls() error {
	t := b.cfg.Server.TLS
	if !t.Enabled() {
		return nil
	}
	spec := tlsconf.Spec{MinVersion: t.MinVersion, ClientCAFile: t.ClientCAFile, ClientCAKey: "server.tls.client_ca_file"}
	if t.CertFile != "" {
		spec.Pairs = append(spec.Pairs, tlsconf.Pair{CertFile: t.CertFile, KeyFile: t.KeyFile,
			CertKey: "server.tls.cert_file", KeyKey: "server.tls.key_file"})
	}
	for i, c := range t.Certificates {
		key := fmt.Sprintf("server.tls.certificates[%d]", i)
		spec.Pairs = append(spec.Pairs, tlsconf.Pair{CertFile: c.CertFile, KeyFile: c.KeyFile,
			CertKey: key + ".cert_file", KeyKey: key + ".key_file"})
	}
	tc, err := tlsconf.Load(spec, b.h.opts.Now())
	if err != nil {
		var errs []error
		for _, e := range joined(err) {
			if te, ok := e.(*tlsconf.Error); ok {
				errs = append(errs, keyed(te.Key, te))
				continue
			}
			errs = append(errs, e)
		}
		return errors.Join(errs...)
	}
	b.snap.tls = tc
	return nil
}

// accessLogWriter, when set, receives the access log whatever
// server.access_log.output says: benchmarks set it to io.Discard.
var accessLogWriter io.Writer

// accessLog opens server.access_log's output; the snapshot closes it.
func (b *builder) accessLog() error {
	al := b.cfg.Server.AccessLog
	if !al.Enabled {
		return nil
	}
	f, err := accesslog.ParseFormat(al.Format)
	if err != nil {
		return keyed("server.access_log.format", err)
	}
	lg, err := accesslog.New(accesslog.Options{Format: f, Output: al.Output, Writer: accessLogWriter,
		Sample: al.Sample, SkipPaths: al.SkipPaths})
	if err != nil {
		return keyed("server.access_log.output", err)
	}
	b.snap.closers = append(b.snap.closers, lg)
	b.snap.alog = &accessLog{lg: lg, ips: b.snap.ips}
	return nil
}

// tracing starts (or shares) the trace exporter of server.tracing and the
// OTEL_* environment; the snapshot releases it.
func (b *builder) tracing() error {
	tc := b.cfg.Server.Tracing
	o := tracing.Options{Enabled: tc.Enabled, Endpoint: tc.Endpoint, ServiceName: tc.ServiceName, Sample: tc.Sample}
	if !tracing.On(o, os.Getenv) {
		return nil
	}
	t, err := tracing.Acquire(o)
	if err != nil {
		return keyed("server.tracing", err)
	}
	b.snap.closers = append(b.snap.closers, t)
	b.snap.tracer = t
	return nil
}

// joined lists the errors err joins, or err alone.
func joined(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// usesConditions reports whether a configuration may evaluate a
// condition: it names some, a link has a `when:`, or it has plugins (which
// may compile their own). Without, no condition result cache is made: the
// cache and its goroutines cost half a megabyte for nothing.
func usesConditions(cfg *config.Config) bool {
	if len(cfg.Conditions) > 0 || len(cfg.Plugins) > 0 {
		return true
	}
	for _, l := range cfg.Middleware {
		if l.When != nil {
			return true
		}
	}
	for _, rt := range cfg.Routes {
		for _, l := range rt.Middleware {
			if l.When != nil {
				return true
			}
		}
	}
	return false
}

// instrument records the metrics of route around next.
func (b *builder) instrument(route string, next http.Handler) http.Handler {
	return &instrumented{rm: b.h.metrics.route(route), next: next, objs: b.h.pools.objects, alog: b.snap.alog, tr: b.snap.tracer}
}

// instrumentFast records the metrics of a fast path's handler. A handler
// that reports its status (health, respond) is served without wrapping the
// ResponseWriter when neither the access log nor tracing needs the wrapper.
func (b *builder) instrumentFast(route string, next http.Handler) http.Handler {
	if ss, ok := next.(handlers.StatusServer); ok && b.snap.alog == nil && b.snap.tracer == nil {
		return &direct{rm: b.h.metrics.route(route), h: ss}
	}
	return b.instrument(route, next)
}

// routingCacheNotice is logged when a configuration asks for the
// route-match cache: measured against chi's radix tree the cache does not
// win, so the host routes with the tree alone (docs/performance.md has the
// figures).
const routingCacheNotice = "performance.routing.cache_size and pattern_cache have no effect: chi's radix tree is faster than a match cache (see docs/performance.md)"

// noteRoutingCache logs routingCacheNotice once per load whose files ask
// for the cache (the defaults do not count): the first load, and any
// reload that changes the two keys.
func (b *builder) noteRoutingCache(cur *Snapshot) {
	rc := b.cfg.Performance.Routing
	if !rc.PatternCache || rc.CacheSize <= 0 {
		return
	}
	// Only a configuration that asks for it: not the defaults.
	_, l1 := b.l.Locate("performance.routing.cache_size")
	_, l2 := b.l.Locate("performance.routing.pattern_cache")
	if l1 == 0 && l2 == 0 {
		return
	}
	if cur != nil {
		was := cur.Loaded.Config.Performance.Routing
		if was.PatternCache == rc.PatternCache && was.CacheSize == rc.CacheSize {
			return
		}
	}
	b.h.log.Info(routingCacheNotice, "cache_size", rc.CacheSize, "pattern_cache", rc.PatternCache)
}

// compileLinks turns config links into compiled links.
func (b *builder) compileLinks(prefix string, links []config.Link, global bool, infos *[]LinkInfo) []link {
	out := make([]link, 0, len(links))
	for i, l := range links {
		key := fmt.Sprintf("%s[%d]", prefix, i)
		var inst registry.Instance
		ok := false
		if b.snap.plugins != nil {
			inst, ok = b.snap.plugins.Get(l.Use)
		}
		if !ok {
			if _, defined := b.cfg.Plugins[l.Use]; !defined {
				b.fail(key+".use", fmt.Errorf("undefined plugin %q", l.Use))
				continue
			}
			// Defined but failed to build (reported already): check the
			// link's condition all the same.
		}
		typ, _ := b.cfg.Plugins[l.Use]["type"].(string)
		lk := link{name: l.Use, typ: typ, inst: inst}
		if l.When != nil && l.When != "" {
			c, err := b.snap.conds.Compile(key+".when", l.When)
			if err != nil {
				b.errs = append(b.errs, err)
				continue
			}
			lk.cond, lk.source = c, c.String()
		}
		if inst == nil { // its plugin failed: the build fails, build no chain with it
			continue
		}
		out = append(out, lk)
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

	mux.Use(extensionMethods)
	mux.NotFound(b.instrument("unmatched", compose(global, http.HandlerFunc(notFound), h.metrics.panics, h.log, s.tracer)).ServeHTTP)
	mux.MethodNotAllowed(b.instrument("unmatched", compose(global, methodNotAllowed(mux), h.metrics.panics, h.log, s.tracer)).ServeHTTP)

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
		if ss, ok := final.(handlers.StatusServer); ok && len(links) == 0 && s.alog == nil && s.tracer == nil {
			endpoint = &direct{rm: h.metrics.route(rt.Path), h: ss, maxBody: s.maxBody}
		} else {
			endpoint = b.instrument(rt.Path, handlers.MaxBody(s.maxBody, compose(links, final, h.metrics.panics, h.log, s.tracer)))
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

// handler builds a route's handler.
func (b *builder) handler(key string, hc config.Handler) (http.Handler, string, error) {
	switch {
	case hc.Respond != nil:
		h, err := handlers.Respond(*hc.Respond)
		if err != nil {
			return nil, "", keyed(key+".respond", err)
		}
		return h, "respond", nil
	case hc.Static != nil:
		h, err := handlers.Static(hc.Static.Root)
		if err != nil {
			return nil, "", keyed(key+".static.root", err)
		}
		b.snap.closers = append(b.snap.closers, h)
		return h, "static", nil
	case hc.Proxy != nil:
		ips := b.snap.ips
		rt := b.h.pools.proxies.roundTripper(b.snap.transport, b.cfg.Performance.Memory.ConnectionPool.MaxSize)
		if b.snap.tracer != nil {
			rt = b.snap.tracer.Transport(rt)
		}
		h, err := handlers.Proxy(hc.Proxy.Upstream, rt, b.h.log,
			handlers.TrustForwarded(func(r *http.Request) bool { return ips.IsTrusted(clientip.Peer(r)) }),
			handlers.WriteTimeout(b.cfg.Server.WriteTimeout))
		if err != nil {
			return nil, "", keyed(key+".proxy.upstream", err)
		}
		return h, "proxy " + hc.Proxy.Upstream, nil
	case hc.Name != "":
		h, names := b.h.goHandler(hc.Name)
		if h == nil {
			return nil, "", keyed(key, fmt.Errorf("no handler registered in Go code under %q (registered: %v)", hc.Name, names))
		}
		return h, hc.Name, nil
	}
	return nil, "", keyed(key, errors.New("expected one of respond, static, proxy or a registered handler name"))
}

// services are what the plugin instances of one build get from the host
// (registry.Services): its logger, metrics, pools and clock, and the
// condition compiler of the snapshot being built, so that a plugin's
// conditions see that snapshot's named conditions.
type services struct {
	h     *Host
	conds *conditions.Compiler
	dir   string // the configuration's directory, absolute
}

func (s *services) Logger() *slog.Logger                { return s.h.log }
func (s *services) Metrics() *registry.Metrics          { return s.h.metrics.factory }
func (s *services) Buffers() registry.BufferPool        { return s.h.pools.Buffers }
func (s *services) Workers() registry.WorkerPool        { return s.h.pools.Process }
func (s *services) ClientIP(r *http.Request) netip.Addr { return s.h.ClientIP(r) }
func (s *services) Clock() func() time.Time             { return s.h.opts.Now }
func (s *services) ConfigDir() string                   { return s.dir }

func (s *services) CompileCondition(keyPath string, src any) (func(*http.Request) bool, error) {
	return s.conds.CompileFunc(keyPath, src)
}

func (s *services) CompileExpr(keyPath, expr string) (func(*http.Request) string, error) {
	return s.conds.CompileString(keyPath, expr)
}

var _ registry.Services = (*services)(nil)
