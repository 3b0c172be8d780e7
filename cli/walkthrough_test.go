package cli_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/switchyard/switchyard/internal/testmod"
)

// TestPluginWalkthrough runs the commands of docs/plugins.md's "A plugin
// in its own module, from zero" in a temporary directory next to a link
// to this checkout, then checks that the binary it built accepts its own
// plugin type with -check and rejects a typo in its config with file,
// line and key.
func TestPluginWalkthrough(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a module with the go command")
	}
	root := testmod.Root(t)
	doc, err := os.ReadFile(filepath.Join(root, "docs", "plugins.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(doc), "\n## A plugin in its own module, from zero\n")
	if !ok {
		t.Fatal("docs/plugins.md has no section \"A plugin in its own module, from zero\"")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	blocks := regexp.MustCompile("(?s)\n```sh\n(.*?)\n```").FindAllStringSubmatch(section, -1)
	if len(blocks) < 3 {
		t.Fatalf("the section has %d sh blocks", len(blocks))
	}
	script := []string{"set -e"}
	for _, b := range blocks {
		for line := range strings.SplitSeq(b[1], "\n") {
			if strings.Contains(line, "# runs until Ctrl-C") {
				continue // serving is not part of the walkthrough's test
			}
			script = append(script, line)
		}
	}
	work := t.TempDir()
	if err := os.Symlink(root, filepath.Join(work, "switchyard")); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sh", "-c", strings.Join(script, "\n"))
	// The walkthrough's own go get and go mod tidy keep its go.mod: no
	// -mod=mod, which would also rewrite the checkout's go.mod when the
	// walkthrough builds the devserver there.
	cmd.Dir, cmd.Env = work, append(testmod.Env(), "GOFLAGS=")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the walkthrough failed: %v\n%s\nscript:\n%s", err, out, strings.Join(script, "\n"))
	}
	if !regexp.MustCompile(`(?m)^config\.yaml: OK \(version [0-9a-f]{12}\)$`).Match(out) {
		t.Errorf("-check did not say OK:\n%s", out)
	}
	mod := filepath.Join(work, "apikey")
	for _, bin := range []string{"apikeyserver", "devserver"} {
		if _, err := os.Stat(filepath.Join(mod, "bin", bin)); err != nil {
			t.Errorf("the walkthrough built no bin/%s: %v", bin, err)
		}
	}

	// A typo in the plugin's keys: -check names the file, the line and the key.
	good, err := os.ReadFile(filepath.Join(mod, "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(string(good), "keys: [dev-key-1]", "kyes: [dev-key-1]", 1)
	testmod.Write(t, mod, "bad.yaml", bad)
	check := exec.Command(filepath.Join(mod, "bin", "apikeyserver"), "-check", "-config", "bad.yaml")
	check.Dir = mod
	out, err = check.CombinedOutput()
	if code := check.ProcessState.ExitCode(); code != 1 {
		t.Fatalf("-check of a typo: exit %d (%v), want 1:\n%s", code, err, out)
	}
	want := filepath.Join(mod, "bad.yaml") + `:6: plugins.keys.kyes: unknown key (did you mean "keys"?)`
	if !strings.Contains(string(out), want) {
		t.Errorf("-check output lacks %q:\n%s", want, out)
	}
}
