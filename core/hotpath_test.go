package core

import (
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
)

// requestMetrics returns http_requests_total{route,method,code} and the
// sample count of http_request_duration_seconds{route}.
func requestMetrics(t *testing.T, h *Host, route, method, code string) (requests float64, observed uint64) {
	t.Helper()
	mfs, err := h.Metrics().Gather()
	if err != nil {
		t.Fatal(err)
	}
	has := func(m *dto.Metric, want map[string]string) bool {
		n := 0
		for _, l := range m.GetLabel() {
			if v, ok := want[l.GetName()]; ok && v == l.GetValue() {
				n++
			}
		}
		return n == len(want)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			switch mf.GetName() {
			case "switchyard_http_requests_total":
				if has(m, map[string]string{"route": route, "method": method, "code": code}) {
					requests = m.GetCounter().GetValue()
				}
			case "switchyard_http_request_duration_seconds":
				if has(m, map[string]string{"route": route}) {
					observed = m.GetHistogram().GetSampleCount()
				}
			}
		}
	}
	return requests, observed
}

// TestFastPathsUnwrappedMetrics: /health and a respond route in fast_paths
// are served without the writer wrapper, and their requests are still
// counted by route, method and code, and timed.
func TestFastPathsUnwrappedMetrics(t *testing.T) {
	for _, tt := range []struct {
		name, yaml string
		unwrapped  bool
	}{
		{"plain", "", true},
		{"access log", "server: {access_log: {enabled: true, output: " + filepath.Join(t.TempDir(), "access.log") + "}}\n", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHost(t, tt.yaml+`routes:
  - path: /fast
    handler: {respond: {status: 201, body: fast}}
performance:
  routing:
    fast_paths: ["/static/*", "/health", "/metrics", "/fast"]
`)
			s := h.Snapshot()
			if _, ok := s.fast.match("/health").(*direct); ok != tt.unwrapped {
				t.Errorf("/health served unwrapped: %v, want %v", ok, tt.unwrapped)
			}
			for _, c := range []struct {
				method, path, route, code, body string
			}{
				{"GET", "/health", "/health", "200", `"status":"ok"`},
				{"HEAD", "/health", "/health", "200", ""},
				{"GET", "/fast", "/fast", "201", "fast"},
			} {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest(c.method, c.path, nil))
				if code := strconv.Itoa(rec.Code); code != c.code {
					t.Errorf("%s %s = %s, want %s", c.method, c.path, code, c.code)
				}
				if !strings.Contains(rec.Body.String(), c.body) || (c.body == "" && rec.Body.Len() > 0) {
					t.Errorf("%s %s body %q, want %q", c.method, c.path, rec.Body, c.body)
				}
				if ct := rec.Header().Get("Content-Type"); c.path == "/health" && ct != "application/json" {
					t.Errorf("/health Content-Type %q", ct)
				}
				if n, _ := requestMetrics(t, h, c.route, c.method, c.code); n != 1 {
					t.Errorf("http_requests_total{route=%q,method=%q,code=%q} = %v, want 1", c.route, c.method, c.code, n)
				}
			}
			if _, obs := requestMetrics(t, h, "/health", "", ""); obs != 2 {
				t.Errorf("duration observations of /health = %d, want 2", obs)
			}
			if _, obs := requestMetrics(t, h, "/fast", "", ""); obs != 1 {
				t.Errorf("duration observations of /fast = %d, want 1", obs)
			}
		})
	}
}

// TestConditionCacheOnlyWhenUsed: a configuration that can evaluate no
// condition gets no condition result cache.
func TestConditionCacheOnlyWhenUsed(t *testing.T) {
	route := "routes:\n  - path: /x\n    handler: {respond: {body: x}}\n"
	for _, tt := range []struct {
		name, yaml string
		want       bool
	}{
		{"hello", route, false},
		{"named condition", "conditions:\n  get: {method: [GET]}\n" + route, true},
		{"plugin", "plugins:\n  z: {type: compression}\n" + route, true},
		{"route when", "plugins:\n  z: {type: compression}\nroutes:\n  - path: /x\n    middleware: [{use: z, when: 'request.method == \"GET\"'}]\n    handler: {respond: {body: x}}\n", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHost(t, tt.yaml)
			if got := h.Snapshot().condCache != nil; got != tt.want {
				t.Errorf("condition cache made: %v, want %v", got, tt.want)
			}
		})
	}
}
