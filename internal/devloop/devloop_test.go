package devloop

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/switchyard/switchyard/internal/testmod"
	"github.com/switchyard/switchyard/internal/wait"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// appMain is the main package of the throwaway server: a binary on the
// command kit with one Go handler, in handler.go, that the test edits.
const appMain = `package main

import (
	"os"

	"github.com/switchyard/switchyard/cli"
	"github.com/switchyard/switchyard/core"
)

func main() {
	os.Exit(cli.Main(cli.Options{Name: "app", Handlers: func(h *core.Host) {
		h.HandleFunc("app.version", version)
	}}))
}
`

const appConfig = `server: {addr: "127.0.0.1:0", shutdown_timeout: 20s, admin: {enabled: true}}
reload: {watch: false}
routes:
  - path: /v
    handler: app.version
`

// handler is handler.go answering "vN".
func handler(n int) string {
	return fmt.Sprintf(`package main

import "net/http"

func version(w http.ResponseWriter, r *http.Request) {
	_, _ = w.Write([]byte("v%d"))
}
`, n)
}

// brokenHandler does not compile: line 6 names an undefined identifier.
const brokenHandler = `package main

import "net/http"

func version(w http.ResponseWriter, r *http.Request) {
	_, _ = w.Write(undefinedBody)
}
`

// events collects the loop's events.
type events struct {
	mu  sync.Mutex
	all []Event
}

func (e *events) add(ev Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.all = append(e.all, ev)
}

func (e *events) find(kind string, after int) (Event, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, ev := range e.all[min(after, len(e.all)):] {
		if ev.Kind == kind {
			return ev, true
		}
	}
	return Event{}, false
}

func (e *events) len() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.all)
}

// load sends GET /v at a steady rate from many workers and records, per
// answer "vN", when it was first seen, and every failure.
type load struct {
	client   *http.Client
	url      string
	total    atomic.Int64
	mu       sync.Mutex
	failures []string
	first    map[int]time.Time
	latest   int
}

func (l *load) run(ctx context.Context, rate, workers int) *sync.WaitGroup {
	tokens := make(chan struct{}, workers)
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(tokens)
		tick := time.NewTicker(time.Second / time.Duration(rate))
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				select {
				case tokens <- struct{}{}:
				default: // the workers are behind: the rate drops, the test checks it
				}
			}
		}
	})
	for range workers {
		wg.Go(func() {
			for range tokens {
				l.one()
			}
		})
	}
	return &wg
}

func (l *load) one() {
	resp, err := l.client.Get(l.url)
	l.total.Add(1)
	if err != nil {
		l.fail(err.Error())
		return
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		l.fail(fmt.Sprintf("status %d, %q, %v", resp.StatusCode, body, err))
		return
	}
	n, err := strconv.Atoi(strings.TrimPrefix(string(body), "v"))
	if err != nil {
		l.fail(fmt.Sprintf("body %q", body))
		return
	}
	now := time.Now()
	l.mu.Lock()
	if _, ok := l.first[n]; !ok {
		l.first[n] = now
	}
	l.latest = max(l.latest, n)
	l.mu.Unlock()
}

// dashboard returns the serving build's dashboard page.
func (l *load) dashboard(t *testing.T) string {
	t.Helper()
	resp, err := l.client.Get(strings.TrimSuffix(l.url, "/v") + "/_switchyard/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	page, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("dashboard: status %d, %v", resp.StatusCode, err)
	}
	return string(page)
}

func (l *load) fail(msg string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.failures = append(l.failures, msg)
}

func (l *load) seen(n int) (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	at, ok := l.first[n]
	return at, ok
}

func (l *load) newest() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.latest
}

// TestZeroDropDevLoop: under a steady load on one route, 20 edits of the
// handler's Go source each become visible with no failed or refused
// request; a save that does not compile keeps the previous build serving
// and names the file and line; the next good save takes over.
func TestZeroDropDevLoop(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a module with the go command")
	}
	// Twenty real builds under 800 requests a second take minutes of both
	// cores: run it on a machine of its own, not beside the rest of the
	// suite (make devloop-test).
	if os.Getenv("SWITCHYARD_DEVLOOP_LOAD") != "1" {
		t.Skip("the dev loop's load test runs with SWITCHYARD_DEVLOOP_LOAD=1 (make devloop-test)")
	}
	const edits = 20
	const rate = 800 // requests a second offered; at least 500 must be served
	t.Setenv("GOFLAGS", "-mod=mod")
	t.Setenv("GOPROXY", "off")
	t.Setenv("GOWORK", "off")
	dir := testmod.New(t, "example.com/app", map[string]string{
		"main.go":     appMain,
		"handler.go":  handler(1),
		"config.yaml": appConfig,
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var out wait.Buffer
	var evs events
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{
			Package: ".", Dir: dir, Listener: ln,
			Args:   []string{"-config", filepath.Join(dir, "config.yaml"), "-log-format", "text", "-log-level", "warn"},
			Output: &out, Events: evs.add,
		})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		if _, ok := evs.find("stopped", 0); !ok {
			t.Error("no child was stopped")
		}
	}()
	// The first build compiles the dependencies: give it time.
	wait.Within(t, 5*time.Minute, "the first build serves", func() bool {
		_, ok := evs.find("ready", 0)
		return ok
	})

	l := &load{url: "http://" + ln.Addr().String() + "/v", first: map[int]time.Time{},
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 30 * time.Second}}
	defer l.client.CloseIdleConnections()
	loadCtx, stopLoad := context.WithCancel(context.Background())
	workers := l.run(loadCtx, rate, 32)
	start := time.Now()
	wait.For(t, "v1 answers", func() bool { _, ok := l.seen(1); return ok })

	var saveToNew, builds, starts []time.Duration
	for i := 2; i <= edits+1; i++ {
		if i == edits/2 {
			// A broken save: the build fails, naming file and line, and v(i-1) keeps serving.
			mark := evs.len()
			testmod.Write(t, dir, "handler.go", brokenHandler)
			wait.Within(t, time.Minute, "the broken build fails", func() bool {
				_, ok := evs.find("build-failed", mark)
				return ok
			})
			ev, _ := evs.find("build-failed", mark)
			if !strings.Contains(ev.Output, "handler.go:6:") || !strings.Contains(out.String(), "handler.go:6:") {
				t.Errorf("the compiler error lacks handler.go:6:\n%s", ev.Output)
			}
			if page := l.dashboard(t); !strings.Contains(page, `id="build-failed"`) || !strings.Contains(page, "handler.go:6:") {
				t.Errorf("the dashboard does not show the failed build with handler.go:6:\n%s", page)
			}
			served := l.total.Load()
			wait.For(t, "500 more requests after the failed build", func() bool { return l.total.Load() > served+500 })
			if n := l.newest(); n != i-1 {
				t.Errorf("after the failed build the newest answer is v%d, want v%d", n, i-1)
			}
		}
		mark := evs.len()
		saved := time.Now()
		testmod.Write(t, dir, "handler.go", handler(i))
		wait.Within(t, 2*time.Minute, fmt.Sprintf("v%d answers", i), func() bool { _, ok := l.seen(i); return ok })
		if i == edits/2 {
			if strings.Contains(l.dashboard(t), `id="build-failed"`) {
				t.Error("the dashboard still shows the failed build after a good one took over")
			}
		}
		at, _ := l.seen(i)
		saveToNew = append(saveToNew, at.Sub(saved))
		if ev, ok := evs.find("build", mark); ok {
			builds = append(builds, ev.Took)
		}
		if ev, ok := evs.find("ready", mark); ok {
			starts = append(starts, ev.Took)
		}
	}
	stopLoad()
	workers.Wait()
	elapsed := time.Since(start)
	total := l.total.Load()
	perSec := float64(total) / elapsed.Seconds()
	if len(l.failures) > 0 {
		t.Errorf("%d of %d requests failed; first: %s", len(l.failures), total, l.failures[0])
	}
	if perSec < 500 {
		t.Errorf("the load was %.0f requests/s, want at least 500", perSec)
	}
	t.Logf("%d requests in %s (%.0f/s), %d failed; %d edits + 1 broken save", total, elapsed.Round(time.Millisecond), perSec, len(l.failures), edits)
	t.Logf("save to new code: median %s, max %s; build: median %s, max %s; new child start to ready: median %s, max %s",
		median(saveToNew), slices.Max(saveToNew), median(builds), slices.Max(builds), median(starts), slices.Max(starts))
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2].Round(time.Millisecond)
}
