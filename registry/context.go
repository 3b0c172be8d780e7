package registry

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"slices"
	"sync"
	"time"
)

// Context is what a plugin factory receives: the instance's name and type,
// the instance it replaces, and the host's services. It embeds a
// context.Context that is done once the instance is retired (no serving
// configuration uses it and its last request has finished) or the host shuts
// down: a plugin that starts background work stops it then.
//
// Every method works whatever built the Context: the host, plugintest, or
// [NewContext] with nil services in a unit test.
type Context struct {
	context.Context

	// Name is the instance's name, the key under `plugins:`.
	Name string
	// Type is the plugin type the instance was registered under.
	Type string
	// Previous is the instance of the same name that serves now (or that
	// served last and is kept warm), when there is one and it is not being
	// reused as it is; else nil. A new instance may take state from it (a
	// rate limiter carries its buckets over); it must not change it, since
	// it may keep serving until the swap. It is set while the factory runs
	// and cleared when the factory returns: take what you need then.
	Previous Instance

	services Services
	logger   *slog.Logger

	files *declaredFiles // shared by copies of the Context
}

// declaredFiles are the files an instance declared with Context.File.
type declaredFiles struct {
	mu    sync.Mutex
	paths []string
}

// Services are what the host offers every plugin instance. The host
// implements it, and so does plugintest; a plugin reaches them through the
// methods of [Context].
type Services interface {
	// Logger is the host's logger.
	Logger() *slog.Logger
	// Metrics creates, or finds, metrics on the host's Prometheus registry.
	Metrics() *Metrics
	// Buffers is the host's buffer pool (performance.memory.buffer_pool).
	Buffers() BufferPool
	// Workers runs CPU-heavy work (performance.cpu.process_pool).
	Workers() WorkerPool
	// ClientIP is the client address as the host determines it, believing
	// X-Forwarded-For only from server.trusted_proxies.
	ClientIP(r *http.Request) netip.Addr
	// CompileCondition compiles a condition as `when:` accepts it.
	CompileCondition(keyPath string, src any) (func(*http.Request) bool, error)
	// CompileExpr compiles a CEL expression of type string over the request.
	CompileExpr(keyPath, expr string) (func(*http.Request) string, error)
	// Clock is the clock: time.Now unless a test replaces it.
	Clock() func() time.Time
	// ConfigDir is the directory of the main configuration file, which
	// relative paths in a plugin's config resolve against.
	ConfigDir() string
}

// NewContext returns the Context of one instance. parent bounds its life
// (nil means context.Background()); s supplies the services (nil gives the
// stand-ins that [Context]'s methods document). Hosts and test kits call it;
// a plugin's own unit test may call it to run a factory directly.
func NewContext(parent context.Context, name, typ string, previous Instance, s Services) *Context {
	if parent == nil {
		parent = context.Background()
	}
	if s == nil {
		s = standalone{}
	}
	return &Context{
		Context:  parent,
		Name:     name,
		Type:     typ,
		Previous: previous,
		services: s,
		logger:   s.Logger().With("plugin", name, "type", typ),
		files:    new(declaredFiles),
	}
}

// File declares a file the instance reads (a key list, a certificate, a
// template) and returns its path: a relative path resolves against the
// directory of the main configuration file, as includes do. The host
// watches the file with the configuration, and a change of its content
// rebuilds this instance (and only it) at the next reload, with this
// instance as Previous; an unchanged instance whose files did not change is
// reused as usual. File does not open the file; read it in the factory.
func (c *Context) File(path string) string {
	if path == "" {
		return ""
	}
	if !filepath.IsAbs(path) {
		path = filepath.Join(c.services.ConfigDir(), path)
	}
	path = filepath.Clean(path)
	c.files.mu.Lock()
	if !slices.Contains(c.files.paths, path) {
		c.files.paths = append(c.files.paths, path)
	}
	c.files.mu.Unlock()
	return path
}

// Files returns the files the instance declared with File, for the host.
func (c *Context) Files() []string {
	c.files.mu.Lock()
	defer c.files.mu.Unlock()
	return slices.Clone(c.files.paths)
}

// Logger is the host's logger with the plugin and type attributes attached.
func (c *Context) Logger() *slog.Logger { return c.logger }

// Metrics creates, or finds, metrics on the host's registry. Metrics live as
// long as the host: a rebuilt instance gets the same vectors back.
func (c *Context) Metrics() *Metrics { return c.services.Metrics() }

// Buffers is the host's buffer pool (performance.memory.buffer_pool).
func (c *Context) Buffers() BufferPool { return c.services.Buffers() }

// Workers runs CPU-heavy work on the host's bounded pool
// (performance.cpu.process_pool).
func (c *Context) Workers() WorkerPool { return c.services.Workers() }

// ClientIP returns the client address as the host determines it, believing
// X-Forwarded-For and Forwarded only from server.trusted_proxies.
func (c *Context) ClientIP(r *http.Request) netip.Addr { return c.services.ClientIP(r) }

// CompileCondition compiles a condition (a CEL expression, a named condition
// or a structured matcher) as `when:` accepts it. keyPath names the option
// in errors, relative to the instance (for example "skip_when"): the host
// reports it as plugins.NAME.keyPath with its file and line.
func (c *Context) CompileCondition(keyPath string, src any) (func(*http.Request) bool, error) {
	f, err := c.services.CompileCondition(keyPath, src)
	return f, c.optionErr(keyPath, err)
}

// CompileExpr compiles a CEL expression of type string over the request
// object, such as the ratelimit plugin's key expression. keyPath is as for
// CompileCondition.
func (c *Context) CompileExpr(keyPath, expr string) (func(*http.Request) string, error) {
	f, err := c.services.CompileExpr(keyPath, expr)
	return f, c.optionErr(keyPath, err)
}

// optionErr keys an error about one of the instance's options.
func (c *Context) optionErr(keyPath string, err error) error {
	if err == nil {
		return nil
	}
	var fe *FieldError
	if errors.As(err, &fe) {
		return err
	}
	msg := err.Error()
	if p := keyPath + ": "; len(msg) > len(p) && msg[:len(p)] == p {
		msg = msg[len(p):]
	}
	return &FieldError{Key: keyPath, Msg: msg}
}

// Now returns the current time from the host's clock.
func (c *Context) Now() time.Time { return c.services.Clock()() }

// Clock returns the host's clock function: time.Now itself unless a test
// replaces it with a fake clock. A plugin keeps it for its request path.
func (c *Context) Clock() func() time.Time { return c.services.Clock() }

// BufferPool hands out reusable byte buffers.
type BufferPool interface {
	// Get returns an empty buffer.
	Get() *bytes.Buffer
	// Put returns a buffer; the caller must not use it afterwards.
	Put(*bytes.Buffer)
}

// WorkerPool runs work on a bounded set of workers.
type WorkerPool interface {
	// Do runs fn on a worker and waits for it. It returns an error at once
	// when the queue is full, or ctx's error when ctx ends while queued.
	Do(ctx context.Context, fn func()) error
}

// StatsReporter is implemented by instances that report live statistics for
// the admin API and dashboard. Stats must be safe to call concurrently.
type StatsReporter interface {
	Stats() map[string]any
}

// standalone are the services of a Context made without a host: logs are
// discarded, metrics are not registered anywhere, buffers come from a
// sync.Pool, work runs on the caller's goroutine, the client address is the
// connection's peer, and conditions cannot be compiled.
type standalone struct{}

var (
	standaloneMetrics = NewMetrics(nil)
	standaloneBuffers = &syncBuffers{}
)

func (standalone) Logger() *slog.Logger    { return slog.New(slog.DiscardHandler) }
func (standalone) Metrics() *Metrics       { return standaloneMetrics }
func (standalone) Buffers() BufferPool     { return standaloneBuffers }
func (standalone) Workers() WorkerPool     { return inline{} }
func (standalone) Clock() func() time.Time { return time.Now }
func (standalone) ConfigDir() string       { return "." }

func (standalone) ClientIP(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err == nil {
		return ap.Addr().Unmap()
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, _ := netip.ParseAddr(host)
	return a.Unmap()
}

var errNoCompiler = errors.New("conditions cannot be compiled outside a host: build the instance with the host or plugintest")

func (standalone) CompileCondition(string, any) (func(*http.Request) bool, error) {
	return nil, errNoCompiler
}

func (standalone) CompileExpr(string, string) (func(*http.Request) string, error) {
	return nil, errNoCompiler
}

// syncBuffers is a BufferPool over a sync.Pool.
type syncBuffers struct{ p sync.Pool }

func (b *syncBuffers) Get() *bytes.Buffer {
	if v, ok := b.p.Get().(*bytes.Buffer); ok {
		return v
	}
	return new(bytes.Buffer)
}

func (b *syncBuffers) Put(buf *bytes.Buffer) {
	buf.Reset()
	b.p.Put(buf)
}

// inline runs work on the caller's goroutine.
type inline struct{}

func (inline) Do(ctx context.Context, fn func()) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	fn()
	return nil
}
