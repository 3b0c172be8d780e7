package apikey_test

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard/switchyard/core"
	"github.com/switchyard/switchyard/examples/plugins/apikey"
	_ "github.com/switchyard/switchyard/examples/plugins/requestid"
	_ "github.com/switchyard/switchyard/plugins/ratelimit"
	"github.com/switchyard/switchyard/plugintest"
	"github.com/switchyard/switchyard/registry"
)

const snippet = `keys: ["alice:alpha-key-1", "beta-key-2"]`

func withKey(key string) plugintest.Option {
	return plugintest.WithRequest(func(r *http.Request) { r.Header.Set("X-Api-Key", key) })
}

// TestConformance: with its credentials supplied through WithRequest the
// plugin passes every check, and its declared refusal is checked too, well
// within 10 seconds.
func TestConformance(t *testing.T) {
	start := time.Now()
	plugintest.Conformance(t, apikey.TypeName, snippet,
		withKey("alpha-key-1"),
		plugintest.WithRefusal(http.StatusUnauthorized),
		plugintest.WithChangedConfig(`keys: ["alice:alpha-key-1"]`+"\nvar: caller"))
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Conformance took %v, want under 10s", d)
	}
	t.Logf("Conformance took %v", time.Since(start))
}

// recorder is a plugintest.TB that keeps the failures instead of failing.
type recorder struct {
	mu     sync.Mutex
	errors []string
	logs   []string
}

func (r *recorder) Helper()          {}
func (r *recorder) Name() string     { return "recorder" }
func (r *recorder) Cleanup(f func()) {}
func (r *recorder) Logf(f string, a ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.logs = append(r.logs, fmt.Sprintf(f, a...))
}
func (r *recorder) Errorf(f string, a ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errors = append(r.errors, fmt.Sprintf(f, a...))
}
func (r *recorder) Fatalf(f string, a ...any) {
	r.Errorf(f, a...)
	panic(fatal{})
}
func (r *recorder) Failed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.errors) > 0
}

type fatal struct{}

// TestConformanceWithoutCredentials: without WithRequest every check that
// serves a request ends at once with a failure that names the refusal and
// the option to use, or, with WithRefusal, is skipped; nothing waits out a
// timeout.
func TestConformanceWithoutCredentials(t *testing.T) {
	for _, declared := range []bool{false, true} {
		t.Run(fmt.Sprint("declared=", declared), func(t *testing.T) {
			rec := &recorder{}
			opts := []plugintest.Option{plugintest.WithTimeout(5 * time.Second)}
			if declared {
				opts = append(opts, plugintest.WithRefusal(http.StatusUnauthorized))
			}
			start := time.Now()
			func() {
				defer func() {
					if p := recover(); p != nil {
						if _, ok := p.(fatal); !ok {
							panic(p)
						}
					}
				}()
				plugintest.Conformance(rec, apikey.TypeName, snippet, opts...)
			}()
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("Conformance of a refusing plugin took %v: a check waited for a request the plugin had refused", d)
			}
			all := strings.Join(rec.errors, "\n")
			if declared {
				if all != "" {
					t.Errorf("declared refusals failed checks:\n%s", all)
				}
				if logs := strings.Join(rec.logs, "\n"); !strings.Contains(logs, "check skipped") {
					t.Errorf("no check says it was skipped:\n%s", logs)
				}
				return
			}
			if !strings.Contains(all, "refused the request with 401") || !strings.Contains(all, "plugintest.WithRequest") {
				t.Errorf("failures do not name the refusal and the option:\n%s", all)
			}
		})
	}
}

func TestRefusal(t *testing.T) {
	inst := plugintest.New(t, apikey.TypeName, snippet)
	tests := []struct {
		name, header, value string
		want                int
	}{
		{"no key", "", "", http.StatusUnauthorized},
		{"unknown key", "X-Api-Key", "gamma", http.StatusUnauthorized},
		{"empty key", "X-Api-Key", "", http.StatusUnauthorized},
		{"named key", "X-Api-Key", "alpha-key-1", http.StatusOK},
		{"bare key", "X-Api-Key", "beta-key-2", http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			if tt.header != "" {
				req.Header.Set(tt.header, tt.value)
			}
			rec := inst.Serve(req)
			if rec.Code != tt.want {
				t.Fatalf("status %d, want %d", rec.Code, tt.want)
			}
			if tt.want == http.StatusUnauthorized {
				if got := rec.Header().Get("WWW-Authenticate"); got != `ApiKey realm="switchyard"` {
					t.Errorf("WWW-Authenticate = %q", got)
				}
				if !strings.Contains(rec.Body.String(), `"error"`) || rec.Header().Get("Cache-Control") != "no-store" {
					t.Errorf("refusal: body %q, Cache-Control %q", rec.Body, rec.Header().Get("Cache-Control"))
				}
			}
		})
	}
	if st := inst.Plugin().(registry.StatsReporter).Stats(); st["refused"] != int64(3) || st["allowed"] != int64(2) {
		t.Errorf("Stats = %v", st)
	}
}

func TestBearer(t *testing.T) {
	inst := plugintest.New(t, apikey.TypeName, snippet+"\nheader: Authorization")
	for value, want := range map[string]int{
		"Bearer alpha-key-1": http.StatusOK, "bearer beta-key-2": http.StatusOK,
		"alpha-key-1": http.StatusUnauthorized, "Bearer ": http.StatusUnauthorized, "Basic abc": http.StatusUnauthorized,
	} {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Header.Set("Authorization", value)
		if rec := inst.Serve(req); rec.Code != want {
			t.Errorf("Authorization %q: %d, want %d", value, rec.Code, want)
		}
	}
}

// TestSetsTheCaller: the caller's name reaches the handler as a request
// value, under the configured name.
func TestSetsTheCaller(t *testing.T) {
	var got []string
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, _ := registry.ValueOf[string](r, "who")
		got = append(got, v)
	})
	inst := plugintest.New(t, apikey.TypeName, snippet+"\nvar: who", plugintest.WithNext(next))
	for _, k := range []string{"alpha-key-1", "beta-key-2"} {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Header.Set("X-Api-Key", k)
		inst.Serve(req)
	}
	if len(got) != 2 || got[0] != "alice" || !strings.HasPrefix(got[1], "key-") || len(got[1]) != len("key-")+8 {
		t.Fatalf("callers = %q, want alice and key-XXXXXXXX", got)
	}
}

func TestKeysFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "keys.txt")
	if err := os.WriteFile(file, []byte("# callers\n\ncarol:gamma-key-3\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	inst := plugintest.New(t, apikey.TypeName, "keys_file: "+file)
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("X-Api-Key", "gamma-key-3")
	if rec := inst.Serve(req); rec.Code != http.StatusOK {
		t.Fatalf("key from the file: %d", rec.Code)
	}

	bad := filepath.Join(dir, "bad.txt")
	if err := os.WriteFile(bad, []byte("dave:delta key 4\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, snippet, want string }{
		{"missing file", "keys_file: " + filepath.Join(dir, "nope.txt"), "plugins.apikey.keys_file: cannot read"},
		{"bad line", "keys_file: " + bad, "bad.txt:1: a key must not contain spaces"},
		{"no keys", "header: X-Key", "plugins.apikey.keys: give keys, keys_file or both"},
		{"bad key", `keys: ["alice: secret key"]`, "plugins.apikey.keys[0]: a key must not contain spaces"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := plugintest.Build(t, apikey.TypeName, tt.snippet)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			for _, secret := range []string{"delta key 4", "secret key"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q quotes a key", err)
				}
			}
		})
	}
}

// TestValuesAlongAChain: the caller the plugin identifies is read by a
// later link's when: (CEL and structured), by a ratelimit key and by a Go
// handler, on a real host.
func TestValuesAlongAChain(t *testing.T) {
	const cfg = `
plugins:
  auth:
    type: apikey
    keys: ["alice:alpha-key-1", "bob:beta-key-2"]
  peruser:
    type: ratelimit
    rate: 2
    per: 1h
    key: var:user
  reqid:
    type: requestid
    header: X-Alice-Id
  reqid2:
    type: requestid
    header: X-Bob-Id
middleware:
  - use: auth
  - use: peruser
routes:
  - path: /whoami
    middleware:
      - use: reqid
        when: 'request.vars.user == "alice"'
      - use: reqid2
        when: {vars: {user: "b*"}}
    handler: test.whoami
`
	h := core.New(core.Options{Logger: slog.New(slog.DiscardHandler)})
	defer h.Close()
	h.HandleFunc("test.whoami", func(w http.ResponseWriter, r *http.Request) {
		v, _ := registry.Value(r, "user")
		fmt.Fprintf(w, "%v", v)
	})
	if err := h.LoadBytes("chain.yaml", []byte(cfg), t.TempDir()); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	get := func(key string) (*http.Response, string) {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/whoami", nil)
		req.Header.Set("X-Api-Key", key)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	for i := range 2 {
		resp, body := get("alpha-key-1")
		if resp.StatusCode != http.StatusOK || body != "alice" {
			t.Fatalf("alice %d: %d %q, want 200 alice (the Go handler reads the value)", i, resp.StatusCode, body)
		}
		if resp.Header.Get("X-Alice-Id") == "" || resp.Header.Get("X-Bob-Id") != "" {
			t.Errorf("alice: the when: conditions did not follow the value (X-Alice-Id %q, X-Bob-Id %q)",
				resp.Header.Get("X-Alice-Id"), resp.Header.Get("X-Bob-Id"))
		}
	}
	if resp, _ := get("alpha-key-1"); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("alice's third request: %d, want 429 (ratelimit key: var:user)", resp.StatusCode)
	}
	resp, body := get("beta-key-2")
	if resp.StatusCode != http.StatusOK || body != "bob" {
		t.Fatalf("bob: %d %q: the ratelimit must keep a bucket per caller", resp.StatusCode, body)
	}
	if resp.Header.Get("X-Bob-Id") == "" || resp.Header.Get("X-Alice-Id") != "" {
		t.Errorf("bob: the structured vars matcher did not follow the value")
	}
	if resp, _ := get("nope"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("unknown key: %d", resp.StatusCode)
	}
}
