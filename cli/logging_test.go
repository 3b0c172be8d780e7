package cli

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
)

func TestLoggerFormats(t *testing.T) {
	logRejection := func(l *slog.Logger) {
		l.Error("config rejected", "file", "/etc/switchyard.yaml", "line", 7, "key", "plugins.gz.level", "err", "must be 1..11")
		l.Info("config loaded", "version", "abc")
		l.Error("config rejected", "file", "env SWITCHYARD_X", "line", 0, "key", "x", "err", "bad")
	}
	tests := []struct {
		format string
		want   []string
		not    []string
	}{
		{"auto", []string{ // a buffer is no terminal: plain text
			`level=ERROR msg="config rejected" at=/etc/switchyard.yaml:7 key=plugins.gz.level err="must be 1..11"`,
			`level=INFO msg="config loaded" version=abc`,
			`at="env SWITCHYARD_X" key=x err=bad`,
		}, []string{"\x1b[", "line="}},
		{"text", []string{`at=/etc/switchyard.yaml:7 key=plugins.gz.level`}, []string{"\x1b["}},
		{"color", []string{"\x1b[", "at=\x1b[0m/etc/switchyard.yaml:7", "config rejected"}, []string{"line="}},
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			var buf bytes.Buffer
			l, err := newLogger(&buf, tt.format, "info")
			if err != nil {
				t.Fatal(err)
			}
			logRejection(l)
			for _, w := range tt.want {
				if !strings.Contains(buf.String(), w) {
					t.Errorf("output lacks %q:\n%q", w, buf.String())
				}
			}
			for _, n := range tt.not {
				if strings.Contains(buf.String(), n) {
					t.Errorf("output has %q:\n%q", n, buf.String())
				}
			}
		})
	}

	// JSON keeps file and line apart, for machines.
	var buf bytes.Buffer
	l, err := newLogger(&buf, "json", "warn")
	if err != nil {
		t.Fatal(err)
	}
	logRejection(l)
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("want the two errors only at level warn, got:\n%s", buf.String())
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &rec); err != nil {
		t.Fatal(err)
	}
	if rec["file"] != "/etc/switchyard.yaml" || rec["line"] != float64(7) || rec["key"] != "plugins.gz.level" {
		t.Errorf("JSON record %v", rec)
	}
}
