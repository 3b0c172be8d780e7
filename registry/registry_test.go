package registry

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// probeConfig is the config of the test-only plugin type "probe".
type probeConfig struct {
	Value   string        `koanf:"value"`
	Limit   int           `koanf:"limit"`
	Max     Size          `koanf:"max"`
	Every   time.Duration `koanf:"every"`
	Default string        `koanf:"default"`
}

func (c *probeConfig) SetDefaults(d Defaults) {
	c.Default = "d"
	c.Limit = d.Caching.Size
}

func (c *probeConfig) Validate() error {
	if c.Limit < 0 {
		return &FieldError{Key: "limit", Msg: "must not be negative"}
	}
	return nil
}

type probe struct {
	cfg    probeConfig
	closed atomic.Int32
	prev   Instance
}

func (p *probe) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Probe", p.cfg.Value)
		next.ServeHTTP(w, r)
	})
}

func (p *probe) Close() error { p.closed.Add(1); return nil }

var built atomic.Int32

func init() {
	Register("probe", func(ctx *Context, cfg *probeConfig) (Instance, error) {
		built.Add(1)
		if cfg.Value == "fail" {
			return nil, errors.New("cannot build")
		}
		if cfg.Value == "panic" {
			panic("boom")
		}
		return &probe{cfg: *cfg, prev: ctx.Previous}, nil
	})
}

func spec(name string, cfg map[string]any) Spec { return Spec{Name: name, Type: "probe", Config: cfg} }

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

func TestBuildDecodesStrictlyWithDefaults(t *testing.T) {
	reg := New(Options{})
	defer reg.Close()
	set, err := reg.Build(Context{Defaults: Defaults{Caching: CachingDefaults{Size: 7}}},
		[]Spec{spec("a", map[string]any{"value": "v", "max": "1MiB", "every": "2s"})})
	if err != nil {
		t.Fatal(err)
	}
	defer set.Release()
	inst, _ := set.Get("a")
	p := inst.(*probe)
	if p.cfg.Limit != 7 || p.cfg.Default != "d" || p.cfg.Max != 1<<20 || p.cfg.Every != 2*time.Second {
		t.Fatalf("config = %+v", p.cfg)
	}
}

func TestBuildErrorsNameTheKey(t *testing.T) {
	tests := []struct {
		name string
		spec Spec
		want string
	}{
		{"unknown key", spec("a", map[string]any{"valu": "x"}), "plugins.a.valu: unknown key"},
		{"wrong type", spec("a", map[string]any{"limit": "fast"}), "plugins.a.limit: expected int"},
		{"bad size", spec("a", map[string]any{"max": "lots"}), "plugins.a.max"},
		{"bare number duration", spec("a", map[string]any{"every": 60}), "plugins.a.every"},
		{"validation", spec("a", map[string]any{"limit": -1}), "plugins.a.limit: must not be negative"},
		{"unknown type", Spec{Name: "a", Type: "nope"}, `plugins.a.type: unknown plugin type "nope"`},
		{"factory error", spec("a", map[string]any{"value": "fail"}), "plugins.a: cannot build"},
		{"factory panic", spec("a", map[string]any{"value": "panic"}), "plugins.a: plugin type probe panicked"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := New(Options{})
			defer reg.Close()
			_, err := reg.Build(Context{}, []Spec{tt.spec})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestUnchangedInstanceIsReused(t *testing.T) {
	reg := New(Options{})
	defer reg.Close()
	cfg := map[string]any{"value": "v", "limit": 3}
	s1, err := reg.Build(Context{}, []Spec{spec("a", cfg), spec("b", map[string]any{"value": "b"})})
	if err != nil {
		t.Fatal(err)
	}
	// Same config written differently (key order, a size as a number).
	s2, err := reg.Build(Context{}, []Spec{spec("a", map[string]any{"limit": 3, "value": "v"}), spec("b", map[string]any{"value": "b2"})})
	if err != nil {
		t.Fatal(err)
	}
	a1, _ := s1.Get("a")
	a2, _ := s2.Get("a")
	if a1 != a2 {
		t.Fatal("unchanged instance was rebuilt")
	}
	b1, _ := s1.Get("b")
	b2, _ := s2.Get("b")
	if b1 == b2 {
		t.Fatal("changed instance was reused")
	}
	if b2.(*probe).prev != b1 {
		t.Fatal("Previous was not the serving instance of the same name")
	}
	if got := strings.Join(s2.Kept(), ","); got != "a" {
		t.Fatalf("kept = %q", got)
	}
	if got := strings.Join(s2.Created(), ","); got != "b" {
		t.Fatalf("created = %q", got)
	}
	s1.Release()
	s1.Release() // idempotent
	if n := b1.(*probe).closed.Load(); n != 1 {
		t.Fatalf("retired instance closed %d times, want 1", n)
	}
	if n := a1.(*probe).closed.Load(); n != 0 {
		t.Fatal("instance still in use was closed")
	}
	s2.Release()
	if n := a1.(*probe).closed.Load(); n != 1 {
		t.Fatalf("closed %d times, want 1", n)
	}
}

func TestFailedBuildChangesNothing(t *testing.T) {
	reg := New(Options{})
	defer reg.Close()
	s1, err := reg.Build(Context{}, []Spec{spec("a", map[string]any{"value": "v"})})
	if err != nil {
		t.Fatal(err)
	}
	before := built.Load()
	_, err = reg.Build(Context{}, []Spec{spec("a", map[string]any{"value": "v"}), spec("new", map[string]any{"value": "n"}), spec("bad", map[string]any{"value": "fail"})})
	if err == nil {
		t.Fatal("want error")
	}
	if built.Load() != before+2 {
		t.Fatalf("factories called %d times", built.Load()-before)
	}
	var closedNew bool
	for _, info := range reg.Instances() {
		if info.Name == "new" {
			t.Fatal("instance of a failed build is still registered")
		}
	}
	_ = closedNew
	a, _ := s1.Get("a")
	if a.(*probe).closed.Load() != 0 {
		t.Fatal("serving instance closed by a failed build")
	}
	s1.Release()
	if a.(*probe).closed.Load() != 1 {
		t.Fatal("not closed after release")
	}
}

func TestWarmInstanceIsRevivedWithinTTL(t *testing.T) {
	reg := New(Options{TTL: time.Hour})
	s1, _ := reg.Build(Context{}, []Spec{spec("a", map[string]any{"value": "1"})})
	a1, _ := s1.Get("a")
	s2, _ := reg.Build(Context{}, []Spec{spec("a", map[string]any{"value": "2"})})
	s1.Release()
	if a1.(*probe).closed.Load() != 0 {
		t.Fatal("warm instance closed before its TTL")
	}
	s3, _ := reg.Build(Context{}, []Spec{spec("a", map[string]any{"value": "1"})})
	if a3, _ := s3.Get("a"); a3 != a1 {
		t.Fatal("reverted config did not revive the warm instance")
	}
	s2.Release()
	s3.Release()
	reg.Close()
	if a1.(*probe).closed.Load() != 1 {
		t.Fatalf("closed %d times after registry close", a1.(*probe).closed.Load())
	}
}

func TestWarmInstanceExpires(t *testing.T) {
	reg := New(Options{TTL: 20 * time.Millisecond})
	defer reg.Close()
	s1, _ := reg.Build(Context{}, []Spec{spec("a", map[string]any{"value": "1"})})
	a1, _ := s1.Get("a")
	s1.Release()
	deadline := time.Now().Add(2 * time.Second)
	for a1.(*probe).closed.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if a1.(*probe).closed.Load() != 1 {
		t.Fatal("warm instance not closed after TTL")
	}
}

func TestMaxWarmBound(t *testing.T) {
	reg := New(Options{TTL: time.Hour, MaxWarm: 2})
	defer reg.Close()
	var insts []*probe
	for i := range 4 {
		s, err := reg.Build(Context{}, []Spec{spec("a", map[string]any{"limit": i})})
		if err != nil {
			t.Fatal(err)
		}
		in, _ := s.Get("a")
		insts = append(insts, in.(*probe))
		s.Release()
	}
	if insts[0].closed.Load() != 1 || insts[1].closed.Load() != 1 || insts[3].closed.Load() != 0 {
		t.Fatalf("closed: %d %d %d %d", insts[0].closed.Load(), insts[1].closed.Load(), insts[2].closed.Load(), insts[3].closed.Load())
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

func TestDiscardClosesCreatedAtOnce(t *testing.T) {
	reg := New(Options{TTL: time.Hour})
	defer reg.Close()
	s1, _ := reg.Build(Context{}, []Spec{spec("kept", map[string]any{"value": "k"})})
	s2, err := reg.Build(Context{}, []Spec{spec("kept", map[string]any{"value": "k"}), spec("fresh", map[string]any{"value": "f"})})
	if err != nil {
		t.Fatal(err)
	}
	kept, _ := s2.Get("kept")
	fresh, _ := s2.Get("fresh")
	s2.Discard()
	if fresh.(*probe).closed.Load() != 1 {
		t.Fatal("instance created by a discarded set was not closed at once")
	}
	if kept.(*probe).closed.Load() != 0 {
		t.Fatal("reused instance closed by Discard")
	}
	s1.Release()
}
