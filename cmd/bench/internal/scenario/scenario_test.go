package scenario

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/wait"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// serve sends one request for path to h in-process.
func serve(t *testing.T, h http.Handler, path string, hdr http.Header) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	for k, v := range hdr {
		req.Header[k] = v
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

func body(t *testing.T, w *httptest.ResponseRecorder) string {
	t.Helper()
	if w.Header().Get("Content-Encoding") != "gzip" {
		return w.Body.String()
	}
	zr, err := gzip.NewReader(w.Body)
	if err != nil {
		t.Fatalf("gzip body: %v", err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("gzip body: %v", err)
	}
	return string(b)
}

// TestScenarioServers builds both servers of every scenario from its config
// and serves requests of the scenario's mix in-process.
func TestScenarioServers(t *testing.T) {
	for _, sc := range All() {
		for _, kind := range []string{Switchyard, sc.Baseline} {
			if sc.Baseline == Switchyard && kind == sc.Baseline && sc.Reload {
				continue // the reload scenario's baseline is the same host
			}
			t.Run(sc.Name+"/"+kind, func(t *testing.T) {
				in, err := Build(sc.Name, kind, Env{Dir: t.TempDir()})
				if err != nil {
					t.Fatalf("Build: %v", err)
				}
				defer in.Close()
				for i := range uint64(12) {
					path := sc.Path(i)
					w := serve(t, in.Handler, path, sc.Header)
					if w.Code != http.StatusOK {
						t.Fatalf("GET %s: status %d, body %q", path, w.Code, w.Body.String())
					}
					checkBody(t, sc, path, w)
				}
			})
		}
	}
}

func checkBody(t *testing.T, sc Scenario, path string, w *httptest.ResponseRecorder) {
	t.Helper()
	b := body(t, w)
	switch sc.Name {
	case Fast:
		var v struct{ Status string }
		if err := json.Unmarshal([]byte(b), &v); err != nil || v.Status != "ok" {
			t.Errorf("GET %s: body %q, want a health document", path, b)
		}
	case Routed:
		if !strings.HasPrefix(b, `{"route":`) {
			t.Errorf("GET %s: body %q", path, b)
		}
	case Cached:
		if b != docBody || len(b) < 3800 || len(b) > 4200 {
			t.Errorf("GET %s: body of %d bytes, want the %d-byte document", path, len(b), len(docBody))
		}
	case DB:
		var it Item
		if err := json.Unmarshal([]byte(b), &it); err != nil || it.ID == 0 || it.SKU == "" {
			t.Errorf("GET %s: body %q, want an item", path, b)
		}
	case Proxy:
		if b != string(upstreamBody) {
			t.Errorf("GET %s: body %q, want the upstream's", path, b)
		}
	case Full, Reload:
		if w.Header().Get("Content-Encoding") != "gzip" {
			t.Errorf("GET %s: Content-Encoding %q, want gzip", path, w.Header().Get("Content-Encoding"))
		}
		id := path[strings.LastIndexByte(path, '/')+1:]
		if !strings.Contains(b, `"id":"`+id+`"`) || len(b) < 3800 {
			t.Errorf("GET %s: body of %d bytes without the id", path, len(b))
		}
	}
}

// TestCachedPathHits checks that the cached scenario measures cache hits.
func TestCachedPathHits(t *testing.T) {
	in, err := Build(Cached, Switchyard, Env{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	var last string
	wait.For(t, "X-Cache: HIT", func() bool { // the cache admits entries asynchronously
		last = serve(t, in.Handler, "/api/doc", nil).Header().Get("X-Cache")
		return last == "HIT"
	})
}

// TestReloadScenarioReloads rewrites the reload scenario's file and waits
// for the host to serve the new version.
func TestReloadScenarioReloads(t *testing.T) {
	dir := t.TempDir()
	in, err := Build(Reload, Switchyard, Env{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	if got := body(t, serve(t, in.Handler, "/version", nil)); got != "config 0" {
		t.Fatalf("/version = %q, want config 0", got)
	}
	if err := WriteReloadConfig(dir, 1); err != nil {
		t.Fatal(err)
	}
	wait.For(t, "the host to reload the rewritten config", func() bool {
		return body(t, serve(t, in.Handler, "/version", nil)) == "config 1"
	})
	if ok, failed := in.Reloads(); ok < 2 || failed != 0 {
		t.Errorf("Reloads() = %d ok, %d failed; want >= 2 ok, 0 failed", ok, failed)
	}
}

// TestStartShutdown serves one scenario of each kind on loopback.
func TestStartShutdown(t *testing.T) {
	for _, kind := range []string{Switchyard, NetHTTP} {
		t.Run(kind, func(t *testing.T) {
			in, err := Build(Fast, kind, Env{Dir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			addr, err := in.Start("127.0.0.1:0")
			if err != nil {
				in.Close()
				t.Fatal(err)
			}
			resp, err := http.Get("http://" + addr + "/health")
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("status %d", resp.StatusCode)
			}
			http.DefaultClient.CloseIdleConnections()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := in.Shutdown(ctx); err != nil {
				t.Errorf("Shutdown: %v", err)
			}
		})
	}
}

func TestBuildErrors(t *testing.T) {
	cases := []struct{ name, scenario, kind, want string }{
		{"unknown scenario", "nope", Switchyard, "unknown scenario"},
		{"wrong baseline", Fast, Chi, "has no"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Build(tc.scenario, tc.kind, Env{Dir: t.TempDir()})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestPaths(t *testing.T) {
	seen := map[string]bool{}
	distinct := 0
	for i := range uint64(1000) {
		p := FullPath(i)
		if !seen[p] {
			distinct++
			seen[p] = true
		}
	}
	// 800 never-seen URLs plus the HotItems hot ones.
	if want := 800 + HotItems; distinct != want {
		t.Errorf("FullPath: %d distinct URLs in 1000 requests, want %d", distinct, want)
	}
	hit := map[int]bool{}
	for i := range uint64(RouteCount) {
		hit[int(i*7%RouteCount)] = true
	}
	if len(hit) != RouteCount {
		t.Errorf("RoutedPath reaches %d of %d routes", len(hit), RouteCount)
	}
}

// discardWriter is a ResponseWriter that keeps nothing.
type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d *discardWriter) WriteHeader(int)             {}

// BenchmarkServers serves each scenario's request mix in-process, without
// the network, on both servers: the per-request cost of what surrounds the
// application handler.
func BenchmarkServers(b *testing.B) {
	for _, sc := range All() {
		if sc.Reload || sc.Name == DB {
			continue
		}
		for _, kind := range []string{Switchyard, sc.Baseline} {
			b.Run(sc.Name+"/"+strings.ReplaceAll(kind, "/", ""), func(b *testing.B) {
				in, err := Build(sc.Name, kind, Env{Dir: b.TempDir()})
				if err != nil {
					b.Fatal(err)
				}
				defer in.Close()
				// Requests are built beforehand (the full stack's mix cycles
				// through 4096 URLs, so its cache sees repeats here).
				reqs := make([]*http.Request, 4096)
				for i := range reqs {
					reqs[i] = httptest.NewRequest(http.MethodGet, sc.Path(uint64(i)), nil)
					reqs[i].RemoteAddr = "127.0.0.1:40000"
					for k, v := range sc.Header {
						reqs[i].Header[k] = v
					}
				}
				w := &discardWriter{h: http.Header{}}
				var i int
				b.ReportAllocs()
				for b.Loop() {
					clear(w.h)
					in.Handler.ServeHTTP(w, reqs[i%len(reqs)])
					i++
				}
			})
		}
	}
}
