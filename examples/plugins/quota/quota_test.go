package quota_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard/switchyard/examples/plugins/quota"
	"github.com/switchyard/switchyard/plugintest"
)

// request is a GET from ip with an optional API key.
func request(ip, key string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/api", nil)
	r.RemoteAddr = ip + ":40000"
	if key != "" {
		r.Header.Set("X-Api-Key", key)
	}
	return r
}

type step struct {
	ip, key   string
	code      int
	remaining string
}

func TestLimitsEachClient(t *testing.T) {
	tests := []struct {
		name    string
		snippet string
		steps   []step
	}{
		{"by ip", "limit: 2", []step{
			{"10.0.0.1", "", 200, "1"},
			{"10.0.0.1", "", 200, "0"},
			{"10.0.0.1", "", 429, "0"},
			{"10.0.0.2", "", 200, "1"},    // another client
			{"10.0.0.1", "any", 429, "0"}, // no header configured: the key is ignored
		}},
		{"by header", "limit: 1\nheader: x-api-key", []step{
			{"10.0.0.1", "k1", 200, "0"},
			{"10.0.0.1", "k1", 429, "0"},
			{"10.0.0.1", "k2", 200, "0"}, // same IP, another key
			{"10.0.0.9", "k1", 429, "0"}, // same key, another IP
			{"10.0.0.1", "", 200, "0"},   // no header: counted by IP
			{"10.0.0.1", "", 429, "0"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inst := plugintest.New(t, "quota", tt.snippet)
			for i, s := range tt.steps {
				rec := inst.Serve(request(s.ip, s.key))
				if rec.Code != s.code || rec.Header().Get("X-Quota-Remaining") != s.remaining {
					t.Fatalf("step %d (%s %s): %d remaining %q, want %d remaining %q", i, s.ip, s.key,
						rec.Code, rec.Header().Get("X-Quota-Remaining"), s.code, s.remaining)
				}
			}
		})
	}
}

func TestRefusal(t *testing.T) {
	inst := plugintest.New(t, "quota", "limit: 1")
	inst.Clock().Advance(23*time.Hour + 59*time.Minute + 30*time.Second)
	inst.Serve(request("10.0.0.1", ""))
	rec := inst.Serve(request("10.0.0.1", ""))
	if rec.Code != http.StatusTooManyRequests {
		t.Fatalf("status %d", rec.Code)
	}
	h := rec.Header()
	if h.Get("Retry-After") != "30" || h.Get("X-Quota-Limit") != "1" || h.Get("Content-Type") != "application/json" {
		t.Fatalf("headers %v", h)
	}
	var body struct{ Error string }
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Error != "daily quota of 1 requests used up" {
		t.Fatalf("body %q (%v)", rec.Body.String(), err)
	}
	if got := inst.CounterValue("quota_requests_total", "result", "refused"); got != 1 {
		t.Fatalf("refused counter = %v", got)
	}
	if got := inst.CounterValue("quota_requests_total", "plugin", "quota", "result", "allowed"); got != 1 {
		t.Fatalf("allowed counter = %v", got)
	}
}

func TestNewDayStartsOver(t *testing.T) {
	inst := plugintest.New(t, "quota", "limit: 1")
	if inst.Serve(request("10.0.0.1", "")).Code != 200 || inst.Serve(request("10.0.0.1", "")).Code != 429 {
		t.Fatal("limit not enforced")
	}
	inst.Clock().Advance(24 * time.Hour)
	if got := inst.Serve(request("10.0.0.1", "")).Code; got != 200 {
		t.Fatalf("next day: %d", got)
	}
}

func TestMaxClients(t *testing.T) {
	inst := plugintest.New(t, "quota", "limit: 5\nmax_clients: 2")
	for _, ip := range []string{"10.0.0.1", "10.0.0.2", "10.0.0.1"} {
		if got := inst.Serve(request(ip, "")).Code; got != 200 {
			t.Fatalf("%s: %d", ip, got)
		}
	}
	rec := inst.Serve(request("10.0.0.3", ""))
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "too many clients") {
		t.Fatalf("third client: %d %q", rec.Code, rec.Body.String())
	}
	stats := inst.Plugin().(*quota.Quota).Stats()
	if stats["clients"] != 2 || stats["allowed"] != int64(3) || stats["refused"] != int64(1) || stats["limit"] != 5 {
		t.Fatalf("stats %v", stats)
	}
}

func TestLongKeysAreHashed(t *testing.T) {
	inst := plugintest.New(t, "quota", "limit: 1\nheader: X-Api-Key")
	long := strings.Repeat("k", 5000)
	if inst.Serve(request("10.0.0.1", long)).Code != 200 || inst.Serve(request("10.0.0.2", long)).Code != 429 {
		t.Fatal("a long key is not one client")
	}
	if inst.Serve(request("10.0.0.1", long+"x")).Code != 200 {
		t.Fatal("two long keys were counted as one")
	}
}

func TestParallelRequestsAdmitExactlyTheLimit(t *testing.T) {
	inst := plugintest.New(t, "quota", "limit: 25")
	var wg sync.WaitGroup
	codes := make(chan int, 100)
	for range 100 {
		wg.Go(func() { codes <- inst.Serve(request("10.0.0.1", "")).Code })
	}
	wg.Wait()
	close(codes)
	ok := 0
	for c := range codes {
		if c == 200 {
			ok++
		}
	}
	if ok != 25 {
		t.Fatalf("%d of 100 parallel requests admitted, want 25", ok)
	}
}

func TestCountsSurviveReloads(t *testing.T) {
	inst := plugintest.New(t, "quota", "limit: 2")
	first := inst.Plugin()
	inst.Serve(request("10.0.0.1", ""))
	inst.Serve(request("10.0.0.1", ""))
	if !inst.Rebuild("{limit: 2}") {
		t.Fatal("an unchanged config built a new instance")
	}
	if got := inst.Serve(request("10.0.0.1", "")).Code; got != 429 {
		t.Fatalf("after an unchanged reload: %d", got)
	}
	// Raise the limit: the new instance shares the old one's counts.
	if inst.Rebuild("limit: 5") {
		t.Fatal("a changed config reused the instance")
	}
	if inst.Plugin() == first {
		t.Fatal("no new instance")
	}
	rec := inst.Serve(request("10.0.0.1", ""))
	if rec.Code != 200 || rec.Header().Get("X-Quota-Remaining") != "2" {
		t.Fatalf("after raising the limit: %d remaining %q, want 200 remaining 2", rec.Code, rec.Header().Get("X-Quota-Remaining"))
	}
	// The old instance is closed by now; the counts live on in the new one.
	inst.Rebuild("limit: 3")
	if got := inst.Serve(request("10.0.0.1", "")).Code; got != 429 {
		t.Fatalf("after lowering the limit to what was used: %d", got)
	}
}

func TestStateFileKeepsCountsAcrossRestarts(t *testing.T) {
	file := filepath.Join(t.TempDir(), "quota.json")
	snippet := "limit: 3\nstate_file: " + file
	inst := plugintest.New(t, "quota", snippet)
	inst.Serve(request("10.0.0.1", ""))
	inst.Serve(request("10.0.0.1", ""))
	inst.Rebuild("limit: 4\nstate_file: " + file) // a reload does not save
	inst.Close()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Day    string
		Counts map[string]int
	}
	if err := json.Unmarshal(b, &st); err != nil || st.Day != "2026-01-01" || st.Counts["ip:10.0.0.1"] != 2 {
		t.Fatalf("state file %s (%v)", b, err)
	}

	again := plugintest.New(t, "quota", snippet)
	if got := again.Serve(request("10.0.0.1", "")).Header().Get("X-Quota-Remaining"); got != "0" {
		t.Fatalf("after a restart the same day: remaining %q, want 0", got)
	}
	tomorrow := plugintest.NewClock(time.Time{})
	tomorrow.Advance(24 * time.Hour)
	next := plugintest.New(t, "quota", snippet, plugintest.WithClock(tomorrow), plugintest.WithName("other"))
	if got := next.Serve(request("10.0.0.1", "")).Header().Get("X-Quota-Remaining"); got != "2" {
		t.Fatalf("after a restart the next day: remaining %q, want 2", got)
	}
}

func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte("not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ snippet, want string }{
		{"", "plugins.quota.limit: must be > 0"},
		{"limit: 0", "plugins.quota.limit: must be > 0"},
		{"limit: -1", "plugins.quota.limit: must be > 0"},
		{"limit: lots", "plugins.quota.limit: expected int"},
		{"limit: 1\nmax_clients: 0", "plugins.quota.max_clients: must be > 0"},
		{"limit: 1\nheader: 'X Api'", "plugins.quota.header: must be a header name"},
		{"limit: 1\nlimits: 2", "plugins.quota.limits: unknown key"},
		{"limit: 1\nstate_file: " + filepath.Join(dir, "missing", "q.json"), "plugins.quota: state_file: directory " + filepath.Join(dir, "missing") + " does not exist"},
		{"limit: 1\nstate_file: " + bad, "is not a quota state file"},
	}
	for _, tt := range tests {
		_, err := plugintest.Build(t, "quota", tt.snippet)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: err = %v, want %q", tt.snippet, err, tt.want)
		}
	}
}

func TestConformance(t *testing.T) {
	plugintest.Conformance(t, "quota", "limit: 1000\nheader: X-Api-Key",
		plugintest.WithChangedConfig("limit: 2000\nheader: X-Api-Key"))
}
