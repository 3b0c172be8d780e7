package core

import (
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard/switchyard/registry"
)

// Test-only plugin types for the reload tests:
//
//   - stamp: adds X-Stamp: <tag> to every response, so that a response can
//     be traced to the configuration generation that served it;
//   - tally: a stateful plugin counting requests per instance, answering 429
//     past `limit`, with a `rate` that must not be negative;
//   - probe: records its lifecycle (build, wrap, request start and end,
//     close) in a named event log, optionally holds requests (`delay`) or
//     fails to build (`fail`).
//
// Every instance of these types is tracked (see lifecycle) so that a test can
// check that each one was closed exactly once and never while a request was
// in flight on it.

// lifecycle is what every tracked test instance records.
type lifecycle struct {
	kind, name, tag string
	inflight        atomic.Int64
	served          atomic.Int64
	closed          atomic.Int64
	closedBusy      atomic.Bool // Close ran while a request was in flight
}

func (l *lifecycle) enter() { l.inflight.Add(1); l.served.Add(1) }
func (l *lifecycle) leave() { l.inflight.Add(-1) }

func (l *lifecycle) Close() error {
	if l.inflight.Load() != 0 {
		l.closedBusy.Store(true)
	}
	if l.closed.Add(1) > 1 {
		closedTwice.Add(1)
	}
	return nil
}

// closedTwice counts Close calls beyond the first on any tracked instance,
// so that instances dropped by compactTracked are still checked.
var closedTwice atomic.Int64

func (l *lifecycle) String() string {
	return fmt.Sprintf("%s %s(tag %q)", l.kind, l.name, l.tag)
}

var (
	trackedMu sync.Mutex
	// tracked lists the instances built for each host, keyed by the host's
	// metrics factory (which the registry hands every factory).
	tracked = map[*registry.Metrics][]*lifecycle{}
)

func track(ctx *registry.Context, kind, tag string) *lifecycle {
	l := &lifecycle{kind: kind, name: ctx.Name, tag: tag}
	trackedMu.Lock()
	tracked[ctx.Metrics()] = append(tracked[ctx.Metrics()], l)
	trackedMu.Unlock()
	return l
}

// instancesOf returns the tracked instances built for h.
func instancesOf(h *Host) []*lifecycle {
	trackedMu.Lock()
	defer trackedMu.Unlock()
	return append([]*lifecycle(nil), tracked[h.metrics.factory]...)
}

// compactTracked checks the closed instances built for h (closed once, not
// while busy) and stops tracking them, so that a long test does not grow
// the list.
func compactTracked(t *testing.T, h *Host) {
	t.Helper()
	trackedMu.Lock()
	defer trackedMu.Unlock()
	ls := tracked[h.metrics.factory]
	keep := ls[:0]
	for _, l := range ls {
		if l.closed.Load() == 0 {
			keep = append(keep, l)
			continue
		}
		if l.closedBusy.Load() {
			t.Errorf("%v was closed while a request was in flight on it", l)
		}
	}
	clear(ls[len(keep):])
	tracked[h.metrics.factory] = keep
}

// checkLifecycles is registered before a host's own cleanup (so it runs
// after the host has shut down) and checks that every instance built for the
// host was closed exactly once and never while serving a request.
func checkLifecycles(t *testing.T, h *Host) {
	t.Helper()
	t.Cleanup(func() {
		ls := instancesOf(h)
		for _, l := range ls {
			if n := l.closed.Load(); n != 1 {
				t.Errorf("%v closed %d times after shutdown, want exactly 1", l, n)
			}
			if l.closedBusy.Load() {
				t.Errorf("%v was closed while a request was in flight on it", l)
			}
		}
		if n := closedTwice.Load(); n != 0 {
			t.Errorf("%d Close calls on already closed instances", n)
		}
		trackedMu.Lock()
		delete(tracked, h.metrics.factory)
		trackedMu.Unlock()
	})
}

// stamp

type stampConfig struct {
	// Tag is written to X-Stamp.
	Tag string `koanf:"tag"`
}

type stamp struct {
	*lifecycle
	tag []string
}

func (s *stamp) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.enter()
		defer s.leave()
		w.Header()["X-Stamp"] = s.tag
		next.ServeHTTP(w, r)
	})
}

// tally

type tallyConfig struct {
	// Tag distinguishes configs, so that a changed tag builds a new instance.
	Tag string `koanf:"tag"`
	// Limit answers 429 to every request past the first Limit (0: no limit).
	Limit int64 `koanf:"limit"`
	// Rate is only validated: a negative rate is refused, as a rate limiter
	// refuses it.
	Rate int `koanf:"rate"`
}

func (c *tallyConfig) Validate() error {
	if c.Rate < 0 {
		return &registry.FieldError{Key: "rate", Msg: "must be >= 0, got " + strconv.Itoa(c.Rate)}
	}
	if c.Limit < 0 {
		return &registry.FieldError{Key: "limit", Msg: "must be >= 0"}
	}
	return nil
}

type tally struct {
	*lifecycle
	cfg   tallyConfig
	count atomic.Int64
}

func (c *tally) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.enter()
		defer c.leave()
		n := c.count.Add(1)
		w.Header().Set("X-Tally", strconv.FormatInt(n, 10))
		if c.cfg.Limit > 0 && n > c.cfg.Limit {
			http.Error(w, "limited", http.StatusTooManyRequests)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// probe

type probeConfig struct {
	// Log names the event log the instance writes to ("" for none).
	Log string `koanf:"log"`
	// Tag distinguishes configs and is written to X-Probe.
	Tag string `koanf:"tag"`
	// Delay holds every request this long inside the plugin.
	Delay time.Duration `koanf:"delay"`
	// Fail makes the factory fail.
	Fail bool `koanf:"fail"`
}

type probe struct {
	*lifecycle
	cfg probeConfig
	log *eventLog
}

// eventLog is an ordered list of lifecycle events. When host is set, build
// and wrap events also record the config version serving at that moment.
type eventLog struct {
	mu     sync.Mutex
	events []string
	host   atomic.Pointer[Host]
}

func (e *eventLog) add(format string, args ...any) {
	if e == nil {
		return
	}
	ev := fmt.Sprintf(format, args...)
	e.mu.Lock()
	e.events = append(e.events, ev)
	e.mu.Unlock()
}

func (e *eventLog) serving() string {
	if e == nil {
		return ""
	}
	if h := e.host.Load(); h != nil {
		if s := h.Snapshot(); s != nil {
			return s.Version
		}
	}
	return "-"
}

func (e *eventLog) snapshot() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.events...)
}

var (
	eventLogsMu sync.Mutex
	eventLogs   = map[string]*eventLog{}
)

// events returns the event log called name, creating it.
func events(name string) *eventLog {
	eventLogsMu.Lock()
	defer eventLogsMu.Unlock()
	e, ok := eventLogs[name]
	if !ok {
		e = &eventLog{}
		eventLogs[name] = e
	}
	return e
}

func (p *probe) Wrap(next http.Handler) http.Handler {
	p.log.add("wrap %s:%s serving=%s", p.name, p.tag, p.log.serving())
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.enter()
		p.log.add("start %s:%s", p.name, p.tag)
		defer func() {
			p.log.add("end %s:%s", p.name, p.tag)
			p.leave()
		}()
		w.Header().Add("X-Probe", p.cfg.Tag)
		if p.cfg.Delay > 0 {
			select { // a slow plugin
			case <-time.After(p.cfg.Delay):
			case <-r.Context().Done():
			}
		}
		next.ServeHTTP(w, r)
	})
}

func (p *probe) Close() error {
	p.log.add("close %s:%s", p.name, p.tag)
	return p.lifecycle.Close()
}

func init() {
	registry.Register("stamp", func(ctx *registry.Context, cfg *stampConfig) (registry.Instance, error) {
		return &stamp{lifecycle: track(ctx, "stamp", cfg.Tag), tag: []string{cfg.Tag}}, nil
	})
	registry.Register("tally", func(ctx *registry.Context, cfg *tallyConfig) (registry.Instance, error) {
		return &tally{lifecycle: track(ctx, "tally", cfg.Tag), cfg: *cfg}, nil
	})
	registry.Register("probe", func(ctx *registry.Context, cfg *probeConfig) (registry.Instance, error) {
		var log *eventLog
		if cfg.Log != "" {
			log = events(cfg.Log)
		}
		if cfg.Fail {
			log.add("fail %s:%s", ctx.Name, cfg.Tag)
			return nil, fmt.Errorf("probe %s refused to build", ctx.Name)
		}
		log.add("build %s:%s serving=%s", ctx.Name, cfg.Tag, log.serving())
		return &probe{lifecycle: track(ctx, "probe", cfg.Tag), cfg: *cfg, log: log}, nil
	})
}

var (
	_ registry.Closer    = (*stamp)(nil)
	_ registry.Closer    = (*tally)(nil)
	_ registry.Closer    = (*probe)(nil)
	_ registry.Validator = (*tallyConfig)(nil)
)
