package core

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/hotreload"
	"github.com/switchyard/switchyard/registry"

	"github.com/switchyard/switchyard/internal/wait"
	_ "github.com/switchyard/switchyard/plugins/caching"
	_ "github.com/switchyard/switchyard/plugins/compression"
	_ "github.com/switchyard/switchyard/plugins/ratelimit"
)

// leakYAML is one of two configs that use every plugin type registered in
// the test binary, conditions (named, inline and structured), every handler
// kind (respond, static, proxy, Go), and that differ in every plugin's
// config, the pools, the condition cache, the proxy transport and the server
// timeouts: each switch between them builds and retires everything.
func leakYAML(i int, upstream, static string) string {
	a := i%2 == 0
	pick := func(x, y string) string {
		if a {
			return x
		}
		return y
	}
	return fmt.Sprintf(`reload: {debounce: 200ms}
server: {read_timeout: %[1]s}
performance:
  memory:
    buffer_pool: {count: %[2]s}
    connection_pool: {min_size: 2, max_size: %[3]s}
  middleware:
    registry: {ttl: 0s}
    conditions: {cache_size: %[4]s}
conditions:
  is_get: 'request.method == "GET"'
  api: {path: "/api/*"}
plugins:
  counter: {type: count, tag: %[5]s}
  stamp: {type: stamp, tag: %[5]s}
  tally: {type: tally, tag: %[5]s}
  probe: {type: probe, tag: %[5]s}
  gzip: {type: compression, level: %[6]s, min_size: 16}
  cache: {type: caching, ttl: 60s, max_size: %[7]s}
  limit: {type: ratelimit, rate: %[8]s, per: 1s, burst: 100000, key: ip}
middleware:
  - use: stamp
  - use: counter
    when: is_get
routes:
  - path: /api/items/{id}
    middleware:
      - {use: limit}
      - {use: cache, when: api}
      - {use: gzip, when: '!request.header.exists("X-No-Gzip")'}
      - {use: tally}
      - {use: probe}
    handler: {respond: {body: %[9]q, headers: {Cache-Control: "max-age=60", Content-Type: text/plain}}}
  - path: /proxy/*
    middleware: [{use: gzip}]
    handler: {proxy: {upstream: %[10]q}}
  - path: /files/*
    handler: {static: {root: %[11]q}}
  - path: /go
    handler: app.hello
static: {root: %[11]q}
`, pick("30s", "31s"), pick("100", "50"), pick("100", "50"), pick("5000", "4000"), pick("a", "b"),
		pick("6", "5"), pick("8MB", "4MB"), pick("100000", "90000"),
		strings.Repeat("item ", 64), upstream, static)
}

// Acceptance 9: 1000 reloads alternating two configs with every plugin type
// in use leave goroutines, heap and open file descriptors where they were.
func TestLeakThousandReloads(t *testing.T) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, strings.Repeat("upstream ", 64))
	}))
	defer upstream.Close()
	dir := t.TempDir()
	static := filepath.Join(dir, "public")
	if err := os.Mkdir(static, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(static, "f.txt"), "static file")
	path := filepath.Join(dir, "config.yaml")
	cfg := func(i int) string { return leakYAML(i, upstream.URL, static) }
	writeFile(t, path, cfg(0))

	// Every plugin type that a binary can include (those registered outside
	// this package's tests) is in use, and so are the reload test types.
	for _, typ := range registry.Types() {
		pt, _ := registry.Lookup(typ)
		real := pt.ConfigType().PkgPath() != reflect.TypeFor[Host]().PkgPath()
		if (real || slices.Contains([]string{"count", "stamp", "tally", "probe"}, typ)) && !strings.Contains(cfg(0), "type: "+typ+",") {
			t.Fatalf("plugin type %q is registered but not in the leak test's config", typ)
		}
	}

	h := New(Options{Logger: quietLogger()})
	h.HandleFunc("app.hello", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") })
	checkLifecycles(t, h)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := h.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	if err := h.LoadFile(path); err != nil {
		t.Fatal(err)
	}
	if err := h.Watch(); err != nil {
		t.Fatal(err)
	}
	if err := h.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	base := "http://" + h.Addr().String()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}, Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()

	// Each reload serves the route with every plugin and one of the other
	// handlers in turn, in process; every 10th reload serves them all over
	// the network too.
	cases := []struct{ path, body string }{
		{"/api/items/1", strings.Repeat("item ", 64)},
		{"/proxy/x", strings.Repeat("upstream ", 64)},
		{"/files/f.txt", "static file"},
		{"/static/f.txt", "static file"},
		{"/go", "hello"},
	}
	check := func(i int, path string, code int, body []byte, want string) {
		t.Helper()
		if code != 200 || string(body) != want {
			t.Fatalf("reload %d: %s = %d %q, want %q", i, path, code, body, want)
		}
	}
	exercise := func(i int) {
		t.Helper()
		for _, c := range []struct{ path, body string }{cases[0], cases[1+i%(len(cases)-1)]} {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", c.path, nil))
			check(i, c.path, rec.Code, rec.Body.Bytes(), c.body)
		}
		if i%10 != 0 {
			return
		}
		for _, c := range cases {
			resp, err := client.Get(base + c.path) // asks for gzip and decodes it
			if err != nil {
				t.Fatalf("reload %d: %s: %v", i, c.path, err)
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatalf("reload %d: %s: %v", i, c.path, err)
			}
			check(i, c.path, resp.StatusCode, b, c.body)
		}
	}
	reload := func(i int) {
		t.Helper()
		renameOver(t, path, cfg(i))
		if res := h.Reload(hotreload.TriggerSignal); !res.Success {
			t.Fatalf("reload %d: %s", i, res.Error)
		}
		exercise(i)
		if i%50 == 0 {
			compactTracked(t, h)
		}
	}

	// Warm up: both configs built, the history full, every lazy pool filled.
	for i := 1; i <= 60; i++ {
		reload(i)
	}
	g0, heap0, fd0 := settle(t)

	const reloads = 1000
	start := time.Now()
	for i := 61; i < 61+reloads; i++ {
		reload(i)
	}
	took := time.Since(start)
	var g1 int
	var heap1 uint64
	var fd1 int
	ok := wait.Check(wait.Deadline, func() bool {
		g1, heap1, fd1 = settle(t)
		return g1 <= g0+10 && float64(heap1) <= 1.10*float64(heap0) && fd1 <= fd0+5
	})
	t.Logf("%d reloads in %v (%v each, with %d requests each in process, all %d over the network every 10th): goroutines %d -> %d, heap %.1f MB -> %.1f MB (%+.1f%%), open fds %d -> %d",
		reloads, took.Round(time.Millisecond), (took / reloads).Round(10*time.Microsecond), 2, len(cases), g0, g1,
		float64(heap0)/(1<<20), float64(heap1)/(1<<20), 100*(float64(heap1)/float64(heap0)-1), fd0, fd1)
	if !ok {
		buf := make([]byte, 1<<20)
		n := runtime.Stack(buf, true)
		t.Fatalf("leak after %d reloads (limits: goroutines +10, heap +10%%, fds +5); goroutines:\n%s", reloads, buf[:n])
	}
	if gens := h.srv.Generations() - 1; gens > 2 {
		t.Fatalf("%d old server generations kept", gens)
	}
	var live []string
	for _, l := range instancesOf(h) {
		if l.closed.Load() == 0 {
			live = append(live, l.String())
		}
	}
	slices.Sort(live)
	if len(live) != 3 {
		t.Fatalf("test plugin instances not closed: %d live, want the 3 of the serving config: %v", len(live), live)
	}
}

// settle collects garbage and returns the goroutine count, the live heap
// and the number of open file descriptors.
func settle(t *testing.T) (goroutines int, heap uint64, fds int) {
	t.Helper()
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd on this system")
	}
	return runtime.NumGoroutine(), ms.HeapAlloc, len(ents)
}
