package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/switchyard/switchyard/cmd/bench/internal/hist"
	"github.com/switchyard/switchyard/cmd/bench/internal/loadgen"
	"github.com/switchyard/switchyard/cmd/bench/internal/scenario"
	"github.com/switchyard/switchyard/cmd/bench/internal/suite"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

const usage = `usage:
  bench load [flags] URL      load one URL, closed loop (-c) or open loop (-rate)
  bench suite [flags]         run the scenario suite against Switchyard and its baselines

Run "bench load -h" or "bench suite -h" for the flags.
`

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "load":
		return loadCmd(args[1:], stdout, stderr)
	case "suite":
		return suiteCmd(args[1:], stdout, stderr)
	case "serve": // hidden: a server child process of the suite
		return suite.Serve(args[1:], stdin, stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "bench: unknown command %q\n%s", args[0], usage)
	return 2
}

// headerFlag collects repeated -H 'Name: value' flags.
type headerFlag struct{ h http.Header }

func (f *headerFlag) String() string { return "" }

func (f *headerFlag) Set(s string) error {
	name, value, ok := strings.Cut(s, ":")
	name = strings.TrimSpace(name)
	if !ok || name == "" {
		return fmt.Errorf("%q: want 'Name: value'", s)
	}
	f.h.Add(name, strings.TrimSpace(value))
	return nil
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

func loadCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	conc := fs.Int("c", loadgen.DefaultConcurrency, "connections (workers), each with one request in flight")
	dur := fs.Duration("d", 0, "duration (default 10s when -n is not given)")
	n := fs.Int64("n", 0, "number of requests")
	rate := fs.Float64("rate", 0, "open loop: requests per second, latency from each request's due time")
	timeout := fs.Duration("timeout", loadgen.DefaultTimeout, "wait for each response's headers at most this long")
	method := fs.String("m", http.MethodGet, "request method")
	body := fs.String("body", "", "request body")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	hdr := &headerFlag{h: http.Header{}}
	fs.Var(hdr, "H", "request header 'Name: value' (repeatable)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: bench load [flags] URL")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	target := fs.Arg(0)
	if err := fs.Parse(fs.Args()[1:]); err != nil { // flags after the URL
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "bench load: one URL only, got also %q\n", fs.Args())
		return 2
	}
	if *dur == 0 && *n == 0 {
		*dur = 10 * time.Second
	}
	cfg := loadgen.Config{URL: target, Method: *method, Header: hdr.h, Body: []byte(*body),
		Concurrency: *conc, Duration: *dur, Requests: *n, Rate: *rate, Timeout: *timeout}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintln(stderr, "bench load:", err)
		return 2
	}
	progress := !*asJSON && isTerminal(stdout)
	if progress {
		cfg.Progress = func(p loadgen.Progress) { fmt.Fprint(stdout, "\r"+progressLine(p, cfg.Rate)) }
	}
	ctx, cancel := signalContext()
	defer cancel()
	res, err := loadgen.Run(ctx, cfg)
	if progress {
		fmt.Fprint(stdout, "\r\033[K")
	}
	if err != nil {
		fmt.Fprintln(stderr, "bench load:", err)
		return 1
	}
	sum := summarize(cfg, res)
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(sum); err != nil {
			fmt.Fprintln(stderr, "bench load:", err)
			return 1
		}
	} else {
		sum.text(stdout)
	}
	if res.Requests > 0 && res.Errors == res.Requests {
		return 1
	}
	return 0
}

// progressLine renders a progress bar, the requests done and the errors.
func progressLine(p loadgen.Progress, rate float64) string {
	const width = 30
	full := int(p.Fraction * width)
	bar := strings.Repeat("=", full) + strings.Repeat(" ", width-full)
	rps := 0.0
	if s := p.Elapsed.Seconds(); s > 0 {
		rps = float64(p.Done) / s
	}
	mode := "closed loop"
	if rate > 0 {
		mode = fmt.Sprintf("open loop %.0f/s", rate)
	}
	return fmt.Sprintf("[%s] %3.0f%%  %s  %d requests  %.0f req/s  %d errors  ",
		bar, 100*p.Fraction, mode, p.Done, rps, p.Errors)
}

// Latency is a latency distribution in milliseconds.
type Latency struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P95  float64 `json:"p95"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p99_9"`
	Max  float64 `json:"max"`
	Min  float64 `json:"min"`
	Mean float64 `json:"mean"`
}

func latencyOf(h *hist.Histogram) Latency {
	ms := func(ns int64) float64 { return float64(ns) / 1e6 }
	return Latency{P50: ms(h.Quantile(0.5)), P90: ms(h.Quantile(0.9)), P95: ms(h.Quantile(0.95)),
		P99: ms(h.Quantile(0.99)), P999: ms(h.Quantile(0.999)), Max: ms(h.Max()), Min: ms(h.Min()), Mean: h.Mean() / 1e6}
}

// Summary is the report of `bench load`.
type Summary struct {
	URL         string            `json:"url"`
	Mode        string            `json:"mode"`
	Concurrency int               `json:"concurrency"`
	Rate        float64           `json:"rate,omitempty"`
	Seconds     float64           `json:"seconds"`
	Requests    int64             `json:"requests"`
	Throughput  float64           `json:"throughput_rps"`
	Bytes       int64             `json:"bytes"`
	Errors      int64             `json:"errors"`
	ErrorKinds  map[string]int64  `json:"error_kinds"`
	ErrorSample map[string]string `json:"error_samples,omitempty"`
	Status      map[string]int64  `json:"status"`
	// LatencyMS is from each request's due time in the open loop (corrected
	// for coordinated omission), from its send in the closed loop.
	LatencyMS Latency `json:"latency_ms"`
	// ServiceMS is from each request's actual send (open loop only).
	ServiceMS *Latency `json:"service_time_ms,omitempty"`
}

func summarize(cfg loadgen.Config, res *loadgen.Result) Summary {
	s := Summary{URL: cfg.URL, Mode: res.Mode, Concurrency: res.Concurrency, Rate: res.Rate,
		Seconds: res.Elapsed.Seconds(), Requests: res.Requests, Throughput: res.Throughput(), Bytes: res.Bytes,
		Errors: res.Errors, ErrorKinds: res.ErrorKinds, ErrorSample: res.ErrorSample, Status: map[string]int64{},
		LatencyMS: latencyOf(res.Latency)}
	for code, n := range res.Status {
		s.Status[strconv.Itoa(code)] = n
	}
	if res.Mode == "open" {
		l := latencyOf(res.Service)
		s.ServiceMS = &l
	}
	return s
}

func (s Summary) text(w io.Writer) {
	mode := fmt.Sprintf("closed loop, %d connections", s.Concurrency)
	if s.Mode == "open" {
		mode = fmt.Sprintf("open loop at %.0f req/s, %d connections", s.Rate, s.Concurrency)
	}
	fmt.Fprintf(w, "%s: %s\n", mode, s.URL)
	fmt.Fprintf(w, "  requests   %d in %.2fs: %.1f req/s, %.2f MB read\n", s.Requests, s.Seconds, s.Throughput, float64(s.Bytes)/1e6)
	var codes []string
	for _, c := range slices.Sorted(maps.Keys(s.Status)) {
		codes = append(codes, fmt.Sprintf("%s: %d", c, s.Status[c]))
	}
	fmt.Fprintf(w, "  status     %s\n", strings.Join(codes, ", "))
	fmt.Fprintf(w, "  errors     %d", s.Errors)
	for _, k := range slices.Sorted(maps.Keys(s.ErrorKinds)) {
		fmt.Fprintf(w, "\n    %-22s %d", k, s.ErrorKinds[k])
		if m := s.ErrorSample[k]; m != "" {
			fmt.Fprintf(w, "  (%s)", m)
		}
	}
	fmt.Fprintln(w)
	lat := func(name string, l Latency) {
		fmt.Fprintf(w, "  %-10s p50 %.3f  p90 %.3f  p95 %.3f  p99 %.3f  p99.9 %.3f  max %.3f  (ms)\n",
			name, l.P50, l.P90, l.P95, l.P99, l.P999, l.Max)
	}
	if s.ServiceMS != nil {
		lat("latency", s.LatencyMS)
		lat("service", *s.ServiceMS)
		fmt.Fprintln(w, "  (latency from each request's due time, corrected for coordinated omission; service time from its send)")
	} else {
		lat("latency", s.LatencyMS)
	}
}

// listFlag is a comma-separated list.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(s string) error {
	for p := range strings.SplitSeq(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, p)
		}
	}
	return nil
}

// writeFile creates path and writes it with write.
func writeFile(path string, write func(io.Writer)) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	write(f)
	return f.Close()
}

func suiteCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench suite", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o suite.Options
	fs.BoolVar(&o.Short, "short", false, "the quick suite: 3 rounds of 2s per server (the long one: 5 rounds of 10s)")
	fs.IntVar(&o.Rounds, "rounds", 0, "interleaved rounds per scenario, at least 3 (default 3 with -short, else 5)")
	fs.DurationVar(&o.Duration, "d", 0, "length of each measured run (default 2s with -short, else 10s)")
	fs.DurationVar(&o.Warmup, "warmup", 0, "warm-up load per server (default 1s with -short, else 3s)")
	fs.IntVar(&o.Concurrency, "c", 32, "closed-loop connections")
	var scen listFlag
	fs.Var(&scen, "scenarios", "comma-separated scenarios to run (default all: "+strings.Join(scenario.Names(), ",")+")")
	out := fs.String("o", "", "write the report as Markdown to this file (e.g. docs/benchmarks.md)")
	asJSON := fs.String("json", "", "write the report as JSON to this file")
	fs.StringVar(&o.MemProfile, "memprofile", "", "each server writes a heap profile to this name + -<scenario>-<server>")
	fs.StringVar(&o.CPUProfile, "cpuprofile", "", "each server writes a CPU profile to this name + -<scenario>-<server>")
	quiet := fs.Bool("q", false, "do not print a line per measured run")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "bench suite: unexpected arguments %q\n", fs.Args())
		return 2
	}
	o.Scenarios = scen
	o.Command = commandLine(append([]string{"suite"}, args...))
	if !*quiet {
		o.Log = stderr
	}
	if isTerminal(stderr) {
		o.Progress = stderr
	}
	ctx, cancel := signalContext()
	defer cancel()
	rep, err := suite.Run(ctx, o)
	if err != nil {
		fmt.Fprintln(stderr, "bench suite:", err)
		if errors.Is(err, context.Canceled) {
			return 130
		}
		return 1
	}
	rep.Text(stdout)
	if *out != "" {
		// The chart goes next to the Markdown, which embeds it.
		chart := strings.TrimSuffix(*out, filepath.Ext(*out)) + ".svg"
		if err := writeFile(chart, rep.SVG); err != nil {
			fmt.Fprintln(stderr, "bench suite: -o:", err)
			return 1
		}
		rep.Chart = filepath.Base(chart)
		f, err := os.Create(*out)
		if err != nil {
			fmt.Fprintln(stderr, "bench suite: -o:", err)
			return 1
		}
		rep.Markdown(f)
		if err := f.Close(); err != nil {
			fmt.Fprintln(stderr, "bench suite: -o:", err)
			return 1
		}
		fmt.Fprintln(stdout, "wrote", *out)
	}
	if *asJSON != "" {
		b, err := json.MarshalIndent(rep, "", "  ")
		if err == nil {
			err = os.WriteFile(*asJSON, append(b, '\n'), 0o644)
		}
		if err != nil {
			fmt.Fprintln(stderr, "bench suite: -json:", err)
			return 1
		}
	}
	return 0
}

// commandLine shows how the suite was started: `go run ./cmd/bench ...` when
// the binary is a go run build, `bench ...` otherwise.
func commandLine(args []string) string {
	prog := "bench"
	if exe, err := os.Executable(); err == nil && strings.Contains(exe, "go-build") {
		prog = "go run ./cmd/bench"
	}
	return prog + " " + strings.Join(args, " ")
}
