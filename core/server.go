package core

import (
	"context"
	"database/sql"
	"errors"
	"net"
	"net/http"
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
// requests and keep-alives undisturbed. A new address or backlog opens a new
// listener first, then closes the old one and drains its connections.
type serverState struct {
	mu       sync.Mutex
	addr     string // forced by the caller (-addr), else from the config
	ln       *acceptor
	gen      *generation
	old      []*generation
	started  bool
	stopping bool
	wg       sync.WaitGroup
	errs     chan error
}

// generation is one http.Server serving the connections it accepted.
type generation struct {
	srv  *http.Server
	ln   *genListener
	key  serverKey
	acc  *acceptor
	done chan struct{}
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
	st.addr = addr
	st.errs = make(chan error, 16)
	c := s.Loaded.Config
	acc, err := h.listen(st.listenKey(c), c)
	if err != nil {
		return err
	}
	st.ln = acc
	st.gen = h.newGeneration(acc, keyOf(c))
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

// apply moves the servers to the settings of c: nothing, a new generation,
// or a new listener.
func (st *serverState) apply(h *Host, c *config.Config) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if !st.started || st.stopping {
		return
	}
	lk := st.listenKey(c)
	if lk != st.ln.key {
		acc, err := h.listen(lk, c)
		if err != nil {
			h.log.Error("new listener failed; keeping the old one", "addr", lk.addr, "err", err)
		} else {
			old := st.ln
			oldGen := st.gen
			st.ln = acc
			st.gen = h.newGeneration(acc, keyOf(c))
			old.close()
			st.wg.Add(1)
			go func() { // drain the old address: finish in-flight, then close
				defer st.wg.Done()
				ctx, cancel := context.WithTimeout(context.Background(), c.Server.ShutdownTimeout)
				defer cancel()
				_ = oldGen.srv.Shutdown(ctx)
			}()
			for _, g := range st.old {
				if g.acc == old {
					gg := g
					st.wg.Add(1)
					go func() {
						defer st.wg.Done()
						ctx, cancel := context.WithTimeout(context.Background(), c.Server.ShutdownTimeout)
						defer cancel()
						_ = gg.srv.Shutdown(ctx)
					}()
				}
			}
			h.log.Info("listening", "addr", acc.ln.Addr().String())
			return
		}
	}
	if k := keyOf(c); k != st.gen.key {
		old := st.gen
		st.gen = h.newGeneration(st.ln, k)
		old.ln.close() // stop accepting; its connections live on
		st.old = append(st.old, old)
	}
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
		ConnState:         h.connState,
		ConnContext:       connContext,
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

// Shutdown stops accepting, lets in-flight requests finish (up to ctx or
// server.shutdown_timeout), closes idle connections, stops the watcher and
// releases every plugin instance.
func (h *Host) Shutdown(ctx context.Context) error {
	st := &h.srv
	st.mu.Lock()
	st.stopping = true
	gens := append([]*generation{}, st.old...)
	if st.gen != nil {
		gens = append(gens, st.gen)
	}
	if st.ln != nil {
		st.ln.close()
	}
	st.mu.Unlock()
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
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	st.wg.Wait()
	h.Close()
	return errors.Join(errs...)
}

// Close releases everything the host holds without waiting for requests:
// the watcher, the reload runner, the snapshot and its plugin instances,
// and the pools. Shutdown calls it after draining.
func (h *Host) Close() {
	h.reloadMu.Lock()
	if h.watcher != nil {
		h.watcher.Close()
		h.watcher = nil
	}
	runner := h.runner
	h.runner = nil
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
