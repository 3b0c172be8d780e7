package config

import (
	"errors"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// memFS is an in-memory fileSystem for tests and fuzzing.
type memFS map[string]string

func (m memFS) ReadFile(name string) ([]byte, error) {
	s, ok := m[name]
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return []byte(s), nil
}

func (m memFS) Glob(pattern string) ([]string, error) {
	if _, err := path.Match(pattern, ""); err != nil {
		return nil, err
	}
	var out []string
	for name := range m {
		if ok, _ := path.Match(pattern, name); ok {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out, nil
}

// writeFiles writes name -> content under dir and returns dir.
func writeFiles(t *testing.T, dir string, files map[string]string) string {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// mustLoad loads path and fails the test on error.
func mustLoad(t *testing.T, path string, env []string) *Loaded {
	t.Helper()
	l, err := Load(path, env)
	if err != nil {
		t.Fatalf("Load(%s): %v", path, err)
	}
	return l
}

// loadErrors loads path and returns its Errors, failing when it loads.
func loadErrors(t *testing.T, path string, env []string) Errors {
	t.Helper()
	_, err := Load(path, env)
	if err == nil {
		t.Fatalf("Load(%s) succeeded, want errors", path)
	}
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("Load(%s) error is %T, want Errors: %v", path, err, err)
	}
	return es
}

// findError returns the error whose key is key, or nil.
func findError(es Errors, key string) *Error {
	for _, e := range es {
		if e.Key == key {
			return e
		}
	}
	return nil
}
