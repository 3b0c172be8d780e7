package plugintest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard/switchyard/registry"
)

// recorder is a TB that records failures instead of failing the test, so
// that tests can assert what Conformance reports about a broken plugin.
type recorder struct {
	mu       sync.Mutex
	errs     []string
	logs     []string
	cleanups []func()
}

func (r *recorder) Helper()      {}
func (r *recorder) Name() string { return "recorder" }
func (r *recorder) Logf(format string, args ...any) {
	r.mu.Lock()
	r.logs = append(r.logs, fmt.Sprintf(format, args...))
	r.mu.Unlock()
}
func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
	r.mu.Unlock()
}
func (r *recorder) Fatalf(format string, args ...any) {
	r.Errorf(format, args...)
	runtime.Goexit()
}
func (r *recorder) Failed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.errs) > 0
}
func (r *recorder) Cleanup(f func()) {
	r.mu.Lock()
	r.cleanups = append(r.cleanups, f)
	r.mu.Unlock()
}

// record runs fn against a fresh recorder on a goroutine of its own (Fatalf
// ends it), runs the cleanups, and returns the failures.
func record(fn func(TB)) []string {
	r := &recorder{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(r)
	}()
	<-done
	for k := len(r.cleanups) - 1; k >= 0; k-- {
		done := make(chan struct{})
		go func() { defer close(done); r.cleanups[k]() }()
		<-done
	}
	return r.errs
}

// emptyConfig is the config of the test plugin types.
type emptyConfig struct{}

// passthrough is a well-behaved plugin with a Close.
type passthrough struct{ closed chan struct{} }

func (p *passthrough) Wrap(next http.Handler) http.Handler { return next }
func (p *passthrough) Close() error                        { close(p.closed); return nil }

// wrapping hands a writer wrapper downstream, built by mk.
type wrapping struct {
	mk func(http.ResponseWriter) http.ResponseWriter
}

func (p *wrapping) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(p.mk(w), r)
	})
}

// noUnwrap wraps a writer and passes Flush through, but has no Unwrap.
type noUnwrap struct{ http.ResponseWriter }

func (w *noUnwrap) Flush() { _ = http.NewResponseController(w.ResponseWriter).Flush() }

// swallowsFlush has Unwrap, but its Flush does nothing.
type swallowsFlush struct{ http.ResponseWriter }

func (w *swallowsFlush) Flush()                      {}
func (w *swallowsFlush) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// truncating drops everything after the first MB.
type truncating struct {
	http.ResponseWriter
	n int
}

func (w *truncating) Write(b []byte) (int, error) {
	keep := max(0, min(len(b), 1<<20-w.n))
	w.n += len(b)
	if _, err := w.ResponseWriter.Write(b[:keep]); err != nil {
		return 0, err
	}
	return len(b), nil
}
func (w *truncating) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// holdsStatus sends the status with the first body write, keeping only
// the last code it was given: a 1xx never reaches the client.
type holdsStatus struct {
	http.ResponseWriter
	code int
}

func (w *holdsStatus) WriteHeader(code int) { w.code = code }
func (w *holdsStatus) Write(b []byte) (int, error) {
	if w.code != 0 {
		w.ResponseWriter.WriteHeader(w.code)
		w.code = 0
	}
	return w.ResponseWriter.Write(b)
}
func (w *holdsStatus) Flush()                      { _ = http.NewResponseController(w.ResponseWriter).Flush() }
func (w *holdsStatus) Unwrap() http.ResponseWriter { return w.ResponseWriter }

type closePanics struct{ passthrough }

func (p *closePanics) Close() error { panic("deliberate panic in Close") }

type closeFails struct{ passthrough }

func (p *closeFails) Close() error { return errors.New("deliberate Close error") }

// randomConfig decodes differently every time: instances are never reused.
type randomConfig struct {
	Seed uint64 `koanf:"seed" json:"seed"`
}

func (c *randomConfig) SetDefaults(registry.Section) error {
	c.Seed = rand.Uint64()
	return nil
}

func init() {
	registry.Register("plugintest-good", func(*registry.Context, *emptyConfig) (registry.Instance, error) {
		return &passthrough{closed: make(chan struct{})}, nil
	})
	registry.Register("plugintest-nounwrap", func(*registry.Context, *emptyConfig) (registry.Instance, error) {
		return &wrapping{mk: func(w http.ResponseWriter) http.ResponseWriter { return &noUnwrap{w} }}, nil
	})
	registry.Register("plugintest-swallowflush", func(*registry.Context, *emptyConfig) (registry.Instance, error) {
		return &wrapping{mk: func(w http.ResponseWriter) http.ResponseWriter { return &swallowsFlush{w} }}, nil
	})
	registry.Register("plugintest-truncates", func(*registry.Context, *emptyConfig) (registry.Instance, error) {
		return &wrapping{mk: func(w http.ResponseWriter) http.ResponseWriter { return &truncating{ResponseWriter: w} }}, nil
	})
	registry.Register("plugintest-drops1xx", func(*registry.Context, *emptyConfig) (registry.Instance, error) {
		return &wrapping{mk: func(w http.ResponseWriter) http.ResponseWriter { return &holdsStatus{ResponseWriter: w} }}, nil
	})
	registry.Register("plugintest-closepanic", func(*registry.Context, *emptyConfig) (registry.Instance, error) {
		return &closePanics{passthrough{closed: make(chan struct{})}}, nil
	})
	registry.Register("plugintest-closeerror", func(*registry.Context, *emptyConfig) (registry.Instance, error) {
		return &closeFails{passthrough{closed: make(chan struct{})}}, nil
	})
	registry.Register("plugintest-random", func(*registry.Context, *randomConfig) (registry.Instance, error) {
		return &passthrough{closed: make(chan struct{})}, nil
	})
	// Swallows downstream panics and answers 200.
	registry.Register("plugintest-swallowpanic", func(*registry.Context, *emptyConfig) (registry.Instance, error) {
		return registry.MiddlewareFunc(func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				defer func() { _ = recover() }()
				next.ServeHTTP(w, r)
			})
		}), nil
	})
	// Serialises requests per path with a lock that a panic never releases
	// (a waiter gives up after 300ms, so that no goroutine outlives the test).
	registry.Register("plugintest-stuck", func(*registry.Context, *emptyConfig) (registry.Instance, error) {
		var mu sync.Mutex
		locks := map[string]chan struct{}{}
		return registry.MiddlewareFunc(func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				l, ok := locks[r.URL.Path]
				if !ok {
					l = make(chan struct{}, 1)
					locks[r.URL.Path] = l
				}
				mu.Unlock()
				select {
				case l <- struct{}{}:
				case <-time.After(300 * time.Millisecond):
					http.Error(w, "stuck", http.StatusServiceUnavailable)
					return
				}
				next.ServeHTTP(w, r)
				<-l
			})
		}), nil
	})
	// Takes a pooled buffer per request and puts it back only when the
	// handler returns normally.
	registry.Register("plugintest-leaks", func(ctx *registry.Context, _ *emptyConfig) (registry.Instance, error) {
		return registry.MiddlewareFunc(func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				buf := ctx.Buffers().Get()
				next.ServeHTTP(w, r)
				ctx.Buffers().Put(buf)
			})
		}), nil
	})
	// Shares one buffer between requests and leaves it dirty on a panic.
	registry.Register("plugintest-corrupts", func(*registry.Context, *emptyConfig) (registry.Instance, error) {
		var mu sync.Mutex
		var shared bytes.Buffer
		return registry.MiddlewareFunc(func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				bw := &bufferingWriter{ResponseWriter: w, mu: &mu, buf: &shared}
				mu.Lock()
				defer mu.Unlock()
				next.ServeHTTP(bw, r)
				_, _ = w.Write(shared.Bytes())
				shared.Reset()
			})
		}), nil
	})
	// Hands downstream a context detached from the client's.
	registry.Register("plugintest-detached", func(*registry.Context, *emptyConfig) (registry.Instance, error) {
		return registry.MiddlewareFunc(func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				next.ServeHTTP(w, r.WithContext(context.Background()))
			})
		}), nil
	})
}

// bufferingWriter collects the body in a shared buffer (with mu held by
// the plugin around the handler).
type bufferingWriter struct {
	http.ResponseWriter
	mu  *sync.Mutex
	buf *bytes.Buffer
}

func (w *bufferingWriter) Write(b []byte) (int, error) { return w.buf.Write(b) }
func (w *bufferingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func checks(names ...string) Option {
	return func(o *options) {
		o.only = map[string]bool{}
		for _, n := range names {
			o.only[n] = true
		}
	}
}

func TestConformancePassesAWellBehavedPlugin(t *testing.T) {
	errs := record(func(tb TB) { Conformance(tb, "plugintest-good", "") })
	if len(errs) != 0 {
		t.Fatalf("a well-behaved plugin failed:\n%s", strings.Join(errs, "\n"))
	}
}

func TestConformanceUsesSubtestsOfTestingT(t *testing.T) {
	Conformance(t, "plugintest-good", "", checks("reuse", "close"))
}

func TestConformanceNamesWhatIsWrong(t *testing.T) {
	tests := []struct {
		typ    string
		checks []string
		want   []string // each must appear in some failure
	}{
		{"plugintest-nounwrap", []string{"unwrap", "hijack"}, []string{
			"unwrap: identity: the response writer *plugintest.noUnwrap that the plugin hands downstream has no Unwrap() http.ResponseWriter method",
			"hijack: identity: http.ResponseController.Hijack through the plugin's writer *plugintest.noUnwrap: feature not supported",
		}},
		{"plugintest-swallowflush", []string{"flush"}, []string{
			"flush: identity: a chunk the handler wrote and flushed with http.ResponseController did not reach the client",
			"the plugin swallows Flush",
		}},
		{"plugintest-closepanic", []string{"close"}, []string{
			"close: renamed: Close of instance plugintest-closepanic panicked: deliberate panic in Close",
		}},
		{"plugintest-closeerror", []string{"close"}, []string{
			"close: renamed: Close of instance plugintest-closeerror returned an error: deliberate Close error",
		}},
		{"plugintest-random", []string{"reuse"}, []string{
			"reuse: rebuilding with the unchanged config built a new instance",
		}},
		{"plugintest-swallowpanic", []string{"panic_safety"}, []string{
			"panic_safety: the handler panicked before writing, yet the plugin answered 200 without panicking",
		}},
		{"plugintest-stuck", []string{"panic_safety"}, []string{
			"panic_safety: a request whose handler panics before writing did not finish",
		}},
		{"plugintest-leaks", []string{"panic_safety"}, []string{
			"panic_safety: 4 pooled buffers (ctx.Buffers()) are still checked out",
		}},
		{"plugintest-corrupts", []string{"panic_safety"}, []string{
			"panic_safety: after downstream panics, a request for the same URL (identity): the body is not the one the handler wrote",
		}},
		{"plugintest-detached", []string{"cancellation", "unwrap"}, []string{
			"cancellation: the request context the handler got was not cancelled",
			"unwrap: identity: the plugin did not pass the request's context downstream",
		}},
		{"plugintest-truncates", []string{"large_bodies", "unwrap"}, []string{
			"large_bodies: response body, one write(s), identity: the client got 1048576 bytes",
			"unwrap: identity: the response writer *plugintest.truncating that the plugin hands downstream does not implement http.Flusher (handlers that assert it, as server-sent-event code does, cannot flush) nor http.Hijacker",
		}},
		{"plugintest-drops1xx", []string{"informational"}, []string{
			"informational: identity: the client got informational responses [], want the one 103 Early Hints the handler sent",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.typ, func(t *testing.T) {
			t.Parallel()
			errs := record(func(tb TB) {
				Conformance(tb, tt.typ, "", checks(tt.checks...), WithTimeout(timeoutFor(tt.typ)))
			})
			if len(errs) == 0 {
				t.Fatal("Conformance passed a broken plugin")
			}
			all := strings.Join(errs, "\n")
			for _, w := range tt.want {
				if !strings.Contains(all, w) {
					t.Errorf("no failure says %q; failures:\n%s", w, all)
				}
			}
		})
	}
}

// timeoutFor keeps the checks that wait for something that never comes
// short.
func timeoutFor(typ string) time.Duration {
	switch typ {
	case "plugintest-stuck":
		return 100 * time.Millisecond
	case "plugintest-swallowflush", "plugintest-detached":
		return 500 * time.Millisecond
	}
	return 10 * time.Second
}

func TestConformanceFailsWhenTheSnippetDoesNotBuild(t *testing.T) {
	errs := record(func(tb TB) { Conformance(tb, "plugintest-good", "nokey: 1") })
	if len(errs) != 1 || !strings.Contains(errs[0], "plugintest-good does not build from the snippet: plugins.plugintest-good.nokey: unknown key") {
		t.Fatalf("failures = %q", errs)
	}
}
