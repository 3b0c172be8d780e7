package hotreload

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/wait"
)

// blockingReload is a reload function whose calls can be held open, and that
// checks that no two calls overlap.
type blockingReload struct {
	gate    chan struct{} // a receive lets one call finish; nil = don't block
	started chan Trigger
	running atomic.Int32
	overlap atomic.Bool
	mu      sync.Mutex
	calls   []Trigger
}

func newBlockingReload(block bool) *blockingReload {
	b := &blockingReload{started: make(chan Trigger, 1000)}
	if block {
		b.gate = make(chan struct{})
	}
	return b
}

func (b *blockingReload) reload(t Trigger) Result {
	if b.running.Add(1) > 1 {
		b.overlap.Store(true)
	}
	defer b.running.Add(-1)
	b.mu.Lock()
	b.calls = append(b.calls, t)
	n := len(b.calls)
	b.mu.Unlock()
	b.started <- t
	if b.gate != nil {
		<-b.gate
	}
	return Result{Success: true, Version: fmt.Sprintf("v%d", n)}
}

func (b *blockingReload) triggers() []Trigger {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]Trigger(nil), b.calls...)
}

func waitStarted(t *testing.T, b *blockingReload) Trigger {
	t.Helper()
	select {
	case tr := <-b.started:
		return tr
	case <-time.After(time.Second):
		t.Fatal("reload did not start")
		return ""
	}
}

// TestRunnerCoalesces: triggers arriving during a reload give exactly one
// more run, which reports the first of them.
func TestRunnerCoalesces(t *testing.T) {
	b := newBlockingReload(true)
	r := NewRunner(b.reload, 10)
	defer r.Close()

	r.Trigger(TriggerFile)
	if got := waitStarted(t, b); got != TriggerFile {
		t.Fatalf("first run trigger %q", got)
	}
	r.Trigger(TriggerSignal)
	for range 10 {
		r.Trigger(TriggerFile)
		r.Trigger(TriggerPoll)
	}
	b.gate <- struct{}{} // finish the first run
	if got := waitStarted(t, b); got != TriggerSignal {
		t.Fatalf("coalesced run trigger %q, want the first pending %q", got, TriggerSignal)
	}
	b.gate <- struct{}{}
	select {
	case tr := <-b.started:
		t.Fatalf("a third run (%q) started: the triggers were not coalesced", tr)
	case <-time.After(100 * time.Millisecond):
	}
	if h := r.History(); len(h) != 2 || h[0].Trigger != TriggerSignal || h[1].Trigger != TriggerFile {
		t.Fatalf("history %+v", h)
	}
}

// TestRunnerRunSerialised: Run waits for the reload in progress, never
// overlaps it, returns its own result, and satisfies a pending trigger.
func TestRunnerRunSerialised(t *testing.T) {
	b := newBlockingReload(true)
	r := NewRunner(b.reload, 10)
	defer r.Close()

	r.Trigger(TriggerFile)
	waitStarted(t, b)
	r.Trigger(TriggerPoll) // pending: the admin run below satisfies it
	got := make(chan Result)
	go func() { got <- r.Run(TriggerAdmin) }()
	select {
	case res := <-got:
		t.Fatalf("Run returned %+v during another reload", res)
	case <-time.After(50 * time.Millisecond):
	}
	b.gate <- struct{}{}
	tr := waitStarted(t, b)
	b.gate <- struct{}{}
	if tr == TriggerAdmin {
		res := <-got
		if res.Trigger != TriggerAdmin || !res.Success || res.Version != "v2" {
			t.Fatalf("Run result %+v", res)
		}
		select {
		case tr := <-b.started:
			t.Fatalf("pending trigger %q ran after the admin run that satisfied it", tr)
		case <-time.After(100 * time.Millisecond):
		}
	} else {
		// The loop took the pending poll trigger before Run got the lock;
		// Run then follows.
		if tr != TriggerPoll {
			t.Fatalf("second run %q", tr)
		}
		if tr := waitStarted(t, b); tr != TriggerAdmin {
			t.Fatalf("third run %q, want admin", tr)
		}
		b.gate <- struct{}{}
		if res := <-got; res.Trigger != TriggerAdmin || res.Version != "v3" {
			t.Fatalf("Run result %+v", res)
		}
	}
	if b.overlap.Load() {
		t.Fatal("two reloads overlapped")
	}
}

// TestRunnerStress: many goroutines triggering and running never overlap
// reloads, and every trigger is followed by a reload that starts after it.
func TestRunnerStress(t *testing.T) {
	b := newBlockingReload(false)
	var lastStart, calls atomic.Int64
	reload := func(tr Trigger) Result {
		lastStart.Store(time.Now().UnixNano())
		// Two more calls arrive while this reload runs (or a short while
		// passes, once the callers are done): they must coalesce.
		seen := calls.Load()
		wait.Check(50*time.Millisecond, func() bool { return calls.Load() >= seen+2 })
		return b.reload(tr)
	}
	r := NewRunner(reload, 5)
	defer r.Close()
	var wg sync.WaitGroup
	var lastTrigger atomic.Int64
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				calls.Add(1)
				if i%50 == 0 && g%2 == 0 {
					r.Run(TriggerAdmin)
					continue
				}
				lastTrigger.Store(time.Now().UnixNano())
				r.Trigger(TriggerFile)
			}
		})
	}
	wg.Wait()
	wait.For(t, "a reload to start after the last trigger", func() bool { return lastStart.Load() >= lastTrigger.Load() })
	if b.overlap.Load() {
		t.Fatal("two reloads overlapped")
	}
	n := len(b.triggers())
	t.Logf("1600 calls gave %d reloads", n)
	if n >= 1600 {
		t.Fatalf("%d reloads: nothing coalesced", n)
	}
	if h := r.History(); len(h) != 5 {
		t.Fatalf("history holds %d, want the bound 5", len(h))
	}
}

func TestRunnerHistory(t *testing.T) {
	results := []Result{
		{Success: true, Version: "a"},
		{Error: "config.yaml: plugins.x.rate: must be > 0"},
		{Success: true, Skipped: true},
		{Success: true, Skipped: true},
		{Success: true, Skipped: true},
		{Success: true, Version: "b"},
		{Success: true, Version: "c", Trigger: TriggerStart},
	}
	i := 0
	r := NewRunner(func(Trigger) Result { res := results[i]; i++; return res }, 4)
	defer r.Close()
	for range results {
		r.Run(TriggerAdmin)
	}
	h := r.History()
	want := []struct {
		version string
		skipped bool
		repeats int
		trigger Trigger
	}{
		{"c", false, 0, TriggerStart},
		{"b", false, 0, TriggerAdmin},
		{"", true, 2, TriggerAdmin},
		{"", false, 0, TriggerAdmin},
	}
	if len(h) != len(want) {
		t.Fatalf("history has %d entries, want %d: %+v", len(h), len(want), h)
	}
	for k, w := range want {
		if h[k].Version != w.version || h[k].Skipped != w.skipped || h[k].Repeats != w.repeats || h[k].Trigger != w.trigger {
			t.Errorf("history[%d] = %+v, want %+v", k, h[k], w)
		}
		if h[k].Time.IsZero() {
			t.Errorf("history[%d] has no time", k)
		}
	}
	if h[3].Error == "" {
		t.Error("the failed result lost its error")
	}
	for k := 1; k < len(h); k++ {
		if h[k].Time.After(h[k-1].Time) {
			t.Error("history is not newest first")
		}
	}
}

func TestRunnerFillsResult(t *testing.T) {
	fixed := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name  string
		in    Result
		check func(Result) error
	}{
		{"zero fields filled", Result{Success: true}, func(r Result) error {
			if r.Time.IsZero() || r.Duration <= 0 || r.Trigger != TriggerSignal {
				return fmt.Errorf("not filled: %+v", r)
			}
			return nil
		}},
		{"set fields kept", Result{Time: fixed, Duration: time.Second, Trigger: TriggerStart}, func(r Result) error {
			if !r.Time.Equal(fixed) || r.Duration != time.Second || r.Trigger != TriggerStart {
				return fmt.Errorf("overwritten: %+v", r)
			}
			return nil
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewRunner(func(Trigger) Result {
				// Take a measurable time: until the clock moves.
				for t0 := time.Now(); time.Since(t0) <= 0; {
					runtime.Gosched()
				}
				return tt.in
			}, 1)
			defer r.Close()
			if err := tt.check(r.Run(TriggerSignal)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestRunnerPanic(t *testing.T) {
	calls := 0
	r := NewRunner(func(Trigger) Result {
		calls++
		if calls == 1 {
			panic(errors.New("nil map"))
		}
		return Result{Success: true}
	}, 5)
	defer r.Close()
	res := r.Run(TriggerAdmin)
	if res.Success || res.Error == "" {
		t.Fatalf("panicking reload gave %+v", res)
	}
	if res := r.Run(TriggerAdmin); !res.Success {
		t.Fatalf("the runner did not survive the panic: %+v", res)
	}
}

func TestRunnerClose(t *testing.T) {
	b := newBlockingReload(true)
	r := NewRunner(b.reload, 5)
	r.Trigger(TriggerFile)
	waitStarted(t, b)
	r.Trigger(TriggerFile) // pending, dropped by Close
	closed := make(chan struct{})
	go func() { r.Close(); close(closed) }()
	select {
	case <-closed:
		t.Fatal("Close returned while a reload was running")
	case <-time.After(50 * time.Millisecond):
	}
	b.gate <- struct{}{}
	<-closed
	r.Close()
	r.Trigger(TriggerFile)
	if res := r.Run(TriggerAdmin); res.Success || res.Error == "" {
		t.Fatalf("Run after Close = %+v", res)
	}
	if n := len(b.triggers()); n != 1 {
		t.Fatalf("%d reloads, want 1", n)
	}
}

func TestNewRunnerNil(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("NewRunner(nil) did not panic")
		}
	}()
	NewRunner(nil, 1)
}

func TestChangesString(t *testing.T) {
	tests := []struct {
		name  string
		c     Changes
		want  string
		empty bool
	}{
		{"none", Changes{}, "routes +0 -0 ~0, plugins +0 =0 -0", true},
		{"kept only", Changes{PluginsKept: []string{"a", "b"}}, "routes +0 -0 ~0, plugins +0 =2 -0", true},
		{"all", Changes{
			RoutesAdded:    []string{"/a"},
			RoutesChanged:  []string{"/b", "/c"},
			PluginsCreated: []string{"gzip"},
			PluginsKept:    []string{"x", "y", "z"},
			PluginsRetired: []string{"old"},
		}, "routes +1 -0 ~2, plugins +1 =3 -1", false},
		{"removed", Changes{RoutesRemoved: []string{"/a"}}, "routes +0 -1 ~0, plugins +0 =0 -0", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.c.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
			if got := tt.c.Empty(); got != tt.empty {
				t.Errorf("Empty() = %v, want %v", got, tt.empty)
			}
		})
	}
}

func BenchmarkRunnerTrigger(b *testing.B) {
	r := NewRunner(func(Trigger) Result { return Result{Success: true} }, 10)
	defer r.Close()
	b.ReportAllocs()
	for b.Loop() {
		r.Trigger(TriggerFile)
	}
}
