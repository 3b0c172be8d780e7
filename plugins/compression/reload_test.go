package compression

import (
	"net/http"
	"runtime"
	"testing"
	"weak"

	"github.com/switchyard/switchyard/internal/instances"
	"github.com/switchyard/switchyard/internal/wait"
	"go.uber.org/goleak"
)

func buildOne(t *testing.T, reg *instances.Registry, cfg map[string]any) (*Compressor, *instances.Set) {
	t.Helper()
	set, err := reg.Build(nil, []instances.Spec{{Name: "comp", Type: TypeName, Config: cfg}}, nil)
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	inst, _ := set.Get("comp")
	return inst.(*Compressor), set
}

func TestReuseAcrossBuilds(t *testing.T) {
	reg := instances.New(instances.Options{})
	defer reg.Close()
	a, setA := buildOne(t, reg, map[string]any{"level": 5, "min_size": "1KB"})
	b, setB := buildOne(t, reg, map[string]any{"min_size": 1000, "level": 5})
	if a != b {
		t.Fatal("an unchanged config built a new instance")
	}
	c, setC := buildOne(t, reg, map[string]any{"level": 7, "min_size": "1KB"})
	if c == a {
		t.Fatal("a changed config reused the old instance")
	}
	setA.Release()
	if n := a.closes.Load(); n != 0 {
		t.Fatalf("closed %d times while another set still uses it", n)
	}
	setB.Release()
	if n := a.closes.Load(); n != 1 {
		t.Fatalf("closed %d times after its last set was released, want 1", n)
	}
	setC.Release()
	setB.Release() // idempotent
	if n, m := a.closes.Load(), c.closes.Load(); n != 1 || m != 1 {
		t.Fatalf("closes: old %d, new %d; want 1 each", n, m)
	}
}

// Changing level by a rebuild changes what the next response weighs.
func TestLevelChangesOutputSize(t *testing.T) {
	body := jsonBody(256 << 10)
	h := bodyHandler(body, map[string]string{"Content-Type": "application/json"})
	reg := instances.New(instances.Options{})
	defer reg.Close()
	sizes := map[string][2]int{}
	for i, level := range []int{1, 9} {
		c, set := buildOne(t, reg, map[string]any{"level": level})
		for _, enc := range []string{"gzip", "zstd", "br"} {
			req := gzipRequest("GET")
			req.Header.Set("Accept-Encoding", enc)
			rec := serve(c, h, req)
			if rec.Header().Get("Content-Encoding") != enc {
				t.Fatalf("level %d: Content-Encoding %q, want %s", level, rec.Header().Get("Content-Encoding"), enc)
			}
			if got := decode(t, enc, rec.Body.Bytes()); len(got) != len(body) {
				t.Fatalf("level %d %s: decoded %d bytes, want %d", level, enc, len(got), len(body))
			}
			s := sizes[enc]
			s[i] = rec.Body.Len()
			sizes[enc] = s
		}
		set.Release()
	}
	for enc, s := range sizes {
		t.Logf("%s: level 1 -> %d bytes, level 9 -> %d bytes (%d of JSON)", enc, s[0], s[1], len(body))
		if s[1] >= s[0] {
			t.Errorf("%s: level 9 gave %d bytes, not fewer than level 1's %d", enc, s[1], s[0])
		}
	}
}

// 1000 reloads that each change the level build and retire 1000 instances:
// each is closed once, and no goroutine, instance or encoder outlives them.
func TestRebuildCyclesLeakNothing(t *testing.T) {
	defer goleak.VerifyNone(t)
	cycles := 1000
	if testing.Short() {
		cycles = 100
	}
	collect := func() int64 {
		for range 3 {
			runtime.GC()
		}
		return liveEncoders.Load()
	}
	// Cleanups run on their own goroutine: the baseline is the count once
	// two collections in a row leave it unchanged.
	baseline := int64(-1)
	wait.For(t, "the encoder count to settle", func() bool {
		n := collect()
		same := n == baseline
		baseline = n
		return same
	})

	reg := instances.New(instances.Options{}) // TTL 0: retired instances close at once
	defer reg.Close()
	body := jsonBody(8 << 10)
	h := bodyHandler(body, map[string]string{"Content-Type": "application/json"})
	encs := []string{"gzip", "zstd", "br"}
	var (
		prevSet  *instances.Set
		prev     *Compressor
		retired  []weak.Pointer[Compressor]
		maxInUse int64
	)
	for i := range cycles {
		c, set := buildOne(t, reg, map[string]any{"level": 1 + i%9})
		if c == prev {
			t.Fatalf("cycle %d: a changed level reused the instance", i)
		}
		req := gzipRequest("GET")
		req.Header.Set("Accept-Encoding", encs[i%len(encs)])
		if rec := serve(c, h, req); rec.Code != http.StatusOK || rec.Header().Get("Content-Encoding") != encs[i%len(encs)] {
			t.Fatalf("cycle %d: %d %q", i, rec.Code, rec.Header().Get("Content-Encoding"))
		}
		maxInUse = max(maxInUse, c.encoders.inUse.Load())
		if prevSet != nil {
			prevSet.Release()
			if n := prev.closes.Load(); n != 1 {
				t.Fatalf("cycle %d: retired instance closed %d times, want 1", i, n)
			}
			retired = append(retired, weak.Make(prev))
		}
		prev, prevSet = c, set
	}
	prevSet.Release()
	retired = append(retired, weak.Make(prev))
	prev = nil
	if maxInUse != 0 {
		t.Errorf("encoders in use after a finished response: %d", maxInUse)
	}

	var live int64
	var alive int
	if !wait.Check(wait.Deadline, func() bool {
		live, alive = collect(), 0
		for _, w := range retired {
			if w.Value() != nil {
				alive++
			}
		}
		return live <= baseline && alive == 0
	}) {
		t.Fatalf("after %d cycles: %d encoders live (baseline %d), %d of %d retired instances not collected",
			cycles, live, baseline, alive, len(retired))
	}
	t.Logf("%d cycles: encoders live %d (baseline %d), retired instances alive %d", cycles, live, baseline, alive)
}
