package hotreload

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
	"go.uber.org/goleak"

	"github.com/switchyard/switchyard/internal/wait"
)

// savePattern is one way programs save a file.
type savePattern struct {
	name string
	// setup creates the initial config in dir and returns the path the host
	// reads (the path to watch).
	setup func(t *testing.T, dir string) string
	// save replaces file's content the way the program does.
	save func(t *testing.T, file, content string)
}

func plainSetup(t *testing.T, dir string) string {
	t.Helper()
	file := filepath.Join(dir, "config.yaml")
	writeFile(t, file, configContent(0))
	return file
}

var savePatterns = []savePattern{
	{
		name:  "in-place write",
		setup: plainSetup,
		save: func(t *testing.T, file, content string) {
			t.Helper()
			if err := os.WriteFile(file, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		},
	},
	{
		name:  "write temp then rename",
		setup: plainSetup,
		save: func(t *testing.T, file, content string) {
			t.Helper()
			tmp := filepath.Join(filepath.Dir(file), ".config.yaml.tmp")
			if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(tmp, file); err != nil {
				t.Fatal(err)
			}
		},
	},
	{
		name:  "delete then create",
		setup: plainSetup,
		save: func(t *testing.T, file, content string) {
			t.Helper()
			if err := os.Remove(file); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(file, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		},
	},
	{
		name:  "copy over",
		setup: plainSetup,
		save: func(t *testing.T, file, content string) {
			t.Helper()
			// Like cp(1): the source lives elsewhere, the destination is
			// opened with O_TRUNC and written in chunks.
			src := filepath.Join(t.TempDir(), "source.yaml")
			writeFile(t, src, content)
			in, err := os.Open(src)
			if err != nil {
				t.Fatal(err)
			}
			defer in.Close()
			out, err := os.OpenFile(file, os.O_WRONLY|os.O_TRUNC, 0o644)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.CopyBuffer(out, in, make([]byte, 16)); err != nil {
				t.Fatal(err)
			}
			if err := out.Close(); err != nil {
				t.Fatal(err)
			}
		},
	},
	{
		name:  "backup-rename save",
		setup: plainSetup,
		save: func(t *testing.T, file, content string) {
			t.Helper()
			// As vim with 'writebackup': c.yaml -> c.yaml~, write a new
			// c.yaml, delete the backup.
			backup := file + "~"
			if err := os.Rename(file, backup); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(file, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Remove(backup); err != nil {
				t.Fatal(err)
			}
		},
	},
	{
		name:  "kubernetes ..data symlink swap",
		setup: k8sSetup,
		save:  k8sSave,
	},
}

// k8sSetup lays out a directory as the kubelet mounts a ConfigMap:
// ..<timestamp>/config.yaml, ..data -> ..<timestamp>, config.yaml ->
// ..data/config.yaml.
func k8sSetup(t *testing.T, dir string) string {
	t.Helper()
	writeFile(t, filepath.Join(dir, "..2024_01_01_00_00_00.000000000", "config.yaml"), configContent(0))
	if err := os.Symlink("..2024_01_01_00_00_00.000000000", filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "config.yaml")
	if err := os.Symlink(filepath.Join("..data", "config.yaml"), file); err != nil {
		t.Fatal(err)
	}
	return file
}

// k8sSave updates a ConfigMap volume as the kubelet's atomic writer does: a
// new timestamped directory, a ..data_tmp link to it renamed over ..data,
// then the old directory removed.
func k8sSave(t *testing.T, file, content string) {
	t.Helper()
	dir := filepath.Dir(file)
	old, err := os.Readlink(filepath.Join(dir, "..data"))
	if err != nil {
		t.Fatal(err)
	}
	ts := "..ts_" + strconv.FormatInt(time.Now().UnixNano(), 10)
	writeFile(t, filepath.Join(dir, ts, "config.yaml"), content)
	tmp := filepath.Join(dir, "..data_tmp")
	if err := os.Symlink(ts, tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(dir, old)); err != nil {
		t.Fatal(err)
	}
}

// timedSave saves with p and reports whether the save itself took as long as
// the debounce: then the machine stalled the writer half-way, and a window
// may legitimately close in the middle of the save.
func timedSave(t *testing.T, p savePattern, file, content string) (stalled bool) {
	t.Helper()
	start := time.Now()
	p.save(t, file, content)
	if d := time.Since(start); d >= testDebounce {
		t.Logf("%s: the save itself took %v (writer stalled)", p.name, d)
		return true
	}
	return false
}

// settle checks that no further call follows a save, unless the writer
// stalled half-way through it, when the rest of the save may give one more.
func settle(t *testing.T, rec *recorder, stalled bool, what string) {
	t.Helper()
	if stalled {
		rec.drain(4 * testDebounce)
		return
	}
	rec.quiet(t, 4*testDebounce, what)
}

// TestSavePatterns checks issue 3 acceptance 1 for the watcher: each save
// pattern gives exactly one onChange within 1 s, then 10 edits, each waited
// for, are all seen with one call each, then 10 edits spaced by more than the
// debounce (5x, leaving room for a loaded machine; without waiting for the
// calls) give 10 calls, the last one seeing
// the last edit.
func TestSavePatterns(t *testing.T) {
	for _, p := range savePatterns {
		t.Run(p.name, func(t *testing.T) {
			dir := t.TempDir()
			file := p.setup(t, dir)
			rec := newRecorder(file)
			startWatcher(t, Options{Debounce: testDebounce}, rec, []string{file}, nil)

			start := time.Now()
			stalled := timedSave(t, p, file, configContent(1))
			c, n := rec.waitHash(t, Hash([]string{file}), "first save")
			if n > 1 && !stalled {
				t.Fatalf("first save: %d calls, want 1", n)
			}
			if c.trigger != TriggerFile {
				t.Errorf("trigger = %q, want %q", c.trigger, TriggerFile)
			}
			t.Logf("first save: onChange after %v", c.at.Sub(start).Round(time.Millisecond))
			settle(t, rec, stalled, "after the first save")

			for i := 2; i <= 11; i++ {
				stalled := timedSave(t, p, file, configContent(i))
				_, n := rec.waitHash(t, Hash([]string{file}), fmt.Sprintf("edit %d", i))
				if n > 1 && !stalled {
					t.Fatalf("edit %d: %d calls, want 1", i, n)
				}
				settle(t, rec, stalled, fmt.Sprintf("after edit %d", i))
			}

			// Spaced edits without waiting for the calls.
			before := rec.count()
			stalls := 0
			for i := 12; i <= 21; i++ {
				n := rec.count()
				if timedSave(t, p, file, configContent(i)) {
					stalls++
				}
				// The next edit comes once this one's window has closed.
				wait.For(t, fmt.Sprintf("the call for edit %d", i), func() bool { return rec.count() > n })
			}
			want := Hash([]string{file})
			rec.drain(8 * testDebounce)
			calls := rec.all()[before:]
			if len(calls) < 10 || len(calls) > 10+stalls {
				t.Fatalf("10 edits spaced by 5x the debounce gave %d calls, want 10 (%d writer stalls)", len(calls), stalls)
			}
			if last := calls[len(calls)-1]; last.hash != want {
				t.Fatalf("the last call did not see the last edit")
			}
		})
	}
}

// TestChmodAndTouch: attribute changes produce no call; a rewrite with
// identical content does produce one, and its Hash is unchanged, which is the
// contract the host uses to skip it.
func TestChmodAndTouch(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "config.yaml")
	writeFile(t, file, configContent(0))
	before := Hash([]string{file})
	rec := newRecorder(file)
	startWatcher(t, Options{Debounce: testDebounce}, rec, []string{file}, nil)

	if err := os.Chmod(file, 0o600); err != nil {
		t.Fatal(err)
	}
	future := time.Now().Add(time.Hour)
	if err := os.Chtimes(file, future, future); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	rec.quiet(t, 6*testDebounce, "chmod and touch")
	if got := Hash([]string{file}); got != before {
		t.Fatal("Hash changed after chmod and touch")
	}

	// Same content written again: an event, hence a call, but an equal hash.
	if err := os.WriteFile(file, []byte(configContent(0)), 0o600); err != nil {
		t.Fatal(err)
	}
	c := rec.next(t, "rewrite with equal content")
	if c.hash != before {
		t.Fatal("Hash changed after rewriting the same content")
	}
}

// TestChmodAfterFailure: while the last reload failed (a file that could
// not be read, say), a pure chmod is acted on, so that making the file
// readable again reloads it; once a reload succeeded, a chmod is ignored
// again.
func TestChmodAfterFailure(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "config.yaml")
	writeFile(t, file, configContent(0))
	rec := newRecorder(file)
	w := startWatcher(t, Options{Debounce: testDebounce}, rec, []string{file}, nil)

	w.SetLastFailed(true)
	if err := os.Chmod(file, 0o600); err != nil {
		t.Fatal(err)
	}
	if c := rec.next(t, "chmod while the last reload failed"); c.trigger != TriggerFile {
		t.Fatalf("trigger %s, want %s", c.trigger, TriggerFile)
	}

	w.SetLastFailed(false)
	if err := os.Chmod(file, 0o644); err != nil {
		t.Fatal(err)
	}
	rec.quiet(t, 6*testDebounce, "chmod after a successful reload")
}

// TestHostSkipsUnchangedContent wires Watcher, Runner and Hash as the host
// does: chmod gives no reload, an identical rewrite a skipped one, an edit a
// real one.
func TestHostSkipsUnchangedContent(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "config.yaml")
	writeFile(t, file, configContent(0))
	loaded := Hash([]string{file})
	results := make(chan Result, 16)
	runner := NewRunner(func(tr Trigger) Result {
		h := Hash([]string{file})
		res := Result{Trigger: tr, Success: true, Version: h[:8]}
		if h == loaded {
			res.Skipped = true
		}
		loaded = h
		results <- res
		return res
	}, 10)
	defer runner.Close()
	w, err := NewWatcher(Options{Debounce: testDebounce}, runner.Trigger)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.Watch([]string{file}, nil); err != nil {
		t.Fatal(err)
	}

	expect := func(what string, skipped bool) {
		t.Helper()
		select {
		case r := <-results:
			if r.Skipped != skipped {
				t.Fatalf("%s: Skipped = %v, want %v", what, r.Skipped, skipped)
			}
		case <-time.After(time.Second):
			t.Fatalf("%s: no reload", what)
		}
	}
	if err := os.Chmod(file, 0o600); err != nil {
		t.Fatal(err)
	}
	select {
	case <-results:
		t.Fatal("chmod caused a reload")
	case <-time.After(6 * testDebounce):
	}
	writeFile(t, file, configContent(0))
	expect("identical rewrite", true)
	writeFile(t, file, configContent(1))
	expect("edit", false)
	writeFile(t, file, configContent(1))
	expect("identical rewrite", true)
	writeFile(t, file, configContent(1))
	expect("identical rewrite", true)
	// The reload function reports before the runner records its result, so
	// the last entry may land a moment after the channel receive.
	want := func(h []Result) bool {
		return len(h) == 3 && h[0].Skipped && h[0].Repeats == 1 && !h[1].Skipped && h[2].Skipped
	}
	var h []Result
	if !wait.Check(wait.Deadline, func() bool { h = runner.History(); return want(h) }) {
		t.Fatalf("history = %+v, want [skipped x2, success, skipped]", h)
	}
}

// TestIncludes: an included file's edit triggers; a new file matching an
// include glob triggers, in the same directory as the main file or not, and
// with wildcards in the directory part of the glob.
func TestIncludes(t *testing.T) {
	dir := t.TempDir()
	main := filepath.Join(dir, "config.yaml")
	inc := filepath.Join(dir, "conf.d", "a.yaml")
	writeFile(t, main, "include: [conf.d/*.yaml, sites/*/site.yaml]\n")
	writeFile(t, inc, configContent(0))
	writeFile(t, filepath.Join(dir, "sites", "one", "site.yaml"), configContent(0))
	globs := []string{filepath.Join(dir, "conf.d", "*.yaml"), filepath.Join(dir, "sites", "*", "site.yaml")}
	rec := newRecorder(inc)
	startWatcher(t, Options{Debounce: testDebounce}, rec, []string{main, inc, filepath.Join(dir, "sites", "one", "site.yaml")}, globs)

	writeFile(t, inc, configContent(1))
	c := rec.next(t, "included file edited")
	if c.hash != Hash([]string{inc}) {
		t.Fatal("the call saw an older content of the included file")
	}
	rec.quiet(t, 4*testDebounce, "after the include edit")

	tests := []struct {
		name string
		file string
	}{
		{"new file matching a glob", filepath.Join(dir, "conf.d", "b.yaml")},
		{"new file in an existing glob directory", filepath.Join(dir, "sites", "one", "other.yaml")},
		{"new directory matching a glob", filepath.Join(dir, "sites", "two", "site.yaml")},
	}
	for _, tt := range tests {
		writeFile(t, tt.file, configContent(2))
		rec.next(t, tt.name)
		rec.drain(4 * testDebounce)
	}
}

// TestDirectoryRemovedAndRecreated: the watched directory (and then its
// parent) removed and created again, slowly and at once, keeps working.
func TestDirectoryRemovedAndRecreated(t *testing.T) {
	tests := []struct {
		name   string
		remove string // relative to the temp dir
		slowly bool   // recreate once the watcher has fallen back to an ancestor
	}{
		{"directory, slowly", "a/b", true},
		{"directory, at once", "a/b", false},
		{"parent, slowly", "a", true},
		{"parent, at once", "a", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			file := filepath.Join(root, "a", "b", "config.yaml")
			writeFile(t, file, configContent(0))
			rec := newRecorder(file)
			w := startWatcher(t, Options{Debounce: testDebounce}, rec, []string{file}, nil)

			if err := os.RemoveAll(filepath.Join(root, tt.remove)); err != nil {
				t.Fatal(err)
			}
			if tt.slowly {
				ancestor := filepath.Dir(filepath.Join(root, tt.remove))
				wait.For(t, "the watcher to watch "+ancestor+" instead", func() bool {
					w.mu.Lock()
					defer w.mu.Unlock()
					_, up := w.armed[ancestor]
					_, gone := w.armed[filepath.Join(root, "a", "b")]
					return up && !gone
				})
			}
			writeFile(t, file, configContent(1))
			rec.waitHash(t, Hash([]string{file}), "recreated")
			rec.drain(4 * testDebounce)

			for i := 2; i <= 6; i++ {
				writeFile(t, file, configContent(i))
				rec.waitHash(t, Hash([]string{file}), fmt.Sprintf("edit %d after re-arm", i))
			}
		})
	}
}

// TestMissingFileHeldBack: a delete-then-create slower than the debounce
// still gives one call, which sees the new file.
func TestMissingFileHeldBack(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "config.yaml")
	writeFile(t, file, configContent(0))
	rec := newRecorder(file)
	startWatcher(t, Options{Debounce: testDebounce}, rec, []string{file}, nil)

	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	rec.quiet(t, 4*testDebounce, "held back while the file is missing")
	writeFile(t, file, configContent(1))
	c := rec.next(t, "slow delete then create")
	if c.hash != Hash([]string{file}) {
		t.Fatal("the call did not see the recreated file")
	}
	rec.quiet(t, 4*testDebounce, "after the slow delete then create")
}

// TestPolling: with events off, polling sees edits, rename saves and new glob
// matches, and not chmod.
func TestPolling(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "config.yaml")
	writeFile(t, file, configContent(0))
	rec := newRecorder(file)
	w := startWatcher(t, Options{Debounce: 10 * time.Millisecond, Poll: 50 * time.Millisecond, DisableEvents: true},
		rec, []string{file}, []string{filepath.Join(dir, "conf.d", "*.yaml")})
	if w.fw != nil {
		t.Fatal("DisableEvents still started fsnotify")
	}
	for i := 1; i <= 5; i++ {
		savePatterns[i%5].save(t, file, configContent(i)) // not the Kubernetes layout
		c := rec.next(t, fmt.Sprintf("polled edit %d", i))
		if c.trigger != TriggerPoll {
			t.Fatalf("trigger = %q, want %q", c.trigger, TriggerPoll)
		}
		if c.hash != Hash([]string{file}) {
			t.Fatalf("polled edit %d: the call saw an older content", i)
		}
	}
	if err := os.Chmod(file, 0o600); err != nil {
		t.Fatal(err)
	}
	rec.quiet(t, 200*time.Millisecond, "chmod while polling")
	writeFile(t, filepath.Join(dir, "conf.d", "new.yaml"), "x: 1\n")
	rec.next(t, "new glob match while polling")

	// Turning polling off stops it; turning it on again resumes.
	w.SetOptions(Options{Debounce: 10 * time.Millisecond})
	writeFile(t, file, configContent(10))
	rec.quiet(t, 200*time.Millisecond, "poll off")
	w.SetOptions(Options{Debounce: 10 * time.Millisecond, Poll: 30 * time.Millisecond})
	wait.For(t, "the poller to take the new interval", func() bool { return len(w.pollOpts) == 0 })
	writeFile(t, file, configContent(11))
	rec.next(t, "poll on again")
}

// TestPollAndEvents: with both on, one edit gives one call, whether the
// poller runs faster or slower than the debounce.
func TestPollAndEvents(t *testing.T) {
	for _, poll := range []time.Duration{20 * time.Millisecond, 4 * testDebounce} {
		t.Run(poll.String(), func(t *testing.T) {
			dir := t.TempDir()
			file := filepath.Join(dir, "config.yaml")
			writeFile(t, file, configContent(0))
			rec := newRecorder(file)
			startWatcher(t, Options{Debounce: testDebounce, Poll: poll}, rec, []string{file}, nil)
			for i := 1; i <= 4; i++ {
				writeFile(t, file, configContent(i))
				// Once a call reported the edit, neither the poller nor a
				// late event reports it again.
				rec.waitHash(t, Hash([]string{file}), "edit")
				rec.quiet(t, 2*poll+2*testDebounce, "after one edit with events and polling")
			}
		})
	}
}

// TestSymlinkedFile: a config file that is a symbolic link into another
// directory reloads when the target is edited in place and when the link is
// pointed elsewhere.
func TestSymlinkedFile(t *testing.T) {
	cfgDir, shared := t.TempDir(), t.TempDir()
	target := filepath.Join(shared, "a", "config.yaml")
	writeFile(t, target, configContent(0))
	file := filepath.Join(cfgDir, "config.yaml")
	if err := os.Symlink(target, file); err != nil {
		t.Fatal(err)
	}
	rec := newRecorder(file)
	startWatcher(t, Options{Debounce: testDebounce}, rec, []string{file}, nil)

	writeFile(t, target, configContent(1))
	rec.waitHash(t, Hash([]string{file}), "target edited in place")

	other := filepath.Join(shared, "b", "config.yaml")
	writeFile(t, other, configContent(2))
	rec.quiet(t, 4*testDebounce, "a file the link does not point to")
	tmp := file + ".tmp"
	if err := os.Symlink(other, tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, file); err != nil { // ln -sfn
		t.Fatal(err)
	}
	rec.waitHash(t, Hash([]string{file}), "link repointed")
	rec.drain(4 * testDebounce)

	writeFile(t, other, configContent(3))
	rec.waitHash(t, Hash([]string{file}), "new target edited in place")
	writeFile(t, target, configContent(4))
	rec.quiet(t, 4*testDebounce, "the old target, no longer linked")
}

// TestBurst: 100 writes within 1 s with the default debounce give at most 3
// calls, and the last call comes after the last write and sees it.
func TestBurst(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "config.yaml")
	writeFile(t, file, configContent(0))
	rec := newRecorder(file)
	startWatcher(t, Options{}, rec, []string{file}, nil)

	start := time.Now()
	prev := start
	stalls := 0                                  // gaps between writes as long as the debounce: the machine stalled the writer
	pace := time.NewTicker(9 * time.Millisecond) // the burst's schedule: the input under test
	defer pace.Stop()
	for i := 1; i <= 100; i++ {
		savePatterns[i%2].save(t, file, configContent(i)) // in-place and rename saves
		now := time.Now()
		if now.Sub(prev) >= DefaultDebounce {
			stalls++
		}
		prev = now
		<-pace.C
	}
	lastWrite := time.Now()
	want := Hash([]string{file})
	rec.waitHash(t, want, "the burst's last write")
	rec.drain(2 * DefaultDebounce) // a straggler would be counted below
	calls := rec.all()
	t.Logf("100 writes in %v (%d writer stalls): %d calls", lastWrite.Sub(start).Round(time.Millisecond), stalls, len(calls))
	for _, c := range calls {
		t.Logf("call at +%v", c.at.Sub(start).Round(time.Millisecond))
	}
	// A slow writer is not a failure: each of its gaps as long as the
	// debounce is counted as a stall and loosens the bound below.
	// A quiet gap as long as the debounce legitimately ends a window; the
	// bound only loosens when the machine itself stalled the writer.
	if limit := max(3, 1+stalls); len(calls) == 0 || len(calls) > limit {
		t.Fatalf("%d calls, want 1 to %d", len(calls), limit)
	}
	last := calls[len(calls)-1]
	if !last.at.After(lastWrite) {
		t.Fatal("the last call came before the last write")
	}
	if last.hash != want {
		t.Fatal("the last call did not see the last write")
	}
}

// TestNoisyDirectory: a directory that never goes quiet still reloads,
// within MaxWaitFactor x Debounce plus what the machine adds to a quiet
// edit's latency, measured first in the same test (a timer or a goroutine
// there stalls as much as here). The bound itself on an idle machine is a
// claim of BenchmarkWatcherLatency/noisy.
func TestNoisyDirectory(t *testing.T) {
	const debounce = 20 * time.Millisecond
	dir := t.TempDir()
	file := filepath.Join(dir, "config.yaml")
	writeFile(t, file, configContent(0))
	rec := newRecorder(file)
	startWatcher(t, Options{Debounce: debounce}, rec, []string{file}, nil)

	start := time.Now()
	writeFile(t, file, configContent(1))
	c, _ := rec.waitHash(t, Hash([]string{file}), "edit in a quiet directory")
	quiet := c.at.Sub(start)

	stop := make(chan struct{})
	done := make(chan struct{})
	var noise atomic.Int64
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			_ = os.WriteFile(filepath.Join(dir, "app.log"), []byte(strconv.Itoa(i)), 0o644)
			noise.Add(1)
		}
	}()
	defer func() { close(stop); <-done }()
	wait.For(t, "the noise to start", func() bool { return noise.Load() >= 5 })
	start = time.Now()
	writeFile(t, file, configContent(2))
	c, _ = rec.waitHash(t, Hash([]string{file}), "edit in a noisy directory")
	d := c.at.Sub(start)
	t.Logf("edit seen after %v in a quiet directory, %v in a noisy one", quiet, d)
	if limit := MaxWaitFactor*debounce + 5*max(quiet, debounce); d > limit {
		t.Fatalf("edit seen after %v in a noisy directory, want under %v (a quiet edit took %v)", d, limit, quiet)
	}
}

// TestLatency measures write-to-callback latency over 50 edits with the
// default debounce. Each edit starts a timer of one debounce beside it: the
// time that timer really takes is the baseline of a busy machine, and the
// latency is compared with it. How close the latency comes to the debounce
// on an idle machine is a claim of BenchmarkWatcherLatency/quiet.
func TestLatency(t *testing.T) {
	if testing.Short() {
		t.Skip("measures 50 edits")
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "config.yaml")
	writeFile(t, file, configContent(0))
	rec := newRecorder(file)
	startWatcher(t, Options{}, rec, []string{file}, nil)

	lat := make([]time.Duration, 0, 50)
	base := make([]time.Duration, 0, 50)
	for i := 1; i <= 50; i++ {
		start := time.Now()
		timer := time.NewTimer(DefaultDebounce)
		savePatterns[i%5].save(t, file, configContent(i)) // not the Kubernetes layout
		c := rec.next(t, fmt.Sprintf("edit %d", i))
		lat = append(lat, c.at.Sub(start))
		base = append(base, (<-timer.C).Sub(start))
		rec.drain(20 * time.Millisecond) // a straggler must not count for the next edit
	}
	slices.Sort(lat)
	slices.Sort(base)
	median, p90, maxLat := lat[len(lat)/2], lat[len(lat)*9/10], lat[len(lat)-1]
	t.Logf("write-to-onChange latency over 50 edits (debounce %v): min %v, median %v, p90 %v, max %v; a debounce timer: median %v, max %v",
		DefaultDebounce, lat[0].Round(100*time.Microsecond), median.Round(100*time.Microsecond),
		p90.Round(100*time.Microsecond), maxLat.Round(100*time.Microsecond),
		base[len(base)/2].Round(100*time.Microsecond), base[len(base)-1].Round(100*time.Microsecond))
	if median < DefaultDebounce {
		t.Errorf("median %v is shorter than the debounce: the window is not respected", median)
	}
	// The window ends one debounce after the write: the latency follows the
	// timer, with room for the write and the hash.
	if bm, bmax := base[len(base)/2], base[len(base)-1]; median > bm*3/2 || maxLat > 10*bmax {
		t.Errorf("latency median %v / max %v, want under 1.5x / 10x a debounce timer's %v / %v", median, maxLat, bm, bmax)
	}
}

// BenchmarkWatcherLatency is the timing claim of the watcher: write to
// onChange takes about one debounce in a quiet directory (latency-ms near
// 100 with the default) and at most MaxWaitFactor x Debounce in one that
// never goes quiet (near 200 with a 20 ms debounce). Run it on an idle
// machine:
//
//	go test -run XXX -bench WatcherLatency -benchtime 20x ./hotreload
func BenchmarkWatcherLatency(b *testing.B) {
	for _, noisy := range []bool{false, true} {
		name, opts := "quiet", Options{}
		if noisy {
			name, opts = "noisy", Options{Debounce: 20 * time.Millisecond}
		}
		b.Run(name, func(b *testing.B) {
			dir := b.TempDir()
			file := filepath.Join(dir, "config.yaml")
			if err := os.WriteFile(file, []byte(configContent(0)), 0o644); err != nil {
				b.Fatal(err)
			}
			rec := newRecorder(file)
			w, err := NewWatcher(opts, rec.onChange)
			if err != nil {
				b.Fatal(err)
			}
			defer w.Close()
			if err := w.Watch([]string{file}, nil); err != nil {
				b.Fatal(err)
			}
			if noisy {
				stop, done := make(chan struct{}), make(chan struct{})
				go func() {
					defer close(done)
					tick := time.NewTicker(5 * time.Millisecond)
					defer tick.Stop()
					for i := 0; ; i++ {
						select {
						case <-stop:
							return
						case <-tick.C:
						}
						_ = os.WriteFile(filepath.Join(dir, "app.log"), []byte(strconv.Itoa(i)), 0o644)
					}
				}()
				defer func() { close(stop); <-done }()
			}
			var total time.Duration
			i := 0
			for b.Loop() {
				i++
				start := time.Now()
				if err := os.WriteFile(file, []byte(configContent(i)), 0o644); err != nil {
					b.Fatal(err)
				}
				want := Hash([]string{file})
				for c := range rec.ch {
					if c.hash == want {
						total += c.at.Sub(start)
						break
					}
				}
			}
			b.ReportMetric(float64(total)/float64(i)/1e6, "latency-ms")
		})
	}
}

// TestWatchReplacesSet: after Watch with a new set, the old file no longer
// triggers and the new one does.
func TestWatchReplacesSet(t *testing.T) {
	oldDir, newDir := t.TempDir(), t.TempDir()
	oldFile := filepath.Join(oldDir, "config.yaml")
	newFile := filepath.Join(newDir, "config.yaml")
	writeFile(t, oldFile, configContent(0))
	writeFile(t, newFile, configContent(0))
	rec := newRecorder(newFile)
	w := startWatcher(t, Options{Debounce: testDebounce}, rec, []string{oldFile}, nil)
	if err := w.Watch([]string{newFile}, nil); err != nil {
		t.Fatal(err)
	}
	writeFile(t, oldFile, configContent(1))
	rec.quiet(t, 4*testDebounce, "edit of a file no longer watched")
	writeFile(t, newFile, configContent(1))
	rec.next(t, "edit of the new file")
	if got := w.fw.WatchList(); len(got) != 1 || got[0] != newDir {
		t.Fatalf("fsnotify watches %v, want only %s", got, newDir)
	}
}

// TestWatchErrors: a bad glob is an error naming it; a missing directory is
// not an error, and is picked up when it appears.
func TestWatchErrors(t *testing.T) {
	dir := t.TempDir()
	rec := newRecorder()
	w := startWatcher(t, Options{Debounce: testDebounce}, rec, nil, nil)
	err := w.Watch(nil, []string{filepath.Join(dir, "[.yaml")})
	if err == nil || !strings.Contains(err.Error(), "[.yaml") {
		t.Fatalf("Watch with a malformed glob: err = %v, want one naming the glob", err)
	}
	file := filepath.Join(dir, "not", "yet", "config.yaml")
	if err := w.Watch([]string{file}, nil); err != nil {
		t.Fatalf("Watch of a missing directory: %v", err)
	}
	writeFile(t, file, configContent(1))
	rec.next(t, "file created in a directory that did not exist")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Watch([]string{file}, nil); err != ErrClosed {
		t.Fatalf("Watch after Close: %v, want ErrClosed", err)
	}
	w.SetOptions(Options{Poll: time.Second}) // no effect, no panic
}

// TestSetOptionsDebounce: a longer debounce set live applies to the next
// window.
func TestSetOptionsDebounce(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "config.yaml")
	writeFile(t, file, configContent(0))
	rec := newRecorder(file)
	w := startWatcher(t, Options{Debounce: 20 * time.Millisecond}, rec, []string{file}, nil)
	w.SetOptions(Options{Debounce: 300 * time.Millisecond})
	start := time.Now()
	writeFile(t, file, configContent(1))
	c := rec.next(t, "edit")
	if d := c.at.Sub(start); d < 300*time.Millisecond {
		t.Fatalf("onChange after %v, want at least the new debounce 300ms", d)
	}
}

// TestOnChangePanic: a panicking onChange does not stop the watcher.
func TestOnChangePanic(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "config.yaml")
	writeFile(t, file, configContent(0))
	calls := make(chan struct{}, 10)
	w, err := NewWatcher(Options{Debounce: testDebounce}, func(Trigger) {
		calls <- struct{}{}
		panic("boom")
	})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.Watch([]string{file}, nil); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 2; i++ {
		writeFile(t, file, configContent(i))
		select {
		case <-calls:
		case <-time.After(time.Second):
			t.Fatalf("edit %d: no call", i)
		}
	}
}

func TestNewWatcherNilCallback(t *testing.T) {
	if _, err := NewWatcher(Options{}, nil); err == nil {
		t.Fatal("NewWatcher(nil) succeeded")
	}
}

// TestCloseStopsGoroutines: Close stops every goroutine, also while an
// onChange call and a re-arm retry are in progress.
func TestCloseStopsGoroutines(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "config.yaml")
	writeFile(t, file, configContent(0))
	entered := make(chan struct{})
	release := make(chan struct{})
	w, err := NewWatcher(Options{Debounce: 10 * time.Millisecond, Poll: 10 * time.Millisecond}, func(Trigger) {
		select {
		case entered <- struct{}{}:
		default:
		}
		<-release
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Watch([]string{file, filepath.Join(dir, "missing", "x.yaml")}, nil); err != nil {
		t.Fatal(err)
	}
	writeFile(t, file, configContent(1))
	<-entered
	closed := make(chan error)
	go func() { closed <- w.Close() }()
	select {
	case <-closed:
		t.Fatal("Close returned while onChange was running")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	// goleak.VerifyTestMain checks at the end; check here too so that the
	// failure names this test.
	goleak.VerifyNone(t)
}

// TestSetOptionsUnchangedKeepsPolling: the host calls SetOptions after every
// reload; repeating the same options must not restart the poll interval.
func TestSetOptionsUnchangedKeepsPolling(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "config.yaml")
	writeFile(t, file, configContent(0))
	rec := newRecorder(file)
	opts := Options{Debounce: 10 * time.Millisecond, Poll: 100 * time.Millisecond, DisableEvents: true}
	w := startWatcher(t, opts, rec, []string{file}, nil)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
				w.SetOptions(opts)
				_ = w.Watch([]string{file}, nil)
			}
		}
	}()
	defer func() { close(stop); <-done }()
	writeFile(t, file, configContent(1))
	rec.next(t, "polled edit while SetOptions repeats")
}

// TestLostEvents: after fsnotify reports an error (events were lost), the
// watcher re-arms every watch (here one removed behind its back) and
// triggers a reload.
func TestLostEvents(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "config.yaml")
	writeFile(t, file, configContent(0))
	rec := newRecorder(file)
	w := startWatcher(t, Options{Debounce: testDebounce}, rec, []string{file}, nil)
	if err := w.fw.Remove(dir); err != nil {
		t.Fatal(err)
	}
	writeFile(t, file, configContent(1))
	rec.quiet(t, 4*testDebounce, "edit while the watch is gone")
	notify(w.lost) // what errorLoop does on an fsnotify error
	rec.next(t, "events lost")
	writeFile(t, file, configContent(2))
	rec.waitHash(t, Hash([]string{file}), "edit after re-arm")
}

// TestEventsUnavailable: when fsnotify cannot start, the watcher polls
// instead of failing, at FallbackPoll unless a shorter poll is set, and a
// reload that turns polling off keeps the fallback.
func TestEventsUnavailable(t *testing.T) {
	newFSWatcher = func() (*fsnotify.Watcher, error) { return nil, errors.New("too many open files") }
	defer func() { newFSWatcher = fsnotify.NewWatcher }()

	dir := t.TempDir()
	file := filepath.Join(dir, "config.yaml")
	writeFile(t, file, configContent(0))
	rec := newRecorder(file)
	w := startWatcher(t, Options{Debounce: 10 * time.Millisecond, Poll: 50 * time.Millisecond}, rec, []string{file}, nil)
	if w.fw != nil {
		t.Fatal("fsnotify is running")
	}
	writeFile(t, file, configContent(1))
	if c := rec.next(t, "edit without events"); c.trigger != TriggerPoll {
		t.Fatalf("trigger %q, want poll", c.trigger)
	}
	w.SetOptions(Options{Debounce: 10 * time.Millisecond})
	w.mu.Lock()
	p := w.effectivePoll()
	w.mu.Unlock()
	if p != FallbackPoll {
		t.Fatalf("poll interval with events unavailable and poll off = %v, want %v", p, FallbackPoll)
	}
}
