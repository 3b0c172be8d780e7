package core

import (
	"errors"
	"log"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/switchyard/switchyard/core/config"
)

// acceptor owns one OS listener and hands each accepted connection to the
// current generation's listener.
type acceptor struct {
	h      *Host
	ln     net.Listener
	key    listenKey
	target atomic.Pointer[genListener]
	once   sync.Once
	done   chan struct{}
}

// listen opens a listener with the configured backlog and starts accepting.
func (h *Host) listen(k listenKey, c *config.Config) (*acceptor, error) {
	ln, err := listenBacklog(k.addr, k.backlog)
	if err != nil {
		return nil, err
	}
	a := &acceptor{h: h, ln: ln, key: k, done: make(chan struct{})}
	h.srv.wg.Add(1)
	go func() {
		defer h.srv.wg.Done()
		a.loop()
	}()
	return a, nil
}

func (a *acceptor) loop() {
	defer close(a.done)
	for {
		c, err := a.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			a.h.log.Warn("accept", "err", err)
			continue
		}
		a.tune(c)
		a.deliver(c)
	}
}

// tune applies performance.network.tcp to a new connection.
func (a *acceptor) tune(c net.Conn) {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return
	}
	s := a.h.cur.Load()
	if s == nil {
		return
	}
	tcp := s.Loaded.Config.Performance.Network.TCP
	_ = tc.SetKeepAlive(tcp.Keepalive)
	_ = tc.SetNoDelay(tcp.NoDelay)
}

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
		case <-a.done:
			c.Close()
			return
		}
	}
}

func (a *acceptor) close() {
	a.once.Do(func() {
		a.ln.Close()
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

// slogErrorLog routes net/http's internal errors (TLS handshakes, superfluous
// WriteHeader) into the host's logger.
func slogErrorLog(l *slog.Logger) *log.Logger {
	return log.New(slogWriter{l}, "", 0)
}

type slogWriter struct{ l *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	w.l.Warn("http server", "msg", strings.TrimSpace(string(p)))
	return len(p), nil
}
