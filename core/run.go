package core

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"sync"

	"github.com/switchyard/switchyard/core/config"
	"github.com/switchyard/switchyard/hotreload"
)

// LoadFile makes path the host's configuration source and loads it. When
// the host already serves a configuration, a failed load leaves it serving.
// The error is config.Errors: each with its file, line and key.
func (h *Host) LoadFile(path string) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	return h.reload.use(&fileSource{path: abs})
}

// LoadBytes makes an in-memory document the configuration source; name
// (its extension picks the format) is used in errors, and includes resolve
// relative to dir.
func (h *Host) LoadBytes(name string, data []byte, dir string) error {
	if data == nil {
		data = []byte{}
	}
	return h.reload.use(&bytesSource{name: name, data: data, dir: dir})
}

// LoadSource makes src the host's configuration source and loads it, as
// LoadFile does for a file: an etcd key (package configsource/etcd) or any
// other Source. Watch then follows it when it is a WatchSource. When the
// host already serves a configuration, a failed load leaves it serving.
func (h *Host) LoadSource(src Source) error {
	if src == nil {
		return errors.New("core: LoadSource: nil source")
	}
	return h.reload.use(src)
}

// Reload re-reads the configuration source and swaps in the result. It is
// what SIGHUP, the admin API and the file watcher call; every reload is
// recorded in the History. A failed result's Err is config.Errors.
func (h *Host) Reload(t hotreload.Trigger) hotreload.Result {
	return h.reload.runner.Run(t)
}

// Watch starts the file watcher when reload.watch is on and the source is a
// file (every edit triggers a reload), or the source's own watch when it is
// a WatchSource. Close and Shutdown stop it.
func (h *Host) Watch() error { return h.reload.startWatching() }

// History returns the reload history, newest first: every load and reload,
// whatever triggered it.
func (h *Host) History() []hotreload.Result { return h.reload.runner.History() }

// Start opens the listener of the serving configuration (or addr, when not
// empty, which then wins over server.addr for the host's life) and serves in
// the background. It returns once the listener is bound.
func (h *Host) Start(addr string) error {
	s := h.cur.Load()
	if s == nil {
		return errors.New("core: Start before a configuration is loaded")
	}
	return h.srv.Start(addr, s.settings())
}

// Serve serves in the background on ln, a listener the caller made (an
// inherited socket, a TLS listener), instead of binding server.addr; a
// reload that changes server.addr does not move it. Shutdown closes ln.
func (h *Host) Serve(ln net.Listener) error {
	s := h.cur.Load()
	if s == nil {
		return errors.New("core: Serve before a configuration is loaded")
	}
	return h.srv.Serve(ln, s.settings())
}

// Addr returns the address the host listens on, once started.
func (h *Host) Addr() net.Addr { return h.srv.Addr() }

// Shutdown stops accepting, lets in-flight requests finish (up to ctx or
// server.shutdown_timeout, after which the remaining connections are
// closed), closes idle connections, then closes the host.
func (h *Host) Shutdown(ctx context.Context) error {
	err := h.srv.Shutdown(ctx)
	h.Close()
	return err
}

// Close releases everything the host holds without waiting for requests:
// the listener and every connection, the watcher, the reload runner (the
// history stays readable), the snapshot and its plugin instances, and the
// pools. Shutdown calls it after draining. It is safe to call more than once.
func (h *Host) Close() {
	h.srv.Close()
	h.reload.close()
	if s := h.cur.Swap(nil); s != nil {
		h.retired.retire(s)
	}
	h.retired.wait()
	h.plugins.Close()
	h.pools.close()
}

// RunOptions say what Run serves and how.
type RunOptions struct {
	// ConfigFile, when not empty, is loaded first; otherwise the host must
	// have loaded its configuration (LoadFile or LoadBytes) already.
	ConfigFile string
	// Source, when set (and ConfigFile empty), is loaded first instead.
	Source Source
	// Addr, when not empty, is listened on whatever server.addr says.
	Addr string
	// Listener, when set, is served instead of binding an address.
	Listener net.Listener
	// Watch reloads on every edit of the configuration files (when
	// reload.watch is on too).
	Watch bool
	// Ready, when set, is called once the host is serving, before Run waits.
	Ready func(*Host)
}

// Run is the whole life of a serving host: it loads opts.ConfigFile,
// watches the files, serves, reloads on SIGHUP, and when ctx ends shuts
// down gracefully within server.shutdown_timeout. It returns the load
// error (config.Errors), a listen error, or the shutdown error; the host is
// closed when it returns.
func (h *Host) Run(ctx context.Context, opts RunOptions) error {
	if opts.ConfigFile != "" {
		if err := h.LoadFile(opts.ConfigFile); err != nil {
			h.Close()
			return err
		}
	} else if opts.Source != nil {
		if err := h.LoadSource(opts.Source); err != nil {
			h.Close()
			return err
		}
	}
	if opts.Watch {
		if err := h.Watch(); err != nil {
			h.log.Warn("config watching off", "err", err)
		}
	}
	var err error
	if opts.Listener != nil {
		err = h.Serve(opts.Listener)
	} else {
		err = h.Start(opts.Addr)
	}
	if err != nil {
		h.Close()
		return err
	}
	if opts.Ready != nil {
		opts.Ready(h)
	}
	hup, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { hotreload.Signals(hup, func(t hotreload.Trigger) { h.Reload(t) }) })
	<-ctx.Done()
	stop()
	wg.Wait()
	h.log.Info("shutting down")
	if err := h.Shutdown(context.Background()); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// Check validates a candidate configuration as a reload would (parse,
// defaults, plugins built, conditions compiled, routes checked) without
// applying it, and returns what applying it would change. name picks the
// format and names the document in errors; includes resolve relative to
// dir. The error is config.Errors. Nothing serving is touched.
func (h *Host) Check(name string, data []byte, dir string) (hotreload.Changes, error) {
	l, err := config.LoadBytes(name, data, dir, h.opts.Env)
	if err != nil {
		return hotreload.Changes{}, withHandlerErrors(h, l, err)
	}
	if h.opts.EnableAdmin {
		l.Config.Server.Admin.Enabled = true
	}
	cur := h.cur.Load()
	s, err := build(h, l, cur)
	if err != nil {
		return hotreload.Changes{}, err
	}
	changes := diff(cur, s)
	s.plugins.Discard()
	s.release()
	return changes, nil
}
