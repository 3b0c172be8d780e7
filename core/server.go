package core

import (
	"context"
	"database/sql"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchyard/switchyard/core/config"
	"github.com/switchyard/switchyard/pool"
)

// serverState owns the listeners and http.Servers. Settings that an
// http.Server reads while serving (timeouts, header limits) cannot change in
// place, so a change starts a new server generation on the same listener: new
// connections go to it, and connections of the old generation finish their
// requests and keep-alives undisturbed. A new address opens (binds) the new
// listener before the snapshot is swapped in, so that an address in use
// rejects the reload; after the swap the old listener stops accepting and its
// connections drain. A new backlog on the same address is applied to the open
// listener.
type serverState struct {
	mu       sync.Mutex
	addr     string // forced by the caller (-addr), else from the config
	ln       *acceptor
	gen      *generation
	old      []*generation // no longer accepting; dropped once Serve returned and no connection is left
	started  bool
	stopping bool
	wg       sync.WaitGroup
}

// generation is one http.Server serving the connections it accepted.
type generation struct {
	srv      *http.Server
	ln       *genListener
	key      serverKey
	acc      *acceptor
	conns    atomic.Int64  // open connections
	done     chan struct{} // closed when Serve has returned
	draining bool          // its listener is gone: shut down, guarded by serverState.mu
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
}

// listenKey is what a listener was opened with.
type listenKey struct {
	addr    string
	backlog int
}

// listenPlan is what a reload does to the listener, decided (and a new
// listener bound) before the swap: change the backlog of the open listener,
// or move to acc.
type listenPlan struct {
	key listenKey
	acc *acceptor // nil: same address, new backlog
}

func keyOf(c *config.Config) serverKey {
	idle := c.Performance.Network.HTTP.KeepaliveTimeout
	if idle <= 0 {
		idle = c.Server.IdleTimeout
	}
	return serverKey{readHeader: c.Server.ReadHeaderTimeout, read: c.Server.ReadTimeout,
		write: c.Server.WriteTimeout, idle: idle, maxHeader: int(c.Server.MaxHeaderBytes)}
}

// Start opens the listener of the serving configuration (or addr, when not
// empty, which then wins over server.addr for the host's life) and serves in
// the background. It returns once the listener is bound.
func (h *Host) Start(addr string) error {
	s := h.cur.Load()
	if s == nil {
		return errors.New("core: Start before a configuration is loaded")
	}
	st := &h.srv
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.started {
		return errors.New("core: host already started")
	}
	if st.stopping {
		return errors.New("core: host shut down")
	}
	st.addr = addr
	c := s.Loaded.Config
	acc, err := h.listen(st.listenKey(c))
	if err != nil {
		return err
	}
	st.ln = acc
	st.gen = h.newGeneration(acc, keyOf(c))
	acc.start()
	st.started = true
	return nil
}

// Addr returns the address the host listens on, once started.
func (h *Host) Addr() net.Addr {
	h.srv.mu.Lock()
	defer h.srv.mu.Unlock()
	if h.srv.ln == nil {
		return nil
	}
	return h.srv.ln.ln.Addr()
}

func (st *serverState) listenKey(c *config.Config) listenKey {
	addr := c.Server.Addr
	if st.addr != "" {
		addr = st.addr
	}
	return listenKey{addr: addr, backlog: c.Performance.Network.TCP.Backlog}
}

// sameAddr reports whether addr names the address the open listener is
// bound to (written the same, or resolving to it, as localhost:8080 and
// 127.0.0.1:8080 do). Called with mu held.
func (st *serverState) sameAddr(addr string) bool {
	if addr == st.ln.key.addr {
		return true
	}
	ap, err := resolve(addr)
	if err != nil || ap.Port() == 0 {
		return false
	}
	bound, ok := st.ln.ln.Addr().(*net.TCPAddr)
	if !ok {
		return false
	}
	b := bound.AddrPort()
	return netip.AddrPortFrom(b.Addr().Unmap(), b.Port()) == ap
}

// prepare decides what c changes in the listener and binds a new one when
// the address changes, so that an address in use fails the reload before
// anything is swapped. It is the last step of a reload that can fail: apply,
// under the same reload lock, always carries the plan out.
func (st *serverState) prepare(h *Host, c *config.Config) (*listenPlan, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if !st.started || st.stopping {
		return nil, nil
	}
	lk := st.listenKey(c)
	if lk == st.ln.key {
		return nil, nil
	}
	if st.sameAddr(lk.addr) {
		return &listenPlan{key: lk}, nil
	}
	acc, err := h.listen(lk)
	if err != nil {
		return nil, err
	}
	return &listenPlan{key: lk, acc: acc}, nil
}

// apply moves the servers to the settings of c: a new listener (plan), a
// new backlog, a new generation, or nothing. Generations that have finished
// are dropped.
func (st *serverState) apply(h *Host, c *config.Config, plan *listenPlan) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if !st.started || st.stopping {
		if plan != nil && plan.acc != nil {
			plan.acc.close()
		}
		return
	}
	st.prune()
	k := keyOf(c)
	switch {
	case plan != nil && plan.acc != nil:
		old := st.ln
		st.old = append(st.old, st.gen)
		st.ln = plan.acc
		st.gen = h.newGeneration(plan.acc, k)
		plan.acc.start()
		old.close() // stop accepting at the old address; its connections drain
		for _, g := range st.old {
			if g.acc == old && !g.draining {
				g.draining = true
				st.drain(g, c.Server.ShutdownTimeout)
			}
		}
		h.log.Info("listening", "addr", plan.acc.ln.Addr().String(), "was", old.ln.Addr().String())
		return
	case plan != nil:
		if err := setBacklog(st.ln.ln, plan.key.backlog); err != nil {
			h.log.Warn("listen backlog unchanged until restart", "backlog", plan.key.backlog, "err", err)
		}
		st.ln.key = plan.key
	}
	if k != st.gen.key {
		old := st.gen
		st.gen = h.newGeneration(st.ln, k)
		old.ln.close() // stop accepting; its connections live on
		st.old = append(st.old, old)
	}
}

// prune drops the old generations that have finished. Called with mu held.
func (st *serverState) prune() {
	st.old = slices.DeleteFunc(st.old, (*generation).finished)
}

// drain shuts g down in the background: its in-flight requests finish
// (up to timeout, then its connections are closed), idle keep-alive
// connections close. Called with mu held.
func (st *serverState) drain(g *generation, timeout time.Duration) {
	st.wg.Add(1)
	go func() {
		defer st.wg.Done()
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

func (h *Host) newGeneration(acc *acceptor, k serverKey) *generation {
	g := &generation{key: k, acc: acc, done: make(chan struct{})}
	g.ln = &genListener{conns: make(chan net.Conn), closed: make(chan struct{}), addr: acc.ln.Addr()}
	g.srv = &http.Server{
		Handler:           h,
		ReadHeaderTimeout: k.readHeader,
		ReadTimeout:       k.read,
		WriteTimeout:      k.write,
		IdleTimeout:       k.idle,
		MaxHeaderBytes:    k.maxHeader,
		ErrorLog:          slogErrorLog(h.log),
		ConnState: func(c net.Conn, s http.ConnState) {
			switch s {
			case http.StateNew:
				g.conns.Add(1)
			case http.StateClosed, http.StateHijacked:
				g.conns.Add(-1)
			}
			h.connState(c, s)
		},
		ConnContext: connContext,
	}
	acc.target.Store(g.ln)
	h.srv.wg.Add(1)
	go func() {
		defer h.srv.wg.Done()
		defer close(g.done)
		if err := g.srv.Serve(g.ln); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			h.log.Error("serve", "err", err)
		}
	}()
	return g
}

// stop marks the servers stopping, closes the listener and returns every
// generation still to shut down.
func (st *serverState) stop() []*generation {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.stopping = true
	gens := append([]*generation{}, st.old...)
	if st.gen != nil {
		gens = append(gens, st.gen)
	}
	if st.ln != nil {
		st.ln.close()
	}
	return gens
}

// closed reports whether Shutdown or Close has begun: reloads are refused
// from then on.
func (st *serverState) closed() bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.stopping
}

// Shutdown stops accepting, lets in-flight requests finish (up to ctx or
// server.shutdown_timeout, after which the remaining connections are
// closed), closes idle connections, stops the watcher and releases every
// plugin instance.
func (h *Host) Shutdown(ctx context.Context) error {
	gens := h.srv.stop()
	if s := h.cur.Load(); s != nil {
		if _, has := ctx.Deadline(); !has && s.Loaded.Config.Server.ShutdownTimeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, s.Loaded.Config.Server.ShutdownTimeout)
			defer cancel()
		}
	}
	var errs []error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, g := range gens {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := g.srv.Shutdown(ctx); err != nil {
				_ = g.srv.Close()
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	h.srv.wg.Wait()
	h.Close()
	return errors.Join(errs...)
}

// Close releases everything the host holds without waiting for requests:
// the listener and every connection, the watcher, the reload runner, the
// snapshot and its plugin instances, and the pools. Shutdown calls it after
// draining.
func (h *Host) Close() {
	for _, g := range h.srv.stop() {
		_ = g.srv.Close()
	}
	h.srv.wg.Wait()
	h.reloadMu.Lock()
	if h.watcher != nil {
		h.watcher.Close()
		h.watcher = nil
	}
	runner := h.runner // kept, closed, so that History still answers
	h.reloadMu.Unlock()
	if runner != nil {
		runner.Close()
	}
	h.reloadMu.Lock()
	defer h.reloadMu.Unlock()
	if s := h.cur.Swap(nil); s != nil {
		h.retire(s)
	}
	h.drainWG.Wait()
	h.reg.Close()
	h.threads.Close()
	h.workers.Close()
	h.objects.Close()
}

// connInfo counts requests on one connection for http.max_requests.
type connInfo struct{ n atomic.Int64 }

type connKeyType struct{ name string }

var connKey = &connKeyType{"conn"}

func connContext(ctx context.Context, _ net.Conn) context.Context {
	return context.WithValue(ctx, connKey, &connInfo{})
}

func (h *Host) connState(_ net.Conn, s http.ConnState) {
	switch s {
	case http.StateNew:
		h.metrics.conns.Inc()
	case http.StateClosed, http.StateHijacked:
		h.metrics.conns.Dec()
	}
}

// connLimits applies http.max_requests and http.pipeline: false by asking
// net/http to close the connection after this response.
func (h *Host) connLimits(s *Snapshot, w http.ResponseWriter, r *http.Request) {
	if s.closeAll {
		w.Header().Set("Connection", "close")
		return
	}
	ci, ok := r.Context().Value(connKey).(*connInfo)
	if !ok {
		return
	}
	if ci.n.Add(1) >= s.maxReqs {
		w.Header().Set("Connection", "close")
	}
}

// RegisterDB puts a database/sql pool under performance.memory.connection_pool:
// max_size open connections, min_size idle, ttl lifetime. Settings change in
// place on reload.
func (h *Host) RegisterDB(name string, db *sql.DB) {
	h.dbMu.Lock()
	if h.dbs == nil {
		h.dbs = map[string]*sql.DB{}
	}
	h.dbs[name] = db
	h.dbMu.Unlock()
	h.setPool("db:"+name, dbStats{db})
	if s := h.cur.Load(); s != nil {
		h.applyDBPools(s.Loaded.Config.Performance.Memory.ConnectionPool)
	}
}

func (h *Host) applyDBPools(cp config.ConnectionPool) {
	h.dbMu.Lock()
	defer h.dbMu.Unlock()
	for _, db := range h.dbs {
		db.SetMaxOpenConns(cp.MaxSize)
		db.SetMaxIdleConns(cp.MinSize)
		db.SetConnMaxLifetime(cp.TTL)
	}
}

// dbStats reports a database/sql pool in the pool_* metrics.
type dbStats struct{ db *sql.DB }

func (d dbStats) Stats() pool.Stats {
	st := d.db.Stats()
	return pool.Stats{InUse: int64(st.InUse), Idle: int64(st.Idle), Waits: st.WaitCount}
}
