package plugintest

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"path/filepath"
	"sync"
	"time"

	"github.com/switchyard/switchyard/conditions"
	"github.com/switchyard/switchyard/registry"
)

// Services are the host services of a plugin under test, as
// registry.Services: what [New] hands every instance it builds, and what a
// test that calls a factory or the registry directly passes in. Build one
// with [NewServices].
type Services struct {
	logger   *slog.Logger
	metrics  *registry.Metrics
	buffers  registry.BufferPool
	workers  registry.WorkerPool
	clientIP func(*http.Request) netip.Addr
	clock    func() time.Time
	named    map[string]any

	once     sync.Once // compiles the named conditions on first use
	compiler *conditions.Compiler
	err      error
}

// NewServices returns host services for tests. It honours the options that
// set a service: [WithLogger], [WithMetrics], [WithBuffers], [WithWorkers],
// [WithClientIP], [WithNow], [WithClock] and [WithConditions]; every service
// they leave out has a working default (logs discarded, metrics registered
// nowhere, a sync.Pool of buffers, work run on the caller's goroutine, the
// client address from RemoteAddr, time.Now).
func NewServices(opts ...Option) *Services {
	var o options
	for _, fn := range opts {
		fn(&o)
	}
	s := &Services{logger: o.logger, metrics: o.metrics, buffers: o.buffers, workers: o.workers,
		clientIP: o.clientIP, clock: o.now, named: o.conditions}
	if o.clock != nil {
		s.clock = o.clock.Now
	}
	base := registry.NewContext(context.Background(), "", "", nil, nil) // the stand-in services
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	if s.metrics == nil {
		s.metrics = registry.NewMetrics(nil)
	}
	if s.buffers == nil {
		s.buffers = base.Buffers()
	}
	if s.workers == nil {
		s.workers = base.Workers()
	}
	if s.clientIP == nil {
		s.clientIP = RemoteIP
	}
	if s.clock == nil {
		s.clock = time.Now
	}
	return s
}

// Logger implements registry.Services.
func (s *Services) Logger() *slog.Logger { return s.logger }

// Metrics implements registry.Services.
func (s *Services) Metrics() *registry.Metrics { return s.metrics }

// Buffers implements registry.Services.
func (s *Services) Buffers() registry.BufferPool { return s.buffers }

// Workers implements registry.Services.
func (s *Services) Workers() registry.WorkerPool { return s.workers }

// ClientIP implements registry.Services.
func (s *Services) ClientIP(r *http.Request) netip.Addr { return s.clientIP(r) }

// ConfigDir implements registry.Services: the test's working directory (the
// package directory), which relative paths of a snippet resolve against.
func (s *Services) ConfigDir() string {
	dir, _ := filepath.Abs(".")
	return dir
}

// Clock implements registry.Services.
func (s *Services) Clock() func() time.Time { return s.clock }

// CompileCondition implements registry.Services with package conditions, as
// the host does.
func (s *Services) CompileCondition(keyPath string, src any) (func(*http.Request) bool, error) {
	c, err := s.conditions()
	if err != nil {
		return nil, err
	}
	return c.CompileFunc(keyPath, src)
}

// CompileExpr implements registry.Services with package conditions.
func (s *Services) CompileExpr(keyPath, expr string) (func(*http.Request) string, error) {
	c, err := s.conditions()
	if err != nil {
		return nil, err
	}
	return c.CompileString(keyPath, expr)
}

func (s *Services) conditions() (*conditions.Compiler, error) {
	s.once.Do(func() {
		s.compiler, s.err = conditions.NewCompiler(s.named, conditions.Options{ClientIP: s.clientIP})
	})
	return s.compiler, s.err
}

var _ registry.Services = (*Services)(nil)
