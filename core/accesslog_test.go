package core

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/switchyard/switchyard/internal/wait"
)

func accessLogYAML(format, output string) string {
	return fmt.Sprintf(`
server:
  max_body_bytes: 10
  access_log: {enabled: true, format: %s, output: %q, skip_paths: [/skipped, /quiet/*]}
plugins:
  rl:    {type: ratelimit, rate: 1, per: 1m, key: ip}
  boom:  {type: count, tag: boom, panic: true}
routes:
  - path: /hello
    methods: [GET]
    handler: {respond: {status: 200, body: hello}}
  - path: /items/{id}
    methods: [POST]
    handler: {respond: {status: 201, body: made}}
  - path: /limited
    middleware: [{use: rl}]
    handler: {respond: {status: 200, body: ok}}
  - path: /panic
    middleware: [{use: boom}]
    handler: {respond: {status: 200, body: never}}
  - path: /skipped
    handler: {respond: {status: 200, body: skipped}}
  - path: /quiet/{x}
    handler: {respond: {status: 200, body: quiet}}
`, format, output)
}

// readLines returns the lines of path.
func readLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	s := strings.TrimSuffix(string(b), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// The access log has exactly one line per request, with its fields, in
// every format, for answers from the handler, the router (404, 405), the
// host (413), a plugin (429) and a panic the host caught (500).
func TestAccessLogOneLinePerRequest(t *testing.T) {
	requests := []struct {
		method, path, body string
		status             int
		route              string
		bytes              int
	}{
		{"GET", "/hello", "", 200, "/hello", 5},
		{"GET", "/nope", "", 404, "unmatched", -1},
		{"GET", "/items/7", "", 405, "unmatched", -1},
		{"POST", "/items/7", "far more than ten bytes", 413, "/items/{id}", -1},
		{"GET", "/limited", "", 200, "/limited", 2},
		{"GET", "/limited", "", 429, "/limited", -1},
		{"GET", "/panic", "", 500, "/panic", -1},
		{"GET", "/skipped", "", 200, "", 0},
		{"GET", "/quiet/x", "", 200, "", 0},
	}
	clf := regexp.MustCompile(`^127\.0\.0\.1 - - \[[^]]+\] "(\S+) (\S+) HTTP/1\.1" (\d{3}) (\d+|-)( "[^"]*" "[^"]*")?( \S+=\S+)*$`)
	for _, format := range []string{"json", "text", "common", "combined"} {
		t.Run(format, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "access.log")
			fh := startFileHost(t, accessLogYAML(format, out))
			var want []int
			for i, rq := range requests {
				req, _ := http.NewRequest(rq.method, fh.base+rq.path, strings.NewReader(rq.body))
				req.Header.Set("User-Agent", "probe/1")
				resp, err := fh.client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != rq.status {
					t.Fatalf("%s %s: status %d, want %d", rq.method, rq.path, resp.StatusCode, rq.status)
				}
				if rq.route != "" {
					want = append(want, i)
				}
			}
			lines := readLines(t, out)
			if len(lines) != len(want) {
				t.Fatalf("%d lines for %d logged requests:\n%s", len(lines), len(want), strings.Join(lines, "\n"))
			}
			for n, i := range want {
				rq, line := requests[i], lines[n]
				switch format {
				case "json":
					var e struct {
						Time, ClientIP, Method, Path, Proto, Route string
						Status, Bytes                              int
						DurationMS                                 *float64 `json:"duration_ms"`
					}
					if err := json.Unmarshal([]byte(line), &e); err != nil {
						t.Fatalf("line %q: %v", line, err)
					}
					if e.Method != rq.method || e.Path != rq.path || e.Status != rq.status || e.Route != rq.route ||
						e.Proto != "HTTP/1.1" || e.Time == "" || e.DurationMS == nil ||
						(rq.bytes >= 0 && e.Bytes != rq.bytes) {
						t.Errorf("line %q does not describe %+v", line, rq)
					}
					var raw map[string]any
					_ = json.Unmarshal([]byte(line), &raw)
					if raw["client_ip"] != "127.0.0.1" {
						t.Errorf("line %q: client_ip", line)
					}
				case "text":
					for _, kv := range []string{"method=" + rq.method, "path=" + rq.path, fmt.Sprintf("status=%d", rq.status),
						"route=" + rq.route, "client_ip=127.0.0.1", "proto=HTTP/1.1", "time=", "duration="} {
						if !strings.Contains(line, kv) {
							t.Errorf("line %q lacks %s", line, kv)
						}
					}
				default:
					m := clf.FindStringSubmatch(line)
					if m == nil || m[1] != rq.method || m[2] != rq.path || m[3] != fmt.Sprint(rq.status) {
						t.Errorf("line %q does not describe %+v", line, rq)
						continue
					}
					if (format == "combined") != (m[5] != "") || (format == "combined" && !strings.Contains(m[5], `"probe/1"`)) {
						t.Errorf("line %q: referer and user agent in %s", line, format)
					}
				}
			}
		})
	}
}

// The log file is reopened after it is moved and SIGUSR1 is sent; no line
// is lost: the lines before the signal are in the moved file, the others
// in the new one.
func TestAccessLogReopen(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "access.log")
	fh := startFileHost(t, accessLogYAML("common", out))
	get := func(n int) {
		for range n {
			if code, _, _, err := fh.get("/hello"); err != nil || code != 200 {
				t.Fatalf("GET /hello: %d %v", code, err)
			}
		}
	}
	get(5)
	moved := out + ".1"
	if err := os.Rename(out, moved); err != nil {
		t.Fatal(err)
	}
	get(3) // written to the moved file, still open
	if err := syscall.Kill(os.Getpid(), syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	wait.For(t, "the log file reopened", func() bool {
		_, err := os.Stat(out)
		return err == nil
	})
	get(4)
	before, after := readLines(t, moved), readLines(t, out)
	// The periodic check may reopen the moved file before the signal does:
	// the three lines between may be in either file.
	if len(before)+len(after) != 12 || len(before) < 5 || len(after) < 4 {
		t.Fatalf("%d lines in the moved file and %d in the new one, want 12 in all, at least 5 and 4", len(before), len(after))
	}
	// Each line is whole.
	for _, l := range append(before, after...) {
		if !strings.Contains(l, `"GET /hello HTTP/1.1" 200 5`) {
			t.Errorf("line %q", l)
		}
	}
}
