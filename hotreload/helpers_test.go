package hotreload

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/wait"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testDebounce keeps the save-pattern tests short; the latency and burst
// tests use the default.
const testDebounce = 50 * time.Millisecond

// call is one onChange call as a recorder saw it.
type call struct {
	at      time.Time
	trigger Trigger
	hash    string // Hash of the recorder's files at the time of the call
}

// recorder collects onChange calls, hashing the given files at each call the
// way a host would read them.
type recorder struct {
	files []string
	ch    chan call

	mu    sync.Mutex
	calls []call
}

func newRecorder(files ...string) *recorder {
	return &recorder{files: files, ch: make(chan call, 4096)}
}

func (r *recorder) onChange(t Trigger) {
	c := call{at: time.Now(), trigger: t, hash: Hash(r.files)}
	r.mu.Lock()
	r.calls = append(r.calls, c)
	r.mu.Unlock()
	r.ch <- c
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.calls)
}

func (r *recorder) all() []call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]call(nil), r.calls...)
}

// next waits for the next call, with the shared deadline: how soon it comes
// is a claim of the latency test and BenchmarkWatcherLatency, not of a wait.
func (r *recorder) next(t *testing.T, what string) call {
	t.Helper()
	select {
	case c := <-r.ch:
		return c
	case <-time.After(wait.Deadline):
		t.Fatalf("%s: no onChange call within %v", what, wait.Deadline)
		return call{}
	}
}

// waitHash waits, with the shared deadline, for a call that saw the wanted
// hash, and returns it with the number of calls consumed.
func (r *recorder) waitHash(t *testing.T, want string, what string) (call, int) {
	t.Helper()
	deadline := time.After(wait.Deadline)
	n := 0
	for {
		select {
		case c := <-r.ch:
			n++
			if c.hash == want {
				return c, n
			}
		case <-deadline:
			t.Fatalf("%s: no onChange call saw the new content within %v (%d calls)", what, wait.Deadline, n)
			return call{}, n
		}
	}
}

// quiet fails if a call arrives within d.
func (r *recorder) quiet(t *testing.T, d time.Duration, what string) {
	t.Helper()
	began := time.Now()
	select {
	case c := <-r.ch:
		var seen strings.Builder
		for _, p := range r.all() {
			fmt.Fprintf(&seen, "\n\t%s %s content %.8s", p.at.Format("15:04:05.000000"), p.trigger, p.hash)
		}
		t.Fatalf("%s: unexpected onChange call (trigger %s) %v after the quiet period began; calls:%s",
			what, c.trigger, c.at.Sub(began), seen.String())
	case <-time.After(d):
	}
}

// drain discards the calls that arrive within d and returns how many.
func (r *recorder) drain(d time.Duration) int {
	n := 0
	deadline := time.After(d)
	for {
		select {
		case <-r.ch:
			n++
		case <-deadline:
			return n
		}
	}
}

// startWatcher starts a Watcher feeding rec and watching files and globs; it
// is closed when the test ends.
func startWatcher(t *testing.T, opts Options, rec *recorder, files, globs []string) *Watcher {
	t.Helper()
	w, err := NewWatcher(opts, rec.onChange)
	if err != nil {
		t.Fatalf("NewWatcher: %v", err)
	}
	t.Cleanup(func() {
		if err := w.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	if err := w.Watch(files, globs); err != nil {
		t.Fatalf("Watch: %v", err)
	}
	return w
}

// writeFile writes content to name, creating its directory.
func writeFile(t *testing.T, name string, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func configContent(i int) string {
	return fmt.Sprintf("routes:\n  - path: /v%d\n    handler: {respond: {body: \"v%d\"}}\n", i, i)
}
