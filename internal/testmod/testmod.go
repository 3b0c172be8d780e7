// Package testmod makes throwaway Go modules for tests that build a binary
// the way a Switchyard user would: a module of its own that requires
// Switchyard, replaced by this checkout, built offline from the module
// cache.
package testmod

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// Root returns the directory of this checkout (the switchyard module).
func Root(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("testmod: no caller information")
	}
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Env is the environment for go commands in a throwaway module: the
// process's own, with downloads off (the module cache has every
// dependency, and its checksums are trusted) and go.mod updated as
// needed.
func Env() []string {
	return append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off", "GOSUMDB=off", "GOWORK=off")
}

// New writes a module named path in a new temporary directory: a go.mod
// that requires Switchyard and replaces it by this checkout, the
// checkout's go.sum, and files (relative name to content). It returns the
// directory.
func New(t testing.TB, path string, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	root := Root(t)
	gomod := "module " + path + "\n\ngo 1.26.0\n\nrequire github.com/switchyard/switchyard v0.0.0\n\n" +
		"replace github.com/switchyard/switchyard => " + root + "\n"
	Write(t, dir, "go.mod", gomod)
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	Write(t, dir, "go.sum", string(sum))
	for name, content := range files {
		Write(t, dir, name, content)
	}
	return dir
}

// Write writes content to dir/name, making the directories it needs.
func Write(t testing.TB, dir, name, content string) {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// Go runs the go command with args in dir and returns its combined output;
// it fails the test when the command fails.
func Go(t testing.TB, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("go", args...)
	cmd.Dir, cmd.Env = dir, Env()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// Build builds pkg of the module in dir into a binary in a temporary
// directory and returns its path.
func Build(t testing.TB, dir, pkg string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), filepath.Base(pkg))
	Go(t, dir, "build", "-o", bin, pkg)
	return bin
}
