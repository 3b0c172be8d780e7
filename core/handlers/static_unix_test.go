//go:build unix

package handlers

import (
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// A FIFO under the root must not block the request (opening it for reading
// would wait for a writer): non-regular files are 404.
func TestStaticFIFO(t *testing.T) {
	root, mux := staticFixture(t)
	if err := syscall.Mkfifo(filepath.Join(root, "pipe"), 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	done := make(chan int, 1)
	go func() {
		w := serve(mux, "GET", "/files/pipe", nil)
		done <- w.Code
	}()
	select {
	case code := <-done:
		if code != 404 {
			t.Fatalf("status = %d, want 404", code)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("request on a FIFO hangs")
	}
}
