package core

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard/switchyard/hotreload"
	"github.com/switchyard/switchyard/internal/wait"
)

// genYAML is a config whose generation n shows in the X-Stamp header (a
// plugin) and in the body of /gen (a handler), so that a response can be
// traced to the configuration that served it.
func genYAML(n int) string {
	return fmt.Sprintf(`plugins:
  stamp: {type: stamp, tag: "v%[1]d"}
middleware:
  - use: stamp
routes:
  - path: /gen
    handler: {respond: {body: "v%[1]d"}}
`, n)
}

// checkGen asserts that /gen is served wholly by generation n.
func checkGen(t *testing.T, fh *fileHost, n int) {
	t.Helper()
	code, hdr, body, err := fh.get("/gen")
	want := fmt.Sprintf("v%d", n)
	if err != nil || code != 200 || body != want || hdr.Get("X-Stamp") != want {
		t.Fatalf("/gen = %d %q stamp %q (err %v), want generation %s", code, body, hdr.Get("X-Stamp"), err, want)
	}
}

// savePattern is one way programs save a file.
type savePattern struct {
	name string
	// prepare lays out the directory before the host starts (nil: a plain
	// in-place write).
	prepare func(t testing.TB, path, data string)
	save    func(t testing.TB, path, data string)
}

func deleteCreate(t testing.TB, path, data string) {
	t.Helper()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond) // the gap a sync tool leaves between the two
	writeFile(t, path, data)
}

// copyOver copies a file written elsewhere over path, in small chunks as
// cp and scp write.
func copyOver(t testing.TB, path, data string) {
	t.Helper()
	src := filepath.Join(t.TempDir(), "new.yaml")
	writeFile(t, src, data)
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.CopyBuffer(struct{ io.Writer }{out}, in, make([]byte, 64)); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// backupRename saves as vim with backupcopy=no and emacs do: the old file
// becomes c.yaml~ and a new c.yaml is written.
func backupRename(t testing.TB, path, data string) {
	t.Helper()
	if err := os.Rename(path, path+"~"); err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, data)
}

var k8sSeq atomic.Int64

// k8sSwap updates a Kubernetes ConfigMap volume as the kubelet does: the
// data goes into a new timestamped directory, a `..data` symlink is swapped
// to it atomically, and the old directory is removed. config.yaml is a
// symlink through ..data and is never touched itself.
func k8sSwap(t testing.TB, path, data string) {
	t.Helper()
	dir, name := filepath.Dir(path), filepath.Base(path)
	ts := fmt.Sprintf("..2026_01_01_00_00_00.%d", k8sSeq.Add(1))
	if err := os.Mkdir(filepath.Join(dir, ts), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, ts, name), data)
	old, _ := os.Readlink(filepath.Join(dir, "..data"))
	if err := os.Symlink(ts, filepath.Join(dir, "..data_tmp")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(path); err != nil {
		if err := os.Symlink(filepath.Join("..data", name), path); err != nil {
			t.Fatal(err)
		}
	}
	if old != "" {
		if err := os.RemoveAll(filepath.Join(dir, old)); err != nil {
			t.Fatal(err)
		}
	}
}

var savePatterns = []savePattern{
	{name: "in-place write", save: writeFile},
	{name: "write temp then rename", save: renameOver},
	{name: "delete then create", save: deleteCreate},
	{name: "copy over", save: copyOver},
	{name: "backup rename", save: backupRename},
	{name: "kubernetes ..data swap", prepare: k8sSwap, save: k8sSwap},
}

// Acceptance 1: each save pattern applies exactly one reload within 1 s,
// and 10 further edits saved the same way are all picked up, one reload
// each.
func TestReloadSavePatterns(t *testing.T) {
	for _, sp := range savePatterns {
		t.Run(sp.name, func(t *testing.T) {
			t.Parallel()
			fh := newFileHost(t, "127.0.0.1:0", sp.prepare, genYAML(0))
			checkGen(t, fh, 0)
			mark := time.Now()
			var worst time.Duration
			for n := 1; n <= 11; n++ {
				v := fh.versionOf(genYAML(n))
				sp.save(t, fh.path, genYAML(n))
				// A bound, not a claim: how fast a save is served is for
				// TestReloadLatency and TestReloadBurst to say.
				if d := fh.waitVersion(v, wait.Deadline); d > worst {
					worst = d
				}
				checkGen(t, fh, n)
				if n == 1 {
					// Room for a spurious second reload to show.
					wait.Check(300*time.Millisecond, func() bool { return len(reloadsSince(fh.h, mark)) > 1 })
					if rs := reloadsSince(fh.h, mark); len(rs) != 1 || !rs[0].Success {
						t.Fatalf("first save: %d reloads, want exactly 1:%s", len(rs), historyString(fh.h.History()))
					}
				}
			}
			wait.Check(300*time.Millisecond, func() bool { return len(reloadsSince(fh.h, mark)) > 11 })
			rs := reloadsSince(fh.h, mark)
			for _, r := range rs {
				if !r.Success {
					t.Errorf("failed reload: %s", r.Error)
				}
			}
			if len(rs) != 11 {
				t.Fatalf("11 saves gave %d reloads:%s", len(rs), historyString(fh.h.History()))
			}
			t.Logf("11 saves, 11 reloads, slowest version change %v", worst.Round(time.Millisecond))
		})
	}
	t.Run("touch and chmod", func(t *testing.T) {
		t.Parallel()
		fh := startFileHost(t, genYAML(0))
		mark := time.Now()
		for i := range 5 {
			now := time.Now()
			if err := os.Chtimes(fh.path, now, now); err != nil {
				t.Fatal(err)
			}
			mode := os.FileMode(0o600)
			if i%2 == 1 {
				mode = 0o644
			}
			if err := os.Chmod(fh.path, mode); err != nil {
				t.Fatal(err)
			}
			// Spaced touches; none may reload.
			if wait.Check(50*time.Millisecond, func() bool { return len(reloadsSince(fh.h, mark)) != 0 }) {
				break
			}
		}
		wait.Check(400*time.Millisecond, func() bool { return len(reloadsSince(fh.h, mark)) != 0 })
		if rs := reloadsSince(fh.h, mark); len(rs) != 0 {
			t.Fatalf("touch/chmod applied %d reloads:%s", len(rs), historyString(fh.h.History()))
		}
		checkGen(t, fh, 0)
		// The watcher is still alive after them.
		fh.apply(genYAML(1), writeFile)
		checkGen(t, fh, 1)
	})
	t.Run("include edit and new glob file", func(t *testing.T) {
		t.Parallel()
		main := genYAML(0) + "include: [\"conf.d/*.yaml\"]\n"
		dir := t.TempDir()
		inc := func(path, body string) string {
			return fmt.Sprintf("routes:\n  - path: %s\n    handler: {respond: {body: %q}}\n", path, body)
		}
		if err := os.Mkdir(filepath.Join(dir, "conf.d"), 0o755); err != nil {
			t.Fatal(err)
		}
		a := filepath.Join(dir, "conf.d", "a.yaml")
		writeFile(t, a, inc("/inc-a", "a0"))
		fh := newFileHostIn(t, dir, "127.0.0.1:0", nil, main)
		expect := func(path, body string) {
			t.Helper()
			code, _, got, err := fh.get(path)
			if err != nil || code != 200 || got != body {
				t.Fatalf("%s = %d %q %v, want %q", path, code, got, err, body)
			}
		}
		expect("/inc-a", "a0")
		for i := 1; i <= 5; i++ {
			mark := time.Now()
			writeFile(t, a, inc("/inc-a", fmt.Sprintf("a%d", i)))
			fh.waitVersion(fh.versionOf(main), time.Second)
			expect("/inc-a", fmt.Sprintf("a%d", i))
			wait.Check(250*time.Millisecond, func() bool { return len(reloadsSince(fh.h, mark)) > 1 })
			if rs := reloadsSince(fh.h, mark); len(rs) != 1 || !rs[0].Success {
				t.Fatalf("include edit %d: %d reloads:%s", i, len(rs), historyString(fh.h.History()))
			}
		}
		mark := time.Now()
		renameOver(t, filepath.Join(dir, "conf.d", "b.yaml"), inc("/inc-b", "b0"))
		fh.waitVersion(fh.versionOf(main), time.Second)
		expect("/inc-b", "b0")
		expect("/inc-a", "a5")
		wait.Check(250*time.Millisecond, func() bool { return len(reloadsSince(fh.h, mark)) > 1 })
		if rs := reloadsSince(fh.h, mark); len(rs) != 1 || !rs[0].Success {
			t.Fatalf("new glob file: %d reloads:%s", len(rs), historyString(fh.h.History()))
		}
		// The new file is watched in its turn.
		writeFile(t, filepath.Join(dir, "conf.d", "b.yaml"), inc("/inc-b", "b1"))
		fh.waitVersion(fh.versionOf(main), time.Second)
		expect("/inc-b", "b1")
	})
}

// Acceptance 2: 100 distinct valid writes within 1 s apply at most 3
// reloads, and the last write is served within 1 s of it.
func TestReloadBurst(t *testing.T) {
	fh := startFileHost(t, genYAML(0))
	mark := time.Now()
	start := time.Now()
	prev := start
	stalls := 0                                  // gaps between writes as long as the debounce: the machine stalled the writer
	pace := time.NewTicker(3 * time.Millisecond) // the burst's schedule: the input under test
	defer pace.Stop()
	for n := 1; n <= 100; n++ {
		writeFile(t, fh.path, genYAML(n))
		if now := time.Now(); now.Sub(prev) >= hotreload.DefaultDebounce {
			stalls++
		}
		prev = time.Now()
		<-pace.C
	}
	burst := time.Since(start)
	lag := fh.waitVersion(fh.versionOf(genYAML(100)), time.Second)
	checkGen(t, fh, 100)
	// A quiet gap as long as the debounce legitimately ends a window: each
	// one the machine put in the writer's way loosens the bound.
	limit := max(3, 1+stalls)
	wait.Check(300*time.Millisecond, func() bool { return len(reloadsSince(fh.h, mark)) > limit })
	rs := reloadsSince(fh.h, mark)
	if len(rs) > limit {
		t.Fatalf("100 writes in %v (%d writer stalls) applied %d reloads, want at most %d:%s", burst, stalls, len(rs), limit, historyString(fh.h.History()))
	}
	if v, _ := fh.served(); v != fh.versionOf(genYAML(100)) {
		t.Fatalf("serving %s after the burst settled, want the last write", v)
	}
	t.Logf("100 writes in %v: %d reloads, last write served %v after it", burst.Round(time.Millisecond), len(rs), lag.Round(time.Millisecond))
}

// Acceptance 4: a streaming response started before a reload that removes
// its route completes with all its chunks; a new request gets 404.
func TestReloadInFlightStream(t *testing.T) {
	const chunks = 10
	resume := make(chan struct{}) // closed by the test once the reload is done
	streamHandler := func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		w.Header().Set("Content-Type", "text/plain")
		for i := range chunks {
			if i == 1 {
				select {
				case <-resume:
				case <-r.Context().Done():
					return
				}
			}
			fmt.Fprintf(w, "chunk %d\n", i)
			if err := rc.Flush(); err != nil {
				return
			}
		}
	}
	cfg := func(withStream bool) string {
		s := "performance: {middleware: {registry: {ttl: 0s}}}\n"
		if withStream {
			s += "plugins:\n  watch: {type: probe, log: stream, tag: s1}\n"
		}
		s += "routes:\n  - path: /gen\n    handler: {respond: {body: ok}}\n"
		if withStream {
			s += "  - path: /stream\n    middleware: [{use: watch}]\n    handler: stream\n"
		}
		return s
	}
	fh := startFileHost(t, cfg(true), func(h *Host) { h.HandleFunc("stream", streamHandler) })
	resp, err := fh.client.Get(fh.base + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	first, err := br.ReadString('\n')
	if err != nil || first != "chunk 0\n" {
		t.Fatalf("first chunk %q %v", first, err)
	}
	var old *lifecycle
	for _, l := range instancesOf(fh.h) {
		if l.kind == "probe" {
			old = l
		}
	}
	if old == nil || old.inflight.Load() != 1 {
		t.Fatal("the stream is not in flight on the probe")
	}
	fh.apply(cfg(false), writeFile)
	started := time.Now()
	if code, _, _, err := fh.get("/stream"); err != nil || code != http.StatusNotFound {
		t.Fatalf("new request after the reload = %d %v, want 404", code, err)
	}
	if old.closed.Load() != 0 {
		t.Fatal("the stream's plugin instance was closed while it streamed")
	}
	close(resume)
	got := []string{strings.TrimSpace(first)}
	for {
		line, err := br.ReadString('\n')
		if line != "" {
			got = append(got, strings.TrimSpace(line))
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("stream broken after %d chunks: %v", len(got), err)
		}
	}
	if len(got) != chunks || got[chunks-1] != fmt.Sprintf("chunk %d", chunks-1) {
		t.Fatalf("stream got %d chunks %q, want %d", len(got), got, chunks)
	}
	if !wait.Check(wait.Deadline, func() bool { return old.closed.Load() == 1 }) {
		t.Fatalf("retired instance closed %d times after the stream ended, want 1", old.closed.Load())
	}
	t.Logf("stream of %d chunks completed %v after the reload removed its route", chunks, time.Since(started).Round(time.Millisecond))
}

// Acceptance 5: invalid configs are rejected, the old one keeps serving,
// the metrics and the log say so, and fixing the file recovers.
func TestReloadInvalidConfig(t *testing.T) {
	const good = `conditions:
  is_get: 'request.method == "GET"'
plugins:
  stamp: {type: stamp, tag: good}
  lim: {type: tally, rate: 10}
middleware:
  - use: stamp
routes:
  - path: /gen
    middleware: [{use: lim, when: is_get}]
    handler: {respond: {body: good}}
`
	tests := []struct {
		name, old, new string
		key            string // the key the log line must name ("" for none)
		line           int    // the line it must name (0: any line > 0 or none)
	}{
		{name: "broken YAML", old: "{respond: {body: good}}", new: "{respond: {body: good}"},
		{name: "unknown plugin type", old: "type: stamp", new: "type: stomp", key: "plugins.stamp.type"},
		{name: "unknown plugin key", old: "tag: good", new: "tga: good", key: "plugins.stamp.tga"},
		{name: "bad condition", old: `'request.method == "GET"'`, new: `'request.method =='`, key: "conditions.is_get"},
		{name: "negative rate", old: "rate: 10", new: "rate: -5", key: "plugins.lim.rate"},
		{name: "undefined plugin", old: "use: lim,", new: "use: limm,", key: "routes[0].middleware[0].use"},
		{name: "emptied file", old: good, new: "\n"}, // a truncating save, caught between its two steps
	}
	fh := startFileHost(t, good)
	goodVersion := fh.versionOf(good)
	const (
		failures = `switchyard_config_reloads_total{result="failure"}`
		success  = `switchyard_config_reloads_total{result="success"}`
		lastOK   = `switchyard_config_last_reload_successful`
		lastTS   = `switchyard_config_last_reload_success_timestamp_seconds`
	)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bad := strings.Replace(good, tt.old, tt.new, 1)
			if bad == good {
				t.Fatal("the test did not change the config")
			}
			f0, s0, ts0 := fh.metric(failures), fh.metric(success), fh.metric(lastTS)
			logs0 := len(fh.logs.records("config rejected"))
			mark := time.Now()
			writeFile(t, fh.path, bad)
			if !wait.Check(wait.Deadline, func() bool { _, f, _, _ := fh.reloadMetrics(); return f == f0+1 }) {
				t.Fatalf("no failed reload within 2 s:%s", historyString(fh.h.History()))
			}
			// The old configuration keeps serving, completely.
			for range 50 {
				code, hdr, body, err := fh.get("/gen")
				if err != nil || code != 200 || body != "good" || hdr.Get("X-Stamp") != "good" || hdr.Get("X-Tally") == "" {
					t.Fatalf("old behaviour lost: %d %q %v %v", code, body, hdr, err)
				}
			}
			if v, _ := fh.served(); v != goodVersion {
				t.Fatalf("serving %s, want the old %s", v, goodVersion)
			}
			// Room for a second failure to show.
			wait.Check(300*time.Millisecond, func() bool { return fh.metric(failures) != f0+1 })
			if got := fh.metric(failures); got != f0+1 {
				t.Fatalf("config_reloads_total{failure} rose by %v, want exactly 1", got-f0)
			}
			if got := fh.metric(lastOK); got != 0 {
				t.Fatalf("config_last_reload_successful = %v, want 0", got)
			}
			if got := fh.metric(lastTS); got != ts0 {
				t.Fatalf("success timestamp moved on a failure: %v -> %v", ts0, got)
			}
			rs := reloadsSince(fh.h, mark)
			if len(rs) != 1 || rs[0].Success || rs[0].Error == "" {
				t.Fatalf("history: want one failed reload:%s", historyString(fh.h.History()))
			}
			recs := fh.logs.records("config rejected")[logs0:]
			found := false
			for _, rec := range recs {
				line, _ := rec["line"].(float64)
				key, _ := rec["key"].(string) // absent when the error names no key
				if rec["file"] == fh.path && key == tt.key && line > 0 && (tt.line == 0 || int(line) == tt.line) {
					found = true
				}
			}
			if !found {
				t.Fatalf("no log line names file %s, key %q and line %d: %v", fh.path, tt.key, tt.line, recs)
			}

			// Fix the file by writing back the very content that serves: the
			// gauge returns to 1 within 1 s.
			writeFile(t, fh.path, good)
			if !wait.Check(wait.Deadline, func() bool { _, _, ok, _ := fh.reloadMetrics(); return ok == 1 }) {
				t.Fatalf("config_last_reload_successful still 0 1 s after the fix:%s", historyString(fh.h.History()))
			}
			if got := fh.metric(lastOK); got != 1 {
				t.Fatalf("/metrics: config_last_reload_successful = %v after the fix", got)
			}
			if got := fh.metric(success); got != s0+1 {
				t.Fatalf("config_reloads_total{success} rose by %v after the fix, want 1", got-s0)
			}
			if got := fh.metric(lastTS); got <= ts0 {
				t.Fatal("success timestamp did not move on the fix")
			}
			checkServed(t, fh, "/gen", "good")
		})
	}
	// A failed reload leaves the watcher alive for real edits too.
	fh.apply(strings.Replace(good, "body: good", "body: better", 1), writeFile)
	checkServed(t, fh, "/gen", "better")
}

func checkServed(t *testing.T, fh *fileHost, path, body string) {
	t.Helper()
	code, _, got, err := fh.get(path)
	if err != nil || code != 200 || got != body {
		t.Fatalf("%s = %d %q %v, want %q", path, code, got, err, body)
	}
}

// Acceptance 6: plugin state survives unrelated reloads; a changed config
// builds a new instance and closes the old one exactly once, with no panic
// under load.
func TestReloadPluginState(t *testing.T) {
	cfg := func(extraRoutes int, limTag string) string {
		var b strings.Builder
		fmt.Fprintf(&b, `reload: {debounce: 20ms}
performance: {middleware: {registry: {ttl: 0s}}}
plugins:
  lim: {type: tally, tag: %s, limit: 5}
routes:
  - path: /limited
    middleware: [{use: lim}]
    handler: {respond: {body: ok}}
`, limTag)
		for i := range extraRoutes {
			fmt.Fprintf(&b, "  - path: /other%d\n    handler: {respond: {body: other%d}}\n", i, i)
		}
		return b.String()
	}
	fh := startFileHost(t, cfg(0, "a"))
	codes := func(n int) []int {
		var out []int
		for range n {
			code, _, _, err := fh.get("/limited")
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, code)
		}
		return out
	}
	if got := codes(7); fmt.Sprint(got) != "[200 200 200 200 200 429 429]" {
		t.Fatalf("limit of 5: %v", got)
	}
	mark := time.Now()
	for i := 1; i <= 20; i++ {
		fh.apply(cfg(i, "a"), writeFile)
	}
	for _, r := range reloadsSince(fh.h, mark) {
		if len(r.Changes.PluginsCreated) != 0 || !slices.Contains(r.Changes.PluginsKept, "lim") || len(r.Changes.RoutesAdded) != 1 {
			t.Fatalf("an unrelated reload rebuilt plugins: %+v", r.Changes)
		}
	}
	if got := codes(3); fmt.Sprint(got) != "[429 429 429]" {
		t.Fatalf("after 20 unrelated reloads the exhausted limit answers %v: its state was lost", got)
	}
	tallies := func() []*lifecycle {
		var out []*lifecycle
		for _, l := range instancesOf(fh.h) {
			if l.kind == "tally" {
				out = append(out, l)
			}
		}
		return out
	}
	if ls := tallies(); len(ls) != 1 || ls[0].closed.Load() != 0 {
		t.Fatalf("%d tally instances built for unchanged config", len(ls))
	}
	old := tallies()[0]

	// A changed config under load: a new instance, the old one closed once,
	// no request failing or panicking.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var bad, sent atomic.Int64
	var badMsg atomic.Value
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &http.Client{Transport: &http.Transport{}, Timeout: 10 * time.Second}
			defer c.CloseIdleConnections()
			for {
				select {
				case <-stop:
					return
				default:
				}
				code, _, _, err := getWith(c, fh.base+"/limited")
				sent.Add(1)
				if err != nil || (code != 200 && code != 429) {
					bad.Add(1)
					badMsg.Store(fmt.Sprintf("%d %v", code, err))
				}
			}
		}()
	}
	wait.For(t, "the load to start", func() bool { return sent.Load() >= 50 })
	fh.apply(cfg(20, "b"), writeFile)
	n := sent.Load()
	wait.For(t, "the load to go on after the change", func() bool { return sent.Load() >= n+100 })
	close(stop)
	wg.Wait()
	if n := bad.Load(); n != 0 {
		t.Fatalf("%d requests failed during the change, e.g. %v", n, badMsg.Load())
	}
	if !wait.Check(wait.Deadline, func() bool { return old.closed.Load() == 1 }) || old.closedBusy.Load() {
		t.Fatalf("old instance closed %d times (while busy: %v), want once after its last request", old.closed.Load(), old.closedBusy.Load())
	}
	if ls := tallies(); len(ls) != 2 || ls[1].closed.Load() != 0 || ls[1].served.Load() == 0 {
		t.Fatalf("the changed config did not build one new serving instance: %v", ls)
	}
	if p := fh.metric(`switchyard_plugin_panics_total{plugin="lim"}`); p != 0 {
		t.Fatalf("%v plugin panics", p)
	}
}

// Acceptance 7: the probe plugin's events show the order of a reload: the
// new chain is built before the swap, old instances are closed once after
// their in-flight requests, and a failed reload closes what it built and
// nothing that serves.
func TestReloadLifecycleOrder(t *testing.T) {
	log := events(t.Name())
	cfg := func(p1, p2 string, delay time.Duration, extra string) string {
		return fmt.Sprintf(`reload: {debounce: 20ms}
performance: {middleware: {registry: {ttl: 0s}}}
plugins:
  p1: {type: probe, log: %[1]q, tag: %[2]s, delay: %[4]s}
  p2: {type: probe, log: %[1]q, tag: %[3]s}
%[5]s
routes:
  - path: /p
    middleware: [{use: p1}, {use: p2}]
    handler: {respond: {body: ok}}
`, t.Name(), p1, p2, delay, extra)
	}
	fh := startFileHost(t, cfg("a", "a", 400*time.Millisecond, ""))
	log.host.Store(fh.h)
	v1 := fh.versionOf(cfg("a", "a", 400*time.Millisecond, ""))

	// Three requests in flight on p1:a and p2:a while p1 changes.
	var wg sync.WaitGroup
	results := make(chan string, 3)
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &http.Client{Transport: &http.Transport{}, Timeout: 10 * time.Second}
			defer c.CloseIdleConnections()
			code, hdr, body, err := getWith(c, fh.base+"/p")
			results <- fmt.Sprintf("%d %s %v %v", code, body, hdr.Values("X-Probe"), err)
		}()
	}
	var p1a *lifecycle
	if !wait.Check(wait.Deadline, func() bool {
		for _, l := range instancesOf(fh.h) {
			if l.name == "p1" && l.tag == "a" && l.inflight.Load() == 3 {
				p1a = l
				return true
			}
		}
		return false
	}) {
		t.Fatal("requests not in flight")
	}
	cut := len(log.snapshot())
	v2cfg := cfg("b", "a", 0, "")
	fh.apply(v2cfg, writeFile)
	v2 := fh.versionOf(v2cfg)
	if p1a.closed.Load() != 0 {
		t.Fatal("p1:a closed while its requests were in flight")
	}
	wg.Wait()
	close(results)
	for r := range results {
		if r != "200 ok [a a] <nil>" {
			t.Fatalf("in-flight request = %s, want it wholly on the old chain", r)
		}
	}
	if !wait.Check(wait.Deadline, func() bool { return p1a.closed.Load() == 1 }) {
		t.Fatal("p1:a not closed after its last request")
	}
	ev := log.snapshot()[cut:]
	idx := func(e string) int {
		i := slices.Index(ev, e)
		if i < 0 {
			t.Fatalf("no event %q in %q", e, ev)
		}
		return i
	}
	// Built and wrapped while the old version served: before the swap.
	idx("build p1:b serving=" + v1)
	idx("wrap p1:b serving=" + v1)
	closeAt := idx("close p1:a")
	ends := 0
	for i, e := range ev {
		if e == "end p1:a" {
			ends++
			if i > closeAt {
				t.Fatalf("p1:a closed before a request on it ended: %q", ev)
			}
		}
		if e == "close p2:a" || strings.HasPrefix(e, "build p2") {
			t.Fatalf("unchanged p2 was rebuilt or closed: %q", ev)
		}
	}
	if ends != 3 || strings.Count(strings.Join(ev, "\n"), "close p1:a") != 1 {
		t.Fatalf("want 3 request ends then one close of p1:a: %q", ev)
	}
	checkServed(t, fh, "/p", "ok")

	// Failed reloads: the registry fails (p3 cannot be built) or the router
	// fails after every plugin was built (unknown handler). Either way p2:c,
	// built for the rejected config, is closed once, and the serving p1:b and
	// p2:a are not touched.
	failing := []struct{ name, cfg string }{
		{"plugin build fails", cfg("b", "c", 0, "  p3: {type: probe, log: "+fmt.Sprintf("%q", t.Name())+", fail: true}")},
		{"route build fails", strings.Replace(cfg("b", "c", 0, ""), "handler: {respond: {body: ok}}", "handler: no.such.handler", 1)},
	}
	for _, f := range failing {
		cut := len(log.snapshot())
		before := len(instancesOf(fh.h))
		mark := time.Now()
		writeFile(t, fh.path, f.cfg)
		if !wait.Check(wait.Deadline, func() bool { rs := reloadsSince(fh.h, mark); return len(rs) == 1 && !rs[0].Success }) {
			t.Fatalf("%s: no failed reload:%s", f.name, historyString(fh.h.History()))
		}
		if v, _ := fh.served(); v != v2 {
			t.Fatalf("%s: serving %s, want %s", f.name, v, v2)
		}
		built := instancesOf(fh.h)[before:]
		if len(built) != 1 || built[0].name != "p2" || built[0].tag != "c" {
			t.Fatalf("%s: built %v, want only p2:c", f.name, built)
		}
		if !wait.Check(wait.Deadline, func() bool { return built[0].closed.Load() == 1 }) {
			t.Fatalf("%s: p2:c built for the rejected config closed %d times, want 1", f.name, built[0].closed.Load())
		}
		ev := log.snapshot()[cut:]
		for _, e := range ev {
			if strings.HasPrefix(e, "close ") && e != "close p2:c" {
				t.Fatalf("%s: a serving instance was closed: %q", f.name, ev)
			}
		}
		for _, l := range instancesOf(fh.h)[:before] {
			if (l.name == "p1" && l.tag == "b") || (l.name == "p2" && l.tag == "a") {
				if l.closed.Load() != 0 {
					t.Fatalf("%s: serving %v closed", f.name, l)
				}
			}
		}
		code, hdr, _, err := fh.get("/p")
		if err != nil || code != 200 || fmt.Sprint(hdr.Values("X-Probe")) != "[b a]" {
			t.Fatalf("%s: /p = %d %v %v after the failed reload", f.name, code, hdr.Values("X-Probe"), err)
		}
		// Restore the serving content before the next case: its version is
		// the one serving, so wait for its reload itself.
		restored := time.Now()
		writeFile(t, fh.path, v2cfg)
		if !wait.Check(wait.Deadline, func() bool {
			rs := reloadsSince(fh.h, restored)
			return len(rs) > 0 && rs[len(rs)-1].Success
		}) {
			t.Fatalf("%s: restoring the config did not reload:%s", f.name, historyString(fh.h.History()))
		}
	}
}

// Acceptance 10: from the end of a file write to the new version being
// served by /health, with the default debounce, over 50 edits (see
// waitVersion for how the wait keeps its own cost out of the figures).
// Each edit starts a timer of one debounce beside it: what that timer
// really takes is the baseline of a busy machine, and the latency is
// compared with it (an idle machine gives the 150 ms / 500 ms of the
// acceptance). Waiting for the timer also spaces the edits.
func TestReloadLatency(t *testing.T) {
	fh := startFileHost(t, genYAML(0))
	var lat, base []time.Duration
	for n := 1; n <= 50; n++ {
		v := fh.versionOf(genYAML(n))
		start := time.Now()
		timer := time.NewTimer(hotreload.DefaultDebounce)
		writeFile(t, fh.path, genYAML(n))
		lat = append(lat, fh.waitVersion(v, 2*time.Second))
		base = append(base, (<-timer.C).Sub(start))
	}
	slices.Sort(lat)
	slices.Sort(base)
	median, p90, worst := lat[len(lat)/2], lat[len(lat)*9/10], lat[len(lat)-1]
	bm, bmax := base[len(base)/2], base[len(base)-1]
	t.Logf("write -> new version served over %d edits (debounce %v): min %v, median %v, p90 %v, max %v; a debounce timer: median %v, max %v",
		len(lat), hotreload.DefaultDebounce, lat[0].Round(time.Millisecond), median.Round(time.Millisecond),
		p90.Round(time.Millisecond), worst.Round(time.Millisecond), bm.Round(time.Millisecond), bmax.Round(time.Millisecond))
	if median >= bm*3/2 || worst >= 5*bmax {
		t.Fatalf("median %v (want < 1.5x the timer's %v), max %v (want < 5x the timer's %v)", median, bm, worst, bmax)
	}
}

// The pre-check that skips a content-identical event without parsing agrees
// with the config loader's hash, and says "changed" whenever a load could
// read something new.
func TestReloadUnchangedPrecheck(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "conf.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "conf.d", "a.yaml"), "routes:\n  - path: /a\n    handler: {respond: {body: a}}\n")
	main := genYAML(0) + "include: [\"conf.d/*.yaml\"]\n"
	path := filepath.Join(dir, "config.yaml")
	writeFile(t, path, main)
	h := New(Options{Logger: quietLogger()})
	defer h.Close()
	if err := h.LoadFile(path); err != nil {
		t.Fatal(err)
	}
	unchanged := func(env ...string) bool {
		h.reload.mu.Lock()
		defer h.reload.mu.Unlock()
		return h.reload.source.unchanged(env)
	}
	steps := []struct {
		name string
		do   func()
		env  []string
		want bool
	}{
		{"just loaded", func() {}, nil, true},
		{"touch and chmod", func() {
			now := time.Now().Add(time.Minute)
			os.Chtimes(path, now, now)
			os.Chmod(path, 0o600)
		}, nil, true},
		{"an unrelated file", func() { writeFile(t, filepath.Join(dir, "notes.txt"), "x") }, nil, true},
		{"an environment override", func() {}, []string{"SWITCHYARD_SERVER__ADDR=:1"}, false},
		{"an included file edited", func() {
			writeFile(t, filepath.Join(dir, "conf.d", "a.yaml"), "routes:\n  - path: /a\n    handler: {respond: {body: b}}\n")
		}, nil, false},
		{"reloaded", func() { h.Reload(hotreload.TriggerSignal) }, nil, true},
		{"a new file matching the glob", func() { writeFile(t, filepath.Join(dir, "conf.d", "b.yaml"), "routes: []\n") }, nil, false},
		{"reloaded again", func() { h.Reload(hotreload.TriggerSignal) }, nil, true},
		{"main file broken", func() { writeFile(t, path, "routes: [") }, nil, false},
		{"the broken file tried", func() {
			if r := h.Reload(hotreload.TriggerFile); r.Success || r.Skipped {
				t.Fatalf("broken file: %+v", r)
			}
		}, nil, true},
		{"the same broken content is skipped, not rejected again", func() {
			if r := h.Reload(hotreload.TriggerFile); !r.Skipped || r.Success || r.Error == "" {
				t.Fatalf("second event on the broken file: %+v", r)
			}
		}, nil, true},
		{"the serving content written back", func() { writeFile(t, path, main) }, nil, false},
	}
	for _, st := range steps {
		st.do()
		if got := unchanged(st.env...); got != st.want {
			t.Fatalf("%s: unchanged = %v, want %v", st.name, got, st.want)
		}
	}
	if r := h.Reload(hotreload.TriggerFile); !r.Success || r.Skipped {
		t.Fatalf("the serving content written back after a rejection must reload: %+v", r)
	}
}

// After Shutdown a reload (SIGHUP, the admin API, a late file event) is
// refused: it must not bring a configuration back into a closed host.
func TestReloadAfterShutdownRefused(t *testing.T) {
	for _, watch := range []bool{false, true} {
		t.Run(fmt.Sprintf("watching=%v", watch), func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "config.yaml")
			writeFile(t, path, genYAML(0))
			h := New(Options{Logger: quietLogger()})
			checkLifecycles(t, h)
			if err := h.LoadFile(path); err != nil {
				t.Fatal(err)
			}
			if watch {
				if err := h.Watch(); err != nil {
					t.Fatal(err)
				}
			}
			if err := h.Start("127.0.0.1:0"); err != nil {
				t.Fatal(err)
			}
			if err := h.Shutdown(context.Background()); err != nil {
				t.Fatal(err)
			}
			writeFile(t, path, genYAML(1))
			if r := h.Reload(hotreload.TriggerSignal); r.Success || r.Error == "" {
				t.Fatalf("reload after shutdown: %+v", r)
			}
			if h.Snapshot() != nil {
				t.Fatal("a reload after shutdown stored a snapshot")
			}
			if err := h.Watch(); watch == (err != nil) {
				t.Fatalf("Watch after shutdown = %v", err)
			}
		})
	}
}
