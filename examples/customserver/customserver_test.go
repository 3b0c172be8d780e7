package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/switchyard/switchyard/core"
	"github.com/switchyard/switchyard/core/admin"
	"github.com/switchyard/switchyard/internal/wait"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// server is a customserver process started by a test.
type server struct {
	cmd    *exec.Cmd
	addr   string
	mu     sync.Mutex
	log    bytes.Buffer  // everything the process wrote to stderr
	exited chan struct{} // closed once the process has exited; err is then set
	err    error
}

func (s *server) logText() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.String()
}

// waitLog waits until the log matches re, and returns the first match's
// submatches.
func (s *server) waitLog(t *testing.T, re *regexp.Regexp) []string {
	t.Helper()
	var m []string
	if !wait.Check(30*time.Second, func() bool { m = re.FindStringSubmatch(s.logText()); return m != nil }) {
		t.Fatalf("the server never logged %v; its log:\n%s", re, s.logText())
	}
	return m
}

// buildBinary builds examples/customserver with go build, as the docs do.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "customserver")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

var listening = regexp.MustCompile(`listening  http://(127\.0\.0\.1:\d+)`)

func start(t *testing.T, bin, config string) *server {
	t.Helper()
	s := &server{cmd: exec.Command(bin, "-config", config, "-addr", "127.0.0.1:0"), exited: make(chan struct{})}
	startCmd(t, s)
	s.addr = s.waitLog(t, listening)[1]
	return s
}

// startCmd starts s.cmd, copying its stderr into s.log.
func startCmd(t *testing.T, s *server) {
	t.Helper()
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			s.mu.Lock()
			s.log.WriteString(sc.Text() + "\n")
			s.mu.Unlock()
		}
	}()
	go func() {
		<-copied // Wait closes the pipe: read it to the end first
		s.err = s.cmd.Wait()
		close(s.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-s.exited:
		default:
			_ = s.cmd.Process.Kill()
			<-s.exited
		}
	})
}

// stop sends SIGINT and waits for a clean exit.
func (s *server) stop(t *testing.T) {
	t.Helper()
	if err := s.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.exited:
		if s.err != nil {
			t.Fatalf("the server exited with %v; its log:\n%s", s.err, s.logText())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the server did not shut down within 30s of SIGINT")
	}
}

// writeConfig replaces the config file the way an editor's save does: a
// new file renamed over the old one.
func writeConfig(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

type response struct {
	code   int
	header http.Header
	body   string
}

func get(t *testing.T, client *http.Client, url string, header map[string]string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r io.Reader = resp.Body
	if resp.Header.Get("Content-Encoding") == "gzip" {
		if r, err = gzip.NewReader(resp.Body); err != nil {
			t.Fatal(err)
		}
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return response{resp.StatusCode, resp.Header, string(b)}
}

func version(t *testing.T, client *http.Client, base string) string {
	t.Helper()
	var h struct {
		Status        string `json:"status"`
		ConfigVersion string `json:"config_version"`
	}
	r := get(t, client, base+"/health", nil)
	if err := json.Unmarshal([]byte(r.body), &h); err != nil || r.code != 200 || h.ConfigVersion == "" {
		t.Fatalf("/health: %d %q (%v)", r.code, r.body, err)
	}
	return h.ConfigVersion
}

// TestCustomServer does what docs/getting-started.md and docs/plugins.md
// tell a user to do with examples/customserver: build it with go build,
// run it on the example config (here with a quota of 2 a day), use both
// example plugins, edit the config and see the new version and the new
// behaviour, see a bad edit rejected while the old config keeps serving,
// and stop it with Ctrl-C.
func TestCustomServer(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a binary")
	}
	example, err := os.ReadFile("config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	first := strings.Replace(string(example), "limit: 5", "limit: 2", 1)
	if first == string(example) {
		t.Fatal("config.yaml has no `limit: 5` to edit")
	}
	dir := t.TempDir()
	config := filepath.Join(dir, "config.yaml")
	writeConfig(t, config, first)

	srv := start(t, buildBinary(t), config)
	tr := &http.Transport{DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	base := "http://" + srv.addr
	v1 := version(t, client, base)

	// requestid: the handler sees the ID the response carries.
	hello := get(t, client, base+"/hello", nil)
	var body struct {
		RequestID string `json:"request_id"`
	}
	if err := json.Unmarshal([]byte(hello.body), &body); err != nil || hello.code != 200 {
		t.Fatalf("/hello: %d %q", hello.code, hello.body)
	}
	if id := hello.header.Get("X-Request-Id"); id == "" || id != body.RequestID {
		t.Fatalf("X-Request-Id %q, handler saw %q", id, body.RequestID)
	}

	// quota: two requests a day for key k1, then 429; compression on top.
	key := map[string]string{"X-Api-Key": "k1", "Accept-Encoding": "gzip"}
	for i, want := range []int{200, 200, 429} {
		r := get(t, client, base+"/api/items", key)
		if r.code != want {
			t.Fatalf("request %d for k1: %d, want %d: %s", i+1, r.code, want, r.body)
		}
		if want == 200 && (r.header.Get("Content-Encoding") != "gzip" || !strings.Contains(r.body, `"item 100"`)) {
			t.Fatalf("request %d: Content-Encoding %q, body %.80q", i+1, r.header.Get("Content-Encoding"), r.body)
		}
	}

	// Edit: raise the limit to 5 and send the ID in another header.
	second := strings.Replace(first, "limit: 2", "limit: 5", 1)
	second = strings.Replace(second, "header: X-Request-Id", "header: X-Trace-Id", 1)
	writeConfig(t, config, second)
	v2 := waitVersion(t, client, base, v1)
	srv.waitLog(t, regexp.MustCompile(`version=`+v2)) // the reload's log line

	// The counts carried over: k1 has used 2 of 5 today.
	r := get(t, client, base+"/api/items", key)
	if r.code != 200 || r.header.Get("X-Quota-Remaining") != "2" {
		t.Fatalf("after raising the limit: %d, remaining %q, want 200 and 2", r.code, r.header.Get("X-Quota-Remaining"))
	}
	if r.header.Get("X-Trace-Id") == "" || r.header.Get("X-Request-Id") != "" {
		t.Fatalf("after renaming the header: X-Trace-Id %q, X-Request-Id %q", r.header.Get("X-Trace-Id"), r.header.Get("X-Request-Id"))
	}

	// A bad edit is rejected with the key; the last good config keeps serving.
	writeConfig(t, config, strings.Replace(second, "limit: 5", "limit: 0", 1))
	srv.waitLog(t, regexp.MustCompile(`plugins\.apiquota\.limit.*must be > 0`))
	if v := version(t, client, base); v != v2 {
		t.Fatalf("a rejected edit changed the version to %s", v)
	}
	if r := get(t, client, base+"/api/items", key); r.code != 200 || r.header.Get("X-Quota-Remaining") != "1" {
		t.Fatalf("after a rejected edit: %d, remaining %q", r.code, r.header.Get("X-Quota-Remaining"))
	}

	srv.stop(t)
}

// waitVersion polls /health until the config version differs from old.
func waitVersion(t *testing.T, client *http.Client, base, old string) string {
	t.Helper()
	var v string
	wait.Within(t, 30*time.Second, "/health to report a version other than "+old+" after the edit", func() bool {
		v = version(t, client, base)
		return v != old
	})
	return v
}

// The example config loads as the server loads it: every plugin built,
// the example plugins among them.
func TestExampleConfigLoads(t *testing.T) {
	h := core.New(core.Options{Logger: slog.New(slog.DiscardHandler), Admin: admin.Handler})
	defer h.Close()
	registerHandlers(h)
	if err := h.LoadFile("config.yaml"); err != nil {
		t.Fatal(err)
	}
	types := map[string]bool{}
	for _, info := range h.Plugins().Instances() {
		types[info.Type] = true
	}
	for _, want := range []string{"requestid", "quota", "compression", "caching", "ratelimit"} {
		if !types[want] {
			t.Errorf("config.yaml has no %s instance (has %v)", want, types)
		}
	}
}
