// Package redistest starts a real redis-server on a free loopback port for
// tests. When the binary is missing the test is skipped, unless
// SWITCHYARD_REQUIRE_REDIS=1 is set (as CI does), in which case it fails.
package redistest

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Server is a redis-server child process owned by one test.
type Server struct {
	addr string
	cmd  *exec.Cmd
	once sync.Once
	done chan struct{}
}

// Start runs redis-server with no persistence on a free port of 127.0.0.1
// and stops it when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("SWITCHYARD_REQUIRE_REDIS") == "1" {
			t.Fatalf("redis-server not found and SWITCHYARD_REQUIRE_REDIS=1: %v", err)
		}
		t.Skip("redis-server not installed (set SWITCHYARD_REQUIRE_REDIS=1 to fail instead)")
	}
	for attempt := 0; attempt < 5; attempt++ {
		port, err := freePort()
		if err != nil {
			t.Fatalf("redistest: free port: %v", err)
		}
		s := &Server{addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), done: make(chan struct{})}
		s.cmd = exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
			"--save", "", "--appendonly", "no", "--dir", t.TempDir(), "--protected-mode", "no")
		if err := s.cmd.Start(); err != nil {
			t.Fatalf("redistest: start redis-server: %v", err)
		}
		go func() { _ = s.cmd.Wait(); close(s.done) }()
		if s.waitReady(5 * time.Second) {
			t.Cleanup(s.Stop)
			return s
		}
		s.Stop()
	}
	t.Fatalf("redistest: redis-server did not become ready")
	return nil
}

// Addr is host:port of the server.
func (s *Server) Addr() string { return s.addr }

// Stop kills the server and waits for it to exit. It is safe to call twice.
func (s *Server) Stop() {
	s.once.Do(func() {
		if s.cmd.Process != nil {
			_ = s.cmd.Process.Kill()
		}
		<-s.done
	})
}

func (s *Server) waitReady(limit time.Duration) bool {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			return false
		default:
		}
		c, err := net.DialTimeout("tcp", s.addr, 200*time.Millisecond)
		if err == nil {
			_ = c.SetDeadline(time.Now().Add(time.Second))
			fmt.Fprint(c, "PING\r\n")
			line, _ := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if line == "+PONG\r\n" {
				return true
			}
		}
		time.Sleep(20 * time.Millisecond)
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

// Pause stops the server process (SIGSTOP): it keeps its connections open
// and answers nothing, as a stalled Redis does. Resume undoes it; Stop works
// on a paused server.
func (s *Server) Pause() { s.signal(syscall.SIGSTOP) }

// Resume continues a paused server (SIGCONT).
func (s *Server) Resume() { s.signal(syscall.SIGCONT) }

func (s *Server) signal(sig syscall.Signal) {
	if s.cmd.Process != nil {
		_ = s.cmd.Process.Signal(sig)
	}
}
