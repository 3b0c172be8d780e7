package cli_test

import (
	"strings"
	"testing"
)

// TestCheckPrintsWarnings: -check accepts a pool that churns upstream
// connections but says so, with the file, line and key.
func TestCheckPrintsWarnings(t *testing.T) {
	path := writeFile(t, t.TempDir(), "sw.yaml", "performance:\n  memory:\n    connection_pool:\n      max_size: 0\n"+
		"routes:\n  - path: /api\n    handler: {proxy: {upstream: \"http://127.0.0.1:9\"}}\n")
	code, stdout, stderr := run(t, "-check", "-config", path)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	want := "warning: " + path + ":4: performance.memory.connection_pool.max_size: 0 (no limit) keeps at most 100 idle"
	if !strings.Contains(stdout, want) {
		t.Errorf("-check output lacks %q:\n%s", want, stdout)
	}
	code, stdout, _ = run(t, "-check", "-config", writeFile(t, t.TempDir(), "ok.yaml", okConfig))
	if code != 0 || strings.Contains(stdout, "warning") {
		t.Errorf("a config without warnings: exit %d\n%s", code, stdout)
	}
}
