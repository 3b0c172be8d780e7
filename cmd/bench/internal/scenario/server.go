package scenario

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/switchyard/switchyard/core"

	// The built-in plugins the scenario configs use.
	_ "github.com/switchyard/switchyard/plugins/caching"
	_ "github.com/switchyard/switchyard/plugins/compression"
	_ "github.com/switchyard/switchyard/plugins/ratelimit"
)

// Env is what building a server needs besides the scenario.
type Env struct {
	// Dir holds the server's files: the SQLite database of the DB path and
	// the config file of the reload scenario. It must exist.
	Dir string
	// Logger receives Switchyard's logs; nil discards them.
	Logger *slog.Logger
}

// Instance is a built server, ready to serve in-process (Handler) or on a
// listener (Start).
type Instance struct {
	// Kind is Switchyard, NetHTTP or Chi.
	Kind string
	// Handler serves requests.
	Handler http.Handler
	// Host is the Switchyard host; nil for a baseline.
	Host *core.Host

	srv     *http.Server
	ln      net.Listener
	served  chan error
	closers []func()
}

// Build builds server kind (Switchyard, or the scenario's baseline kind) of
// the scenario called name.
func Build(name, kind string, env Env) (*Instance, error) {
	sc, ok := Lookup(name)
	if !ok {
		return nil, fmt.Errorf("unknown scenario %q (have %s)", name, strings.Join(Names(), ", "))
	}
	if kind != Switchyard && kind != sc.Baseline {
		return nil, fmt.Errorf("scenario %s has no %q server (want %s or %s)", name, kind, Switchyard, sc.Baseline)
	}
	in := &Instance{Kind: kind}
	var err error
	if kind == Switchyard {
		err = in.buildSwitchyard(name, env)
	} else {
		err = in.buildBaseline(name, env)
	}
	if err != nil {
		in.Close()
		return nil, err
	}
	return in, nil
}

func (in *Instance) openDB(env Env, file string) (*sql.DB, error) {
	db, err := OpenDB(filepath.Join(env.Dir, file))
	if err != nil {
		return nil, err
	}
	in.closers = append(in.closers, func() { _ = db.Close() })
	return db, nil
}

func (in *Instance) buildBaseline(name string, env Env) error {
	switch name {
	case Fast:
		in.Handler = bareHealth()
	case Routed:
		in.Handler = chiRouted()
	case Cached:
		in.Handler = chiCached()
	case CachedGzip:
		in.Handler = chiCachedGzip()
	case DB:
		db, err := in.openDB(env, "chi.db")
		if err != nil {
			return err
		}
		// The limits Switchyard applies from connection_pool, set by hand.
		db.SetMaxOpenConns(8)
		db.SetMaxIdleConns(4)
		db.SetConnMaxLifetime(300 * time.Second)
		h, err := DBItemHandler(db)
		if err != nil {
			return err
		}
		in.Handler = chiDB(h)
	case Full:
		in.Handler = chiFull()
	case Proxy:
		up, err := in.startUpstream()
		if err != nil {
			return err
		}
		in.Handler = chiProxy(up)
	default:
		return fmt.Errorf("scenario %s has no baseline", name)
	}
	return nil
}

func (in *Instance) buildSwitchyard(name string, env Env) error {
	log := env.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	h := core.New(core.Options{Logger: log})
	in.Host, in.Handler = h, h
	h.Handle("bench.doc", DocHandler())
	h.Handle("bench.item", ItemHandler())
	if name == DB {
		db, err := in.openDB(env, "switchyard.db")
		if err != nil {
			return err
		}
		h.Pools().RegisterDB("items", db)
		dh, err := DBItemHandler(db)
		if err != nil {
			return err
		}
		h.Handle("bench.dbitem", dh)
	}
	if name == Reload {
		if err := WriteReloadConfig(env.Dir, 0); err != nil {
			return err
		}
		if err := h.LoadFile(ConfigPath(env.Dir)); err != nil {
			return err
		}
		return h.Watch()
	}
	if name == Proxy {
		up, err := in.startUpstream()
		if err != nil {
			return err
		}
		return h.LoadBytes(name+".yaml", ProxyConfig(up), env.Dir)
	}
	data, err := Config(name, 0)
	if err != nil {
		return err
	}
	return h.LoadBytes(name+".yaml", data, env.Dir)
}

// startUpstream serves the proxy scenario's upstream on a loopback port of
// this process, until Close, and returns its URL.
func (in *Instance) startUpstream() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	srv := &http.Server{Handler: UpstreamHandler(), ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 60 * time.Second}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(ln)
	}()
	in.closers = append(in.closers, func() {
		_ = srv.Close()
		<-served
	})
	return "http://" + ln.Addr().String(), nil
}

// ConfigPath is the config file of the reload scenario in dir.
func ConfigPath(dir string) string { return filepath.Join(dir, "switchyard.yaml") }

// WriteReloadConfig replaces the reload scenario's config file in dir with
// version v, atomically (write then rename, as editors and deploy tools do).
func WriteReloadConfig(dir string, v int) error {
	data, err := Config(Reload, v)
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, ".switchyard.yaml.tmp")
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, ConfigPath(dir))
}

// Start serves on addr ("127.0.0.1:0" for any free port) in the background
// and returns the address bound.
func (in *Instance) Start(addr string) (string, error) {
	if in.Host != nil {
		if err := in.Host.Start(addr); err != nil {
			return "", err
		}
		return in.Host.Addr().String(), nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", err
	}
	in.ln = ln
	// The baselines get the same server settings as Switchyard's defaults
	// (server.*_timeout): a production server sets them, and they cost a
	// deadline per request.
	in.srv = &http.Server{Handler: in.Handler, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 60 * time.Second, MaxHeaderBytes: 1 << 20}
	in.served = make(chan error, 1)
	go func() { in.served <- in.srv.Serve(ln) }()
	return ln.Addr().String(), nil
}

// Shutdown stops serving gracefully and releases everything.
func (in *Instance) Shutdown(ctx context.Context) error {
	var err error
	switch {
	case in.Host != nil:
		err = in.Host.Shutdown(ctx)
		in.Host = nil
	case in.srv != nil:
		err = in.srv.Shutdown(ctx)
		if serr := <-in.served; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
			err = errors.Join(err, serr)
		}
		in.srv = nil
	}
	in.Close()
	return err
}

// Close releases what the instance holds without waiting for requests.
func (in *Instance) Close() {
	if in.Host != nil {
		in.Host.Close()
		in.Host = nil
	}
	if in.srv != nil {
		_ = in.srv.Close()
		in.srv = nil
	}
	for i := len(in.closers) - 1; i >= 0; i-- {
		in.closers[i]()
	}
	in.closers = nil
}

// ReloadTimes returns how long the host's recent applied reloads took (the
// host keeps the last 50 in its history), newest first; nil for a baseline.
func (in *Instance) ReloadTimes() []time.Duration {
	if in.Host == nil {
		return nil
	}
	var out []time.Duration
	for _, r := range in.Host.History() {
		if r.Success && !r.Skipped {
			out = append(out, r.Duration)
		}
	}
	return out
}

// Reloads returns the host's successful and failed config loads, the first
// load included (0, 0 for a baseline).
func (in *Instance) Reloads() (ok, failed int) {
	if in.Host == nil {
		return 0, 0
	}
	mfs, err := in.Host.Metrics().Gather()
	if err != nil {
		return 0, 0
	}
	for _, mf := range mfs {
		if !strings.HasSuffix(mf.GetName(), "config_reloads_total") {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() != "result" {
					continue
				}
				n := int(m.GetCounter().GetValue())
				switch l.GetValue() {
				case "success":
					ok += n
				case "failure":
					failed += n
				}
			}
		}
	}
	return ok, failed
}
