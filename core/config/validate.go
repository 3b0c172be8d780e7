package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/switchyard/switchyard/clientip"
)

// validate checks what decoding cannot: references between keys, route
// patterns, value ranges. Errors under a key that already failed to decode
// (skip) are left out, so that one mistake is reported once.
func validate(c *Config, skip Errors) Errors {
	v := &validator{c: c}
	v.server()
	v.tls()
	v.reload()
	v.performance()
	v.conditions()
	v.plugins()
	v.chains()
	v.routes()
	if len(skip) == 0 {
		return v.errs
	}
	out := v.errs[:0]
	for _, e := range v.errs {
		if !overlaps(e.Key, skip) {
			out = append(out, e)
		}
	}
	return out
}

// overlaps says whether key is, contains or is contained in a key of errs.
func overlaps(key string, errs Errors) bool {
	for _, e := range errs {
		if e.Key == "" || key == e.Key || isUnder(key, e.Key) || isUnder(e.Key, key) {
			return true
		}
	}
	return false
}

func isUnder(key, parent string) bool {
	return strings.HasPrefix(key, parent) && len(key) > len(parent) && (key[len(parent)] == '.' || key[len(parent)] == '[')
}

type validator struct {
	c    *Config
	errs Errors
}

func (v *validator) add(key, format string, args ...any) {
	v.errs = append(v.errs, &Error{Key: key, Msg: fmt.Sprintf(format, args...)})
}

func (v *validator) nonNegDur(key string, d time.Duration) {
	if d < 0 {
		v.add(key, "must not be negative, got %s", d)
	}
}

func (v *validator) nonNeg(key string, n int64) {
	if n < 0 {
		v.add(key, "must not be negative, got %d", n)
	}
}

func (v *validator) server() {
	s := &v.c.Server
	if s.Addr == "" {
		v.add("server.addr", "must not be empty: give host:port, such as 127.0.0.1:8080 or :8080")
	} else if _, port, err := net.SplitHostPort(s.Addr); err != nil {
		v.add("server.addr", "%q is not host:port (%v)", s.Addr, strings.TrimPrefix(err.Error(), "address "+s.Addr+": "))
	} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		v.add("server.addr", "%q: port must be a number from 0 to 65535", s.Addr)
	}
	v.nonNegDur("server.read_header_timeout", s.ReadHeaderTimeout)
	v.nonNegDur("server.read_timeout", s.ReadTimeout)
	v.nonNegDur("server.write_timeout", s.WriteTimeout)
	v.nonNegDur("server.idle_timeout", s.IdleTimeout)
	v.nonNegDur("server.shutdown_timeout", s.ShutdownTimeout)
	v.nonNeg("server.max_header_bytes", int64(s.MaxHeaderBytes))
	if s.MaxHeaderBytes > 1<<31-1 {
		v.add("server.max_header_bytes", "must be at most 2GiB, got %s", s.MaxHeaderBytes)
	}
	v.nonNeg("server.max_body_bytes", int64(s.MaxBodyBytes))
	v.cidrs("server.trusted_proxies", s.TrustedProxies)
	v.cidrs("server.admin.allow", s.Admin.Allow)
	v.adminHosts("server.admin.hosts", s.Admin.Hosts)
	switch p := s.Admin.Prefix; {
	case !strings.HasPrefix(p, "/") || p == "/":
		v.add("server.admin.prefix", "%q must be a path such as /_switchyard: starting with / and not / alone", p)
	case strings.HasSuffix(p, "/"):
		v.add("server.admin.prefix", "%q must not end with /", p)
	case strings.ContainsAny(p, "{}*"):
		v.add("server.admin.prefix", "%q must be a plain path, without {params} or *", p)
	}
}

// tls checks the shape of server.tls; the files themselves are read and
// checked when the snapshot is built.
func (v *validator) tls() {
	t := &v.c.Server.TLS
	switch t.MinVersion {
	case "1.2", "1.3":
	default:
		v.add("server.tls.min_version", "%q: want \"1.2\" or \"1.3\"", t.MinVersion)
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		if t.CertFile == "" {
			v.add("server.tls.cert_file", "must be set with server.tls.key_file")
		} else {
			v.add("server.tls.key_file", "must be set with server.tls.cert_file")
		}
	}
	for i, c := range t.Certificates {
		key := indexKey("server.tls.certificates", i)
		if c.CertFile == "" {
			v.add(key+".cert_file", "must not be empty")
		}
		if c.KeyFile == "" {
			v.add(key+".key_file", "must not be empty")
		}
	}
	if t.ClientCAFile != "" && !t.Enabled() {
		v.add("server.tls.client_ca_file", "needs a certificate: set server.tls.cert_file and key_file")
	}
	a := &v.c.Server.AccessLog
	switch a.Format {
	case "json", "text", "common", "combined":
	default:
		v.add("server.access_log.format", "%q: want json, text, common or combined", a.Format)
	}
	if a.Output == "" {
		v.add("server.access_log.output", "must not be empty: stderr, stdout or a file path")
	}
	if a.Sample < 0 || a.Sample > 1 {
		v.add("server.access_log.sample", "must be from 0 to 1, got %v", a.Sample)
	}
	tr := &v.c.Server.Tracing
	if tr.Sample < 0 || tr.Sample > 1 {
		v.add("server.tracing.sample", "must be from 0 to 1, got %v", tr.Sample)
	}
	if tr.Endpoint != "" {
		if u, err := url.Parse(tr.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			v.add("server.tracing.endpoint", "%q: want an http(s) URL such as http://localhost:4318/v1/traces", tr.Endpoint)
		}
	}
}

func (v *validator) cidrs(key string, list []string) {
	for i, s := range list {
		if _, err := clientip.ParsePrefixes([]string{s}); err != nil {
			var pe *clientip.PrefixError
			if errors.As(err, &pe) {
				v.add(indexKey(key, i), "%q: %s; want a CIDR such as 10.0.0.0/8 or ::1/128, or an IP address", s, pe.Reason)
				continue
			}
			v.add(indexKey(key, i), "%v", err)
		}
	}
}

// adminHosts checks server.admin.hosts: host names, without a scheme, port
// or path.
func (v *validator) adminHosts(key string, list []string) {
	for i, h := range list {
		switch {
		case h == "":
			v.add(indexKey(key, i), "empty host name; want a name such as admin.example.com")
		case strings.ContainsAny(h, ":/@ \t[]"):
			v.add(indexKey(key, i), "%q must be a host name such as admin.example.com, without scheme, port or path", h)
		}
	}
}

func (v *validator) reload() {
	v.nonNegDur("reload.debounce", v.c.Reload.Debounce)
	v.nonNegDur("reload.poll", v.c.Reload.Poll)
	if v.c.Reload.History < 1 || v.c.Reload.History > 10000 {
		v.add("reload.history", "must be between 1 and 10000, got %d", v.c.Reload.History)
	}
}

func (v *validator) performance() {
	p := &v.c.Performance
	const m = "performance.memory."
	v.nonNeg(m+"buffer_pool.size", int64(p.Memory.BufferPool.Size))
	v.nonNeg(m+"buffer_pool.count", int64(p.Memory.BufferPool.Count))
	v.nonNeg(m+"object_pool.size", int64(p.Memory.ObjectPool.Size))
	v.nonNegDur(m+"object_pool.ttl", p.Memory.ObjectPool.TTL)
	cp := p.Memory.ConnectionPool
	v.nonNeg(m+"connection_pool.min_size", int64(cp.MinSize))
	v.nonNeg(m+"connection_pool.max_size", int64(cp.MaxSize))
	v.nonNegDur(m+"connection_pool.ttl", cp.TTL)
	if cp.MaxSize > 0 && cp.MinSize > cp.MaxSize {
		v.add(m+"connection_pool.min_size", "%d is more than max_size %d", cp.MinSize, cp.MaxSize)
	}
	const c = "performance.cpu."
	tp := p.CPU.ThreadPool
	v.nonNeg(c+"thread_pool.min_workers", int64(tp.MinWorkers))
	if tp.MaxWorkers < 1 {
		v.add(c+"thread_pool.max_workers", "must be at least 1, got %d", tp.MaxWorkers)
	} else if tp.MinWorkers > tp.MaxWorkers {
		v.add(c+"thread_pool.min_workers", "%d is more than max_workers %d", tp.MinWorkers, tp.MaxWorkers)
	}
	v.nonNeg(c+"thread_pool.queue_size", int64(tp.QueueSize))
	v.nonNeg(c+"process_pool.workers", int64(p.CPU.ProcessPool.Workers))
	v.nonNeg(c+"process_pool.maxtasksperchild", int64(p.CPU.ProcessPool.MaxTasksPerChild))
	const n = "performance.network."
	v.nonNeg(n+"tcp.backlog", int64(p.Network.TCP.Backlog))
	v.nonNeg(n+"http.max_requests", int64(p.Network.HTTP.MaxRequests))
	v.nonNegDur(n+"http.keepalive_timeout", p.Network.HTTP.KeepaliveTimeout)
	const r = "performance.routing."
	v.nonNeg(r+"cache_size", int64(p.Routing.CacheSize))
	for i, fp := range p.Routing.FastPaths {
		if err := validPathGlob(fp); err != nil {
			v.add(indexKey(r+"fast_paths", i), "%v", err)
		}
	}
	const mw = "performance.middleware."
	v.nonNeg(mw+"registry.cache_size", int64(p.Middleware.Registry.CacheSize))
	v.nonNegDur(mw+"registry.ttl", p.Middleware.Registry.TTL)
	v.nonNeg(mw+"conditions.cache_size", int64(p.Middleware.Conditions.CacheSize))
	v.nonNegDur(mw+"conditions.ttl", p.Middleware.Conditions.TTL)
	const rs = "performance.response."
	if l := p.Response.Compression.Level; l < 1 || l > 9 {
		v.add(rs+"compression.level", "must be from 1 (fastest) to 9 (smallest), got %d", l)
	}
	v.nonNeg(rs+"compression.min_size", int64(p.Response.Compression.MinSize))
	v.nonNeg(rs+"caching.size", int64(p.Response.Caching.Size))
	v.nonNegDur(rs+"caching.ttl", p.Response.Caching.TTL)
}

// checkName refuses names that cannot be key path segments.
func (v *validator) checkName(kind, key, name string) bool {
	switch {
	case name == "":
		v.add(key, "a %s name must not be empty", kind)
	case strings.ContainsAny(name, ".[]"):
		v.add(key, "%s name %q must not contain '.', '[' or ']' (they separate key paths); use - or _ instead", kind, name)
	default:
		return true
	}
	return false
}

func (v *validator) conditions() {
	for _, name := range sortedKeys(v.c.Conditions) {
		key := childKey("conditions", name)
		if !v.checkName("condition", key, name) {
			continue
		}
		switch c := v.c.Conditions[name].(type) {
		case string:
			if strings.TrimSpace(c) == "" {
				v.add(key, "empty condition: give a CEL expression or a map of matchers")
			}
		case map[string]any:
		default:
			v.add(key, "expected a CEL expression (string) or a map of matchers, got %s", typeName(c))
		}
	}
}

func (v *validator) plugins() {
	for _, name := range sortedKeys(v.c.Plugins) {
		key := childKey("plugins", name)
		if !v.checkName("plugin", key, name) {
			continue
		}
		t, ok := v.c.Plugins[name]["type"]
		if !ok {
			v.add(key, "plugin %q has no type: add `type:` with a plugin type such as compression, caching or ratelimit", name)
			continue
		}
		if s, ok := t.(string); !ok || strings.TrimSpace(s) == "" {
			v.add(key+".type", "expected the name of a plugin type, got %s", typeName(t))
		}
	}
}

// chains checks every link of the global chain and of each route's chain:
// the plugin exists and appears once in the effective chain.
func (v *validator) chains() {
	global := map[string]int{}
	for i, l := range v.c.Middleware {
		key := indexKey("middleware", i)
		if !v.link(key, l) {
			continue
		}
		if j, dup := global[l.Use]; dup {
			v.add(key+".use", "plugin %q is already in the global chain at middleware[%d]; a plugin runs at most once per chain", l.Use, j)
			continue
		}
		global[l.Use] = i
	}
	for ri, r := range v.c.Routes {
		own := map[string]int{}
		for i, l := range r.Middleware {
			key := indexKey(indexKey("routes", ri)+".middleware", i)
			if !v.link(key, l) {
				continue
			}
			if j, dup := own[l.Use]; dup {
				v.add(key+".use", "plugin %q is already in this route's chain at middleware[%d]; a plugin runs at most once per chain", l.Use, j)
				continue
			}
			if j, dup := global[l.Use]; dup && !r.SkipGlobal {
				v.add(key+".use", "plugin %q is already in the global chain (middleware[%d]) that runs before this route's own; remove one, or set skip_global: true on the route", l.Use, j)
				continue
			}
			own[l.Use] = i
		}
	}
}

// link checks one chain link; it reports whether the link names a plugin.
func (v *validator) link(key string, l Link) bool {
	if l.Use == "" {
		v.add(key+".use", "a chain link needs `use:` naming a plugin from plugins:")
		return false
	}
	switch l.When.(type) {
	case nil, string, map[string]any:
	default:
		v.add(key+".when", "expected a condition name, a CEL expression or a map of matchers, got %s", typeName(l.When))
	}
	if _, ok := v.c.Plugins[l.Use]; !ok {
		msg := fmt.Sprintf("plugin %q is not defined in plugins:", l.Use)
		if s := closest(l.Use, sortedKeys(v.c.Plugins)); s != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
		} else if names := sortedKeys(v.c.Plugins); len(names) > 0 {
			msg += " (defined: " + strings.Join(names, ", ") + ")"
		}
		v.add(key+".use", "%s", msg)
		return false
	}
	return true
}
