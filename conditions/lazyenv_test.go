package conditions_test

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"testing"

	"github.com/switchyard/switchyard/conditions"
	"github.com/switchyard/switchyard/core"
	_ "github.com/switchyard/switchyard/plugins/compression"
)

// configNoCEL uses every form of condition but an expression.
const configNoCEL = `
conditions:
  safe_method: {method: [GET, HEAD]}
  api: {path: /api/*}
plugins:
  h1: {type: compression}
  h2: {type: compression}
  h3: {type: compression}
  h4: {type: compression}
routes:
  - path: /api/*
    middleware:
      - use: h1
        when: safe_method
      - use: h2
        when: {all: [api, {header: {Accept: "*json*"}}]}
      - use: h3
        when: "true"
      - use: h4
        when: {not: {remote_ip: [10.0.0.0/8]}}
    handler: {respond: {status: 204}}
`

// configCEL adds a route with an expression.
const configCEL = configNoCEL + `
  - path: /cel
    middleware:
      - use: h1
        when: 'request.path.startsWith("/c") && int(request.query["n"]) > 1'
    handler: {respond: {status: 204}}
`

// TestLazyEnv: a host whose configuration has no expression never builds
// the CEL environment. It runs in a fresh process (the environment is built
// once per process), which loads the configuration without expressions,
// measures the live heap, then loads the one with an expression and
// measures again: the difference is what the lazy environment saves.
func TestLazyEnv(t *testing.T) {
	if os.Getenv("SWITCHYARD_LAZY_ENV_CHILD") == "1" {
		lazyEnvChild()
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestLazyEnv$", "-test.count=1")
	cmd.Env = append(os.Environ(), "SWITCHYARD_LAZY_ENV_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`builds (\d) (\d) heap (\d+) (\d+)`).FindStringSubmatch(string(out))
	if m == nil {
		t.Fatalf("child output:\n%s", out)
	}
	if m[1] != "0" {
		t.Errorf("the CEL environment was built for a configuration without expressions")
	}
	if m[2] != "1" {
		t.Errorf("the CEL environment was built %s times for a configuration with one expression, want 1", m[2])
	}
	h0, _ := strconv.Atoi(m[3])
	h1, _ := strconv.Atoi(m[4])
	t.Logf("live heap after loading a configuration: without expressions %d KiB, with one expression %d KiB (+%d KiB)",
		h0>>10, h1>>10, (h1-h0)>>10)
}

func lazyEnvChild() {
	h := core.New(core.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	defer h.Close()
	heap := func() uint64 {
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	if err := h.LoadBytes("a.yaml", []byte(configNoCEL), "."); err != nil {
		fmt.Println("load:", err)
		os.Exit(2)
	}
	b0, h0 := conditions.EnvBuilds(), heap()
	if err := h.LoadBytes("b.yaml", []byte(configCEL), "."); err != nil {
		fmt.Println("load:", err)
		os.Exit(2)
	}
	b1, h1 := conditions.EnvBuilds(), heap()
	fmt.Printf("builds %d %d heap %d %d\n", b0, b1, h0, h1)
}
