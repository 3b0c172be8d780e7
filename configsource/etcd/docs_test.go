package etcd_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// shBlocks returns the ```sh blocks of a markdown document, in order.
func shBlocks(doc string) []string {
	var blocks []string
	var cur []string
	in := false
	for line := range strings.SplitSeq(doc, "\n") {
		switch {
		case !in && strings.TrimSpace(line) == "```sh":
			in, cur = true, nil
		case in && strings.TrimSpace(line) == "```":
			in = false
			blocks = append(blocks, strings.Join(cur, "\n"))
		case in:
			cur = append(cur, line)
		}
	}
	return blocks
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return fmt.Sprint(l.Addr().(*net.TCPAddr).Port)
}

// TestFleetDocCommands runs every command of docs/fleet.md, in order, on
// free ports and in a temporary directory, with the devserver built from
// cmd/devserver.
func TestFleetDocCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary and runs a walkthrough")
	}
	for _, bin := range []string{"etcd", "etcdctl", "curl", "jq"} {
		if _, err := exec.LookPath(bin); err != nil {
			if os.Getenv("SWITCHYARD_REQUIRE_ETCD") == "1" {
				t.Fatalf("%s not found and SWITCHYARD_REQUIRE_ETCD=1", bin)
			}
			t.Skipf("%s not installed", bin)
		}
	}
	raw, err := os.ReadFile(filepath.Join("..", "..", "docs", "fleet.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks := shBlocks(string(raw))
	if len(blocks) < 8 {
		t.Fatalf("found %d sh blocks in docs/fleet.md", len(blocks))
	}
	dir := t.TempDir()
	binDir := filepath.Join(dir, "bin")
	build := exec.Command("go", "build", "-o", filepath.Join(binDir, "devserver"), "github.com/switchyard/switchyard/cmd/devserver")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the host: %v\n%s", err, out)
	}
	script := strings.Join(blocks, "\n")
	script = strings.ReplaceAll(script, "/tmp/sy-", filepath.Join(dir, "sy-"))
	for _, port := range []string{"2379", "2380", "8081", "8082", "8083", "8084", "8085"} {
		script = regexp.MustCompile(`\b`+port+`\b`).ReplaceAllString(script, freePort(t))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PATH="+binDir+string(os.PathListSeparator)+os.Getenv("PATH"),
		"XDG_STATE_HOME="+filepath.Join(dir, "state"), "ETCDCTL_API=3")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Start()
	if err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	// Whatever the script left running (it failed half way) goes with its
	// process group.
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	if err != nil {
		logs, _ := os.ReadFile(filepath.Join(dir, "sy-hosts.log"))
		t.Fatalf("the walkthrough failed: %v\n--- output\n%s\n--- hosts' log\n%s", err, out.String(), logs)
	}
	got := out.String()
	t.Logf("output:\n%s", got)
	for _, want := range []string{
		"every host serves v2", "\n412\n", "every host serves v1 again", "v1 (from the cache)",
		"no cached config", "exit status 1", "switchyard_config_source_up 1",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("the output lacks %q", want)
		}
	}
	if n := strings.Count(got, "switchyard_config_source_up 1"); n != 4 {
		t.Errorf("%d hosts report source_up 1 after etcd came back, want 4", n)
	}
}
