package caching_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/switchyard/switchyard/core"
	"github.com/switchyard/switchyard/core/admin"
)

// docBlocks returns the fenced blocks of docs/plugins/caching.md in lang.
func docBlocks(t *testing.T, lang string) []string {
	t.Helper()
	b, err := os.ReadFile("../../docs/plugins/caching.md")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile("(?s)```" + lang + "\n(.*?)```")
	var out []string
	for _, m := range re.FindAllStringSubmatch(string(b), -1) {
		out = append(out, m[1])
	}
	return out
}

// Every YAML example of the plugin page is a configuration the host
// accepts, and the curl examples do what their comments say against a
// host serving the page's first example.
func TestDocsExamples(t *testing.T) {
	yamls := docBlocks(t, "yaml")
	if len(yamls) < 2 {
		t.Fatalf("found %d YAML examples", len(yamls))
	}
	checker := core.New(core.Options{Logger: slog.New(slog.DiscardHandler)})
	t.Cleanup(checker.Close)
	for i, y := range yamls {
		if _, err := checker.Check(fmt.Sprintf("example%d.yaml", i+1), []byte(y), t.TempDir()); err != nil {
			t.Errorf("YAML example %d is refused: %v\n%s", i+1, err, y)
		}
	}

	// The first example, serving: its proxy goes to a real origin.
	calls := 0
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("ETag", `"doc"`)
		fmt.Fprint(w, body4096)
	}))
	defer origin.Close()
	cfg := strings.ReplaceAll(yamls[0], "http://127.0.0.1:3000", origin.URL)
	cfg = strings.Replace(cfg, "\nroutes:", "\nserver:\n  admin: {enabled: true, allow: [127.0.0.0/8]}\nroutes:", 1)
	h := core.New(core.Options{Logger: slog.New(slog.DiscardHandler), Admin: admin.Handler})
	if err := h.LoadBytes("first.yaml", []byte(cfg), t.TempDir()); err != nil {
		t.Fatalf("the first example with an admin section: %v", err)
	}
	if err := h.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Shutdown(context.Background()) })
	base := "http://" + h.Addr().String()
	send := func(method, path string, hdr ...string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body) // as curl does: a client that hangs up stops the store
		res.Body.Close()
		return res
	}
	t.Cleanup(http.DefaultClient.CloseIdleConnections)

	// The curl examples: "curl -r A-B URL # STATUS...".
	curlRange := regexp.MustCompile(`curl -r ([0-9-]+) http://127\.0\.0\.1:8080(\S+)\s+# (\d{3})(?:, Content-Range: (.*))?`)
	ran := 0
	for _, block := range docBlocks(t, "sh") {
		for _, m := range curlRange.FindAllStringSubmatch(block, -1) {
			ran++
			send("GET", m[2]) // stored first
			res := send("GET", m[2], "Range", "bytes="+m[1])
			if fmt.Sprint(res.StatusCode) != m[3] || (m[4] != "" && res.Header.Get("Content-Range") != strings.TrimSpace(m[4])) {
				t.Errorf("curl -r %s: %d Content-Range %q, the page says %s %s", m[1], res.StatusCode, res.Header.Get("Content-Range"), m[3], m[4])
			}
		}
	}
	if ran != 2 || calls != 1 {
		t.Errorf("ran %d curl -r examples with %d origin calls, want 2 and 1", ran, calls)
	}

	// The wiring note: a POST through the documented route invalidates.
	if res := send("POST", "/api/report"); res.Header.Get("X-Cache") != "BYPASS" {
		t.Errorf("POST: X-Cache %q", res.Header.Get("X-Cache"))
	}
	if res := send("GET", "/api/report"); res.Header.Get("X-Cache") != "MISS" {
		t.Errorf("GET after POST: X-Cache %q, want MISS", res.Header.Get("X-Cache"))
	}

	// The purge examples: every body is accepted by the admin API.
	purgeBody := regexp.MustCompile(`curl -X POST http://127\.0\.0\.1:8080/_switchyard/api/cache/purge\s*\\?\s*-d '([^']*)'`)
	bodies := 0
	for _, block := range docBlocks(t, "sh") {
		for _, m := range purgeBody.FindAllStringSubmatch(block, -1) {
			bodies++
			res, err := http.Post(base+"/_switchyard/api/cache/purge", "application/json", strings.NewReader(m[1]))
			if err != nil {
				t.Fatal(err)
			}
			var v struct {
				Failed map[string]string `json:"failed"`
			}
			err = json.NewDecoder(res.Body).Decode(&v)
			res.Body.Close()
			// The example's sharedcache has no Redis behind it here: its
			// tier may fail, and must then be named.
			if err != nil || (res.StatusCode != 200 && (res.StatusCode != 502 || len(v.Failed) != 1 || !strings.HasPrefix(v.Failed["sharedcache"], "redis tier not purged"))) {
				t.Errorf("purge example %s: status %d, failed %v, err %v", m[1], res.StatusCode, v.Failed, err)
			}
		}
	}
	if bodies != 3 {
		t.Errorf("found %d purge examples, want 3", bodies)
	}
}
