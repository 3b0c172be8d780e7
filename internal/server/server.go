// Package server owns a host's listeners and http.Server generations.
//
// Settings that an http.Server reads while serving (timeouts, header limits)
// cannot change in place, so a change starts a new server generation on the
// same listener: new connections go to it, and connections of the old
// generation finish their requests and keep-alives undisturbed. A new
// address is bound by [Server.Prepare], before the caller swaps its
// configuration in, so that an address in use fails the reload; after the
// swap [Server.Apply] moves to it, the old listener stops accepting and its
// connections drain. A new backlog on the same address is applied to the
// open listener.
//
// The package knows nothing of configuration files: the host turns its
// configuration into [Settings] and hands over the handler.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Settings are what a configuration says about listening and serving.
type Settings struct {
	// Addr is the address to listen on (server.addr).
	Addr string
	// Backlog is the accept queue length; 0 uses the system's default.
	Backlog int
	// KeepAlive and NoDelay tune each accepted TCP connection.
	KeepAlive, NoDelay bool

	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	MaxHeaderBytes    int
	// ShutdownTimeout bounds the drain of a listener left by an address
	// change, and Shutdown when its context has no deadline.
	ShutdownTimeout time.Duration

	// TLS, when set, serves HTTPS; HTTP/2 is offered through ALPN. A new
	// TLS value with TLS already on is swapped in for the next handshakes
	// (a renewed certificate): no new generation, no connection dropped.
	TLS *tls.Config
	// H2C serves HTTP/2 over cleartext to clients with prior knowledge.
	H2C bool
}

// Options configure a Server.
type Options struct {
	// Handler serves every request.
	Handler http.Handler
	// Logger receives accept errors and net/http's own error log.
	Logger *slog.Logger
	// ConnState, when set, is told of every connection state change.
	ConnState func(net.Conn, http.ConnState)
}

// Server serves one handler on one listener at a time, moving between
// listeners and http.Server generations as its Settings change.
type Server struct {
	opts     Options
	settings atomic.Pointer[Settings]   // in force: read by the accept loop
	tls      atomic.Pointer[tls.Config] // in force: read by every TLS handshake

	mu       sync.Mutex
	addr     string // forced by the caller (Start's addr, or Serve's listener), else Settings.Addr
	ln       *acceptor
	gen      *generation
	old      []*generation // no longer accepting; dropped once Serve returned and no connection is left
	started  bool
	stopping bool
	wg       sync.WaitGroup
}

// New returns a Server that serves nothing until Start or Serve.
func New(opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Server{opts: opts}
}

// generation is one http.Server serving the connections it accepted.
type generation struct {
	srv      *http.Server
	ln       *genListener
	key      serverKey
	acc      *acceptor
	conns    atomic.Int64  // open connections
	done     chan struct{} // closed when Serve has returned
	draining bool          // its listener is gone: shut down, guarded by Server.mu
}

// finished reports whether g accepts nothing more and has no connection left.
func (g *generation) finished() bool {
	select {
	case <-g.done:
		return g.conns.Load() == 0
	default:
		return false
	}
}

// serverKey is what a generation's http.Server was built with.
type serverKey struct {
	readHeader, read, write, idle time.Duration
	maxHeader                     int
	tls, h2c                      bool
}

func keyOf(s Settings) serverKey {
	return serverKey{readHeader: s.ReadHeaderTimeout, read: s.ReadTimeout,
		write: s.WriteTimeout, idle: s.IdleTimeout, maxHeader: s.MaxHeaderBytes,
		tls: s.TLS != nil, h2c: s.H2C}
}

// listenKey is what a listener was opened with.
type listenKey struct {
	addr    string
	backlog int
}

// Plan is what a new configuration does to the listener, decided (and a new
// listener bound) by Prepare before the swap: change the backlog of the open
// listener, or move to acc. A nil Plan changes nothing.
type Plan struct {
	key listenKey
	acc *acceptor // nil: same address, new backlog
}

// Start binds the listener of set (or addr, when not empty, which then wins
// over Settings.Addr for the server's life) and serves in the background.
// It returns once the listener is bound.
func (s *Server) Start(addr string, set Settings) error {
	return s.start(addr, nil, set)
}

// Serve serves on ln, a listener made by the caller (an inherited socket, a
// TLS listener): its address wins over Settings.Addr for the server's life.
// It returns at once; Shutdown or Close stop serving and close ln.
func (s *Server) Serve(ln net.Listener, set Settings) error {
	return s.start(ln.Addr().String(), ln, set)
}

func (s *Server) start(addr string, ln net.Listener, set Settings) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return errors.New("server: already started")
	}
	if s.stopping {
		return errors.New("server: shut down")
	}
	s.addr = addr
	s.settings.Store(&set)
	s.storeTLS(set.TLS)
	k := s.listenKey(set)
	var acc *acceptor
	if ln != nil {
		acc = s.newAcceptor(ln, k)
	} else {
		var err error
		if acc, err = s.listen(k); err != nil {
			return err
		}
	}
	s.ln = acc
	s.gen = s.newGeneration(acc, keyOf(set))
	acc.start()
	s.started = true
	return nil
}

// Addr returns the address the server listens on, nil before Start.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.ln.Addr()
}

func (s *Server) listenKey(set Settings) listenKey {
	addr := set.Addr
	if s.addr != "" {
		addr = s.addr
	}
	return listenKey{addr: addr, backlog: set.Backlog}
}

// sameAddr reports whether addr names the address the open listener is
// bound to (written the same, or resolving to it, as localhost:8080 and
// 127.0.0.1:8080 do). Called with mu held.
func (s *Server) sameAddr(addr string) bool {
	if addr == s.ln.key.addr {
		return true
	}
	ap, err := resolve(addr)
	if err != nil || ap.Port() == 0 {
		return false
	}
	bound, ok := s.ln.ln.Addr().(*net.TCPAddr)
	if !ok {
		return false
	}
	b := bound.AddrPort()
	return netip.AddrPortFrom(b.Addr().Unmap(), b.Port()) == ap
}

// Prepare decides what set changes in the listener and binds a new one when
// the address changes, so that an address in use fails the reload before
// anything is swapped. It is the last step of a reload that can fail: Apply
// always carries the plan out. Calls of Prepare and Apply come in pairs, from
// one goroutine at a time.
func (s *Server) Prepare(set Settings) (*Plan, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.started || s.stopping {
		return nil, nil
	}
	lk := s.listenKey(set)
	if lk == s.ln.key {
		return nil, nil
	}
	if s.sameAddr(lk.addr) {
		return &Plan{key: lk}, nil
	}
	acc, err := s.listen(lk)
	if err != nil {
		return nil, err
	}
	return &Plan{key: lk, acc: acc}, nil
}

// Discard undoes a Plan whose configuration was not applied after all.
func (s *Server) Discard(plan *Plan) {
	if plan != nil && plan.acc != nil {
		s.mu.Lock()
		plan.acc.close()
		s.mu.Unlock()
	}
}

// Apply moves the server to set: a new listener (plan), a new backlog, a
// new generation, or nothing. Generations that have finished are dropped.
// Before Start it only records set.
func (s *Server) Apply(set Settings, plan *Plan) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.started || s.stopping {
		if plan != nil && plan.acc != nil {
			plan.acc.close()
		}
		return
	}
	s.settings.Store(&set)
	s.storeTLS(set.TLS)
	s.prune()
	k := keyOf(set)
	switch {
	case plan != nil && plan.acc != nil:
		old := s.ln
		s.old = append(s.old, s.gen)
		s.ln = plan.acc
		s.gen = s.newGeneration(plan.acc, k)
		plan.acc.start()
		old.close() // stop accepting at the old address; its connections drain
		for _, g := range s.old {
			if g.acc == old && !g.draining {
				g.draining = true
				s.drain(g, set.ShutdownTimeout)
			}
		}
		s.opts.Logger.Info("listening", "addr", plan.acc.ln.Addr().String(), "was", old.ln.Addr().String())
		return
	case plan != nil:
		if err := setBacklog(s.ln.ln, plan.key.backlog); err != nil {
			s.opts.Logger.Warn("listen backlog unchanged until restart", "backlog", plan.key.backlog, "err", err)
		}
		s.ln.key = plan.key
	}
	if k != s.gen.key {
		old := s.gen
		s.gen = s.newGeneration(s.ln, k)
		old.ln.close() // stop accepting; its connections live on
		s.old = append(s.old, old)
	}
}

// prune drops the old generations that have finished. Called with mu held.
func (s *Server) prune() {
	s.old = slices.DeleteFunc(s.old, (*generation).finished)
}

// drain shuts g down in the background: its in-flight requests finish
// (up to timeout, then its connections are closed), idle keep-alive
// connections close. Called with mu held.
func (s *Server) drain(g *generation, timeout time.Duration) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		ctx, cancel := context.Background(), context.CancelFunc(func() {})
		if timeout > 0 {
			ctx, cancel = context.WithTimeout(ctx, timeout)
		}
		defer cancel()
		if g.srv.Shutdown(ctx) != nil {
			_ = g.srv.Close()
		}
	}()
}

// newGeneration starts an http.Server on acc. Called with mu held.
func (s *Server) newGeneration(acc *acceptor, k serverKey) *generation {
	g := &generation{key: k, acc: acc, done: make(chan struct{})}
	g.ln = &genListener{conns: make(chan net.Conn), closed: make(chan struct{}), addr: acc.ln.Addr()}
	g.srv = &http.Server{
		Handler:           s.opts.Handler,
		ReadHeaderTimeout: k.readHeader,
		ReadTimeout:       k.read,
		WriteTimeout:      k.write,
		IdleTimeout:       k.idle,
		MaxHeaderBytes:    k.maxHeader,
		ErrorLog:          ErrorLog(s.opts.Logger),
		ConnState: func(c net.Conn, st http.ConnState) {
			switch st {
			case http.StateNew:
				g.conns.Add(1)
			case http.StateClosed, http.StateHijacked:
				g.conns.Add(-1)
			}
			if s.opts.ConnState != nil {
				s.opts.ConnState(c, st)
			}
		},
		ConnContext: connContext,
		Protocols:   protocols(k),
	}
	var ln net.Listener = g.ln
	if k.tls {
		// Every handshake reads the configuration in force, so that a
		// reload's certificate serves the next connection.
		ln = tls.NewListener(ln, &tls.Config{
			NextProtos: tlsconfNextProtos,
			GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
				return s.tls.Load(), nil
			},
		})
	}
	acc.target.Store(g.ln)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(g.done)
		if err := g.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			s.opts.Logger.Error("serve", "err", err)
		}
	}()
	return g
}

// nextProtos are offered through ALPN: HTTP/2 first.
var tlsconfNextProtos = []string{"h2", "http/1.1"}

// protocols are the HTTP versions a generation serves: HTTP/1.1 always,
// HTTP/2 over TLS, and HTTP/2 over cleartext with h2c.
func protocols(k serverKey) *http.Protocols {
	p := new(http.Protocols)
	p.SetHTTP1(true)
	p.SetHTTP2(k.tls)
	p.SetUnencryptedHTTP2(k.h2c)
	return p
}

// storeTLS puts c in force for the next handshakes, offering HTTP/2 through
// ALPN unless c names its own protocols.
func (s *Server) storeTLS(c *tls.Config) {
	if c == nil {
		s.tls.Store(nil)
		return
	}
	if len(c.NextProtos) == 0 {
		c = c.Clone()
		c.NextProtos = tlsconfNextProtos
	}
	s.tls.Store(c)
}

// stop marks the server stopping, closes the listener and returns every
// generation still to shut down.
func (s *Server) stop() []*generation {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopping = true
	gens := slices.Clone(s.old)
	if s.gen != nil {
		gens = append(gens, s.gen)
	}
	if s.ln != nil {
		s.ln.close()
	}
	return gens
}

// Closed reports whether Shutdown or Close has begun.
func (s *Server) Closed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopping
}

// Shutdown stops accepting, lets in-flight requests finish (up to ctx, or
// Settings.ShutdownTimeout when ctx has no deadline, after which the
// remaining connections are closed) and closes idle connections.
func (s *Server) Shutdown(ctx context.Context) error {
	gens := s.stop()
	if set := s.settings.Load(); set != nil && set.ShutdownTimeout > 0 {
		if _, has := ctx.Deadline(); !has {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, set.ShutdownTimeout)
			defer cancel()
		}
	}
	var errs []error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, g := range gens {
		wg.Go(func() {
			if err := g.srv.Shutdown(ctx); err != nil {
				_ = g.srv.Close()
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	s.wg.Wait()
	return errors.Join(errs...)
}

// Close closes the listener and every connection at once.
func (s *Server) Close() {
	for _, g := range s.stop() {
		_ = g.srv.Close()
	}
	s.wg.Wait()
}

// Generations returns the number of http.Server generations still kept: the
// one accepting and those draining (dropped at the next Apply once done).
func (s *Server) Generations() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.old)
	if s.gen != nil {
		n++
	}
	return n
}

// Backlog returns the accept queue length the listener was last set to.
func (s *Server) Backlog() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return 0
	}
	return s.ln.key.backlog
}

// Listener returns the OS listener accepting now, nil before Start.
func (s *Server) Listener() net.Listener {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.ln
}

// DrainingConns returns the connections still open on the generations that
// no longer accept.
func (s *Server) DrainingConns() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int64
	for _, g := range s.old {
		n += g.conns.Load()
	}
	return n
}
