package suite

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/switchyard/switchyard/cmd/bench/internal/scenario"
)

func TestParseProc(t *testing.T) {
	status := []byte("Name:\tbench\nVmPeak:\t  1000 kB\nVmHWM:\t   18820 kB\nVmRSS:\t 18000 kB\nRssAnon:\t    2868 kB\n")
	if kb, err := parseVmHWM(status); err != nil || kb != 18820 {
		t.Errorf("parseVmHWM = %d, %v; want 18820", kb, err)
	}
	if kb, err := statusField(status, "RssAnon:"); err != nil || kb != 2868 {
		t.Errorf("RssAnon = %d, %v; want 2868", kb, err)
	}
	if _, err := parseVmHWM([]byte("Name: x\n")); err == nil {
		t.Error("parseVmHWM without the line: no error")
	}
	if _, err := statusField([]byte("VmHWM: lots\n"), "VmHWM:"); err == nil {
		t.Error("malformed VmHWM: no error")
	}

	// pid (comm with spaces) state ppid ... utime=14th stime=15th field.
	stat := []byte("4242 (bench serve (x)) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 130 0 0 20 0 9 0 100 0 0\n")
	if d, err := parseCPUTime(stat); err != nil || d != 3800*time.Millisecond {
		t.Errorf("parseCPUTime = %s, %v; want 3.8s", d, err)
	}
	if _, err := parseCPUTime([]byte("4242 (x) S 1 2")); err == nil {
		t.Error("parseCPUTime of a short line: no error")
	}
}

func TestMachineParsers(t *testing.T) {
	if got := cpuModel([]byte("processor\t: 0\nmodel name\t: Test CPU @ 3GHz\nflags: x\n")); got != "Test CPU @ 3GHz" {
		t.Errorf("cpuModel = %q", got)
	}
	if got := memTotalKB([]byte("MemTotal:       24684092 kB\nMemFree: 1 kB\n")); got != 24684092 {
		t.Errorf("memTotalKB = %d", got)
	}
	if m := readMachine(); m.CPUs < 1 {
		t.Errorf("readMachine: %+v", m)
	}
}

func TestMedianAndRates(t *testing.T) {
	cases := []struct {
		in   []float64
		want float64
	}{
		{nil, 0}, {[]float64{3}, 3}, {[]float64{5, 1, 3}, 3}, {[]float64{4, 1, 3, 2}, 2.5},
	}
	for _, tc := range cases {
		if got := median(tc.in); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
	fast, _ := scenario.Lookup(scenario.Fast)
	routed, _ := scenario.Lookup(scenario.Routed)
	if got := openRate(fast, 200_000, 300_000); got != 50_000 {
		t.Errorf("openRate capped by the design = %v, want 50000", got)
	}
	if got := openRate(routed, 31_000, 30_123); got != 12_000 {
		t.Errorf("openRate = %v, want 12000 (40%% of the slower, rounded)", got)
	}
	if got := openRate(routed, 10, 10); got != 100 {
		t.Errorf("openRate floor = %v, want 100", got)
	}
	if got := profileName("/tmp/cpu.pprof", "fast", "net/http"); got != "/tmp/cpu-fast-nethttp.pprof" {
		t.Errorf("profileName = %q", got)
	}
	if got := profileName("", "fast", "chi"); got != "" {
		t.Errorf("profileName of nothing = %q", got)
	}
}

func rounds(tput ...float64) []Round {
	var out []Round
	for _, v := range tput {
		out = append(out, Round{Throughput: v, P99: int64(1e6 * 10_000 / v), CPUPerRequest: time.Duration(1e9 / v)})
	}
	return out
}

func TestEvaluate(t *testing.T) {
	full, _ := scenario.Lookup(scenario.Full)
	reload, _ := scenario.Lookup(scenario.Reload)
	cases := []struct {
		name   string
		res    ScenarioResult
		ratio  float64
		failed []string // verdicts not met
	}{
		{
			name: "full stack met",
			res: ScenarioResult{Scenario: full,
				A: ServerResult{Rounds: rounds(15_000, 14_500, 16_000), PeakRSS: 80e6},
				B: ServerResult{Rounds: rounds(10_000, 10_000, 10_000), PeakRSS: 90e6}},
			ratio: 1.5,
		},
		{
			name: "full stack slow and fat",
			res: ScenarioResult{Scenario: full,
				A: ServerResult{Rounds: rounds(11_000, 12_000, 11_500), PeakRSS: 120e6},
				B: ServerResult{Rounds: rounds(10_000, 10_000, 10_000)}},
			ratio:  1.15,
			failed: []string{"throughput vs chi", "CPU/request vs chi", "Switchyard peak RSS"},
		},
		{
			name: "reload with errors",
			res: ScenarioResult{Scenario: reload,
				A: ServerResult{Rounds: []Round{{Throughput: 1, P99: 30, Errors: 2, ErrorKinds: map[string]int64{"status 502": 2}}, {Throughput: 1, P99: 10}, {Throughput: 1, P99: 10}},
					Writes: 30, Stats: ChildStats{ReloadsOK: 31}, PeakRSS: 50e6},
				B: ServerResult{Rounds: []Round{{Throughput: 1, P99: 10}, {Throughput: 1, P99: 10}, {Throughput: 1, P99: 10}}}},
			ratio:  1,
			failed: []string{"errors during rewrites"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.res.evaluate()
			if d := tc.res.Ratio - tc.ratio; d > 0.001 || d < -0.001 {
				t.Errorf("Ratio = %.3f, want %.3f", tc.res.Ratio, tc.ratio)
			}
			var failed []string
			for _, v := range tc.res.Verdicts {
				if !v.OK {
					failed = append(failed, v.What)
				}
			}
			if strings.Join(failed, ",") != strings.Join(tc.failed, ",") {
				t.Errorf("failed verdicts %q, want %q (all: %+v)", failed, tc.failed, tc.res.Verdicts)
			}
		})
	}
}

func TestReportRendering(t *testing.T) {
	fast, _ := scenario.Lookup(scenario.Fast)
	open := Round{P50: 5e5, P99: 2e6, Max: 3e6}
	sr := ScenarioResult{Name: fast.Name, Scenario: fast, Rate: 20_000,
		A: ServerResult{Rounds: rounds(30_000, 31_000, 29_000), Open: &open, PeakRSS: 27e6, PeakAnon: 4e6},
		B: ServerResult{Rounds: rounds(31_000, 32_000, 30_000), Open: &open, PeakRSS: 26e6, PeakAnon: 3e6}}
	sr.evaluate()
	rep := &Report{Started: time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC), Command: "bench suite -short",
		Machine: Machine{CPU: "Test CPU", CPUs: 2, LoadBefore: "5.00 1 1", LoadAfter: "0.5 1 1"}, GoVersion: "go1.26",
		Options: Options{Rounds: 3, Duration: time.Second, Concurrency: 32}, Scenarios: []ScenarioResult{sr}}
	var md, txt bytes.Buffer
	rep.Markdown(&md)
	rep.Text(&txt)
	for _, want := range []string{"# Benchmarks", "make bench", "Test CPU", "go1.26", "`bench suite -short`", "2026-01-02",
		"| Fast path | switchyard | 30,000 |", "0.97x", "busy", "| Fast path | Switchyard peak RSS | < 10 MB | 27.0 MB | **no** |",
		"private memory"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("Markdown lacks %q:\n%s", want, md.String())
		}
	}
	for _, want := range []string{"Fast path", "30,000", "1 of 2 targets met"} {
		if !strings.Contains(txt.String(), want) {
			t.Errorf("Text lacks %q:\n%s", want, txt.String())
		}
	}
	if met, all := rep.Met(); met != 1 || all != 2 {
		t.Errorf("Met() = %d of %d", met, all)
	}

	// The chart: well-formed SVG with the scenario, both ratios and the
	// baseline line; the Markdown embeds it when it has a path.
	var svg bytes.Buffer
	rep.SVG(&svg)
	if err := xml.Unmarshal(svg.Bytes(), new(struct{ XMLName xml.Name })); err != nil {
		t.Fatalf("SVG does not parse: %v\n%s", err, svg.String())
	}
	for _, want := range []string{"<svg", "Fast path", "vs net/http", fmt.Sprintf("%.2f×", sr.Ratio), fmt.Sprintf("%.2f×", sr.CPURatio), "stroke-dasharray"} {
		if !strings.Contains(svg.String(), want) {
			t.Errorf("SVG lacks %q", want)
		}
	}
	rep.Chart = "benchmarks.svg"
	md.Reset()
	rep.Markdown(&md)
	if !strings.Contains(md.String(), "](benchmarks.svg)") {
		t.Error("the Markdown does not embed the chart")
	}
}

func TestOptionsDefaults(t *testing.T) {
	cases := []struct {
		name string
		o    Options
		want string
	}{
		{"short", Options{Short: true}, ""},
		{"long", Options{}, ""},
		{"too few rounds", Options{Short: true, Rounds: 2}, "-rounds"},
		{"too short", Options{Short: true, Duration: time.Millisecond}, "-d"},
		{"unknown scenario", Options{Short: true, Scenarios: []string{"nope"}}, "unknown scenario"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.o.defaults()
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if tc.o.Rounds < 3 || tc.o.Duration <= 0 || tc.o.Concurrency != 32 || tc.o.Exe == "" {
					t.Errorf("defaults: %+v", tc.o)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestTail(t *testing.T) {
	tl := &tail{max: 8}
	_, _ = tl.Write([]byte("hello "))
	_, _ = tl.Write([]byte("world"))
	if got := tl.String(); got != "lo world" {
		t.Errorf("tail = %q, want the last 8 bytes", got)
	}
}

// childEnv makes the test binary act as `bench serve` when the suite starts
// it as a server child.
const childEnv = "BENCH_SUITE_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" && len(os.Args) > 1 && os.Args[1] == "serve" {
		os.Exit(Serve(os.Args[2:], os.Stdin, os.Stdout, os.Stderr))
	}
	goleak.VerifyTestMain(m)
}

// TestRunOneScenario runs the whole suite machinery, child processes
// included, on the fast path with tiny durations.
func TestRunOneScenario(t *testing.T) {
	t.Setenv(childEnv, "1")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	rep, err := Run(context.Background(), Options{Short: true, Rounds: 3, Duration: 150 * time.Millisecond,
		Warmup: 50 * time.Millisecond, Concurrency: 4, Scenarios: []string{scenario.Fast}, Exe: exe, Log: &log})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Scenarios) != 1 {
		t.Fatalf("%d scenarios, want 1", len(rep.Scenarios))
	}
	s := rep.Scenarios[0]
	for i, sr := range []ServerResult{s.A, s.B} {
		if len(sr.Rounds) != 3 || sr.Open == nil {
			t.Fatalf("server %d: %d rounds, open %v", i, len(sr.Rounds), sr.Open)
		}
		for _, r := range sr.Rounds {
			if r.Requests == 0 || r.Errors != 0 || r.Throughput <= 0 || r.P99 <= 0 {
				t.Errorf("server %d: round %+v", i, r)
			}
		}
		if sr.PeakRSS <= 0 || sr.PeakAnon <= 0 || sr.PeakAnon > sr.PeakRSS || sr.PeakFile <= 0 || sr.PeakFile > sr.PeakRSS || sr.Stats.HeapPeak == 0 {
			t.Errorf("server %d: peak RSS %d, private %d, heap %d", i, sr.PeakRSS, sr.PeakAnon, sr.Stats.HeapPeak)
		}
	}
	if s.A.Stats.ReloadsOK != 1 || s.B.Stats.ReloadsOK != 0 {
		t.Errorf("config loads: switchyard %d, net/http %d; want 1 and 0", s.A.Stats.ReloadsOK, s.B.Stats.ReloadsOK)
	}
	if s.Ratio <= 0 || len(s.Verdicts) != 2 {
		t.Errorf("ratio %v, verdicts %+v", s.Ratio, s.Verdicts)
	}
	if n := strings.Count(log.String(), "\n"); n != 3*2+2 {
		t.Errorf("%d log lines, want one per run (8):\n%s", n, log.String())
	}
}

func TestProgressLine(t *testing.T) {
	tests := []struct {
		k, n             int
		elapsed, planned time.Duration
		want             string
	}{
		{0, 7, 0, 30 * time.Second, "[1/7] Fast path  elapsed 0s, about 3m30s left"},
		{2, 7, time.Minute, 30 * time.Second, "[3/7] Fast path  elapsed 1m0s, about 2m30s left"},
	}
	for _, tt := range tests {
		if got := progressLine(tt.k, tt.n, "Fast path", tt.elapsed, tt.planned); got != tt.want {
			t.Errorf("progressLine(%d, %d) = %q, want %q", tt.k, tt.n, got, tt.want)
		}
	}
}
