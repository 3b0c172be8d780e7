package config

import (
	"time"

	"github.com/switchyard/switchyard/registry"
)

// Size is a byte count written as 1024, 1KB, 1MB or 1MiB.
type Size = registry.Size

// Config is the whole configuration: the merge of the main file, its
// includes and the SWITCHYARD_ environment overrides.
type Config struct {
	// Include lists globs of more config files, merged in order after the file
	// that names them.
	Include []string `koanf:"include" json:"include,omitempty"`
	// Server holds the listener and HTTP server settings.
	Server Server `koanf:"server" json:"server"`
	// Reload configures hot reload.
	Reload Reload `koanf:"reload" json:"reload"`
	// Performance holds the pool and tuning settings.
	Performance Performance `koanf:"performance" json:"performance"`
	// Static configures the /static/* fast path.
	Static Static `koanf:"static" json:"static"`
	// Conditions are named, reusable conditions: a CEL expression string or a
	// map of structured matchers.
	Conditions map[string]any `koanf:"conditions" json:"conditions,omitempty"`
	// Plugins are the named plugin instances: `type` plus that type's keys.
	Plugins map[string]map[string]any `koanf:"plugins" json:"plugins,omitempty"`
	// Middleware is the global chain, run before each route's own.
	Middleware []Link `koanf:"middleware" json:"middleware,omitempty"`
	// Routes are matched in the router; each has a handler and a chain.
	Routes []Route `koanf:"routes" json:"routes,omitempty"`
}

// Server is the `server:` block.
type Server struct {
	// Addr is the listen address, host:port.
	Addr string `koanf:"addr" json:"addr"`
	// ReadHeaderTimeout bounds reading request headers.
	ReadHeaderTimeout time.Duration `koanf:"read_header_timeout" json:"read_header_timeout"`
	// ReadTimeout bounds reading a whole request.
	ReadTimeout time.Duration `koanf:"read_timeout" json:"read_timeout"`
	// WriteTimeout bounds writing a response.
	WriteTimeout time.Duration `koanf:"write_timeout" json:"write_timeout"`
	// IdleTimeout is the default for performance.network.http.keepalive_timeout.
	IdleTimeout time.Duration `koanf:"idle_timeout" json:"idle_timeout"`
	// MaxHeaderBytes bounds the request header size; larger gets 431.
	MaxHeaderBytes Size `koanf:"max_header_bytes" json:"max_header_bytes"`
	// MaxBodyBytes bounds request bodies; larger gets 413. 0 means no limit.
	MaxBodyBytes Size `koanf:"max_body_bytes" json:"max_body_bytes"`
	// ShutdownTimeout bounds a graceful shutdown.
	ShutdownTimeout time.Duration `koanf:"shutdown_timeout" json:"shutdown_timeout"`
	// TrustedProxies are CIDRs whose X-Forwarded-For / Forwarded is believed.
	TrustedProxies []string `koanf:"trusted_proxies" json:"trusted_proxies"`
	// Admin configures the admin API and dashboard.
	Admin Admin `koanf:"admin" json:"admin"`
	// TLS serves HTTPS (and HTTP/2 through ALPN) when a certificate is set.
	TLS TLS `koanf:"tls" json:"tls"`
	// H2C serves HTTP/2 over cleartext (prior knowledge), for use behind a
	// load balancer; HTTP/1.1 is still served.
	H2C bool `koanf:"h2c" json:"h2c"`
	// AccessLog writes one line per request.
	AccessLog AccessLog `koanf:"access_log" json:"access_log"`
	// Tracing exports OpenTelemetry spans over OTLP/HTTP.
	Tracing Tracing `koanf:"tracing" json:"tracing"`
}

// TLS is `server.tls`. Relative file names resolve against the directory of
// the main config file; the files are watched like the config.
type TLS struct {
	// CertFile is a PEM certificate chain, leaf first.
	CertFile string `koanf:"cert_file" json:"cert_file,omitempty"`
	// KeyFile is the PEM private key of CertFile.
	KeyFile string `koanf:"key_file" json:"key_file,omitempty"`
	// MinVersion is the lowest TLS version accepted: "1.2" or "1.3".
	MinVersion string `koanf:"min_version" json:"min_version"`
	// ClientCAFile, when set, requires client certificates signed by one of
	// its PEM certificates (mutual TLS).
	ClientCAFile string `koanf:"client_ca_file" json:"client_ca_file,omitempty"`
	// Certificates are more pairs, chosen by the name a client asks for (SNI).
	Certificates []CertPair `koanf:"certificates" json:"certificates,omitempty"`
}

// Enabled reports whether a certificate is configured.
func (t TLS) Enabled() bool { return t.CertFile != "" || t.KeyFile != "" || len(t.Certificates) > 0 }

// CertPair is one entry of `server.tls.certificates`.
type CertPair struct {
	// CertFile is a PEM certificate chain, leaf first.
	CertFile string `koanf:"cert_file" json:"cert_file"`
	// KeyFile is the PEM private key of CertFile.
	KeyFile string `koanf:"key_file" json:"key_file"`
}

// AccessLog is `server.access_log`.
type AccessLog struct {
	// Enabled writes the access log.
	Enabled bool `koanf:"enabled" json:"enabled"`
	// Format is json, text, common (CLF) or combined.
	Format string `koanf:"format" json:"format"`
	// Output is stderr, stdout or a file path (reopened on SIGUSR1 or when moved).
	Output string `koanf:"output" json:"output"`
	// Sample is the fraction of requests logged, from 0 to 1.
	Sample float64 `koanf:"sample" json:"sample"`
	// SkipPaths are paths never logged; a trailing * matches a prefix.
	SkipPaths []string `koanf:"skip_paths" json:"skip_paths"`
}

// Tracing is `server.tracing`. The standard OTEL_* environment variables
// apply too: OTEL_EXPORTER_OTLP_ENDPOINT (or ..._TRACES_ENDPOINT) turns
// tracing on without this block.
type Tracing struct {
	// Enabled exports spans.
	Enabled bool `koanf:"enabled" json:"enabled"`
	// Endpoint is the OTLP/HTTP traces URL, such as
	// http://localhost:4318/v1/traces; empty uses the OTEL_* variables.
	Endpoint string `koanf:"endpoint" json:"endpoint,omitempty"`
	// ServiceName is the service.name resource attribute.
	ServiceName string `koanf:"service_name" json:"service_name"`
	// Sample is the fraction of new traces recorded, from 0 to 1; a request
	// with a sampled traceparent is always recorded.
	Sample float64 `koanf:"sample" json:"sample"`
}

// Admin is `server.admin`.
type Admin struct {
	// Enabled mounts the admin routes.
	Enabled bool `koanf:"enabled" json:"enabled"`
	// Prefix is the path prefix of the admin routes.
	Prefix string `koanf:"prefix" json:"prefix"`
	// Allow lists the client CIDRs allowed to reach the admin routes.
	Allow []string `koanf:"allow" json:"allow"`
	// Hosts lists the Host header values (names, without a port) that the
	// admin routes answer besides IP literals and localhost; any other Host
	// gets 421, so that a rebound DNS name cannot reach them.
	Hosts []string `koanf:"hosts" json:"hosts"`
}

// Reload is the `reload:` block.
type Reload struct {
	// Watch watches every config file read.
	Watch bool `koanf:"watch" json:"watch"`
	// Debounce gathers a burst of file events into one reload.
	Debounce time.Duration `koanf:"debounce" json:"debounce"`
	// Poll, when > 0, also polls the files, for filesystems without events.
	Poll time.Duration `koanf:"poll" json:"poll"`
	// History is the number of applied configurations (generations) kept
	// for the admin API and rollback.
	History int `koanf:"history" json:"history"`
	// CacheFile, when set, also receives a copy of every configuration
	// applied from a shared source (etcd), for a start while it is down.
	CacheFile string `koanf:"cache_file" json:"cache_file"`
}

// Static is the `static:` block.
type Static struct {
	// Root is the directory served under /static/.
	Root string `koanf:"root" json:"root"`
}

// Link is one entry of a chain.
type Link struct {
	// Use names a plugin instance from `plugins:`.
	Use string `koanf:"use" json:"use"`
	// When is the condition guarding the link: a named condition, a CEL
	// expression or a structured matcher map. Empty means always.
	When any `koanf:"when" json:"when,omitempty"`
}

// Route is one entry of `routes:`.
type Route struct {
	// Path is the chi pattern, with the presets {x:uuid}, {x:int}, {x:slug}.
	Path string `koanf:"path" json:"path"`
	// Methods restricts the route; empty means every method.
	Methods []string `koanf:"methods" json:"methods,omitempty"`
	// Middleware is the route's own chain, after the global one.
	Middleware []Link `koanf:"middleware" json:"middleware,omitempty"`
	// SkipGlobal drops the global chain for this route.
	SkipGlobal bool `koanf:"skip_global" json:"skip_global,omitempty"`
	// Handler answers the request.
	Handler Handler `koanf:"handler" json:"handler"`
}

// Handler is a route's handler: exactly one of Respond, Static, Proxy or Name.
// In a file it is either a map with one of respond/static/proxy or a string
// naming a handler registered in Go code.
type Handler struct {
	// Name is a handler registered in Go code (the string form).
	Name string `koanf:"name" json:"name,omitempty"`
	// Respond answers with a fixed response.
	Respond *Respond `koanf:"respond" json:"respond,omitempty"`
	// Static serves files from a directory.
	Static *StaticHandler `koanf:"static" json:"static,omitempty"`
	// Proxy forwards to an upstream.
	Proxy *Proxy `koanf:"proxy" json:"proxy,omitempty"`
}

// Respond is a fixed response.
type Respond struct {
	// Status is the status code; default 200.
	Status int `koanf:"status" json:"status"`
	// Body is the response body.
	Body string `koanf:"body" json:"body"`
	// Headers are set on the response.
	Headers map[string]string `koanf:"headers" json:"headers,omitempty"`
}

// StaticHandler serves a directory.
type StaticHandler struct {
	// Root is the directory served.
	Root string `koanf:"root" json:"root"`
}

// Proxy forwards to an upstream.
type Proxy struct {
	// Upstream is the base URL of the upstream.
	Upstream string `koanf:"upstream" json:"upstream"`
}

// Performance is the `performance:` block.
type Performance struct {
	// Memory holds the buffer, object and connection pools.
	Memory Memory `koanf:"memory" json:"memory"`
	// CPU holds the worker pools.
	CPU CPU `koanf:"cpu" json:"cpu"`
	// Network holds the TCP and HTTP connection settings.
	Network Network `koanf:"network" json:"network"`
	// Routing holds the fast paths and the route-match cache.
	Routing Routing `koanf:"routing" json:"routing"`
	// Middleware sizes the registry's instance cache and the condition cache.
	Middleware MWPerf `koanf:"middleware" json:"middleware"`
	// Response holds the defaults of the compression and caching plugins.
	Response Response `koanf:"response" json:"response"`
}

// Memory is performance.memory.
type Memory struct {
	// BufferPool is the pool of byte buffers plugins capture and encode bodies in.
	BufferPool BufferPool `koanf:"buffer_pool" json:"buffer_pool"`
	// ObjectPool is the pool of per-request objects.
	ObjectPool ObjectPool `koanf:"object_pool" json:"object_pool"`
	// ConnectionPool sizes the proxy transports and registered database/sql pools.
	ConnectionPool ConnectionPool `koanf:"connection_pool" json:"connection_pool"`
}

// BufferPool is performance.memory.buffer_pool.
type BufferPool struct {
	// Size is the largest pooled buffer.
	Size Size `koanf:"size" json:"size"`
	// Count is how many buffers are kept.
	Count int `koanf:"count" json:"count"`
	// Prealloc fills the pool at start.
	Prealloc bool `koanf:"prealloc" json:"prealloc"`
}

// ObjectPool is performance.memory.object_pool.
type ObjectPool struct {
	// Size is how many per-request objects are kept.
	Size int `koanf:"size" json:"size"`
	// TTL drops idle objects after this long.
	TTL time.Duration `koanf:"ttl" json:"ttl"`
}

// ConnectionPool is performance.memory.connection_pool.
type ConnectionPool struct {
	// MinSize is the idle connections kept per upstream.
	MinSize int `koanf:"min_size" json:"min_size"`
	// MaxSize is the most open connections per upstream.
	MaxSize int `koanf:"max_size" json:"max_size"`
	// TTL is a connection's idle lifetime.
	TTL time.Duration `koanf:"ttl" json:"ttl"`
}

// CPU is performance.cpu.
type CPU struct {
	// ThreadPool is the bounded pool for blocking work.
	ThreadPool ThreadPool `koanf:"thread_pool" json:"thread_pool"`
	// ProcessPool is the bounded pool for CPU-heavy work.
	ProcessPool ProcessPool `koanf:"process_pool" json:"process_pool"`
}

// ThreadPool is performance.cpu.thread_pool.
type ThreadPool struct {
	// MinWorkers are kept running when idle.
	MinWorkers int `koanf:"min_workers" json:"min_workers"`
	// MaxWorkers bounds the workers running at once; at least 1.
	MaxWorkers int `koanf:"max_workers" json:"max_workers"`
	// QueueSize bounds the tasks waiting for a worker; when full, 503.
	QueueSize int `koanf:"queue_size" json:"queue_size"`
}

// ProcessPool is performance.cpu.process_pool.
type ProcessPool struct {
	// Workers defaults to GOMAXPROCS when 0.
	Workers int `koanf:"workers" json:"workers"`
	// MaxTasksPerChild recycles a worker after this many tasks; 0 never.
	MaxTasksPerChild int `koanf:"maxtasksperchild" json:"maxtasksperchild"`
}

// Network is performance.network.
type Network struct {
	// TCP holds the listener and socket settings.
	TCP TCP `koanf:"tcp" json:"tcp"`
	// HTTP holds the per-connection HTTP settings.
	HTTP HTTP `koanf:"http" json:"http"`
}

// TCP is performance.network.tcp.
type TCP struct {
	// Keepalive turns on TCP keep-alive probes on accepted connections.
	Keepalive bool `koanf:"keepalive" json:"keepalive"`
	// NoDelay sets TCP_NODELAY on accepted connections.
	NoDelay bool `koanf:"nodelay" json:"nodelay"`
	// Backlog is the listen backlog; 0 uses the system default.
	Backlog int `koanf:"backlog" json:"backlog"`
}

// HTTP is performance.network.http.
type HTTP struct {
	// Pipeline answers pipelined requests in order; false closes after each response.
	Pipeline bool `koanf:"pipeline" json:"pipeline"`
	// MaxRequests per connection, then Connection: close. 0 means no limit.
	MaxRequests int `koanf:"max_requests" json:"max_requests"`
	// KeepaliveTimeout is the idle keep-alive timeout (default server.idle_timeout).
	KeepaliveTimeout time.Duration `koanf:"keepalive_timeout" json:"keepalive_timeout"`
}

// Routing is performance.routing.
type Routing struct {
	// CacheSize bounds the route-match cache (entries).
	CacheSize int `koanf:"cache_size" json:"cache_size"`
	// PatternCache caches matches of parameter and regexp routes.
	PatternCache bool `koanf:"pattern_cache" json:"pattern_cache"`
	// FastPaths are paths (or prefixes ending in *) served without any chain.
	FastPaths []string `koanf:"fast_paths" json:"fast_paths"`
}

// MWPerf is performance.middleware.
type MWPerf struct {
	// Registry bounds the retired plugin instances kept warm and for how long.
	Registry CacheSettings `koanf:"registry" json:"registry"`
	// Conditions sizes the condition result cache and its entries' lifetime.
	Conditions CacheSettings `koanf:"conditions" json:"conditions"`
}

// CacheSettings sizes and ages a cache.
type CacheSettings struct {
	// CacheSize is the most entries kept.
	CacheSize int `koanf:"cache_size" json:"cache_size"`
	// TTL is how long an entry is kept.
	TTL time.Duration `koanf:"ttl" json:"ttl"`
}

// Response is performance.response.
type Response struct {
	// Compression holds the defaults of compression plugins.
	Compression CompressionDefaults `koanf:"compression" json:"compression"`
	// Caching holds the defaults of caching plugins.
	Caching CachingDefaults `koanf:"caching" json:"caching"`
}

// CompressionDefaults is performance.response.compression.
type CompressionDefaults struct {
	// Level is the default compression level on gzip's 1..9 scale.
	Level int `koanf:"level" json:"level"`
	// MinSize is the default smallest body compressed.
	MinSize Size `koanf:"min_size" json:"min_size"`
}

// CachingDefaults is performance.response.caching.
type CachingDefaults struct {
	// Enabled turns caching plugins off when false (they pass requests through).
	Enabled bool `koanf:"enabled" json:"enabled"`
	// Size is the entries a cache aims to hold when its plugin sets no max_size.
	Size int `koanf:"size" json:"size"`
	// TTL is the freshness lifetime of responses that carry none.
	TTL time.Duration `koanf:"ttl" json:"ttl"`
}
