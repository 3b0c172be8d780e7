package config_test

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchyard/switchyard/core"
	"github.com/switchyard/switchyard/core/config"
	_ "github.com/switchyard/switchyard/plugins/caching"
	_ "github.com/switchyard/switchyard/plugins/compression"
	_ "github.com/switchyard/switchyard/plugins/ratelimit"
)

// TestMarshalEffectiveDemo: the devserver's demo config prints with the
// plugin defaults filled in, `type` first, respond status 200, and
// print, load, print gives the same bytes.
func TestMarshalEffectiveDemo(t *testing.T) {
	src := filepath.Join("..", "..", "cmd", "devserver", "default.yaml")
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	first := printEffective(t, "default.yaml", data)
	text := string(first)
	for _, want := range []string{
		"    type: compression\n    level: ",
		"    min_size: ",
		"    type: ratelimit\n",
		"    burst: ",
		"    key: ",
		"status: 200",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the effective config lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "status: 0") {
		t.Errorf("a respond handler prints status 0")
	}
	second := printEffective(t, "printed.yaml", first)
	if string(first) != string(second) {
		t.Fatalf("print, load, print differs:\n--- first\n%s\n--- second\n%s", first, second)
	}
}

// TestMarshalEffectiveRedactsSecrets: a tagged option is printed as
// REDACTED, keeping its shape, and the output still round-trips.
func TestMarshalEffectiveRedactsSecrets(t *testing.T) {
	const cfg = `
plugins:
  perip:
    type: ratelimit
    rate: 10
    store: redis
    redis: {addr: "127.0.0.1:6379", password: "hunter22-secret"}
routes:
  - path: /hello
    handler: {respond: {body: hi}}
`
	first := printEffective(t, "secret.yaml", []byte(cfg))
	if strings.Contains(string(first), "hunter22-secret") {
		t.Fatalf("the password is printed:\n%s", first)
	}
	if !strings.Contains(string(first), "password: REDACTED") {
		t.Errorf("no REDACTED password:\n%s", first)
	}
	if second := printEffective(t, "printed.yaml", first); string(first) != string(second) {
		t.Fatalf("print, load, print differs:\n%s\n---\n%s", first, second)
	}
}

func printEffective(t *testing.T, name string, data []byte) []byte {
	t.Helper()
	l, err := config.LoadBytes(name, data, t.TempDir(), nil)
	if err != nil {
		t.Fatalf("load %s: %v", name, err)
	}
	out, err := l.MarshalEffective()
	if err != nil {
		t.Fatalf("MarshalEffective: %v", err)
	}
	return out
}

// TestOptionExpressionErrorsHaveTheirLine: a CEL error in a plugin option
// (the ratelimit key) names the file, the option's line and its key path.
func TestOptionExpressionErrorsHaveTheirLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keyerr.yaml")
	const cfg = `plugins:
  perip:
    type: ratelimit
    rate: 10
    key: 'request.hedaer["x"]'
routes:
  - path: /hello
    handler: {respond: {body: hi}}
    middleware: [{use: perip}]
`
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	h := core.New(core.Options{Logger: slog.New(slog.DiscardHandler)})
	defer h.Close()
	err := h.LoadFile(path)
	if err == nil || !strings.Contains(err.Error(), path+":5: plugins.perip.key: column 8: undefined field 'hedaer'") {
		t.Fatalf("err = %v, want it at %s:5 naming plugins.perip.key", err, path)
	}
}

// TestStructuralErrorsDoNotHideLaterStages: a load with a structural error
// also reports the plugin option errors and the condition errors, each with
// file, line and key, sorted by line.
func TestStructuralErrorsDoNotHideLaterStages(t *testing.T) {
	const cfg = `server:
  read_timeout: fast
plugins:
  perip:
    type: ratelimit
    rate: -5
  gzip:
    type: compression
    levle: 3
routes:
  - path: /hello
    handler: {respond: {body: hi}}
    middleware:
      - use: gzip
        when: 'request.methd == "GET"'
      - use: perip
`
	_, err := config.LoadBytes("four.yaml", []byte(cfg), t.TempDir(), nil)
	var es config.Errors
	if !errors.As(err, &es) {
		t.Fatalf("err = %v", err)
	}
	want := []string{
		"four.yaml:2: server.read_timeout: invalid duration",
		"four.yaml:6: plugins.perip.rate: must be > 0",
		"four.yaml:9: plugins.gzip.levle: unknown key",
		"four.yaml:15: routes[0].middleware[0].when: column 8: undefined field 'methd'",
	}
	if len(es) != len(want) {
		t.Fatalf("got %d errors, want %d:\n%v", len(es), len(want), err)
	}
	for i, w := range want {
		if !strings.HasPrefix(es[i].Error(), w) {
			t.Errorf("error %d = %q, want it to start with %q", i, es[i], w)
		}
	}
}

func TestYAMLTabErrorLine(t *testing.T) {
	for src, want := range map[string]string{
		"a:\n  b: 1\n\tc: 2\n": "t.yaml:3: syntax error: found a tab character",
		"a: 1\n\tb: 2\n":       "t.yaml:2: syntax error: found a tab character",
		"server:\n  addr: x\nroutes:\n  - path: /h\n\thandler: 2\n": "t.yaml:5: syntax error: found a tab character",
	} {
		_, err := config.LoadBytes("t.yaml", []byte(src), t.TempDir(), nil)
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%q: err = %v, want %q", src, err, want)
		}
	}
}
