package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestCommandLine: the 25-line main has the command kit's whole command
// line, and -check knows the custom plugin types.
func TestCommandLine(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	if src, err := os.ReadFile("main.go"); err != nil || strings.Count(string(src), "\n") > 25 {
		t.Errorf("main.go is longer than 25 lines (%v)", err)
	}
	bin := buildBinary(t)
	tests := []struct {
		args []string
		code int
		want string // in stdout
	}{
		{[]string{"-check", "-config", "config.yaml"}, 0, "config.yaml: OK (version "},
		{[]string{"-version"}, 0, "customserver github.com/switchyard/switchyard"},
		{[]string{"-help"}, 0, "Signals:"},
		{[]string{"-print-config", "-config", "config.yaml"}, 0, "type: quota"},
		{[]string{"-check", "-log-format", "json", "-config", "config.yaml"}, 0, "OK"},
		{[]string{"-check", "-addr", "127.0.0.1:99999", "-config", "config.yaml"}, 2, ""},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			cmd := exec.Command(bin, tt.args...)
			var stderr strings.Builder
			cmd.Stderr = &stderr
			out, _ := cmd.Output()
			if code := cmd.ProcessState.ExitCode(); code != tt.code || !strings.Contains(string(out), tt.want) {
				t.Errorf("exit %d (want %d), stdout lacks %q:\n%s\nstderr:\n%s", code, tt.code, tt.want, out, stderr.String())
			}
		})
	}
}

// TestJSONLogs: -log-format json makes every log line a JSON object.
func TestJSONLogs(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildBinary(t)
	s := &server{cmd: exec.Command(bin, "-config", "config.yaml", "-addr", "127.0.0.1:0", "-log-format", "json"), exited: make(chan struct{})}
	startCmd(t, s)
	s.waitLog(t, listening)
	s.stop(t)
	for _, line := range strings.Split(strings.TrimSpace(s.logText()), "\n") {
		if strings.HasPrefix(line, "{") || strings.HasPrefix(line, "switchyard customserver") || strings.HasPrefix(line, "  ") {
			continue
		}
		t.Errorf("a log line is not JSON: %q", line)
	}
	if !strings.Contains(s.logText(), `"msg":"config loaded"`) {
		t.Errorf("no JSON config loaded line:\n%s", s.logText())
	}
}
