package cli_test

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/switchyard/switchyard/core"
	"github.com/switchyard/switchyard/core/admin"
	"github.com/switchyard/switchyard/core/config"
	"github.com/switchyard/switchyard/hotreload"
)

// TestCheckRejectsWhatReloadRejects: for each invalid config, -check and a
// live reload of a serving host reject it with the same errors.
func TestCheckRejectsWhatReloadRejects(t *testing.T) {
	invalid := []struct{ name, yaml string }{
		{"unknown top-level key", "routez: []\n"},
		{"unknown plugin type", "plugins:\n  k: {type: apikey}\nroutes:\n  - path: /a\n    middleware: [{use: k}]\n    handler: {respond: {body: a}}\n"},
		{"plugin key typo", "plugins:\n  gz: {type: compression, levle: 3}\n"},
		{"plugin value out of range", "plugins:\n  gz: {type: compression, level: 99}\n"},
		{"unknown instance in a chain", "routes:\n  - path: /a\n    middleware: [{use: nope}]\n    handler: {respond: {body: a}}\n"},
		{"bad condition", "routes:\n  - path: /a\n    middleware: [{use: gz, when: 'request.path ==='}]\n    handler: {respond: {body: a}}\nplugins:\n  gz: {type: compression}\n"},
		{"bad status", "routes:\n  - path: /a\n    handler: {respond: {status: 999}}\n"},
		{"unknown Go handler", "routes:\n  - path: /a\n    handler: app.missing\n"},
		{"bad listen port", "server: {addr: \"127.0.0.1:99999\"}\n"},
		{"bad duration", "server: {read_timeout: soon}\n"},
		{"not YAML", "routes: [\n"},
	}
	for _, tt := range invalid {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := writeFile(t, dir, "c.yaml", okConfig)
			h := core.New(core.Options{Logger: slog.New(slog.DiscardHandler), Admin: admin.Handler})
			defer h.Close()
			if err := h.LoadFile(path); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(tt.yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			res := h.Reload(hotreload.TriggerAdmin)
			code, _, stderr := run(t, "-check", "-config", filepath.Join(dir, "c.yaml"))
			if res.Success || code != 1 {
				t.Fatalf("reload success %v, -check exit %d: both must reject\n%s", res.Success, code, stderr)
			}
			var errs config.Errors
			if !errors.As(res.Err, &errs) {
				t.Fatalf("reload error %v is not config.Errors", res.Err)
			}
			var want []string
			for _, e := range errs {
				want = append(want, e.Error())
			}
			got := strings.Split(strings.TrimSpace(stderr), "\n")
			got = got[:len(got)-1] // "FILE: invalid"
			if !slices.Equal(got, want) {
				t.Errorf("-check says\n%s\na reload says\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}
