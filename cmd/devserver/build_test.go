package main

import (
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/testmod"
	"github.com/switchyard/switchyard/internal/wait"
)

const childMain = `package main

import (
	"net/http"
	"os"

	"github.com/switchyard/switchyard/cli"
	"github.com/switchyard/switchyard/core"
)

func main() {
	os.Exit(cli.Main(cli.Options{Name: "app", Handlers: func(h *core.Host) {
		h.HandleFunc("app.hi", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("hi")) })
	}}))
}
`

const childConfig = `reload: {watch: false}
routes:
  - path: /hi
    handler: app.hi
`

var (
	loopListening = regexp.MustCompile(`msg="dev loop".* listening=http://(127\.0\.0\.1:\d+)`)
	servingBuild  = regexp.MustCompile(`msg="serving build" build=1 pid=(\d+)`)
)

// TestBuildLeavesNothingBehind: SIGTERM or SIGINT to devserver -build
// drains and stops the child; when the devserver has exited, no child
// process and no listener is left.
func TestBuildLeavesNothingBehind(t *testing.T) {
	if testing.Short() {
		t.Skip("builds binaries with the go command")
	}
	devserver := filepath.Join(t.TempDir(), "devserver")
	if out, err := exec.Command("go", "build", "-o", devserver, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	dir := testmod.New(t, "example.com/app", map[string]string{"main.go": childMain, "config.yaml": childConfig})
	for _, sig := range []os.Signal{syscall.SIGTERM, os.Interrupt} {
		t.Run(sig.String(), func(t *testing.T) {
			var stderr wait.Buffer
			cmd := exec.Command(devserver, "-build", ".", "-config", "config.yaml", "-addr", "127.0.0.1:0", "-log-format", "text")
			cmd.Dir, cmd.Env, cmd.Stderr = dir, testmod.Env(), &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			t.Cleanup(func() { _ = cmd.Process.Kill() })
			var addr string
			var pid int
			wait.Within(t, 5*time.Minute, "the first build serves", func() bool {
				s := stderr.String()
				a, p := loopListening.FindStringSubmatch(s), servingBuild.FindStringSubmatch(s)
				if a == nil || p == nil {
					return false
				}
				addr, pid = a[1], atoi(p[1])
				return true
			})
			resp, err := http.Get("http://" + addr + "/hi")
			if err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("GET /hi: %v %v\n%s", resp, err, stderr.String())
			}
			resp.Body.Close()
			http.DefaultClient.CloseIdleConnections()

			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-exited:
				if err != nil {
					t.Fatalf("devserver exited with %v\n%s", err, stderr.String())
				}
			case <-time.After(time.Minute):
				t.Fatalf("devserver still runs a minute after %v\n%s", sig, stderr.String())
			}
			if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
				t.Errorf("the child %d is still there after the devserver exited (kill 0: %v)", pid, err)
			}
			if c, err := net.Dial("tcp", addr); err == nil {
				c.Close()
				t.Errorf("%s still accepts connections", addr)
			}
		})
	}
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}
