package core

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard/switchyard/core/config"
	"github.com/switchyard/switchyard/hotreload"
	"github.com/switchyard/switchyard/internal/wait"
	"github.com/switchyard/switchyard/registry"
)

// background is a test plugin type that runs a goroutine for the life of
// its instance, as a plugin with a refresher or a flusher does, and holds
// each request until its gate opens.
type backgroundConfig struct {
	Tag string `koanf:"tag"`
}

type background struct {
	stopped  chan struct{} // closed by the goroutine when ctx ends
	inflight atomic.Int64
	gate     chan struct{}
}

func (b *background) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.inflight.Add(1)
		defer b.inflight.Add(-1)
		<-b.gate
		next.ServeHTTP(w, r)
	})
}

var (
	backgroundsMu sync.Mutex
	backgrounds   = map[string]*background{}
)

func init() {
	registry.Register("background", func(ctx *registry.Context, cfg *backgroundConfig) (registry.Instance, error) {
		b := &background{stopped: make(chan struct{}), gate: make(chan struct{})}
		go func() {
			<-ctx.Done()
			close(b.stopped)
		}()
		backgroundsMu.Lock()
		backgrounds[cfg.Tag] = b
		backgroundsMu.Unlock()
		return b, nil
	})
}

func backgroundTagged(tag string) *background {
	backgroundsMu.Lock()
	defer backgroundsMu.Unlock()
	return backgrounds[tag]
}

func backgroundYAML(tag string) string {
	return "performance: {middleware: {registry: {ttl: 1h}}}\nplugins:\n  bg: {type: background, tag: " + tag +
		"}\nroutes:\n  - path: /bg\n    middleware: [{use: bg}]\n    handler: {respond: {body: ok}}\n"
}

// A retired instance's context ends once its last in-flight request has
// finished, even though the instance stays warm for the registry ttl: its
// background work stops then.
func TestRetiredInstanceContextDone(t *testing.T) {
	h := newHost(t, backgroundYAML("a"))
	a := backgroundTagged("a")
	done := make(chan int)
	go func() { done <- do(h, "GET", "/bg").Code }()
	wait.For(t, "the request to reach the plugin", func() bool { return a.inflight.Load() == 1 })

	if err := h.LoadBytes("test.yaml", []byte(backgroundYAML("b")), t.TempDir()); err != nil {
		t.Fatal(err)
	}
	close(backgroundTagged("b").gate)
	select {
	case <-a.stopped:
		t.Fatal("the retired instance's context ended while a request was in flight on it")
	default:
	}
	close(a.gate)
	if code := <-done; code != 200 {
		t.Fatalf("in-flight request = %d", code)
	}
	select {
	case <-a.stopped:
	case <-time.After(time.Second):
		t.Fatal("the retired instance's context was not done within 1 s of its last request")
	}
	select {
	case <-backgroundTagged("b").stopped:
		t.Fatal("the serving instance's context ended")
	default:
	}
}

// errors.As reaches the keyed config errors from LoadFile, Reload and the
// history, with file, line and key.
func TestReloadErrorsStayStructured(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yaml")
	const good = "routes:\n  - path: /a\n    handler: {respond: {body: a}}\n"
	const bad = "routes:\n  - path: /a\n    handler: {respond: {body: a, colour: red}}\n"
	writeFile(t, path, bad)
	h := New(Options{Logger: quietLogger()})
	defer h.Close()

	check := func(where string, err error) {
		t.Helper()
		var errs config.Errors
		if !errors.As(err, &errs) || len(errs) != 1 {
			t.Fatalf("%s: %v (%T) is not config.Errors with one error", where, err, err)
		}
		var e *config.Error
		if !errors.As(err, &e) || e.File != path || e.Line != 3 || e.Key != "routes[0].handler.respond.colour" {
			t.Fatalf("%s: error %+v, want %s line 3 routes[0].handler.respond.colour", where, e, path)
		}
	}
	check("LoadFile", h.LoadFile(path))

	writeFile(t, path, good)
	if err := h.LoadFile(path); err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, bad)
	res := h.Reload(hotreload.TriggerSignal)
	if res.Success {
		t.Fatal("bad config applied")
	}
	check("Reload", res.Err)
	hist := h.History()
	if len(hist) != 3 || hist[0].Trigger != hotreload.TriggerSignal || hist[2].Trigger != hotreload.TriggerStart {
		t.Fatalf("history %+v, want the failed first load, the good one and the failed reload", hist)
	}
	check("history", hist[0].Err)
	check("history of the first load", hist[2].Err)
}

// Check validates a candidate without applying it and says what it would
// change; a bad candidate gets config.Errors; nothing serving changes.
func TestCheckCandidate(t *testing.T) {
	h := newHost(t, basicYAML)
	before := h.Snapshot()
	c := lastCounter("counter")
	changes, err := h.Check("candidate.yaml", []byte(strings.Replace(basicYAML, "routes:\n", "routes:\n  - path: /extra\n    handler: {respond: {body: x}}\n", 1)), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(changes.RoutesAdded, []string{"/extra"}) {
		t.Errorf("changes %+v, want /extra added", changes)
	}
	if h.Snapshot() != before || len(h.History()) != 1 || c.closed.Load() != 0 {
		t.Fatal("Check changed what serves, the history or a live instance")
	}
	if code := do(h, "GET", "/extra").Code; code != 404 {
		t.Fatalf("GET /extra after Check = %d, want 404", code)
	}
	_, err = h.Check("candidate.yaml", []byte("routez: []\n"), t.TempDir())
	var errs config.Errors
	if !errors.As(err, &errs) || errs[0].Key != "routez" {
		t.Fatalf("bad candidate: %v", err)
	}
}

// One load reports a structural error, a plugin option error, a condition
// error and an unknown Go handler together, each with its line and key.
func TestOneLoadReportsEveryStage(t *testing.T) {
	const doc = `routez: []
plugins:
  c: {type: count, tag: 7, colour: red}
routes:
  - path: /a
    middleware:
      - {use: c, when: 'request.hedaer == "x"'}
    handler: app.nothing
`
	h := New(Options{Logger: quietLogger()})
	defer h.Close()
	for _, load := range []struct {
		name string
		err  func() error
	}{
		{"LoadBytes", func() error { return h.LoadBytes("four.yaml", []byte(doc), t.TempDir()) }},
		{"Check", func() error { _, err := h.Check("four.yaml", []byte(doc), t.TempDir()); return err }},
	} {
		var errs config.Errors
		if !errors.As(load.err(), &errs) {
			t.Fatalf("%s: not config.Errors", load.name)
		}
		want := map[string]int{"routez": 1, "plugins.c.colour": 3, "routes[0].middleware[0].when": 7, "routes[0].handler": 8}
		for _, e := range errs {
			if line, ok := want[e.Key]; ok && e.Line == line {
				delete(want, e.Key)
			}
		}
		if len(want) > 0 {
			t.Errorf("%s: missing %v in:\n%v", load.name, want, errs)
		}
	}
}

// filer is a test plugin type that reads a file it declares with
// ctx.File, as a plugin with a key list does.
type filerConfig struct {
	File string `koanf:"file"`
}

type filer struct{ body string }

func (f *filer) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-File", f.body)
		next.ServeHTTP(w, r)
	})
}

func init() {
	registry.Register("filer", func(ctx *registry.Context, cfg *filerConfig) (registry.Instance, error) {
		b, err := os.ReadFile(ctx.File(cfg.File))
		if err != nil {
			return nil, &registry.FieldError{Key: "file", Msg: err.Error()}
		}
		return &filer{body: strings.TrimSpace(string(b))}, nil
	})
}

// Editing a file a plugin declared rebuilds that instance, and only it,
// through the config watcher; its relative path resolves against the
// config file's directory.
func TestPluginFileEditRebuildsThatInstance(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "keys.txt"), "one")
	writeFile(t, filepath.Join(dir, "other.txt"), "other")
	path := filepath.Join(dir, "config.yaml")
	writeFile(t, path, `reload: {debounce: 20ms}
plugins:
  f: {type: filer, file: keys.txt}
  g: {type: filer, file: other.txt}
routes:
  - path: /a
    middleware: [{use: f}]
    handler: {respond: {body: a}}
  - path: /b
    middleware: [{use: g}]
    handler: {respond: {body: b}}
`)
	h := New(Options{Logger: quietLogger()})
	defer h.Close()
	if err := h.LoadFile(path); err != nil {
		t.Fatal(err)
	}
	if err := h.Watch(); err != nil {
		t.Fatal(err)
	}
	if got := do(h, "GET", "/a").Header().Get("X-File"); got != "one" {
		t.Fatalf("X-File %q, want the file's content", got)
	}
	loads := len(h.History())
	edited := time.Now()
	writeFile(t, filepath.Join(dir, "keys.txt"), "two")
	wait.For(t, "the edited file to be served", func() bool { return do(h, "GET", "/a").Header().Get("X-File") == "two" })
	t.Logf("the edit served %v after the write (reload.debounce 20ms)", time.Since(edited).Round(time.Millisecond))
	// The history records the reload just after the new snapshot serves;
	// a second event of the same write may add an unchanged entry on top.
	var last hotreload.Result
	wait.For(t, "the reload in the history", func() bool {
		hist := h.History()
		for _, r := range hist[:max(0, len(hist)-loads)] {
			if !r.Skipped {
				last = r
				return true
			}
		}
		return false
	})
	if !last.Success || !slices.Equal(last.Changes.PluginsCreated, []string{"f"}) || !slices.Equal(last.Changes.PluginsKept, []string{"g"}) {
		t.Fatalf("reload %+v, want f rebuilt and g kept", last)
	}
	// An unchanged file and config: SIGHUP keeps both.
	if res := h.Reload(hotreload.TriggerSignal); !res.Success || len(res.Changes.PluginsCreated) != 0 {
		t.Fatalf("reload without change %+v", res)
	}
}
