package browsertest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"go.uber.org/goleak"

	"github.com/switchyard/switchyard/core"
	"github.com/switchyard/switchyard/core/admin"

	_ "github.com/switchyard/switchyard/plugins/caching"
	_ "github.com/switchyard/switchyard/plugins/compression"
	_ "github.com/switchyard/switchyard/plugins/ratelimit"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/dgraph-io/ristretto/v2.(*defaultPolicy[...]).processItems"))
}

// testTimeout bounds each test: browser start, page, edits and checks.
const testTimeout = 30 * time.Second

// waitTimeout bounds each wait for the page to show something.
const waitTimeout = 10 * time.Second

const baseConfig = `# dashboard test config
server:
  admin: {enabled: true, prefix: /_switchyard}
reload:
  debounce: 50ms
conditions:
  safe: {method: [GET, HEAD]}
plugins:
  gzip: {type: compression, min_size: 16}
  apicache: {type: caching, max_size: 1MB}
  perip: {type: ratelimit, rate: 1000, per: 1s, burst: 200, key: ip}
middleware:
  - use: perip
routes:
  - path: /hello
    methods: [GET]
    handler:
      respond: {status: 200, body: "Hello, World!", headers: {Content-Type: text/plain}}
  - path: /api/data
    methods: [GET, HEAD]
    middleware:
      - {use: apicache, when: safe}
      - {use: gzip}
    handler:
      respond:
        body: '{"items": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]}'
        headers: {Content-Type: application/json, Cache-Control: "public, max-age=60"}
`

// browserPath finds a Chromium or Chrome binary; without one the test
// skips, or fails when SWITCHYARD_REQUIRE_BROWSER is set.
func browserPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("SWITCHYARD_BROWSER"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("SWITCHYARD_REQUIRE_BROWSER") != "" {
		t.Fatal("no Chromium or Chrome found (install Debian's chromium package or set SWITCHYARD_BROWSER) and SWITCHYARD_REQUIRE_BROWSER is set")
	}
	t.Skip("no Chromium or Chrome found; set SWITCHYARD_REQUIRE_BROWSER=1 to make this a failure")
	return ""
}

// newBrowser starts a headless browser with a fresh profile, bounded by
// testTimeout, and fails the test if the page throws an uncaught
// exception.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	exe := browserPath(t)
	ctx, cancelTimeout := context.WithTimeout(context.Background(), testTimeout)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 1600),
	)
	bctx, cancelBrowser := chromedp.NewContext(allocCtx, chromedp.WithErrorf(t.Logf))

	var mu sync.Mutex
	var exceptions []string
	err := chromedp.Listen(bctx, func(ev any) {
		if ex, ok := ev.(*runtime.EventExceptionThrown); ok {
			d := ex.ExceptionDetails
			msg := d.Text
			if d.Exception != nil && d.Exception.Description != "" {
				msg += " " + d.Exception.Description
			}
			mu.Lock()
			exceptions = append(exceptions, fmt.Sprintf("%s (line %d)", msg, d.LineNumber+1))
			mu.Unlock()
		}
	})
	if err != nil {
		cancelBrowser()
		cancelAlloc()
		cancelTimeout()
		t.Fatalf("starting %s: %v", exe, err)
	}
	t.Cleanup(func() {
		cancelBrowser()
		cancelAlloc()
		cancelTimeout()
		mu.Lock()
		defer mu.Unlock()
		for _, e := range exceptions {
			t.Errorf("uncaught exception in the page: %s", e)
		}
	})
	return bctx
}

// site is a host serving a config file from a temporary directory.
type site struct {
	host *core.Host
	path string
	base string
}

// startSite writes content to a config file and serves it as the
// devserver does: LoadFile, Watch, Start on a free loopback port.
func startSite(t *testing.T, content string) *site {
	t.Helper()
	path := filepath.Join(t.TempDir(), "switchyard.yaml")
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	h := core.New(core.Options{Logger: slog.New(slog.DiscardHandler), EnableAdmin: true, Admin: admin.Handler})
	if err := h.LoadFile(path); err != nil {
		h.Close()
		t.Fatal(err)
	}
	if err := h.Watch(); err != nil {
		h.Close()
		t.Fatal(err)
	}
	if err := h.Start("127.0.0.1:0"); err != nil {
		h.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = h.Shutdown(ctx)
	})
	return &site{host: h, path: path, base: "http://" + h.Addr().String()}
}

// edit rewrites the config file as an editor saving it would.
func (s *site) edit(t *testing.T, content string) {
	t.Helper()
	if err := os.WriteFile(s.path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// get requests path n times and checks the status.
func (s *site) get(t *testing.T, path string, n int) {
	t.Helper()
	for range n {
		resp, err := http.Get(s.base + path)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d", path, resp.StatusCode)
		}
	}
}

// waitFor polls a JavaScript predicate in the page until it is true.
func waitFor(t *testing.T, ctx context.Context, what, predicate string) {
	t.Helper()
	_, err := chromedp.Run(ctx, chromedp.Poll[bool](predicate,
		chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(waitTimeout)))
	if err != nil {
		t.Fatalf("waiting for %s: %v\npage text:\n%s", what, err, pageText(ctx))
	}
}

// text returns the visible text of the element with the id.
func text(t *testing.T, ctx context.Context, id string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID(id)))
	if err != nil {
		t.Fatalf("reading #%s: %v", id, err)
	}
	return s
}

func pageText(ctx context.Context) string {
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	if err != nil {
		return "(unavailable: " + err.Error() + ")"
	}
	return s
}

// openDashboard loads the dashboard and marks the window, so that a test
// can tell that later changes came without a page load.
func openDashboard(t *testing.T, ctx context.Context, s *site) {
	t.Helper()
	err := chromedp.Do(ctx,
		chromedp.Navigate(s.base+"/_switchyard/"),
		chromedp.WaitVisible(chromedp.ID("routes")),
		chromedp.Evaluate[chromedp.Void](`window.loadedOnce = "yes"`),
	)
	if err != nil {
		t.Fatalf("loading the dashboard: %v", err)
	}
}

func checkNotReloaded(t *testing.T, ctx context.Context) {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[string](`window.loadedOnce || "reloaded"`))
	if err != nil || v != "yes" {
		t.Errorf("the page was loaded again (%q, %v): it must update in place", v, err)
	}
}

func contains(t *testing.T, what, got string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, got)
		}
	}
}

// TestDashboardFollowsEdits: the dashboard lists the routes and plugins with
// live statistics and traffic, and an edit of the config file (a new route)
// shows up, with the new version, without reloading the page.
func TestDashboardFollowsEdits(t *testing.T) {
	ctx := newBrowser(t)
	s := startSite(t, baseConfig)
	first := s.host.Snapshot().Version
	openDashboard(t, ctx, s)

	if v := text(t, ctx, "version"); v != first {
		t.Errorf("version shown %q, want %q", v, first)
	}
	contains(t, "files", text(t, ctx, "files"), s.path)
	contains(t, "routes", text(t, ctx, "routes"), "/hello", "/api/data", "perip", "apicache", "when safe", "gzip", "respond")
	contains(t, "plugins", text(t, ctx, "plugins"), "apicache", "caching", "gzip", "compression", "perip", "ratelimit")

	// Traffic: live plugin statistics and the chart follow.
	s.get(t, "/api/data", 6)
	s.get(t, "/hello", 20)
	waitFor(t, ctx, "a cache hit ratio above zero",
		`/hit ratio\s*[1-9]/.test(document.getElementById("plugins").innerText)`)
	waitFor(t, ctx, "the rate-limit keys", `/keys\s*1\b/.test(document.getElementById("plugins").innerText)`)
	waitFor(t, ctx, "the request total", `parseInt(document.getElementById("total").textContent.replace(/\D/g, "")) >= 26`)
	s.get(t, "/hello", 10)
	waitFor(t, ctx, "the requests/s chart drawn from two readings",
		`(document.querySelector("#chart-rps path.series").getAttribute("d") || "").includes("L")`)
	waitFor(t, ctx, "a P99 readout", `/\d ms$/.test(document.getElementById("p99").textContent) || document.querySelector("#chart-latency path.p99").getAttribute("d").length > 5`)
	// A poll that saw no request keeps the last quantiles (no dash), and
	// the in-flight count leaves out the dashboard's own poll.
	waitFor(t, ctx, "a poll without traffic", `document.getElementById("rps").textContent === "0.0"`)
	waitFor(t, ctx, "P50 and P99 kept, nothing in flight",
		`/\d ms$/.test(document.getElementById("p50").textContent) && /\d ms$/.test(document.getElementById("p99").textContent) && document.getElementById("inflight").textContent === "0"`)

	// Edit the file: a new route.
	s.edit(t, baseConfig+`  - path: /added
    methods: [GET]
    handler:
      respond: {body: "new"}
`)
	waitFor(t, ctx, "a new version", fmt.Sprintf(`document.getElementById("version").textContent !== %q`, first))
	second := s.host.Snapshot().Version
	if second == first {
		t.Fatal("the host did not reload")
	}
	if v := text(t, ctx, "version"); v != second {
		t.Errorf("version shown %q, want %q", v, second)
	}
	waitFor(t, ctx, "the new route", `document.getElementById("routes").innerText.includes("/added")`)
	contains(t, "reload history", text(t, ctx, "reloads"), "applied", "route +/added", second)

	// The buttons: reload now, and purge the cache (it holds /api/data).
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("reload-now"))); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the reload button's answer", fmt.Sprintf(`document.getElementById("status").textContent === "reloaded: version %s"`, second))
	waitFor(t, ctx, "the admin reload in the history", `document.getElementById("reloads").innerText.includes("admin")`)
	if err := chromedp.Do(ctx, chromedp.Click(`#purge button`)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the purge answer", `/^purged [1-9][0-9]* entr(y|ies)$/.test(document.getElementById("status").textContent)`)
	checkNotReloaded(t, ctx)
}

// TestDashboardShowsBadEdit: a rejected edit shows its error (file, line,
// key) on the page while the old version keeps serving; fixing the file
// clears it. The page is never reloaded.
func TestDashboardShowsBadEdit(t *testing.T) {
	ctx := newBrowser(t)
	s := startSite(t, baseConfig)
	version := s.host.Snapshot().Version
	openDashboard(t, ctx, s)
	if ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById("alert") === null`)); err != nil || !ok {
		t.Fatalf("alert shown before any edit (%v)", err)
	}

	bad := strings.Replace(baseConfig, "gzip: {type: compression, min_size: 16}", "gzip: {type: compression, min_size: 16, levle: 3}", 1)
	line := 0
	for i, l := range strings.Split(bad, "\n") {
		if strings.Contains(l, "levle") {
			line = i + 1
		}
	}
	s.edit(t, bad)
	waitFor(t, ctx, "the rejection alert", `document.getElementById("alert") !== null`)
	alert := text(t, ctx, "alert")
	contains(t, "alert", alert, "Last reload rejected",
		fmt.Sprintf("%s:%d: plugins.gzip.levle: unknown key", s.path, line), `did you mean "level"`,
		version+" keeps serving")
	contains(t, "reload history", text(t, ctx, "reloads"), "rejected", "plugins.gzip.levle")
	if v := text(t, ctx, "version"); v != version {
		t.Errorf("version shown %q, want %q still serving", v, version)
	}
	if got := s.host.Snapshot().Version; got != version {
		t.Errorf("serving %q after a bad edit, want %q", got, version)
	}

	// Fix it: the alert goes, the history keeps the rejection.
	s.edit(t, baseConfig+"# fixed\n")
	waitFor(t, ctx, "the alert to clear", `document.getElementById("alert") === null`)
	contains(t, "reload history", text(t, ctx, "reloads"), "rejected", "applied")
	checkNotReloaded(t, ctx)
}
