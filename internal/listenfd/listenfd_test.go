package listenfd

import (
	"net"
	"os"
	"path/filepath"
	"testing"
)

func TestNoListeners(t *testing.T) {
	t.Setenv(EnvFDs, "")
	lns, err := Listeners()
	if err != nil || lns != nil {
		t.Fatalf("got %v, %v", lns, err)
	}
}

func TestListenersForAnotherProcess(t *testing.T) {
	t.Setenv(EnvFDs, "1")
	t.Setenv(EnvPID, "1")
	lns, err := Listeners()
	if err != nil || lns != nil {
		t.Fatalf("got %v, %v", lns, err)
	}
	if os.Getenv(EnvFDs) != "" {
		t.Error("LISTEN_FDS left in the environment")
	}
}

func TestBadCount(t *testing.T) {
	t.Setenv(EnvFDs, "many")
	if _, err := Listeners(); err == nil {
		t.Fatal("no error for LISTEN_FDS=many")
	}
}

func TestEnv(t *testing.T) {
	got := Env(2)
	if got[0] != "LISTEN_FDS=2" || got[1] != "LISTEN_FDNAMES=http:http" {
		t.Fatalf("Env(2) = %v", got)
	}
}

func TestNotify(t *testing.T) {
	path := filepath.Join(t.TempDir(), "n.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	t.Setenv(EnvNotify, path)
	if err := Notify("READY=1"); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, err := conn.Read(buf)
	if err != nil || string(buf[:n]) != "READY=1" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
	t.Setenv(EnvNotify, "")
	if err := Notify("READY=1"); err != nil {
		t.Fatal(err)
	}
}

func TestFile(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	f, err := File(ln)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
}
