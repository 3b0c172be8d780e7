package suite

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/switchyard/switchyard/cmd/bench/internal/scenario"
)

// The protocol between the suite and a server child process: the child
// prints "READY <addr>" on stdout once it listens, serves until its stdin
// closes (or SIGTERM), then prints "STATS <json>" and exits. Nothing else is
// written to stdout; logs go to stderr.
const (
	readyPrefix = "READY "
	statsPrefix = "STATS "
)

// ChildStats is what a server child reports when it stops.
type ChildStats struct {
	// HeapPeak is the largest heap in use sampled while serving, in bytes.
	HeapPeak uint64 `json:"heap_peak"`
	// VmHWMKB is the child's own peak RSS from /proc/self/status, in KiB.
	VmHWMKB int64 `json:"vmhwm_kb"`
	// ReloadsOK and ReloadsFailed count config loads, the first included.
	ReloadsOK     int `json:"reloads_ok"`
	ReloadsFailed int `json:"reloads_failed"`
	// Goroutines is the goroutine count when the child stopped serving.
	Goroutines int `json:"goroutines"`
	// ReloadMedian and ReloadMax are the median and longest durations of
	// the recent applied reloads (parse, validate, build, swap).
	ReloadMedian time.Duration `json:"reload_median_ns,omitempty"`
	ReloadMax    time.Duration `json:"reload_max_ns,omitempty"`
}

// Serve is the hidden `bench serve` command: it runs one server of one
// scenario as the child process of a suite run.
func Serve(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	name := fs.String("scenario", "", "scenario name")
	kind := fs.String("server", scenario.Switchyard, "server kind: switchyard, net/http or chi")
	dir := fs.String("dir", "", "directory for the server's files (database, config)")
	addr := fs.String("addr", "127.0.0.1:0", "listen address")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	memProfile := fs.String("memprofile", "", "write a heap profile to this file when stopping")
	logLevel := fs.String("log-level", "warn", "Switchyard log level")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintln(stderr, "bench serve: -log-level:", err)
		return 2
	}
	if *dir == "" {
		d, err := os.MkdirTemp("", "bench-serve-")
		if err != nil {
			fmt.Fprintln(stderr, "bench serve:", err)
			return 1
		}
		defer os.RemoveAll(d)
		*dir = d
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintln(stderr, "bench serve: -cpuprofile:", err)
			return 1
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(stderr, "bench serve: -cpuprofile:", err)
			return 1
		}
		defer func() { pprof.StopCPUProfile(); _ = f.Close() }()
	}

	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lvl}))
	in, err := scenario.Build(*name, *kind, scenario.Env{Dir: *dir, Logger: logger})
	if err != nil {
		fmt.Fprintln(stderr, "bench serve:", err)
		return 1
	}
	bound, err := in.Start(*addr)
	if err != nil {
		in.Close()
		fmt.Fprintln(stderr, "bench serve:", err)
		return 1
	}
	sampler := startHeapSampler(100 * time.Millisecond)
	fmt.Fprintln(stdout, readyPrefix+bound)

	stop := make(chan struct{})
	var once sync.Once
	go func() { _, _ = io.Copy(io.Discard, stdin); once.Do(func() { close(stop) }) }()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
	defer signal.Stop(sig)
	select {
	case <-stop:
	case <-sig:
	}

	st := ChildStats{HeapPeak: sampler.stop(), Goroutines: runtime.NumGoroutine()}
	st.ReloadsOK, st.ReloadsFailed = in.Reloads()
	if ts := in.ReloadTimes(); len(ts) > 0 {
		slices.Sort(ts)
		st.ReloadMedian, st.ReloadMax = ts[len(ts)/2], ts[len(ts)-1]
	}
	if kb, err := VmHWM(os.Getpid()); err == nil {
		st.VmHWMKB = kb
	}
	if *memProfile != "" {
		if err := writeHeapProfile(*memProfile); err != nil {
			fmt.Fprintln(stderr, "bench serve: -memprofile:", err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := in.Shutdown(ctx); err != nil {
		fmt.Fprintln(stderr, "bench serve: shutdown:", err)
	}
	b, _ := json.Marshal(st)
	fmt.Fprintln(stdout, statsPrefix+string(b))
	return 0
}

func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	runtime.GC() // the profile shows the state as of the last collection
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// heapSampler records the largest heap in use (objects plus the unused
// part of in-use spans, the runtime's HeapInuse) at an interval, through
// runtime/metrics, which does not stop the world.
type heapSampler struct {
	peak atomic.Uint64
	done chan struct{}
	wg   sync.WaitGroup
}

func startHeapSampler(every time.Duration) *heapSampler {
	s := &heapSampler{done: make(chan struct{})}
	samples := []metrics.Sample{
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/memory/classes/heap/unused:bytes"},
	}
	read := func() {
		metrics.Read(samples)
		var v uint64
		for _, sm := range samples {
			if sm.Value.Kind() == metrics.KindUint64 {
				v += sm.Value.Uint64()
			}
		}
		if v > s.peak.Load() {
			s.peak.Store(v)
		}
	}
	read()
	s.wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-s.done:
				read()
				return
			case <-t.C:
				read()
			}
		}
	})
	return s
}

func (s *heapSampler) stop() uint64 {
	close(s.done)
	s.wg.Wait()
	return s.peak.Load()
}
