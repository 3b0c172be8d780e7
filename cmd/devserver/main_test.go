package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/wait"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/dgraph-io/ristretto/v2.(*defaultPolicy[...]).processItems"))
}

func writeConfig(t *testing.T, dir, content string) string {
	t.Helper()
	path := filepath.Join(dir, "switchyard.yaml")
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// runSync runs the command to completion and returns its exit code and
// output.
func runSync(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

// lineOf returns the 1-based line of the first line of content containing s.
func lineOf(t *testing.T, content, s string) int {
	t.Helper()
	for i, l := range strings.Split(content, "\n") {
		if strings.Contains(l, s) {
			return i + 1
		}
	}
	t.Fatalf("%q not in the config", s)
	return 0
}

func TestCheckReportsEachError(t *testing.T) {
	tests := []struct {
		name    string
		content string
		at      string // the text on the error's line, for its number
		want    []string
	}{
		{"syntax error", "routes:\n  - path: /a\n    handler: {respond: {body: a}\n", "handler:",
			[]string{"syntax error"}},
		{"unknown top-level key", "routez: []\n", "routez",
			[]string{"routez: unknown key", `did you mean "routes"`}},
		{"unknown plugin key", "plugins:\n  gz:\n    type: compression\n    levle: 3\n", "levle",
			[]string{"plugins.gz.levle: unknown key", `did you mean "level"`}},
		{"wrong type", "plugins:\n  rl:\n    type: ratelimit\n    rate: fast\n", "rate: fast",
			[]string{"plugins.rl.rate:", "int", "string"}},
		{"undefined plugin in a chain", "routes:\n  - path: /a\n    middleware:\n      - use: nope\n    handler: {respond: {body: a}}\n", "use: nope",
			[]string{"routes[0].middleware[0].use:", `"nope"`, "not defined"}},
		{"invalid route regexp", "routes:\n  - path: /a/{id:[0-9}\n    handler: {respond: {body: a}}\n", "path: /a/",
			[]string{"routes[0].path:", "invalid regexp"}},
		{"duplicate plugin in a chain", "plugins:\n  gz: {type: compression}\nmiddleware:\n  - use: gz\nroutes:\n  - path: /a\n    middleware:\n      - use: gz\n    handler: {respond: {body: a}}\n", "      - use: gz",
			[]string{"routes[0].middleware[0].use:", `"gz"`, "already in the global chain"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeConfig(t, t.TempDir(), tt.content)
			code, stdout, stderr := runSync(t, "-check", "-config", path)
			if code != 1 {
				t.Fatalf("exit %d, want 1; stderr:\n%s", code, stderr)
			}
			if stdout != "" {
				t.Errorf("stdout %q, want nothing", stdout)
			}
			want := append([]string{fmt.Sprintf("%s:%d: ", path, lineOf(t, tt.content, tt.at))}, tt.want...)
			for _, w := range want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
			if !strings.HasSuffix(stderr, path+": invalid\n") {
				t.Errorf("stderr does not end with the verdict:\n%s", stderr)
			}
		})
	}
}

func TestCheckValid(t *testing.T) {
	path := writeConfig(t, t.TempDir(), "routes:\n  - path: /hello\n    handler: {respond: {body: hi}}\n")
	code, stdout, stderr := runSync(t, "-check", "-config", path)
	if code != 0 || !regexp.MustCompile(`^`+regexp.QuoteMeta(path)+`: OK \(version [0-9a-f]{12}\)\n$`).MatchString(stdout) {
		t.Errorf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	code, stdout, _ = runSync(t, "-check")
	if code != 0 || !strings.HasPrefix(stdout, "embedded default config: OK") {
		t.Errorf("embedded config: exit %d, stdout %q", code, stdout)
	}
}

// TestPrintConfigRoundTrip: what -print-config prints is a valid config
// that means the same (issue 9, acceptance 5).
func TestPrintConfigRoundTrip(t *testing.T) {
	code, printed, stderr := runSync(t, "-print-config")
	if code != 0 || !strings.Contains(printed, "routes:") || !strings.Contains(printed, "plugins:") {
		t.Fatalf("exit %d, stderr %q, printed:\n%s", code, stderr, printed)
	}
	path := writeConfig(t, t.TempDir(), printed)
	code, stdout, stderr := runSync(t, "-check", "-config", path)
	if code != 0 {
		t.Fatalf("the printed config does not check: exit %d\n%s", code, stderr)
	}
	_, embedded, _ := runSync(t, "-check")
	version := func(s string) string { return regexp.MustCompile(`version ([0-9a-f]+)`).FindStringSubmatch(s)[1] }
	if version(stdout) != version(embedded) {
		t.Errorf("printed config has version %s, the embedded one %s", version(stdout), version(embedded))
	}
	_, again, _ := runSync(t, "-print-config", "-config", path)
	if again != printed {
		t.Errorf("printing the printed config changes it:\n%s\nvs\n%s", again, printed)
	}

	// devserver -print-config | devserver -check -config /dev/stdin (or -).
	for _, name := range []string{"/dev/stdin", "-"} {
		var out, errb bytes.Buffer
		code := run(context.Background(), []string{"-check", "-config", name}, strings.NewReader(printed), &out, &errb)
		if code != 0 || !strings.HasPrefix(out.String(), "config on stdin: OK (version "+version(embedded)+")") {
			t.Errorf("-check -config %s: exit %d, stdout %q, stderr %q", name, code, out.String(), errb.String())
		}
	}
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"-check", "-config", "-"}, strings.NewReader("routez: []\n"), &out, &errb); code != 1 ||
		!strings.Contains(errb.String(), "stdin.yaml:1: routez: unknown key") {
		t.Errorf("bad config on stdin: exit %d, stderr %q", code, errb.String())
	}
}

func TestFlagErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown flag", []string{"-nope"}, "flag provided but not defined"},
		{"bad log format", []string{"-log-format", "xml"}, `-log-format "xml"`},
		{"bad log level", []string{"-log-level", "loud"}, `-log-level "loud"`},
		{"stray argument", []string{"switchyard.yaml"}, "unexpected argument"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runSync(t, tt.args...)
			if code != 2 || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", code, stderr, tt.want)
			}
		})
	}
}

// server is the devserver running on a goroutine.
type server struct {
	stderr *wait.Buffer
	base   string
	cancel context.CancelFunc
	done   chan int
}

var listening = regexp.MustCompile(`listening  (http://\S+)`)

func startServer(t *testing.T, args ...string) *server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &server{stderr: &wait.Buffer{}, cancel: cancel, done: make(chan int, 1)}
	go func() {
		s.done <- run(ctx, append([]string{"-addr", "127.0.0.1:0"}, args...), strings.NewReader(""), io.Discard, s.stderr)
	}()
	t.Cleanup(func() {
		if s.cancel != nil {
			s.stop(t)
		}
	})
	s.base = s.stderr.Match(t, listening)[1]
	return s
}

// stop ends the server as SIGINT would and returns its exit code.
func (s *server) stop(t *testing.T) int {
	t.Helper()
	s.cancel()
	s.cancel = nil
	select {
	case code := <-s.done:
		return code
	case <-time.After(15 * time.Second):
		t.Fatal("the devserver did not shut down")
		return -1
	}
}

func (s *server) get(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, err := http.Get(s.base + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func TestServeEmbeddedConfig(t *testing.T) {
	s := startServer(t, "-log-format", "text")
	banner := s.stderr.String()
	for _, want := range []string{"switchyard devserver", "config     embedded demo config", "version    ", "dashboard  " + s.base + "/_switchyard/"} {
		if !strings.Contains(banner, want) {
			t.Errorf("banner lacks %q:\n%s", want, banner)
		}
	}
	if code, body := s.get(t, "/hello"); code != 200 || body != "Hello, World!" {
		t.Errorf("GET /hello = %d %q", code, body)
	}
	if code, body := s.get(t, "/_switchyard/"); code != 200 || !strings.Contains(body, "/api/slow/{id:int}") {
		t.Errorf("dashboard = %d", code)
	}
	// The index page names the address it was asked on, not a fixed port.
	if code, body := s.get(t, "/"); code != 200 || !strings.Contains(body, "curl -X POST "+s.base+"/login") {
		t.Errorf("GET / = %d, lacks %q:\n%s", code, s.base, body)
	}
	if code, body := s.get(t, "/health"); code != 200 || !strings.Contains(body, `"config_version"`) {
		t.Errorf("GET /health = %d %q", code, body)
	}
	if code := s.stop(t); code != 0 {
		t.Errorf("exit %d\n%s", code, s.stderr)
	}
	if !strings.Contains(s.stderr.String(), `msg="shutting down"`) {
		t.Errorf("no shutdown line:\n%s", s.stderr)
	}
}

// TestServeLogsReloads: a good edit logs one line with the version, the
// duration and what changed; a bad edit logs each error with file:line,
// key and message, and the old config keeps serving.
func TestServeLogsReloads(t *testing.T) {
	const base = "reload: {debounce: 20ms}\nroutes:\n  - path: /hello\n    handler: {respond: {body: hi}}\n"
	path := writeConfig(t, t.TempDir(), base)
	s := startServer(t, "-config", path, "-log-format", "text")
	if !strings.Contains(s.stderr.String(), "config     "+path+" (watching for edits)") {
		t.Errorf("banner:\n%s", s.stderr)
	}

	if err := os.WriteFile(path, []byte(base+"  - path: /new\n    handler: {respond: {body: new}}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	loaded := s.stderr.Match(t, regexp.MustCompile(`level=INFO msg="config loaded" version=([0-9a-f]{12}) trigger=file duration=\S+ changes="routes \+1 -0 ~0, plugins \+0 =0 -0"`))
	if code, body := s.get(t, "/new"); code != 200 || body != "new" {
		t.Errorf("GET /new after the edit = %d %q", code, body)
	}

	bad := base + "  - path: /broken\n    handler: {respond: {body: x, colour: red}}\n"
	if err := os.WriteFile(path, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	rejected := regexp.MustCompile(`level=ERROR msg="config rejected" at=` + regexp.QuoteMeta(path) + fmt.Sprintf(":%d", lineOf(t, bad, "colour")) +
		` key=routes\[1\]\.handler\.respond\.colour err="unknown key`)
	s.stderr.Match(t, rejected)
	if code, body := s.get(t, "/health"); code != 200 || !strings.Contains(body, loaded[1]) {
		t.Errorf("after a bad edit /health = %d %q, want version %s still serving", code, body, loaded[1])
	}
	if code := s.stop(t); code != 0 {
		t.Errorf("exit %d", code)
	}
}

func TestServeInvalidConfig(t *testing.T) {
	path := writeConfig(t, t.TempDir(), "routez: []\n")
	var errb wait.Buffer
	code := run(context.Background(), []string{"-config", path, "-addr", "127.0.0.1:0", "-log-format", "text"}, strings.NewReader(""), io.Discard, &errb)
	if code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	// The errors are printed from the structured error, one per line, not
	// logged twice.
	for _, want := range []string{path + `:1: routez: unknown key`, "the configuration is invalid; nothing is served"} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, errb.String())
		}
	}
	if strings.Contains(errb.String(), "config rejected") {
		t.Errorf("the start-up rejection was logged as well as printed:\n%s", errb.String())
	}
}

// TestServeTLS: -tls makes a local certificate in the user cache directory,
// prints the https URL and the authority's file, and a client trusting that
// file (as curl --cacert does) gets /hello over HTTP/2.
func TestServeTLS(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	t.Setenv("HOME", t.TempDir())
	ctx, cancel := context.WithCancel(context.Background())
	s := &server{stderr: &wait.Buffer{}, cancel: cancel, done: make(chan int, 1)}
	go func() {
		s.done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-tls", "-log-format", "text"}, strings.NewReader(""), io.Discard, s.stderr)
	}()
	t.Cleanup(func() {
		if s.cancel != nil {
			s.stop(t)
		}
	})
	base := s.stderr.Match(t, regexp.MustCompile(`listening  (https://localhost:\d+)`))[1]
	caFile := s.stderr.Match(t, regexp.MustCompile(`ca         (\S+)`))[1]
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		t.Fatal("no certificate in the printed CA file")
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, ForceAttemptHTTP2: true}}
	defer c.CloseIdleConnections()
	resp, err := c.Get(base + "/hello")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "Hello, World!" || resp.ProtoMajor != 2 {
		t.Errorf("GET /hello = %s %d %q", resp.Proto, resp.StatusCode, body)
	}
	if code := s.stop(t); code != 0 {
		t.Errorf("exit %d\n%s", code, s.stderr)
	}
}
