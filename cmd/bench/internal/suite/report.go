package suite

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/switchyard/switchyard/cmd/bench/internal/loadgen"
	"github.com/switchyard/switchyard/cmd/bench/internal/scenario"
)

// Round is one measured run against one server. Latencies are in
// nanoseconds.
type Round struct {
	Throughput float64          `json:"throughput"`
	Requests   int64            `json:"requests"`
	Errors     int64            `json:"errors"`
	ErrorKinds map[string]int64 `json:"error_kinds,omitempty"`
	P50        int64            `json:"p50_ns"`
	P90        int64            `json:"p90_ns"`
	P95        int64            `json:"p95_ns"`
	P99        int64            `json:"p99_ns"`
	P999       int64            `json:"p999_ns"`
	Max        int64            `json:"max_ns"`
	// CPUPerRequest is the server process's CPU time (all threads, user
	// and system) over the run divided by the requests: what a request
	// costs the server whatever else the machine runs.
	CPUPerRequest time.Duration `json:"cpu_per_request_ns"`
}

func roundOf(r *loadgen.Result) Round {
	return Round{
		Throughput: r.Throughput(), Requests: r.Requests, Errors: r.Errors, ErrorKinds: r.ErrorKinds,
		P50: r.Latency.Quantile(0.5), P90: r.Latency.Quantile(0.9), P95: r.Latency.Quantile(0.95),
		P99: r.Latency.Quantile(0.99), P999: r.Latency.Quantile(0.999), Max: r.Latency.Max(),
	}
}

// ServerResult is what was measured of one server in a scenario.
type ServerResult struct {
	// Rounds are the closed-loop runs, in order.
	Rounds []Round `json:"rounds"`
	// Open is the fixed-rate run.
	Open *Round `json:"open,omitempty"`
	// PeakRSS is the process's VmHWM, in bytes.
	PeakRSS int64 `json:"peak_rss"`
	// PeakAnon is the largest anonymous (private) RSS sampled every 100 ms,
	// in bytes: PeakRSS without the file-backed pages of the binary.
	PeakAnon int64 `json:"peak_anon_rss"`
	// PeakFile is the largest file-backed RSS (RssFile) sampled with it:
	// the pages of the executable that the process has touched.
	PeakFile int64 `json:"peak_file_rss"`
	// Stats is what the process reported when it stopped.
	Stats ChildStats `json:"stats"`
	// Writes counts the config rewrites made while this side was measured.
	Writes int `json:"writes,omitempty"`
}

func (s ServerResult) median(f func(Round) float64) float64 {
	v := make([]float64, len(s.Rounds))
	for i, r := range s.Rounds {
		v[i] = f(r)
	}
	return median(v)
}

func (s ServerResult) medianNS(f func(Round) int64) int64 {
	return int64(s.median(func(r Round) float64 { return float64(f(r)) }))
}

// errors sums the errors of every run, with their kinds.
func (s ServerResult) errors() (int64, map[string]int64) {
	var n int64
	kinds := map[string]int64{}
	runs := s.Rounds
	if s.Open != nil {
		runs = append(slices.Clip(runs), *s.Open)
	}
	for _, r := range runs {
		n += r.Errors
		for k, v := range r.ErrorKinds {
			kinds[k] += v
		}
	}
	return n, kinds
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// Verdict is one target checked.
type Verdict struct {
	What string `json:"what"`
	Want string `json:"want"`
	Got  string `json:"got"`
	OK   bool   `json:"ok"`
}

// ScenarioResult is a scenario's two servers, their ratios and verdicts.
type ScenarioResult struct {
	// Name is the scenario's name.
	Name     string            `json:"name"`
	Scenario scenario.Scenario `json:"-"`
	// A is Switchyard; B the baseline (for the reload scenario, Switchyard
	// without rewrites).
	A ServerResult `json:"switchyard"`
	B ServerResult `json:"baseline"`
	// Rate is the fixed rate of the open-loop runs.
	Rate float64 `json:"rate"`
	// Ratio is the median of the per-round A/B throughput ratios; P99Ratio
	// the median of the per-round A/B P99 ratios.
	Ratio    float64 `json:"throughput_ratio"`
	P99Ratio float64 `json:"p99_ratio"`
	// CPURatio is the median of the per-round ratios of the baseline's CPU
	// time per request to Switchyard's: above 1, Switchyard spends less.
	CPURatio float64   `json:"cpu_ratio"`
	Verdicts []Verdict `json:"verdicts"`
}

// MB is the unit of the memory figures: 10^6 bytes, as in the design.
const MB = 1e6

func (r *ScenarioResult) evaluate() {
	n := min(len(r.A.Rounds), len(r.B.Rounds))
	var tr, pr, cr []float64
	for i := range n {
		a, b := r.A.Rounds[i], r.B.Rounds[i]
		if a.CPUPerRequest > 0 && b.CPUPerRequest > 0 {
			cr = append(cr, float64(b.CPUPerRequest)/float64(a.CPUPerRequest))
		}
		if b.Throughput > 0 {
			tr = append(tr, a.Throughput/b.Throughput)
		}
		if b.P99 > 0 {
			pr = append(pr, float64(a.P99)/float64(b.P99))
		}
	}
	r.Ratio, r.P99Ratio, r.CPURatio = median(tr), median(pr), median(cr)
	t := r.Scenario.Target
	r.Verdicts = nil
	if n == 0 {
		return
	}
	if t.MinRatio > 0 {
		r.Verdicts = append(r.Verdicts, Verdict{What: "throughput vs " + r.Scenario.Baseline,
			Want: fmt.Sprintf(">= %.2fx", t.MinRatio), Got: fmt.Sprintf("%.2fx", r.Ratio), OK: r.Ratio >= t.MinRatio})
	}
	if t.MaxP99Ratio > 0 {
		what := "P99 vs " + r.Scenario.Baseline
		if r.Scenario.Reload {
			what = "P99 with rewrites vs without"
		}
		r.Verdicts = append(r.Verdicts, Verdict{What: what,
			Want: fmt.Sprintf("<= %.2fx", t.MaxP99Ratio), Got: fmt.Sprintf("%.2fx", r.P99Ratio), OK: r.P99Ratio <= t.MaxP99Ratio})
	}
	if r.Scenario.Reload {
		errs, kinds := r.A.errors()
		got := fmt.Sprint(errs)
		if errs > 0 {
			got += " (" + kindList(kinds) + ")"
		}
		r.Verdicts = append(r.Verdicts, Verdict{What: "errors during rewrites", Want: "0", Got: got, OK: errs == 0})
		applied := r.A.Stats.ReloadsOK - 1
		got = fmt.Sprintf("%d / %d", applied, r.A.Stats.ReloadsFailed)
		if r.A.Stats.ReloadMedian > 0 {
			got += fmt.Sprintf(" (each %.1f ms median, %.1f ms max)", ms(int64(r.A.Stats.ReloadMedian)), ms(int64(r.A.Stats.ReloadMax)))
		}
		r.Verdicts = append(r.Verdicts, Verdict{What: "reloads applied / failed",
			Want: fmt.Sprintf("~%d / 0", r.A.Writes), Got: got,
			OK: applied > 0 && r.A.Stats.ReloadsFailed == 0})
	}
	if t.MaxCPU > 0 && r.CPURatio > 0 {
		cpu := 1 / r.CPURatio // Switchyard's CPU per request over the baseline's
		r.Verdicts = append(r.Verdicts, Verdict{What: "CPU/request vs " + r.Scenario.Baseline,
			Want: fmt.Sprintf("<= %.2fx", t.MaxCPU), Got: fmt.Sprintf("%.2fx", cpu), OK: cpu <= t.MaxCPU})
	}
	if t.MaxRSSMB > 0 {
		rss := float64(r.A.PeakRSS) / MB
		r.Verdicts = append(r.Verdicts, Verdict{What: "Switchyard peak RSS",
			Want: fmt.Sprintf("< %.0f MB", t.MaxRSSMB), Got: fmt.Sprintf("%.1f MB", rss), OK: r.A.PeakRSS > 0 && rss < t.MaxRSSMB})
	}
}

// Report is a whole suite run.
type Report struct {
	Started   time.Time        `json:"started"`
	Took      time.Duration    `json:"took"`
	Command   string           `json:"command"`
	Machine   Machine          `json:"machine"`
	GoVersion string           `json:"go_version"`
	Options   Options          `json:"-"`
	Scenarios []ScenarioResult `json:"scenarios"`
	// Chart is the path of the SVG chart, relative to the Markdown file,
	// that the Markdown embeds; empty embeds none.
	Chart string `json:"-"`
}

// Met counts the verdicts met and all verdicts.
func (r *Report) Met() (met, all int) {
	for _, s := range r.Scenarios {
		for _, v := range s.Verdicts {
			all++
			if v.OK {
				met++
			}
		}
	}
	return met, all
}

// table is a simple table rendered as aligned text or as Markdown.
type table struct {
	head []string
	rows [][]string
}

func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

func (t *table) text(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, strings.Join(t.head, "\t")+"\t")
	for _, r := range t.rows {
		fmt.Fprintln(tw, strings.Join(r, "\t")+"\t")
	}
	_ = tw.Flush()
}

func (t *table) markdown(w io.Writer) {
	fmt.Fprintln(w, "| "+strings.Join(t.head, " | ")+" |")
	seps := make([]string, len(t.head))
	for i := range seps {
		seps[i] = "---"
		if i > 1 {
			seps[i] = "---:"
		}
	}
	fmt.Fprintln(w, "|"+strings.Join(seps, "|")+"|")
	for _, r := range t.rows {
		fmt.Fprintln(w, "| "+strings.Join(r, " | ")+" |")
	}
}

func f1(ms float64) string { return fmt.Sprintf("%.2f", ms) }

func mb(b int64) string {
	if b <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f", float64(b)/MB)
}

func thousands(v float64) string {
	s := fmt.Sprintf("%.0f", v)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// results is the main table: medians of the closed-loop rounds.
func (r *Report) results() *table {
	t := &table{head: []string{"Scenario", "Server", "Throughput (req/s)", "P50 (ms)", "P90 (ms)", "P99 (ms)", "P99.9 (ms)",
		"CPU/request (µs)", "Errors", "Peak RSS (MB)", "Private RSS (MB)", "Executable pages (MB)", "Heap peak (MB)"}}
	for _, s := range r.Scenarios {
		for i, sr := range []ServerResult{s.A, s.B} {
			label := scenario.Switchyard
			if i == 1 {
				label = s.Scenario.Baseline
			}
			if s.Scenario.Reload {
				label = []string{"switchyard, 10 rewrites/s", "switchyard, no rewrites"}[i]
			}
			rss, anon, file, heap := mb(sr.PeakRSS), mb(sr.PeakAnon), mb(sr.PeakFile), mb(int64(sr.Stats.HeapPeak))
			if s.Scenario.Reload && i == 1 {
				rss, anon, file, heap = "(same process)", "", "", ""
			}
			errs, _ := sr.errors()
			t.add(s.Scenario.Title, label,
				thousands(sr.median(func(r Round) float64 { return r.Throughput })),
				f1(ms(sr.medianNS(func(r Round) int64 { return r.P50 }))),
				f1(ms(sr.medianNS(func(r Round) int64 { return r.P90 }))),
				f1(ms(sr.medianNS(func(r Round) int64 { return r.P99 }))),
				f1(ms(sr.medianNS(func(r Round) int64 { return r.P999 }))),
				fmt.Sprintf("%.1f", float64(sr.medianNS(func(r Round) int64 { return int64(r.CPUPerRequest) }))/1e3),
				fmt.Sprint(errs), rss, anon, file, heap)
		}
	}
	return t
}

// ratios is the table of every ratio, targets or not.
func (r *Report) ratios() *table {
	t := &table{head: []string{"Scenario", "Compared with", "Throughput ratio", "P99 ratio", "CPU/request ratio", "Peak RSS difference (MB)"}}
	for _, s := range r.Scenarios {
		with := s.Scenario.Baseline
		if s.Scenario.Reload {
			with = "itself without rewrites"
		}
		diff := "-"
		if !s.Scenario.Reload && s.A.PeakRSS > 0 && s.B.PeakRSS > 0 {
			diff = fmt.Sprintf("%+.1f", float64(s.A.PeakRSS-s.B.PeakRSS)/MB)
		}
		t.add(s.Scenario.Title, with, fmt.Sprintf("%.2fx", s.Ratio), fmt.Sprintf("%.2fx", s.P99Ratio),
			fmt.Sprintf("%.2fx", s.CPURatio), diff)
	}
	return t
}

// targets is the table of verdicts.
func (r *Report) targets() *table {
	t := &table{head: []string{"Scenario", "Check", "Target", "Measured", "Met"}}
	for _, s := range r.Scenarios {
		for _, v := range s.Verdicts {
			met := "yes"
			if !v.OK {
				met = "**no**"
			}
			t.add(s.Scenario.Title, v.What, v.Want, v.Got, met)
		}
	}
	return t
}

// rounds lists the per-round throughputs, so the spread is visible.
func (r *Report) rounds() *table {
	t := &table{head: []string{"Scenario", "Server", "Throughput per round (req/s)", "P99 per round (ms)"}}
	for _, s := range r.Scenarios {
		for i, sr := range []ServerResult{s.A, s.B} {
			label := scenario.Switchyard
			if i == 1 {
				label = s.Scenario.Baseline
			}
			if s.Scenario.Reload {
				label = []string{"switchyard, 10 rewrites/s", "switchyard, no rewrites"}[i]
			}
			var tp, p99 []string
			for _, rd := range sr.Rounds {
				tp = append(tp, thousands(rd.Throughput))
				p99 = append(p99, f1(ms(rd.P99)))
			}
			t.add(s.Scenario.Title, label, strings.Join(tp, " / "), strings.Join(p99, " / "))
		}
	}
	return t
}

// open is the fixed-rate latency table.
func (r *Report) open() *table {
	t := &table{head: []string{"Scenario", "Server", "Rate (req/s)", "P50 (ms)", "P90 (ms)", "P95 (ms)", "P99 (ms)", "P99.9 (ms)", "Max (ms)", "Errors"}}
	for _, s := range r.Scenarios {
		for i, sr := range []ServerResult{s.A, s.B} {
			if sr.Open == nil {
				continue
			}
			label := scenario.Switchyard
			if i == 1 {
				label = s.Scenario.Baseline
			}
			if s.Scenario.Reload {
				label = []string{"switchyard, 10 rewrites/s", "switchyard, no rewrites"}[i]
			}
			o := sr.Open
			t.add(s.Scenario.Title, label, thousands(s.Rate), f1(ms(o.P50)), f1(ms(o.P90)), f1(ms(o.P95)),
				f1(ms(o.P99)), f1(ms(o.P999)), f1(ms(o.Max)), fmt.Sprint(o.Errors))
		}
	}
	return t
}

// design compares Switchyard with the published table.
func (r *Report) design() *table {
	t := &table{head: []string{"Scenario", "Design latency (ms)", "Switchyard P50 at fixed rate (ms)", "Design throughput (req/s)",
		"Switchyard throughput (req/s)", "Design memory (MB)", "Switchyard peak RSS (MB)"}}
	for _, s := range r.Scenarios {
		d := s.Scenario.Design
		if d == nil {
			continue
		}
		p50 := "-"
		if s.A.Open != nil {
			p50 = fmt.Sprintf("%s @ %s req/s", f1(ms(s.A.Open.P50)), thousands(s.Rate))
		}
		t.add(s.Scenario.Title, f1(d.LatencyMS), p50, thousands(d.Throughput),
			thousands(s.A.median(func(r Round) float64 { return r.Throughput })),
			fmt.Sprintf("%.0f", d.MemoryMB), mb(s.A.PeakRSS))
	}
	return t
}

// Text writes the report for a terminal.
func (r *Report) Text(w io.Writer) {
	o := r.Options
	fmt.Fprintf(w, "\nSwitchyard benchmark suite: %d interleaved rounds of %s per server, closed loop with %d connections\n",
		o.Rounds, o.Duration, o.Concurrency)
	fmt.Fprintf(w, "%s, %d CPUs, %s, load average %s before, %s after; took %s\n\n",
		r.Machine.CPU, r.Machine.CPUs, r.GoVersion, r.Machine.LoadBefore, r.Machine.LoadAfter, r.Took.Round(time.Second))
	fmt.Fprintln(w, "Medians of the rounds:")
	r.results().text(w)
	fmt.Fprintln(w, "\nRounds:")
	r.rounds().text(w)
	fmt.Fprintln(w, "\nLatency at a fixed rate (open loop, corrected for coordinated omission):")
	r.open().text(w)
	fmt.Fprintln(w, "\nAgainst the design's table:")
	r.design().text(w)
	fmt.Fprintln(w, "\nRatios, Switchyard over the baseline (median of per-round ratios; CPU/request: baseline over Switchyard):")
	r.ratios().text(w)
	fmt.Fprintln(w, "\nTargets:")
	r.targets().text(w)
	met, all := r.Met()
	fmt.Fprintf(w, "\n%d of %d targets met.\n", met, all)
}

// Markdown writes the report as docs/benchmarks.md.
func (r *Report) Markdown(w io.Writer) {
	o := r.Options
	met, all := r.Met()
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	p("# Benchmarks\n\n")
	p("Switchyard is measured side by side with the code one would write without it, on the same machine, in\n")
	p("the same run, in interleaved rounds. This file is written by the benchmark suite itself:\n\n")
	p("```sh\nmake bench                                     # go run ./cmd/bench suite -short: 5 rounds of 1 s, under 3 minutes\n")
	p("go run ./cmd/bench suite -short -o docs/benchmarks.md   # the same, and rewrite this file\n")
	p("go run ./cmd/bench suite                        # the long suite: 5 rounds of 10 s\n```\n\n")

	p("## This run\n\n")
	p("- Date: %s\n", r.Started.UTC().Format("2006-01-02 15:04 MST"))
	p("- Machine: %s, %d CPUs, %s RAM, Linux %s\n", r.Machine.CPU, r.Machine.CPUs, r.Machine.Memory, r.Machine.Kernel)
	p("- Go: %s\n", r.GoVersion)
	p("- Command: `%s`\n", r.Command)
	p("- Load: %d interleaved rounds (A B A B ...) of %s per server after a %s warm-up, closed loop with %d keep-alive\n",
		o.Rounds, o.Duration, o.Warmup, o.Concurrency)
	p("  connections; then %s per server open loop at a fixed rate. The load generator runs in the bench process,\n", max(2*time.Second, o.Duration))
	p("  on the same cores as the servers.\n")
	p("- Load average (1, 5, 15 min): %s before, %s after. ", r.Machine.LoadBefore, r.Machine.LoadAfter)
	if busy(r.Machine.LoadBefore, r.Machine.CPUs) || busy(r.Machine.LoadAfter, r.Machine.CPUs) {
		p("**The machine was busy with other work during this run**: absolute figures are\n  lower and noisier than on an idle machine; the interleaved ratios are the figures to read.\n")
	} else {
		p("The machine was otherwise idle.\n")
	}
	p("- The suite took %s. Targets met: %d of %d.\n\n", r.Took.Round(time.Second), met, all)

	p("## Results\n\nMedians over the rounds of each server's closed-loop runs. CPU/request is the server process's\n")
	p("CPU time (user and system, every thread, from `/proc/PID/stat`) over a run divided by its requests:\n")
	p("unlike throughput it hardly depends on what else the machine runs. Peak RSS is the server process's\n")
	p("VmHWM (`/proc/PID/status`); private RSS is the largest RssAnon sampled every 100 ms, that is RSS\n")
	p("without the file-backed pages of the executable; executable pages is the largest RssFile sampled with it,\n")
	p("the pages of the executable that the process has touched; heap peak is the largest heap in use sampled every\n")
	p("100 ms inside the process. MB = 10^6 bytes.\n\n")
	r.results().markdown(w)
	p("\n## Ratios\n\nSwitchyard over the baseline, the median of the per-round ratios (each round pairs two runs made\n")
	p("back to back); the CPU/request ratio is the baseline's over Switchyard's, so above 1 Switchyard spends less.\n\n")
	if r.Chart != "" {
		p("![Throughput and CPU/request ratios per scenario](%s)\n\n", r.Chart)
	}
	r.ratios().markdown(w)
	p("\n## Targets\n\nThe performance targets, from the ratios above and the Switchyard process's peak RSS (VmHWM).\n\n")
	r.targets().markdown(w)
	r.memoryNote(w)
	p("\n## Latency at a fixed rate\n\nOpen loop at 40%% of the slower server's throughput (never above the design's figure), the\n")
	p("same rate for both servers, for %s each. Latency is measured from each request's scheduled send time, so a\n", max(2*time.Second, o.Duration))
	p("stall counts for every request it delays (corrected for coordinated omission).\n\n")
	r.open().markdown(w)
	p("\n## Against the design's table\n\nThe design published latency, throughput and memory per scenario without saying on what\n")
	p("machine. Here: Switchyard's P50 at the fixed rate, its closed-loop throughput and its peak RSS on this machine.\n\n")
	r.design().markdown(w)
	p("\n## Every round\n\n")
	r.rounds().markdown(w)

	p("\n## Scenarios\n\n")
	for _, s := range r.Scenarios {
		p("- **%s** (`%s`): %s\n", s.Scenario.Title, s.Scenario.Name, s.Scenario.About)
	}
	p("\nEach server is a child process of the bench binary (`bench serve -scenario NAME -server KIND`, on\n")
	p("127.0.0.1 and a free port), started before its scenario and stopped after it, so that its peak RSS is\n")
	p("its own. Switchyard runs from the scenario's config file with the specification's defaults for\n")
	p("everything it does not set, metrics included; the baselines run the same application handlers. The\n")
	p("full stack sends `Accept-Encoding: gzip` and compresses at level 5 on both sides, so that both pay for the\n")
	p("same codec at the same level.\n\n")

	p("## Method\n\n")
	p("- Closed loop: each of the connections sends a request, reads the whole response, and sends the next;\n")
	p("  throughput is completed requests over the run's time.\n")
	p("- Open loop: request i is due at start + i/rate whatever the server does; latency runs from the due time.\n")
	p("- Latency is recorded in a log-linear histogram (HdrHistogram's layout, 512 sub-buckets per power of\n")
	p("  two: every percentile is within 0.1%% of the exact value).\n")
	p("- Errors are transport errors and 4xx/5xx responses, by kind.\n")
	p("- Every measured request of the full stack and reload scenarios goes to a URL numbered for its run, so\n")
	p("  that four in five are never seen before by either cache in any round.\n\n")

	p("## Tools\n\n")
	p("```sh\n# Load one URL: closed loop for 10 s with 64 connections, or open loop at 2000 req/s.\n")
	p("go run ./cmd/bench load -c 64 -d 10s http://127.0.0.1:8080/hello\n")
	p("go run ./cmd/bench load -rate 2000 -d 30s -H 'Accept-Encoding: gzip' http://127.0.0.1:8080/api/report\n")
	p("go run ./cmd/bench load -n 100000 -json http://127.0.0.1:8080/health\n\n")
	p("# Suite options: scenarios, rounds, durations, profiles of each server process.\n")
	p("go run ./cmd/bench suite -short -scenarios full,reload -rounds 5\n")
	p("go run ./cmd/bench suite -short -cpuprofile /tmp/cpu.pprof -memprofile /tmp/mem.pprof\n")
	p("go tool pprof -top /tmp/cpu-full-switchyard.pprof\n```\n\n")
	p("The host's own cost per request, measured in process by Go benchmarks, is in\n")
	p("[performance.md](performance.md#the-cost-of-a-request-in-the-host).\n")
}

// memoryNote explains how much of every process's RSS is the executable.
func (r *Report) memoryNote(w io.Writer) {
	var base *ServerResult
	for i := range r.Scenarios {
		if r.Scenarios[i].Scenario.Baseline == scenario.NetHTTP {
			base = &r.Scenarios[i].B
		}
	}
	if base == nil || base.PeakRSS == 0 {
		return
	}
	fmt.Fprintf(w, "\nAbout the RSS figures: every server is the bench executable itself, which links Switchyard, chi,\n")
	fmt.Fprintf(w, "Prometheus, CEL and the pure-Go SQLite driver. Its code and read-only data are file-backed pages that\n")
	fmt.Fprintf(w, "count in RSS as soon as they are touched, so even the bare net/http handler peaks at %s MB, of which\n", mb(base.PeakRSS))
	fmt.Fprintf(w, "only %s MB are private memory. The RSS targets are judged on VmHWM all the same, as they are\n", mb(base.PeakAnon))
	fmt.Fprintf(w, "stated; the private RSS, the executable pages and the difference from the baseline show what Switchyard itself adds.\n")
}

// busy reports whether a load average line says the machine had more
// runnable work than CPUs.
func busy(load string, cpus int) bool {
	var l1 float64
	if _, err := fmt.Sscan(load, &l1); err != nil || cpus == 0 {
		return false
	}
	return l1 > float64(cpus)
}

// kindList formats error kinds in a stable order.
func kindList(m map[string]int64) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s: %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}
