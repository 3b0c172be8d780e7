package registry

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// probeConfig is the config of the test-only plugin type "probe".
type probeConfig struct {
	Value   string        `koanf:"value"`
	Limit   int           `koanf:"limit"`
	Max     Size          `koanf:"max"`
	Every   time.Duration `koanf:"every"`
	Default string        `koanf:"default"`
}

func TestRegisterPanicsOnProgrammerErrors(t *testing.T) {
	for name, fn := range map[string]func(){
		"empty name": func() { Register("", func(*Context, *probeConfig) (Instance, error) { return nil, nil }) },
		"duplicate":  func() { Register("probe", func(*Context, *probeConfig) (Instance, error) { return nil, nil }) },
		"nil":        func() { Register[probeConfig]("x-nil", nil) },
		"non-struct": func() { Register("x-int", func(*Context, *int) (Instance, error) { return nil, nil }) },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
			}()
			fn()
		})
	}
}

func TestMetricsAreSharedAcrossCallers(t *testing.T) {
	m := NewMetrics(nil)
	a := m.Counter("x_total", "help", "plugin")
	b := m.Counter("x_total", "help", "plugin")
	if a != b {
		t.Fatal("second caller got a different vector")
	}
	defer func() {
		if recover() == nil {
			t.Fatal("conflicting definition did not panic")
		}
	}()
	m.Gauge("x_total", "help", "plugin")
}

func TestMiddlewareFunc(t *testing.T) {
	inst := MiddlewareFunc(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Seen", "1")
			next.ServeHTTP(w, r)
		})
	})
	rec := httptest.NewRecorder()
	inst.Wrap(http.NotFoundHandler()).ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Header().Get("X-Seen") != "1" || rec.Code != 404 {
		t.Fatal("wrapped middleware did not run")
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want Size
		ok   bool
	}{
		{"1024", 1024, true}, {"1KB", 1000, true}, {"1MB", 1000000, true}, {"1MiB", 1 << 20, true},
		{"1kib", 1 << 10, true}, {"64MB", 64000000, true}, {"1.5KiB", 1536, true}, {" 2 GiB ", 2 << 30, true},
		{"", 0, false}, {"MB", 0, false}, {"-1", 0, false}, {"1XB", 0, false}, {"fast", 0, false},
	}
	for _, tt := range tests {
		got, err := ParseSize(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseSize(%q) = %d, %v", tt.in, got, err)
		}
	}
}

func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"1MB", "1MiB", "1024", "1.5K", "", "9999999999999999999GB"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseSize(s)
		if err == nil && v < 0 {
			t.Fatalf("negative size %d from %q", v, s)
		}
	})
}

func TestDecodeReportsEveryErrorStrictly(t *testing.T) {
	var cfg probeConfig
	err := Decode(map[string]any{"Value": "x", "limit": 1.5, "max": "lots", "extra": 1}, &cfg)
	var de DecodeErrors
	if !errors.As(err, &de) {
		t.Fatalf("err = %v", err)
	}
	got := de.Error()
	for _, want := range []string{"Value: unknown key", "extra: unknown key", "limit: expected a whole number", "max: invalid size"} {
		if !strings.Contains(got, want) {
			t.Errorf("errors %q lack %q", got, want)
		}
	}
}

func init() {
	Register("probe", func(ctx *Context, cfg *probeConfig) (Instance, error) {
		if cfg.Value == "panic" {
			panic("boom")
		}
		if cfg.Value == "nil" {
			return nil, nil
		}
		return MiddlewareFunc(func(next http.Handler) http.Handler { return next }), nil
	})
}

func TestTypeNewReportsBrokenFactories(t *testing.T) {
	typ, ok := Lookup("probe")
	if !ok {
		t.Fatal("probe not registered")
	}
	tests := []struct {
		name, value, want string
	}{
		{"panic", "panic", "plugin type probe panicked while building: boom"},
		{"no instance", "nil", "plugin factory returned no instance"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := typ.Decode(nil, map[string]any{"value": tt.value})
			if err != nil {
				t.Fatal(err)
			}
			_, err = typ.New(NewContext(t.Context(), "p", "probe", nil, nil), cfg)
			if err == nil || err.Error() != tt.want {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
	if _, err := typ.New(NewContext(t.Context(), "p", "probe", nil, nil), &struct{}{}); err == nil {
		t.Fatal("a config of the wrong type was accepted")
	}
}

func TestStandaloneContextServicesWork(t *testing.T) {
	ctx := NewContext(t.Context(), "p", "probe", nil, nil)
	if ctx.Logger() == nil || ctx.Metrics() == nil || ctx.Buffers() == nil || ctx.Workers() == nil || ctx.Now().IsZero() {
		t.Fatal("a service of a standalone Context is missing")
	}
	b := ctx.Buffers().Get()
	b.WriteString("x")
	ctx.Buffers().Put(b)
	ran := false
	if err := ctx.Workers().Do(ctx, func() { ran = true }); err != nil || !ran {
		t.Fatalf("Workers().Do: ran=%v err=%v", ran, err)
	}
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "[2001:db8::1]:4000"
	if got := ctx.ClientIP(r).String(); got != "2001:db8::1" {
		t.Fatalf("ClientIP = %s", got)
	}
	_, err := ctx.CompileExpr("key", `request.path`)
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Key != "key" {
		t.Fatalf("CompileExpr without a host: err = %v, want a FieldError at key", err)
	}
	if !strings.Contains(err.Error(), "outside a host") {
		t.Fatalf("err = %v", err)
	}
}
