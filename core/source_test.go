package core

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/switchyard/switchyard/core/config"
	"github.com/switchyard/switchyard/hotreload"
	"github.com/switchyard/switchyard/internal/wait"
)

// memSource is a WatchSource held in memory: set changes its document and
// tells the watcher.
type memSource struct {
	mu      sync.Mutex
	data    string
	rev     int
	down    bool
	applied []string
	changed chan struct{}
	up      chan bool
}

func newMemSource(data string) *memSource {
	return &memSource{data: data, rev: 1, changed: make(chan struct{}, 1), up: make(chan bool, 1)}
}

func (m *memSource) Kind() string { return "mem" }

func (m *memSource) Load(env []string) (Document, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.down {
		return Document{Name: "mem.yaml"}, ErrSourceUnavailable
	}
	l, err := config.LoadBytes("mem.yaml", []byte(m.data), ".", env)
	return Document{Loaded: l, Name: "mem.yaml", Dir: ".", Data: []byte(m.data), Revision: string(rune('0' + m.rev))}, err
}

func (m *memSource) Applied(d Document, _ *config.Config) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.applied = append(m.applied, d.Revision)
}

func (m *memSource) Watch(ctx context.Context, changed func(), up func(bool)) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.changed:
			changed()
		case u := <-m.up:
			up(u)
		}
	}
}

func (m *memSource) set(data string) {
	m.mu.Lock()
	m.data, m.rev = data, m.rev+1
	m.mu.Unlock()
	m.changed <- struct{}{}
}

func respondYAML(body string) string {
	return "routes:\n  - path: /v\n    handler: {respond: {body: " + body + "}}\n"
}

func TestWatchSource(t *testing.T) {
	src := newMemSource(respondYAML("one"))
	h := New(Options{Logger: quietLogger()})
	defer h.Close()
	if err := h.LoadSource(src); err != nil {
		t.Fatal(err)
	}
	if err := h.Watch(); err != nil {
		t.Fatal(err)
	}
	v1 := h.Snapshot().Version
	src.set(respondYAML("two"))
	wait.For(t, "the change applied", func() bool { return h.Snapshot().Version != v1 })
	gens := h.ConfigStore().Generations()
	if len(gens) != 2 || gens[0].Source != "mem" || gens[0].Trigger != "mem" || gens[0].Revision != "2" {
		t.Fatalf("generations %+v", gens)
	}
	if got := testutil.ToFloat64(h.metrics.genInfo.WithLabelValues(gens[0].Version)); got != 1 {
		t.Errorf("generation_info of the serving version = %v", got)
	}
	if n := testutil.CollectAndCount(h.metrics.genInfo); n != 1 {
		t.Errorf("generation_info has %d series, want only the serving one", n)
	}
	src.mu.Lock()
	applied := len(src.applied)
	src.mu.Unlock()
	if applied != 2 {
		t.Errorf("Applied called %d times, want 2", applied)
	}

	// The source says it is down, then a reload cannot reach it.
	src.up <- false
	wait.For(t, "source_up 0", func() bool { return testutil.ToFloat64(h.metrics.sourceUp) == 0 })
	src.up <- true
	wait.For(t, "source_up 1", func() bool { return testutil.ToFloat64(h.metrics.sourceUp) == 1 })
	src.mu.Lock()
	src.down = true
	src.mu.Unlock()
	if res := h.Reload(hotreload.TriggerAdmin); res.Success || !errors.Is(res.Err, ErrSourceUnavailable) {
		t.Errorf("reload with the source down: %+v", res)
	}
	if testutil.ToFloat64(h.metrics.sourceUp) != 0 {
		t.Error("source_up not 0 after a load that could not reach the source")
	}

	// A source that cannot be written.
	if _, err := h.ConfigStore().Put(context.Background(), h.Snapshot().Version, []byte(respondYAML("x"))); !errors.Is(err, ErrNotWritable) {
		t.Errorf("Put to a read-only source: %v", err)
	}
}

func TestFileSourceWriteStale(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.yaml")
	writeFile(t, path, respondYAML("one"))
	h := New(Options{Logger: quietLogger()})
	defer h.Close()
	if err := h.LoadFile(path); err != nil {
		t.Fatal(err)
	}
	v := h.Snapshot().Version
	writeFile(t, path, respondYAML("edited"))
	_, err := h.ConfigStore().Put(context.Background(), v, []byte(respondYAML("two")))
	if !errors.Is(err, ErrStale) {
		t.Fatalf("Put over a file edited since the load: %v, want ErrStale", err)
	}
	if res := h.Reload(hotreload.TriggerAdmin); !res.Success {
		t.Fatal(res.Err)
	}
	res, err := h.ConfigStore().Put(context.Background(), h.Snapshot().Version, []byte(respondYAML("two")))
	if err != nil || res.Version != h.Snapshot().Version {
		t.Fatalf("Put after catching up: %+v %v", res, err)
	}
	var errs config.Errors
	if _, err := h.ConfigStore().Put(context.Background(), res.Version, []byte("bogus: 1\n")); !errors.As(err, &errs) {
		t.Errorf("Put of an invalid config: %v, want config.Errors", err)
	}
}
