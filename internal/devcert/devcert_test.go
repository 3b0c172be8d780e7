package devcert

import (
	"bytes"
	"os"
	"testing"
	"time"
)

// Ensure makes the files once and reuses them while they are valid; a
// damaged pair is made again.
func TestEnsure(t *testing.T) {
	dir := t.TempDir()
	f, err := Ensure(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !valid(f, time.Now()) {
		t.Fatal("the files made do not verify for localhost, 127.0.0.1 and ::1")
	}
	first, _ := os.ReadFile(f.Cert)
	again, err := Ensure(dir)
	if err != nil || again != f {
		t.Fatalf("second Ensure: %v %v", again, err)
	}
	if b, _ := os.ReadFile(f.Cert); !bytes.Equal(b, first) {
		t.Error("a valid certificate was made again")
	}
	if fi, err := os.Stat(f.Key); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v %v, want 0600", fi.Mode(), err)
	}
	if err := os.WriteFile(f.Key, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Ensure(dir); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(f.Cert); bytes.Equal(b, first) || !valid(f, time.Now()) {
		t.Error("a damaged pair was not made again")
	}
}
