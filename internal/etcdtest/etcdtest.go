// Package etcdtest starts a real etcd server (Debian's etcd-server package)
// on free loopback ports with a temporary data directory, for tests. When
// the binary is missing the test is skipped, unless SWITCHYARD_REQUIRE_ETCD=1
// is set (as CI does), in which case it fails.
package etcdtest

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Server is an etcd child process owned by one test. Stop and Start kill
// and restart it on the same ports and data directory.
type Server struct {
	t      testing.TB
	bin    string
	dir    string
	client string // host:port of the client URL
	peer   string
	mu     sync.Mutex
	cmd    *exec.Cmd
	done   chan struct{}
}

// Start runs etcd on two free ports of 127.0.0.1 and stops it when the test
// ends.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := exec.LookPath("etcd")
	if err != nil {
		if os.Getenv("SWITCHYARD_REQUIRE_ETCD") == "1" {
			t.Fatalf("etcd not found and SWITCHYARD_REQUIRE_ETCD=1: %v", err)
		}
		t.Skip("etcd not installed (apt-get install etcd-server; set SWITCHYARD_REQUIRE_ETCD=1 to fail instead)")
	}
	s := &Server{t: t, bin: bin, dir: t.TempDir()}
	for attempt := 0; attempt < 5; attempt++ {
		cp, err1 := freePort()
		pp, err2 := freePort()
		if err1 != nil || err2 != nil || cp == pp {
			continue
		}
		s.client = net.JoinHostPort("127.0.0.1", strconv.Itoa(cp))
		s.peer = net.JoinHostPort("127.0.0.1", strconv.Itoa(pp))
		if err := s.start(); err == nil {
			t.Cleanup(s.Stop)
			return s
		}
		s.Stop()
		os.RemoveAll(s.dir)
		s.dir = t.TempDir()
	}
	t.Fatalf("etcdtest: etcd did not become ready")
	return nil
}

// Addr is host:port of the client endpoint.
func (s *Server) Addr() string { return s.client }

// Endpoint is the client URL, http://host:port.
func (s *Server) Endpoint() string { return "http://" + s.client }

// Restart starts the server again after Stop, on the same ports and data.
func (s *Server) Restart() {
	s.t.Helper()
	if err := s.start(); err != nil {
		s.t.Fatalf("etcdtest: restart: %v", err)
	}
}

func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cmd := exec.Command(s.bin,
		"--name", "test",
		"--data-dir", s.dir,
		"--listen-client-urls", "http://"+s.client,
		"--advertise-client-urls", "http://"+s.client,
		"--listen-peer-urls", "http://"+s.peer,
		"--initial-advertise-peer-urls", "http://"+s.peer,
		"--initial-cluster", "test=http://"+s.peer,
		"--log-level", "error",
		"--logger", "zap",
	)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if testing.Verbose() {
		cmd.Stderr = os.Stderr
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	s.cmd, s.done = cmd, done
	if !waitReady(s.client, done, 10*time.Second) {
		return fmt.Errorf("etcd on %s not healthy", s.client)
	}
	return nil
}

// Stop kills the server (SIGKILL, as a crash) and waits for it to exit. It
// is safe to call more than once.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.done
	s.cmd = nil
}

// waitReady polls /health until etcd reports healthy, the process exits, or
// limit passes.
func waitReady(addr string, done <-chan struct{}, limit time.Duration) bool {
	c := &http.Client{Timeout: 500 * time.Millisecond}
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		select {
		case <-done:
			return false
		default:
		}
		resp, err := c.Get("http://" + addr + "/health")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.Contains(string(b), `"true"`) {
				return true
			}
		}
		select {
		case <-done:
			return false
		case <-time.After(25 * time.Millisecond):
		}
	}
	return false
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
