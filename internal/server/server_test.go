package server

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/switchyard/switchyard/internal/wait"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// failingListener fails every Accept until closed, as a listener does when
// the process is out of file descriptors.
type failingListener struct {
	calls  atomic.Int64
	closed chan struct{}
	once   sync.Once
}

func (l *failingListener) Accept() (net.Conn, error) {
	select {
	case <-l.closed:
		return nil, net.ErrClosed
	default:
	}
	l.calls.Add(1)
	return nil, &net.OpError{Op: "accept", Net: "tcp", Err: syscall.EMFILE}
}

func (l *failingListener) Close() error   { l.once.Do(func() { close(l.closed) }); return nil }
func (l *failingListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

// A listener that keeps failing (out of file descriptors) is retried with a
// growing pause rather than in a busy loop, and closing it ends the pause.
func TestAcceptBackoff(t *testing.T) {
	s := New(Options{Handler: http.NotFoundHandler(), Logger: quiet()})
	fl := &failingListener{closed: make(chan struct{})}
	if err := s.Serve(fl, Settings{}); err != nil {
		t.Fatal(err)
	}
	// 5, 10, 20, ... 640 ms: the 9th attempt comes after more than a second
	// of pauses, and a busy loop would have made millions by then.
	wait.For(t, "nine Accept attempts", func() bool { return fl.calls.Load() >= 9 })
	if n := fl.calls.Load(); n > 12 {
		t.Fatalf("%d Accept calls where the backoff allows about 9", n)
	}
	// The next pause is a full second; Close must not sit it out.
	start := time.Now()
	s.Close()
	if d := time.Since(start); d >= time.Second {
		t.Fatalf("Close waited %v, the whole backoff", d)
	}
}

// Serve serves on a listener it is given, and its address wins over the
// Settings' address, which a reload cannot move.
func TestServeGivenListener(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := New(Options{Logger: quiet(), Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok")
	})})
	if err := s.Serve(ln, Settings{Addr: "127.0.0.1:1"}); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Shutdown(context.Background()) }()
	if got := s.Addr().String(); got != ln.Addr().String() {
		t.Fatalf("Addr = %s, want the given listener's %s", got, ln.Addr())
	}
	plan, err := s.Prepare(Settings{Addr: "127.0.0.1:2", IdleTimeout: time.Minute})
	if err != nil || plan != nil {
		t.Fatalf("Prepare with another addr = %v, %v; want no plan: the given listener stays", plan, err)
	}
	s.Apply(Settings{Addr: "127.0.0.1:2", IdleTimeout: time.Minute}, plan)
	resp, err := http.Get("http://" + ln.Addr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "ok" {
		t.Fatalf("body %q", body)
	}
}

// CountRequest counts the requests of one keep-alive connection.
func TestCountRequest(t *testing.T) {
	var last atomic.Int64
	s := New(Options{Logger: quiet(), Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		last.Store(CountRequest(r))
	})})
	if err := s.Start("127.0.0.1:0", Settings{}); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := &http.Client{Transport: &http.Transport{}}
	defer c.CloseIdleConnections()
	for i := 1; i <= 3; i++ {
		resp, err := c.Get("http://" + s.Addr().String() + "/")
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if got := last.Load(); got != int64(i) {
			t.Fatalf("request %d counted as %d", i, got)
		}
	}
	if n := CountRequest(&http.Request{}); n != 0 {
		t.Fatalf("CountRequest outside a Server = %d", n)
	}
}
