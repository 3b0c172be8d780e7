package devstatus

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestWriteRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "status.json")
	t.Setenv(Env, path)
	if _, ok := Read(); ok {
		t.Fatal("Read before the first Write reported a status")
	}
	want := Status{Package: "./cmd/app", Serving: 3, Failed: 4, Output: "./handler.go:6:17: undefined: x", At: time.Unix(1, 0).UTC()}
	if err := Write(path, want); err != nil {
		t.Fatal(err)
	}
	got, ok := Read()
	if !ok || got != want {
		t.Fatalf("Read = %+v, %v; want %+v", got, ok, want)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("the directory holds %d files, want the status alone", len(entries))
	}
}

func TestReadOutsideTheLoop(t *testing.T) {
	t.Setenv(Env, "")
	if _, ok := Read(); ok {
		t.Error("Read reported a status with the variable unset")
	}
	t.Setenv(Env, filepath.Join(t.TempDir(), "missing"))
	if _, ok := Read(); ok {
		t.Error("Read reported a status from a missing file")
	}
}
