// Package suite runs the benchmark scenarios: every server as a child
// process of the bench binary (so that each has a peak RSS of its own), the
// load generated in the bench process, Switchyard and its baseline measured
// in interleaved rounds on the same machine in the same run, and the result
// written as a report.
package suite

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchyard/switchyard/cmd/bench/internal/loadgen"
	"github.com/switchyard/switchyard/cmd/bench/internal/scenario"
)

// Options configure a suite run. Zero values take the defaults of the
// short or the long suite.
type Options struct {
	// Short selects the quick suite: 5 rounds of 1 s per server, 1 s warm-up.
	// The long suite runs 5 rounds of 10 s after a 3 s warm-up.
	Short bool
	// Rounds is the number of interleaved rounds; at least 3.
	Rounds int
	// Duration is the length of each measured run.
	Duration time.Duration
	// Warmup is the load sent to each server before the rounds.
	Warmup time.Duration
	// Concurrency is the closed-loop connection count. Default 32.
	Concurrency int
	// Scenarios restricts the run to these names; empty runs them all.
	Scenarios []string
	// Exe is the bench binary to start servers from; empty means this one.
	Exe string
	// MemProfile, when set, makes each server write a heap profile to this
	// name with "-<scenario>-<server>" inserted before the extension.
	MemProfile string
	// CPUProfile does the same for a CPU profile of each server's whole run.
	CPUProfile string
	// Log receives a line per measured run; nil discards.
	Log io.Writer
	// Progress, when set (a terminal), receives a line as each scenario
	// starts: which of how many, the time elapsed and an estimate of the
	// time left.
	Progress io.Writer
	// Command is the command line shown in the report.
	Command string
}

func (o *Options) defaults() error {
	if o.Short {
		o.Rounds = cmp.Or(o.Rounds, 5)
		o.Duration = cmp.Or(o.Duration, time.Second)
		o.Warmup = cmp.Or(o.Warmup, time.Second)
	} else {
		o.Rounds = cmp.Or(o.Rounds, 5)
		o.Duration = cmp.Or(o.Duration, 10*time.Second)
		o.Warmup = cmp.Or(o.Warmup, 3*time.Second)
	}
	o.Concurrency = cmp.Or(o.Concurrency, 32)
	if o.Log == nil {
		o.Log = io.Discard
	}
	switch {
	case o.Rounds < 3:
		return fmt.Errorf("-rounds: %d is too few; the medians need at least 3 interleaved rounds", o.Rounds)
	case o.Duration < 100*time.Millisecond:
		return fmt.Errorf("-d: %s is too short to measure", o.Duration)
	case o.Warmup < 0:
		return fmt.Errorf("-warmup: must not be negative")
	case o.Concurrency < 1:
		return fmt.Errorf("-c: must be at least 1")
	}
	for _, n := range o.Scenarios {
		if _, ok := scenario.Lookup(n); !ok {
			return fmt.Errorf("-scenarios: unknown scenario %q (have %s)", n, strings.Join(scenario.Names(), ", "))
		}
	}
	if o.Exe == "" {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("finding the bench binary: %w", err)
		}
		o.Exe = exe
	}
	return nil
}

// Run measures every scenario selected by opts.
func Run(ctx context.Context, opts Options) (*Report, error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	rep := &Report{Started: time.Now(), Command: opts.Command, Machine: readMachine(), GoVersion: runtime.Version(), Options: opts}
	rep.Machine.LoadBefore = loadAverage()
	s := &runner{opts: opts}
	var todo []scenario.Scenario
	for _, sc := range scenario.All() {
		if len(opts.Scenarios) == 0 || slices.Contains(opts.Scenarios, sc.Name) {
			todo = append(todo, sc)
		}
	}
	for k, sc := range todo {
		if opts.Progress != nil {
			fmt.Fprintln(opts.Progress, progressLine(k, len(todo), sc.Title, time.Since(rep.Started), opts.planned()))
		}
		res, err := s.scenario(ctx, sc)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", sc.Title, err)
		}
		rep.Scenarios = append(rep.Scenarios, res)
	}
	rep.Machine.LoadAfter = loadAverage()
	rep.Took = time.Since(rep.Started)
	return rep, nil
}

// planned is how long one scenario's measured load lasts: both servers'
// warm-up, rounds and open-loop run.
func (o *Options) planned() time.Duration {
	return 2 * (o.Warmup + time.Duration(o.Rounds)*o.Duration + max(2*time.Second, o.Duration))
}

// progressLine says which scenario starts, the time elapsed and the time
// left: the scenarios still to run at the average pace so far, or at the
// planned length of one before any has finished.
func progressLine(k, n int, title string, elapsed, planned time.Duration) string {
	per := planned
	if k > 0 {
		per = elapsed / time.Duration(k)
	}
	left := per * time.Duration(n-k)
	return fmt.Sprintf("[%d/%d] %s  elapsed %s, about %s left", k+1, n, title,
		elapsed.Round(time.Second), left.Round(time.Second))
}

type runner struct {
	opts    Options
	runs    atomic.Uint64 // distinct request numbering per run
	version int           // reload scenario: the last config version written
}

// side is one of the two servers compared in a scenario.
type side struct {
	label  string
	kind   string
	child  *child
	reload bool   // rewrite the config while measuring
	dir    string // the child's directory (the reload scenario's config file)
	res    ServerResult
	// lastCPU is the server's CPU time per request in the last run.
	lastCPU time.Duration
}

// profileName inserts "-<scenario>-<kind>" before the extension of base.
func profileName(base, sc, kind string) string {
	if base == "" {
		return ""
	}
	ext := filepath.Ext(base)
	k := strings.NewReplacer("/", "", " ", "").Replace(kind)
	return strings.TrimSuffix(base, ext) + "-" + sc + "-" + k + ext
}

func (s *runner) start(ctx context.Context, sc scenario.Scenario, kind, dir string) (*child, error) {
	args := []string{"-scenario", sc.Name, "-server", kind, "-dir", dir}
	if f := profileName(s.opts.CPUProfile, sc.Name, kind); f != "" {
		args = append(args, "-cpuprofile", f)
	}
	if f := profileName(s.opts.MemProfile, sc.Name, kind); f != "" {
		args = append(args, "-memprofile", f)
	}
	return startChild(ctx, sc.Name+"/"+kind, s.opts.Exe, args)
}

func (s *runner) scenario(ctx context.Context, sc scenario.Scenario) (res ScenarioResult, err error) {
	res.Scenario, res.Name = sc, sc.Name
	dir, err := os.MkdirTemp("", "bench-"+sc.Name+"-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)

	var a, b *side
	if sc.Reload {
		c, err := s.start(ctx, sc, scenario.Switchyard, dir)
		if err != nil {
			return res, err
		}
		a = &side{label: "switchyard, 10 rewrites/s", kind: scenario.Switchyard, child: c, reload: true, dir: dir}
		b = &side{label: "switchyard, no rewrites", kind: scenario.Switchyard, child: c}
	} else {
		ca, err := s.start(ctx, sc, scenario.Switchyard, dir)
		if err != nil {
			return res, err
		}
		cb, err := s.start(ctx, sc, sc.Baseline, dir)
		if err != nil {
			_, _ = ca.stop()
			return res, err
		}
		a = &side{label: scenario.Switchyard, kind: scenario.Switchyard, child: ca}
		b = &side{label: sc.Baseline, kind: sc.Baseline, child: cb}
	}
	sides := []*side{a, b}
	children := []*child{a.child}
	if b.child != a.child {
		children = append(children, b.child)
	}
	defer func() {
		for _, c := range children {
			st, serr := c.stop()
			if serr != nil && err == nil {
				err = serr
			}
			for _, sd := range sides {
				if sd.child == c {
					sd.res.Stats = st
				}
			}
		}
		res.A, res.B = a.res, b.res
		res.evaluate()
	}()

	// Warm-up: connections, caches, the JIT-free but lazy parts of every
	// server (route caches, pools, the SQLite page cache).
	for _, sd := range sides {
		if sd.reload || s.opts.Warmup == 0 {
			continue
		}
		if _, err := s.load(ctx, sc, sd, s.opts.Warmup, 0, s.opts.Concurrency); err != nil {
			return res, err
		}
	}
	// Interleaved rounds: A B A B ...
	for r := range s.opts.Rounds {
		for _, sd := range sides {
			lr, err := s.load(ctx, sc, sd, s.opts.Duration, 0, s.opts.Concurrency)
			if err != nil {
				return res, err
			}
			rr := roundOf(lr)
			rr.CPUPerRequest = sd.lastCPU
			sd.res.Rounds = append(sd.res.Rounds, rr)
			fmt.Fprintf(s.opts.Log, "%-18s %-26s round %d/%d  %9.0f req/s  p50 %6.2f ms  p99 %7.2f ms  errors %d\n",
				sc.Title, sd.label, r+1, s.opts.Rounds, rr.Throughput, ms(rr.P50), ms(rr.P99), rr.Errors)
		}
	}
	// Latency at a fixed rate, open loop, the same rate for both.
	res.Rate = openRate(sc, a.res.median(func(r Round) float64 { return r.Throughput }),
		b.res.median(func(r Round) float64 { return r.Throughput }))
	for _, sd := range sides {
		lr, err := s.load(ctx, sc, sd, max(2*time.Second, s.opts.Duration), res.Rate, max(64, s.opts.Concurrency))
		if err != nil {
			return res, err
		}
		rr := roundOf(lr)
		sd.res.Open = &rr
		fmt.Fprintf(s.opts.Log, "%-18s %-26s open loop %5.0f req/s  p50 %6.2f ms  p99 %7.2f ms  errors %d\n",
			sc.Title, sd.label, res.Rate, ms(rr.P50), ms(rr.P99), rr.Errors)
	}
	for _, sd := range sides {
		if kb, err := sd.child.peakRSS(); err == nil {
			sd.res.PeakRSS = kb * 1024
		}
		sd.res.PeakAnon = sd.child.anonPeak.Load()
		sd.res.PeakFile = sd.child.filePeak.Load()
	}
	return res, nil
}

// openRate is the rate of the fixed-rate run: 40% of the slower server's
// closed-loop throughput, and never above the design's throughput.
func openRate(sc scenario.Scenario, a, b float64) float64 {
	r := 0.4 * min(a, b)
	if sc.Design != nil {
		r = min(r, sc.Design.Throughput)
	}
	return max(100, math.Round(r/100)*100)
}

// load runs the load generator against one side; for a reloading side the
// config file is rewritten ten times a second meanwhile.
func (s *runner) load(ctx context.Context, sc scenario.Scenario, sd *side, d time.Duration, rate float64, conc int) (*loadgen.Result, error) {
	off := s.runs.Add(1) << 32
	base := "http://" + sd.child.addr
	cfg := loadgen.Config{
		Target:      func(i uint64) string { return base + sc.Path(i+off) },
		Header:      sc.Header,
		Concurrency: conc,
		Duration:    d,
		Rate:        rate,
	}
	var stop func() (int, error)
	if sd.reload {
		stop = s.rewrite(sd.dir)
	}
	cpu0, cerr := sd.child.cpuTime()
	res, err := loadgen.Run(ctx, cfg)
	if cpu1, cerr1 := sd.child.cpuTime(); err == nil && cerr == nil && cerr1 == nil && res.Requests > 0 {
		sd.lastCPU = (cpu1 - cpu0) / time.Duration(res.Requests)
	} else {
		sd.lastCPU = 0
	}
	if stop != nil {
		n, werr := stop()
		sd.res.Writes += n
		if werr != nil && err == nil {
			err = fmt.Errorf("rewriting the config: %w", werr)
		}
	}
	return res, err
}

// rewrite starts rewriting the reload scenario's config in dir every 100 ms
// and returns the function that stops it and reports the writes made.
func (s *runner) rewrite(dir string) func() (int, error) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	var n int
	var werr error
	wg.Go(func() {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				s.version++
				if err := scenario.WriteReloadConfig(dir, s.version); err != nil {
					werr = err
					return
				}
				n++
			}
		}
	})
	return func() (int, error) {
		close(done)
		wg.Wait()
		return n, werr
	}
}

func ms(ns int64) float64 { return float64(ns) / 1e6 }
