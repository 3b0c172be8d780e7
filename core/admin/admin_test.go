package admin

import (
	"encoding/json"
	"errors"
	"maps"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/switchyard/switchyard/core"
	"github.com/switchyard/switchyard/hotreload"
	"github.com/switchyard/switchyard/internal/instances"
	"github.com/switchyard/switchyard/registry"
)

// fakecache is a test plugin type that implements the purge interface and
// registry.StatsReporter, standing in for a caching plugin.
type fakeCacheConfig struct {
	// Entries are the cache keys the instance starts with.
	Entries []string `koanf:"entries"`
}

type fakeCache struct {
	mu      sync.Mutex
	entries map[string]bool
	calls   []string // "key|prefix" of every Purge call
	// failTier makes the next Purge report that this tier failed.
	failTier string
}

func (c *fakeCache) Wrap(next http.Handler) http.Handler { return next }

func (c *fakeCache) Purge(key, prefix string) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = append(c.calls, key+"|"+prefix)
	if c.failTier != "" {
		defer func() { c.failTier = "" }()
	}
	n := 0
	for e := range c.entries {
		if (key != "" && e == key) || (prefix != "" && strings.HasPrefix(e, prefix)) {
			delete(c.entries, e)
			n++
		}
	}
	if c.failTier != "" {
		return n, errors.New(c.failTier + " tier not purged (i/o timeout)")
	}
	return n, nil
}

func (c *fakeCache) Stats() map[string]any {
	c.mu.Lock()
	defer c.mu.Unlock()
	return map[string]any{
		"hit_ratio": 0.75,
		"bytes":     int64(2_500_000),
		"entries":   int64(len(c.entries)),
		"responses": map[string]uint64{"gzip": 3, "br": 1},
		"store":     "memory",
	}
}

var (
	fakeCachesMu sync.Mutex
	fakeCaches   = map[string]*fakeCache{}
)

func init() {
	registry.Register("fakecache", func(ctx *registry.Context, cfg *fakeCacheConfig) (registry.Instance, error) {
		c := &fakeCache{entries: map[string]bool{}}
		for _, e := range cfg.Entries {
			c.entries[e] = true
		}
		fakeCachesMu.Lock()
		fakeCaches[ctx.Name] = c
		fakeCachesMu.Unlock()
		return c, nil
	})
}

func fakeCacheNamed(name string) *fakeCache {
	fakeCachesMu.Lock()
	defer fakeCachesMu.Unlock()
	return fakeCaches[name]
}

const adminYAML = `
reload: {watch: false}
server:
  admin: {enabled: true, prefix: /_sy, allow: [127.0.0.0/8]}
conditions:
  safe: {method: [GET, HEAD]}
  api: 'request.path.startsWith("/api/")'
plugins:
  pagecache: {type: fakecache, entries: [/api/a, /api/b, /static/c]}
  othercache: {type: fakecache, entries: [/api/z]}
  counter: {type: count, tag: admin}
middleware:
  - use: counter
routes:
  - path: /hello
    methods: [GET]
    handler: {respond: {body: hi}}
  - path: /api/items/{id:int}
    middleware:
      - {use: pagecache, when: safe}
      - {use: othercache}
    handler: {respond: {body: item}}
  - path: /boom
    handler: {respond: {status: 503, body: down}}
`

const (
	allowedPeer    = "127.0.0.1:40000"
	disallowedPeer = "203.0.113.9:40000"
)

// newAdminHost serves yaml from a file in a temporary directory, with the
// reload runner started, and returns the host and the file's path.
func newAdminHost(t *testing.T, yaml string) (*core.Host, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "switchyard.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	h := core.New(core.Options{Logger: quietLogger(), Admin: Handler})
	if err := h.LoadFile(path); err != nil {
		h.Close()
		t.Fatalf("load: %v", err)
	}
	if err := h.Watch(); err != nil {
		h.Close()
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return h, path
}

// admin sends one request from peer (RemoteAddr), with Host localhost:8080
// unless hdr sets Host, and returns the recorder.
func admin(h http.Handler, method, target, body, peer string, hdr ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	r.RemoteAddr = peer
	r.Host = "localhost:8080"
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i] == "Host" {
			r.Host = hdr[i+1]
			continue
		}
		r.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec
}

// decode checks the status and the JSON content type and decodes the body.
func decode[T any](t *testing.T, rec *httptest.ResponseRecorder, wantCode int) T {
	t.Helper()
	if rec.Code != wantCode {
		t.Fatalf("status %d, want %d; body: %s", rec.Code, wantCode, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type %q, want JSON; body: %s", ct, rec.Body)
	}
	var v T
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
		t.Fatalf("decoding %s: %v", rec.Body, err)
	}
	return v
}

type errorJSON struct {
	Error string `json:"error"`
}

func TestAdminForbiddenOutsideAllow(t *testing.T) {
	h, _ := newAdminHost(t, adminYAML)
	paths := []struct{ method, path string }{
		{"GET", "/_sy/"}, {"GET", "/_sy"}, {"GET", "/_sy/assets/dashboard.js"},
		{"GET", "/_sy/api/config"}, {"GET", "/_sy/api/routes"}, {"GET", "/_sy/api/plugins"},
		{"GET", "/_sy/api/pools"}, {"GET", "/_sy/api/reloads"}, {"GET", "/_sy/api/stats"},
		{"POST", "/_sy/api/reload"}, {"POST", "/_sy/api/cache/purge"}, {"GET", "/_sy/nope"},
	}
	for _, p := range paths {
		t.Run(p.method+" "+p.path, func(t *testing.T) {
			for _, peer := range []struct {
				name, addr string
				hdr        []string
			}{
				{"outside", disallowedPeer, nil},
				{"spoofed X-Forwarded-For", disallowedPeer, []string{"X-Forwarded-For", "127.0.0.1"}},
				{"IPv6 outside", "[2001:db8::1]:40000", nil},
			} {
				rec := admin(h, p.method, p.path, `{"prefix":"/"}`, peer.addr, peer.hdr...)
				e := decode[errorJSON](t, rec, http.StatusForbidden)
				if !strings.Contains(e.Error, "forbidden") {
					t.Errorf("%s: error %q", peer.name, e.Error)
				}
			}
			if rec := admin(h, p.method, p.path, `{"prefix":"/"}`, allowedPeer); rec.Code == http.StatusForbidden {
				t.Errorf("allowed client got 403: %s", rec.Body)
			}
		})
	}
	// The purge above was refused: nothing was purged.
	if calls := fakeCacheNamed("pagecache").calls; len(calls) != 1 {
		t.Errorf("purge calls = %v, want exactly the allowed client's one", calls)
	}
}

// TestAdminHostCheck is DNS rebinding: a page on a name that resolves to
// the server sends its own name as Host (and a matching Origin), from an
// allowed address. Only IP literals, localhost and server.admin.hosts pass.
func TestAdminHostCheck(t *testing.T) {
	h, _ := newAdminHost(t, strings.Replace(adminYAML, "allow: [127.0.0.0/8]}", "allow: [127.0.0.0/8], hosts: [Admin.Example.org]}", 1))
	if got := h.Snapshot().Config().Server.Admin.Hosts; len(got) != 1 {
		t.Fatalf("server.admin.hosts = %v: the test config did not set it", got)
	}
	tests := []struct {
		host string
		ok   bool
	}{
		{"127.0.0.1:8080", true},
		{"127.0.0.1", true},
		{"[::1]:8080", true},
		{"[::1]", true},
		{"localhost", true},
		{"LOCALHOST:8080", true},
		{"localhost.", true},
		{"admin.example.org:8080", true},
		{"admin.example.org", true},
		{"", true},
		{"evil.example:8080", false},
		{"evil.example", false},
		{"localhost.evil.example", false},
		{"127.0.0.1.evil.example", false},
		{"example.org", false},
	}
	for _, tt := range tests {
		for _, p := range []struct{ method, path string }{{"GET", "/_sy/api/config"}, {"POST", "/_sy/api/reload"}, {"GET", "/_sy/"}} {
			origin := "http://" + tt.host
			rec := admin(h, p.method, p.path, "", allowedPeer, "Host", tt.host, "Origin", origin, "Sec-Fetch-Site", "same-origin")
			if !tt.ok {
				e := decode[errorJSON](t, rec, http.StatusMisdirectedRequest)
				if !strings.Contains(e.Error, "server.admin.hosts") {
					t.Errorf("Host %q %s %s: error %q, want it to name server.admin.hosts", tt.host, p.method, p.path, e.Error)
				}
				continue
			}
			if rec.Code != http.StatusOK {
				t.Errorf("Host %q %s %s: %d %s, want 200", tt.host, p.method, p.path, rec.Code, rec.Body)
			}
		}
	}
}

// TestAdminUnparseableForwardedRefused: behind a trusted loopback proxy, a
// forwarded hop that does not parse is an unknown client, not the proxy's
// own (allowed) address.
func TestAdminUnparseableForwardedRefused(t *testing.T) {
	h, _ := newAdminHost(t, strings.Replace(adminYAML, "server:\n", "server:\n  trusted_proxies: [127.0.0.1]\n", 1))
	for _, hdr := range [][]string{
		{"X-Forwarded-For", "unknown"},
		{"X-Forwarded-For", "8.8.8.8, unknown"},
		{"Forwarded", "for=unknown"},
		{"Forwarded", "for=_hidden"},
		{"Forwarded", "for"},
	} {
		rec := admin(h, "GET", "/_sy/api/config", "", allowedPeer, hdr...)
		if rec.Code != http.StatusForbidden {
			t.Errorf("%s: %s: %d, want 403", hdr[0], hdr[1], rec.Code)
		}
	}
	if rec := admin(h, "GET", "/_sy/api/config", "", allowedPeer, "X-Forwarded-For", "127.0.0.5"); rec.Code != http.StatusOK {
		t.Errorf("a parseable allowed hop: %d, want 200", rec.Code)
	}
}

func TestAdminMethodsAndErrors(t *testing.T) {
	h, _ := newAdminHost(t, adminYAML)
	tests := []struct {
		name, method, path, body string
		code                     int
		allow, errPart           string
	}{
		{"GET only", "POST", "/_sy/api/routes", "", 405, "GET, HEAD", "use GET"},
		{"page GET only", "DELETE", "/_sy/", "", 405, "GET, HEAD", "use GET"},
		{"reload POST only", "GET", "/_sy/api/reload", "", 405, "POST", "use POST"},
		{"purge POST only", "GET", "/_sy/api/cache/purge", "", 405, "POST", "use POST"},
		{"unknown route", "GET", "/_sy/api/nothing", "", 404, "", "not found"},
		{"unknown asset", "GET", "/_sy/assets/secret.txt", "", 404, "", "not found"},
		{"purge empty body", "POST", "/_sy/api/cache/purge", "", 400, "", "empty body"},
		{"purge bad JSON", "POST", "/_sy/api/cache/purge", "{", 400, "", "prefix"},
		{"purge unknown field", "POST", "/_sy/api/cache/purge", `{"path":"/"}`, 400, "", "unknown field"},
		{"purge nothing", "POST", "/_sy/api/cache/purge", `{}`, 400, "", `give "prefix" or "key"`},
		{"purge unknown plugin", "POST", "/_sy/api/cache/purge", `{"prefix":"/","plugin":"counter"}`, 404, "", "no live caching plugin instance named counter"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := admin(h, tt.method, tt.path, tt.body, allowedPeer)
			e := decode[errorJSON](t, rec, tt.code)
			if !strings.Contains(e.Error, tt.errPart) {
				t.Errorf("error %q, want it to contain %q", e.Error, tt.errPart)
			}
			if got := rec.Header().Get("Allow"); got != tt.allow {
				t.Errorf("Allow %q, want %q", got, tt.allow)
			}
		})
	}
}

func TestAdminCrossOriginPostRefused(t *testing.T) {
	h, _ := newAdminHost(t, adminYAML)
	for _, path := range []string{"/_sy/api/reload", "/_sy/api/cache/purge"} {
		rec := admin(h, "POST", path, `{"prefix":"/"}`, allowedPeer, "Sec-Fetch-Site", "cross-site")
		e := decode[errorJSON](t, rec, http.StatusForbidden)
		if !strings.Contains(e.Error, "cross-origin") {
			t.Errorf("%s: error %q", path, e.Error)
		}
		rec = admin(h, "POST", path, `{"prefix":"/"}`, allowedPeer, "Sec-Fetch-Site", "same-origin")
		if rec.Code != http.StatusOK {
			t.Errorf("%s same-origin: %d %s", path, rec.Code, rec.Body)
		}
	}
	if len(h.History()) != 2 {
		t.Errorf("history has %d entries, want the first load and the one same-origin reload", len(h.History()))
	}
}

func TestAdminConfig(t *testing.T) {
	yaml := strings.Replace(adminYAML, "conditions:\n", "conditions:\n  admin_token: {header: {Authorization: \"Bearer hunter2\"}}\n", 1)
	h, path := newAdminHost(t, yaml)
	v := decode[configView](t, admin(h, "GET", "/_sy/api/config", "", allowedPeer), 200)
	if v.Version != h.Snapshot().Version || len(v.Version) != 12 {
		t.Errorf("version %q, want %q", v.Version, h.Snapshot().Version)
	}
	if !slices.Equal(v.Files, []string{path}) {
		t.Errorf("files %v, want [%s]", v.Files, path)
	}
	if _, err := time.Parse(adminTimeFormat, v.Built); err != nil {
		t.Errorf("built %q: %v", v.Built, err)
	}
	raw, _ := json.Marshal(v.Config)
	if strings.Contains(string(raw), "hunter2") || !strings.Contains(string(raw), "REDACTED") {
		t.Errorf("config not redacted: %s", raw)
	}
	// The routes' conditions and the dashboard are redacted too.
	for _, path := range []string{"/_sy/api/routes", "/_sy/"} {
		if body := admin(h, "GET", path, "", allowedPeer).Body.String(); strings.Contains(body, "hunter2") || !strings.Contains(body, "REDACTED") {
			t.Errorf("%s shows the secret or no redaction", path)
		}
	}
	// The effective config has the defaults too.
	if srv, _ := v.Config["server"].(map[string]any); srv["read_header_timeout"] == nil {
		t.Errorf("effective config lacks defaults: %s", raw)
	}
}

func TestAdminRoutes(t *testing.T) {
	h, _ := newAdminHost(t, adminYAML)
	v := decode[routesView](t, admin(h, "GET", "/_sy/api/routes", "", allowedPeer), 200)
	if len(v.Routes) != 3 {
		t.Fatalf("routes %+v", v.Routes)
	}
	items := v.Routes[1]
	if items.Path != "/api/items/{id:int}" || items.Pattern == items.Path {
		t.Errorf("route %+v: want the path as written and its expanded pattern", items)
	}
	var chain []string
	for _, l := range items.Chain {
		chain = append(chain, l.Plugin+"/"+l.Type+"/"+l.When+"/"+map[bool]string{true: "g", false: "r"}[l.Global])
	}
	want := []string{"counter/count//g", "pagecache/fakecache/safe/r", "othercache/fakecache//r"}
	if !slices.Equal(chain, want) {
		t.Errorf("chain %v, want %v", chain, want)
	}
	if v.Conditions["api"] != `request.path.startsWith("/api/")` || v.Conditions["safe"] == nil {
		t.Errorf("conditions %v", v.Conditions)
	}
}

func TestAdminPluginsAndPools(t *testing.T) {
	h, _ := newAdminHost(t, adminYAML)
	v := decode[pluginsView](t, admin(h, "GET", "/_sy/api/plugins", "", allowedPeer), 200)
	for _, typ := range []string{"count", "fakecache"} {
		if !slices.Contains(v.Types, typ) {
			t.Errorf("types %v lack %s", v.Types, typ)
		}
	}
	byName := map[string]instances.Info{}
	for _, in := range v.Instances {
		byName[in.Name] = in
	}
	pc, ok := byName["pagecache"]
	if !ok || !pc.Live || pc.Type != "fakecache" || pc.Hash == "" {
		t.Fatalf("pagecache %+v", pc)
	}
	if pc.Stats["hit_ratio"] != 0.75 || pc.Stats["entries"] != float64(3) {
		t.Errorf("pagecache stats %v", pc.Stats)
	}
	if _, ok := byName["counter"]; !ok {
		t.Errorf("instances %+v lack counter", v.Instances)
	}

	p := decode[poolsView](t, admin(h, "GET", "/_sy/api/pools", "", allowedPeer), 200)
	for _, name := range []string{"buffer", "object", "thread", "process"} {
		if _, ok := p.Pools[name]; !ok {
			t.Errorf("pools %v lack %s", p.Pools, name)
		}
	}
	if p.Pools["thread"].Capacity != 16 {
		t.Errorf("thread pool capacity %d, want the default 16", p.Pools["thread"].Capacity)
	}
	// The snake_case names are the API.
	rec := admin(h, "GET", "/_sy/api/pools", "", allowedPeer)
	if !strings.Contains(rec.Body.String(), `"in_use"`) || !strings.Contains(rec.Body.String(), `"queue_depth"`) {
		t.Errorf("pools JSON %s", rec.Body)
	}
}

func TestAdminPurge(t *testing.T) {
	tests := []struct {
		name, body string
		purged     int
		plugins    map[string]int
		left       map[string][]string
	}{
		{"by prefix, every cache", `{"prefix": "/api/"}`, 3,
			map[string]int{"pagecache": 2, "othercache": 1},
			map[string][]string{"pagecache": {"/static/c"}, "othercache": nil}},
		{"by key", `{"key": "/api/b"}`, 1,
			map[string]int{"pagecache": 1, "othercache": 0},
			map[string][]string{"pagecache": {"/api/a", "/static/c"}, "othercache": {"/api/z"}}},
		{"one plugin", `{"prefix": "/", "plugin": "othercache"}`, 1,
			map[string]int{"othercache": 1},
			map[string][]string{"pagecache": {"/api/a", "/api/b", "/static/c"}, "othercache": nil}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, _ := newAdminHost(t, adminYAML)
			v := decode[purgeView](t, admin(h, "POST", "/_sy/api/cache/purge", tt.body, allowedPeer), 200)
			if v.Purged != tt.purged || len(v.Plugins) != len(tt.plugins) {
				t.Errorf("answer %+v, want purged %d plugins %v", v, tt.purged, tt.plugins)
			}
			for n, c := range tt.plugins {
				if v.Plugins[n] != c {
					t.Errorf("plugins[%s] = %d, want %d", n, v.Plugins[n], c)
				}
			}
			for n, want := range tt.left {
				c := fakeCacheNamed(n)
				c.mu.Lock()
				got := slices.Sorted(maps.Keys(c.entries))
				c.mu.Unlock()
				if !slices.Equal(got, want) && (len(got) != 0 || len(want) != 0) {
					t.Errorf("%s keeps %v, want %v", n, got, want)
				}
			}
		})
	}
}

func TestAdminReloadAndHistory(t *testing.T) {
	h, path := newAdminHost(t, adminYAML)
	first := h.Snapshot().Version

	// An edit, then POST reload: 200 with the new version and what changed.
	edited := adminYAML + "  - path: /added\n    handler: {respond: {body: new}}\n"
	if err := os.WriteFile(path, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	ok := decode[reloadRecord](t, admin(h, "POST", "/_sy/api/reload", "", allowedPeer), 200)
	if !ok.Success || ok.Version == first || ok.Trigger != "admin" || ok.Error != "" {
		t.Fatalf("reload %+v", ok)
	}
	if !slices.Equal(ok.Changes.RoutesAdded, []string{"/added"}) {
		t.Errorf("changes %+v, want /added added", ok.Changes)
	}

	// A bad edit: 422 with the error naming file, line and key; the old
	// version keeps serving.
	bad := strings.Replace(edited, "{type: count, tag: admin}", "{type: count, tag: admin, colour: red}", 1)
	if err := os.WriteFile(path, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	rej := decode[reloadRecord](t, admin(h, "POST", "/_sy/api/reload", "", allowedPeer), 422)
	if rej.Success || rej.Version != ok.Version {
		t.Errorf("rejected reload %+v, want failure with version %s still serving", rej, ok.Version)
	}
	for _, part := range []string{path + ":", "plugins.counter.colour", "unknown key"} {
		if !strings.Contains(rej.Error, part) {
			t.Errorf("error %q lacks %q", rej.Error, part)
		}
	}
	if h.Snapshot().Version != ok.Version {
		t.Error("a rejected reload changed the serving snapshot")
	}

	// Two file events with the same content fold into one skipped entry.
	h.Reload(hotreload.TriggerFile)
	h.Reload(hotreload.TriggerFile)

	v := decode[reloadsView](t, admin(h, "GET", "/_sy/api/reloads", "", allowedPeer), 200)
	if v.Version != ok.Version || len(v.Reloads) != 4 {
		t.Fatalf("history %+v", v)
	}
	skipped, failed, applied, start := v.Reloads[0], v.Reloads[1], v.Reloads[2], v.Reloads[3]
	if start.Trigger != "start" || !start.Success || start.Version != first {
		t.Errorf("oldest %+v, want the first load", start)
	}
	if !skipped.Skipped || skipped.Repeats != 1 || skipped.Trigger != "file" || skipped.Error != rej.Error {
		t.Errorf("newest %+v, want one skipped file entry repeated once, still failing", skipped)
	}
	if failed.Success || failed.Error != rej.Error || failed.DurationMS <= 0 {
		t.Errorf("second %+v, want the rejection with its full error", failed)
	}
	if !applied.Success || applied.Version != ok.Version || len(applied.Changes.RoutesAdded) != 1 {
		t.Errorf("third %+v", applied)
	}
	for _, r := range v.Reloads {
		if _, err := time.Parse(adminTimeFormat, r.Time); err != nil {
			t.Errorf("time %q: %v", r.Time, err)
		}
	}
}

func TestAdminStats(t *testing.T) {
	h, _ := newAdminHost(t, adminYAML)
	before := decode[statsView](t, admin(h, "GET", "/_sy/api/stats", "", allowedPeer), 200)
	if before.Requests != 0 || before.Latency.Count != 0 || before.Latency.P99MS != 0 {
		t.Fatalf("fresh host stats %+v", before)
	}
	for range 7 {
		do(h, "GET", "/hello")
	}
	for range 2 {
		do(h, "GET", "/boom")
	}
	do(h, "GET", "/missing")
	// Admin requests are not counted: polling does not feed the chart.
	admin(h, "GET", "/_sy/api/routes", "", allowedPeer)

	v := decode[statsView](t, admin(h, "GET", "/_sy/api/stats", "", allowedPeer), 200)
	if v.Requests != 10 || v.Errors != 2 || v.Latency.Count != 10 {
		t.Errorf("requests %v errors %v count %d, want 10, 2, 10", v.Requests, v.Errors, v.Latency.Count)
	}
	if v.Version != h.Snapshot().Version || v.Time < before.Time {
		t.Errorf("version %q time %v", v.Version, v.Time)
	}
	if len(v.Latency.Buckets) != 14 || v.Latency.Buckets[len(v.Latency.Buckets)-1].Count != 10 {
		t.Errorf("buckets %+v, want the 14 finite bounds, all 10 requests under 10 s", v.Latency.Buckets)
	}
	if v.Latency.P50MS <= 0 || v.Latency.P50MS > v.Latency.P99MS {
		t.Errorf("p50 %v p99 %v", v.Latency.P50MS, v.Latency.P99MS)
	}
	if v.Reloads != 1 || !v.LastReloadOK {
		t.Errorf("reloads %d (last ok %v), want the first load alone", v.Reloads, v.LastReloadOK)
	}
}

func TestMergeHistograms(t *testing.T) {
	series := func(counts []uint64, bounds []float64, total uint64, sum float64) *dto.Metric {
		hg := &dto.Histogram{SampleCount: &total, SampleSum: &sum}
		for i := range bounds {
			hg.Bucket = append(hg.Bucket, &dto.Bucket{UpperBound: &bounds[i], CumulativeCount: &counts[i]})
		}
		return &dto.Metric{Histogram: hg}
	}
	inf := math.Inf(1)
	v := mergeHistograms([]*dto.Metric{
		series([]uint64{1, 3, 4, 4}, []float64{0.001, 0.01, 0.1, inf}, 4, 0.05),
		series([]uint64{0, 2, 6, 8}, []float64{0.001, 0.01, 0.1, inf}, 8, 1.5),
	})
	want := []bucketView{{0.001, 1}, {0.01, 5}, {0.1, 10}}
	if !slices.Equal(v.Buckets, want) || v.Count != 12 || v.SumSeconds != 1.55 {
		t.Fatalf("merged %+v", v)
	}
	// Rank 6 of 12 lies in (0.01, 0.1]: 0.01 + 0.09*(6-5)/5.
	if got := v.P50MS; math.Abs(got-28) > 1e-9 {
		t.Errorf("p50 %v ms, want 28", got)
	}
	// Rank 11.88 lies in +Inf: the largest finite bound.
	if got := v.P99MS; got != 100 {
		t.Errorf("p99 %v ms, want 100", got)
	}
}

func TestBucketQuantile(t *testing.T) {
	b := []bucketView{{0.1, 10}, {0.2, 10}, {0.5, 20}, {1, 40}}
	tests := []struct {
		name  string
		q     float64
		count uint64
		want  float64
	}{
		{"empty", 0.5, 0, 0},
		{"first bucket starts at 0", 0.1, 40, 0.04},
		{"median interpolated", 0.5, 40, 0.5},
		{"p99 in last bucket", 0.99, 40, 0.5 + 0.5*(39.6-20)/20},
		{"rank above every finite bucket", 0.99, 100, 1},
		{"q=0 gives the lowest bucket", 0, 40, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := bucketQuantile(tt.q, b, tt.count); math.Abs(got-tt.want) > 1e-9 {
				t.Errorf("bucketQuantile(%v) = %v, want %v", tt.q, got, tt.want)
			}
		})
	}
	if got := bucketQuantile(0.5, nil, 10); got != 0 {
		t.Errorf("no buckets: %v", got)
	}
}

// A purge whose shared tier failed says so: 502, the instance and the tier in
// "failed", and the counts of what was dropped.
func TestAdminPurgeReportsFailedTier(t *testing.T) {
	h, _ := newAdminHost(t, adminYAML)
	c := fakeCacheNamed("pagecache")
	c.mu.Lock()
	c.failTier = "redis"
	c.mu.Unlock()
	rec := admin(h, "POST", "/_sy/api/cache/purge", `{"prefix": "/api/"}`, allowedPeer)
	v := decode[purgeView](t, rec, http.StatusBadGateway)
	if v.Purged != 3 || !strings.HasPrefix(v.Failed["pagecache"], "redis tier not purged") || len(v.Failed) != 1 {
		t.Errorf("answer %s, want purged 3 and failed {pagecache: redis ...}", rec.Body)
	}
	// The next purge succeeds: 200 and no "failed".
	rec = admin(h, "POST", "/_sy/api/cache/purge", `{"prefix": "/"}`, allowedPeer)
	if v := decode[purgeView](t, rec, 200); v.Failed != nil || strings.Contains(rec.Body.String(), "failed") {
		t.Errorf("answer %s, want no failed", rec.Body)
	}
}

// Errors in a purge body name the JSON field, never a Go type.
func TestAdminPurgeErrorsSpeakJSON(t *testing.T) {
	h, _ := newAdminHost(t, adminYAML)
	for _, tt := range []struct{ body, want string }{
		{`{"prefix": 5}`, `"prefix" must be a string, not a JSON number`},
		{`{"key": ["a"]}`, `"key" must be a string, not a JSON array`},
		{`["a"]`, "not a JSON object"},
		{`{"prefix": "/a" "key"}`, "invalid JSON at byte"},
		{`{"prefix": "/a",`, "truncated JSON"},
		{`{"pth": "/"}`, `unknown field "pth"`},
	} {
		rec := admin(h, "POST", "/_sy/api/cache/purge", tt.body, allowedPeer)
		e := decode[errorJSON](t, rec, 400)
		if !strings.Contains(e.Error, tt.want) {
			t.Errorf("%s: error %q, want it to contain %q", tt.body, e.Error, tt.want)
		}
		for _, leak := range []string{"purgeRequest", "Go struct", "Go value", "json:"} {
			if strings.Contains(e.Error, leak) {
				t.Errorf("%s: error %q shows %q", tt.body, e.Error, leak)
			}
		}
	}
}
