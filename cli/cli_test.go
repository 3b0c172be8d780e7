package cli_test

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/switchyard/switchyard/cli"
	"github.com/switchyard/switchyard/internal/wait"
	_ "github.com/switchyard/switchyard/plugins/compression"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// run runs cli.Main with args and returns the exit code and outputs.
func run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb wait.Buffer
	code := cli.Main(cli.Options{Name: "app", Description: "a test server.", Args: args,
		Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Context: context.Background()})
	return code, out.String(), errb.String()
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const okConfig = "routes:\n  - path: /hello\n    handler: {respond: {body: hi}}\n"

func TestFlags(t *testing.T) {
	good := writeFile(t, t.TempDir(), "ok.yaml", okConfig)
	tests := []struct {
		name       string
		args       []string
		code       int
		stdout     string // a regexp stdout must match
		stderr     string // a regexp stderr must match
		stdoutNone bool
	}{
		{"help exits 0 with flags, examples and signals", []string{"-help"}, 0,
			`(?s)app: a test server\..*-check.*-print-config.*Examples:.*Signals:\n  SIGHUP .*SIGTERM`, `^$`, false},
		{"-h too", []string{"-h"}, 0, `Usage:`, `^$`, false},
		{"version", []string{"-version"}, 0, `^app \S+ \S+.*go1\.\d+`, `^$`, false},
		{"port over 65535", []string{"-check", "-addr", "127.0.0.1:99999", "-config", good}, 2,
			`^$`, `^app: -addr 127.0.0.1:99999: port "99999": want a number from 0 to 65535\n`, true},
		{"address without port", []string{"-addr", "localhost", "-config", good}, 2, `^$`, `want HOST:PORT`, true},
		{"missing config", []string{"-check", "-config", "/nonexistent/x.yaml"}, 1,
			`^$`, `^app: -config /nonexistent/x.yaml: no such file or directory\n$`, true},
		{"no config", []string{"-check"}, 1, `^$`, `no configuration: give -config FILE`, true},
		{"unknown flag", []string{"-bogus"}, 2, `^$`, `flag provided but not defined: -bogus\nRun 'app -help' for usage.`, true},
		{"diff needs check", []string{"-diff", "-config", good}, 2, `^$`, `-diff needs -check`, true},
		{"stray argument", []string{"-check", good}, 2, `^$`, `unexpected argument`, true},
		{"bad log level", []string{"-check", "-log-level", "loud", "-config", good}, 2, `^$`, `-log-level "loud"`, true},
		{"unknown scheme", []string{"-check", "-config", "etcd://127.0.0.1:2379/x"}, 1, `^$`, `no config source for etcd://`, true},
		{"check", []string{"-check", "-config", good}, 0, `ok.yaml: OK \(version [0-9a-f]{12}\)\n$`, `^$`, false},
		{"check and print do both", []string{"-check", "-print-config", "-config", good}, 0,
			`(?s)^server:.*routes:`, `ok.yaml: OK \(version [0-9a-f]{12}\)\n$`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := run(t, tt.args...)
			if code != tt.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, stdout, stderr)
			}
			if !regexp.MustCompile(tt.stdout).MatchString(stdout) {
				t.Errorf("stdout does not match %q:\n%s", tt.stdout, stdout)
			}
			if !regexp.MustCompile(tt.stderr).MatchString(stderr) {
				t.Errorf("stderr does not match %q:\n%s", tt.stderr, stderr)
			}
		})
	}
}

// TestCheckDiff: -check -diff prints what a reload to the candidate
// would change on the running server, which goes on serving its own
// config.
func TestCheckDiff(t *testing.T) {
	dir := t.TempDir()
	serving := writeFile(t, dir, "serving.yaml", `server:
  admin: {enabled: true}
reload: {watch: false}
plugins:
  gz: {type: compression, level: 3}
  keep: {type: compression}
  old: {type: compression}
routes:
  - path: /a
    middleware: [{use: gz}, {use: keep}, {use: old}]
    handler: {respond: {body: a}}
  - path: /gone
    handler: {respond: {body: gone}}
`)
	candidate := writeFile(t, dir, "candidate.yaml", `server:
  admin: {enabled: true}
  read_timeout: 9s
reload: {watch: false}
plugins:
  gz: {type: compression, level: 5}
  keep: {type: compression}
routes:
  - path: /a
    middleware: [{use: gz}, {use: keep}]
    handler: {respond: {body: a}}
  - path: /new
    handler: {respond: {body: new}}
`)
	ctx, cancel := context.WithCancel(context.Background())
	var serr wait.Buffer
	done := make(chan int, 1)
	go func() {
		done <- cli.Main(cli.Options{Name: "app", Args: []string{"-config", serving, "-addr", "127.0.0.1:0"},
			Stdout: &serr, Stderr: &serr, Context: ctx})
	}()
	defer func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("the server exited %d:\n%s", code, serr.String())
		}
	}()
	listening := regexp.MustCompile(`listening  http://(127\.0\.0\.1:\d+)`)
	wait.For(t, "the server listens", func() bool { return listening.MatchString(serr.String()) })
	addr := listening.FindStringSubmatch(serr.String())[1]

	code, stdout, stderr := run(t, "-check", "-diff", "-addr", addr, "-config", candidate)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	for _, want := range []string{
		"candidate.yaml: OK (version ",
		"compared with the server at http://" + addr + "/_switchyard: version ",
		"  + route /new\n", "  - route /gone\n", "  ~ route /a\n",
		"  ~ plugin gz\n", "  - plugin old\n", "  = plugin keep\n",
		"  ~ server.read_timeout\n",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("-diff output lacks %q:\n%s", want, stdout)
		}
	}
	// The same file again: nothing would change.
	code, stdout, _ = run(t, "-check", "-diff", "-addr", addr, "-config", serving)
	if code != 0 || !strings.Contains(stdout, "no changes") {
		t.Errorf("diff with the serving file: exit %d\n%s", code, stdout)
	}
	// No server there: one clear line, exit 1.
	code, _, stderr = run(t, "-check", "-diff", "-addr", "127.0.0.1:1", "-config", serving)
	if code != 1 || !strings.Contains(stderr, "no running server answers at http://127.0.0.1:1/_switchyard") {
		t.Errorf("no server: exit %d\n%s", code, stderr)
	}
}
