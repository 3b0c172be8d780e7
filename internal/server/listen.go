package server

import (
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// acceptor owns one OS listener and hands each accepted connection to the
// current generation's listener.
type acceptor struct {
	s       *Server
	ln      net.Listener
	key     listenKey
	target  atomic.Pointer[genListener]
	started bool // guarded by Server.mu
	once    sync.Once
	stop    chan struct{} // closed by close: ends a backoff at once
	done    chan struct{} // closed when the accept loop has returned
}

// listen opens a listener with the configured backlog. It accepts nothing
// until start.
func (s *Server) listen(k listenKey) (*acceptor, error) {
	ln, err := listenBacklog(k.addr, k.backlog)
	if err != nil {
		return nil, err
	}
	return s.newAcceptor(ln, k), nil
}

func (s *Server) newAcceptor(ln net.Listener, k listenKey) *acceptor {
	return &acceptor{s: s, ln: ln, key: k, stop: make(chan struct{}), done: make(chan struct{})}
}

// start begins accepting; a generation must be its target already.
func (a *acceptor) start() {
	a.started = true
	a.s.wg.Go(a.loop)
}

// Backoff after a failed Accept (too many open files, for example), as
// net/http's Server does, so that a persistent error does not spin.
const (
	acceptBackoffMin = 5 * time.Millisecond
	acceptBackoffMax = time.Second
)

func (a *acceptor) loop() {
	defer close(a.done)
	var backoff time.Duration
	for {
		c, err := a.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			backoff = min(max(2*backoff, acceptBackoffMin), acceptBackoffMax)
			a.s.opts.Logger.Warn("accept", "err", err, "retry_in", backoff.String())
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-a.stop:
				t.Stop()
				return
			}
			continue
		}
		backoff = 0
		a.tune(c)
		a.deliver(c)
	}
}

// tune applies the TCP settings in force to a new connection.
func (a *acceptor) tune(c net.Conn) {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return
	}
	set := a.s.settings.Load()
	_ = tc.SetKeepAlive(set.KeepAlive)
	_ = tc.SetNoDelay(set.NoDelay)
}

// deliver hands c to the current generation. When that generation stops
// accepting while c waits, c goes to the generation that replaced it; with
// none (shutdown), c is closed.
func (a *acceptor) deliver(c net.Conn) {
	for {
		g := a.target.Load()
		if g == nil {
			c.Close()
			return
		}
		select {
		case g.conns <- c:
			return
		case <-g.closed:
			if a.target.Load() == g { // no newer generation: we are shutting down
				c.Close()
				return
			}
		}
	}
}

// close stops accepting: the OS listener is closed first and the connection
// the loop may hold is delivered, then the current generation's listener is
// closed (its Serve returns; its connections live on). Called with
// Server.mu held.
func (a *acceptor) close() {
	a.once.Do(func() {
		close(a.stop)
		a.ln.Close()
		if a.started {
			<-a.done
		}
		if g := a.target.Load(); g != nil {
			g.close()
		}
	})
}

// genListener is the net.Listener one http.Server serves from.
type genListener struct {
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
	addr   net.Addr
}

func (l *genListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *genListener) close() { l.once.Do(func() { close(l.closed) }) }

// Close stops this listener only; the OS listener stays with the acceptor.
func (l *genListener) Close() error { l.close(); return nil }

func (l *genListener) Addr() net.Addr { return l.addr }

// ErrorLog routes net/http's internal errors (TLS handshakes, superfluous
// WriteHeader) into l, for http.Server.ErrorLog and promhttp.HandlerOpts.
func ErrorLog(l *slog.Logger) *log.Logger {
	return log.New(slogWriter{l}, "", 0)
}

type slogWriter struct{ l *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	w.l.Warn("http server", "msg", strings.TrimSpace(string(p)))
	return len(p), nil
}

// resolve turns host:port into an address; an empty host listens on all
// IPv4 addresses, "localhost" on 127.0.0.1.
func resolve(addr string) (netip.AddrPort, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("listen %q: %w", addr, err)
	}
	switch host {
	case "":
		host = "0.0.0.0"
	case "localhost":
		host = "127.0.0.1"
	}
	tcp, err := net.ResolveTCPAddr("tcp", net.JoinHostPort(host, port))
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("listen %q: %w", addr, err)
	}
	ap := tcp.AddrPort()
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
}
