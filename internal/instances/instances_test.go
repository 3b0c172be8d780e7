package instances

import (
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/switchyard/switchyard/internal/wait"
	"github.com/switchyard/switchyard/registry"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// probeConfig is the config of the test-only plugin type "probe".
type probeConfig struct {
	Value   string        `koanf:"value"`
	Limit   int           `koanf:"limit"`
	Max     registry.Size `koanf:"max"`
	Every   time.Duration `koanf:"every"`
	Default string        `koanf:"default"`
}

// SetDefaults reads performance.response.probe: {size: N} as the default limit.
func (c *probeConfig) SetDefaults(host registry.Section) error {
	c.Default = "d"
	var d struct {
		Size int `koanf:"size"`
	}
	if err := host.Decode(&d); err != nil {
		return err
	}
	c.Limit = d.Size
	return nil
}

func (c *probeConfig) Validate() error {
	if c.Limit < 0 {
		return &registry.FieldError{Key: "limit", Msg: "must not be negative"}
	}
	return nil
}

type probe struct {
	cfg    probeConfig
	closed atomic.Int32
	prev   registry.Instance
	ctx    *registry.Context
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
	registry.Register("probe", func(ctx *registry.Context, cfg *probeConfig) (registry.Instance, error) {
		built.Add(1)
		if cfg.Value == "fail" {
			return nil, errors.New("cannot build")
		}
		if cfg.Value == "panic" {
			panic("boom")
		}
		return &probe{cfg: *cfg, prev: ctx.Previous, ctx: ctx}, nil
	})
}

func spec(name string, cfg map[string]any) Spec { return Spec{Name: name, Type: "probe", Config: cfg} }

func TestBuildDecodesStrictlyWithDefaults(t *testing.T) {
	reg := New(Options{})
	defer reg.Close()
	set, err := reg.Build(nil, []Spec{spec("a", map[string]any{"value": "v", "max": "1MiB", "every": "2s"})},
		map[string]map[string]any{"probe": {"size": 7}})
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
			_, err := reg.Build(nil, []Spec{tt.spec}, nil)
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
	s1, err := reg.Build(nil, []Spec{spec("a", cfg), spec("b", map[string]any{"value": "b"})}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Same config written differently (key order, a size as a number).
	s2, err := reg.Build(nil, []Spec{spec("a", map[string]any{"limit": 3, "value": "v"}), spec("b", map[string]any{"value": "b2"})}, nil)
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
	s1, err := reg.Build(nil, []Spec{spec("a", map[string]any{"value": "v"})}, nil)
	if err != nil {
		t.Fatal(err)
	}
	before := built.Load()
	_, err = reg.Build(nil, []Spec{spec("a", map[string]any{"value": "v"}), spec("new", map[string]any{"value": "n"}), spec("bad", map[string]any{"value": "fail"})}, nil)
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
	s1, _ := reg.Build(nil, []Spec{spec("a", map[string]any{"value": "1"})}, nil)
	a1, _ := s1.Get("a")
	s2, _ := reg.Build(nil, []Spec{spec("a", map[string]any{"value": "2"})}, nil)
	s1.Release()
	if a1.(*probe).closed.Load() != 0 {
		t.Fatal("warm instance closed before its TTL")
	}
	if err := a1.(*probe).ctx.Err(); err == nil {
		t.Fatal("retired instance's context is not done")
	}
	s3, _ := reg.Build(nil, []Spec{spec("a", map[string]any{"value": "1"})}, nil)
	a3, _ := s3.Get("a")
	if a3.(*probe).prev != a1 {
		t.Fatal("reverted config did not hand the warm instance to its successor as Previous")
	}
	if got := strings.Join(s3.Created(), ","); got != "a" {
		t.Fatalf("created = %q, want the revived instance", got)
	}
	if a1.(*probe).closed.Load() != 1 {
		t.Fatal("warm instance not closed once its successor took its state")
	}
	s2.Release()
	s3.Release()
	reg.Close()
	if a1.(*probe).closed.Load() != 1 || a3.(*probe).closed.Load() != 1 {
		t.Fatalf("closed %d and %d times after registry close", a1.(*probe).closed.Load(), a3.(*probe).closed.Load())
	}
}

func TestWarmInstanceExpires(t *testing.T) {
	reg := New(Options{TTL: 20 * time.Millisecond})
	defer reg.Close()
	s1, _ := reg.Build(nil, []Spec{spec("a", map[string]any{"value": "1"})}, nil)
	a1, _ := s1.Get("a")
	s1.Release()
	wait.For(t, "warm instance closed after its TTL", func() bool { return a1.(*probe).closed.Load() == 1 })
}

func TestMaxWarmBound(t *testing.T) {
	reg := New(Options{TTL: time.Hour, MaxWarm: 2})
	defer reg.Close()
	var insts []*probe
	for i := range 4 {
		s, err := reg.Build(nil, []Spec{spec("a", map[string]any{"limit": i})}, nil)
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

func TestDiscardClosesCreatedAtOnce(t *testing.T) {
	reg := New(Options{TTL: time.Hour})
	defer reg.Close()
	s1, _ := reg.Build(nil, []Spec{spec("kept", map[string]any{"value": "k"})}, nil)
	s2, err := reg.Build(nil, []Spec{spec("kept", map[string]any{"value": "k"}), spec("fresh", map[string]any{"value": "f"})}, nil)
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

func TestRetiredInstanceContextEnds(t *testing.T) {
	tests := []struct {
		name string
		ttl  time.Duration
	}{
		{"closed at once", 0},
		{"kept warm", time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := New(Options{TTL: tt.ttl})
			defer reg.Close()
			s1, err := reg.Build(nil, []Spec{spec("a", map[string]any{"value": "1"})}, nil)
			if err != nil {
				t.Fatal(err)
			}
			a, _ := s1.Get("a")
			stopped := make(chan struct{})
			go func() { // the plugin's background work
				<-a.(*probe).ctx.Done()
				close(stopped)
			}()
			s2, err := reg.Build(nil, []Spec{spec("a", map[string]any{"value": "1"})}, nil)
			if err != nil {
				t.Fatal(err)
			}
			s1.Release()
			if a.(*probe).ctx.Err() != nil {
				t.Fatal("context of an instance still in use ended")
			}
			s2.Release()
			select {
			case <-stopped:
			case <-time.After(wait.Deadline):
				t.Fatal("retired instance's context never ended")
			}
		})
	}
}

func TestHostSectionErrorsNameTheSection(t *testing.T) {
	reg := New(Options{})
	defer reg.Close()
	_, err := reg.Build(nil, []Spec{spec("a", nil)}, map[string]map[string]any{"probe": {"size": "big"}})
	if err == nil || !strings.Contains(err.Error(), "performance.response.probe.size: expected int") {
		t.Fatalf("err = %v, want the section's key", err)
	}
	var ie *Error
	if !errors.As(err, &ie) {
		t.Fatalf("err %T is not an *Error", err)
	}
}
