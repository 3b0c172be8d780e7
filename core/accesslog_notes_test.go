package core

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// The outcomes the plugins report with registry.Note appear on the access
// log line of their request, in every format: the cache's MISS then HIT,
// the rate limiter's allowed then refused, the compression's encoding.
func TestAccessLogNotes(t *testing.T) {
	requests := []struct {
		path, gzip string
		status     int
		key, value string // "": the line has no note
	}{
		{"/cached", "", 200, "cache", "MISS"},
		{"/cached", "", 200, "cache", "HIT"},
		{"/limited", "", 200, "ratelimit", "allowed"},
		{"/limited", "", 429, "ratelimit", "refused"},
		{"/gz", "gzip", 200, "encoding", "gzip"},
		{"/gz", "", 200, "", ""},
		{"/hello", "", 200, "", ""},
	}
	for _, format := range []string{"json", "text", "common", "combined"} {
		t.Run(format, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "access.log")
			fh := startFileHost(t, fmt.Sprintf(`
server:
  access_log: {enabled: true, format: %s, output: %q}
plugins:
  gz:    {type: compression, min_size: 0}
  cache: {type: caching, max_size: 1MB}
  rl:    {type: ratelimit, rate: 1, per: 1m, key: ip}
routes:
  - path: /hello
    handler: {respond: {status: 200, body: hello}}
  - path: /gz
    middleware: [{use: gz}]
    handler: {respond: {status: 200, body: '{"a":"a body long enough to be worth compressing, compressing, compressing"}', headers: {Content-Type: application/json}}}
  - path: /cached
    middleware: [{use: cache}]
    handler: {respond: {status: 200, body: cached, headers: {Cache-Control: "public, max-age=60"}}}
  - path: /limited
    middleware: [{use: rl}]
    handler: {respond: {status: 200, body: ok}}
`, format, out))
			c := &http.Client{Transport: &http.Transport{DisableCompression: true}}
			defer c.CloseIdleConnections()
			for _, rq := range requests {
				req, _ := http.NewRequest("GET", fh.base+rq.path, nil)
				if rq.gzip != "" {
					req.Header.Set("Accept-Encoding", rq.gzip)
				}
				resp, err := c.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != rq.status {
					t.Fatalf("GET %s: status %d, want %d", rq.path, resp.StatusCode, rq.status)
				}
			}
			lines := readLines(t, out)
			if len(lines) != len(requests) {
				t.Fatalf("%d lines for %d requests:\n%s", len(lines), len(requests), strings.Join(lines, "\n"))
			}
			for i, rq := range requests {
				line := lines[i]
				if format == "json" {
					var raw map[string]any
					if err := json.Unmarshal([]byte(line), &raw); err != nil {
						t.Fatalf("line %q: %v", line, err)
					}
					for _, k := range []string{"cache", "ratelimit", "encoding"} {
						want := ""
						if k == rq.key {
							want = rq.value
						}
						if got, _ := raw[k].(string); got != want {
							t.Errorf("GET %s: line %q: %s=%q, want %q", rq.path, line, k, got, want)
						}
					}
					continue
				}
				for _, k := range []string{"cache", "ratelimit", "encoding"} {
					has := strings.Contains(line, " "+k+"=")
					if k == rq.key {
						if !strings.HasSuffix(line, " "+k+"="+rq.value) {
							t.Errorf("GET %s: line %q does not end with %s=%s", rq.path, line, k, rq.value)
						}
					} else if has {
						t.Errorf("GET %s: line %q has a %s note", rq.path, line, k)
					}
				}
			}
		})
	}
}
