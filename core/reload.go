package core

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/switchyard/switchyard/core/config"
	"github.com/switchyard/switchyard/hotreload"
	"github.com/switchyard/switchyard/internal/instances"
	"github.com/switchyard/switchyard/internal/server"
)

// pluginFilesUnchanged reports whether the files that the serving plugin
// instances declared (registry.Context.File) hold what they held when the
// snapshot was built: a change is a reason to reload even when the config
// files did not change.
func (r *reloader) pluginFilesUnchanged() bool {
	return len(r.pluginFiles) == 0 || hotreload.Hash(r.pluginFiles) == r.pluginHash
}

// reloader is the one way a configuration gets in: the first load, a file
// event, SIGHUP and the admin API all run through its hotreload.Runner,
// which serialises them and records each in the history.
type reloader struct {
	h      *Host
	runner *hotreload.Runner

	// Touched only by run, which the runner never calls concurrently, and
	// by Watch and close under mu.
	mu      sync.Mutex
	source  sourceState
	next    *sourceState // set by use: the source the next run switches to
	watcher *hotreload.Watcher
	watched bool // Watch succeeded once: a second call is a no-op
	stopSrc context.CancelFunc
	srcWG   sync.WaitGroup // the goroutine of a WatchSource

	gens generations

	// pluginFiles are the files the serving instances declared, and
	// pluginHash their content hash at the swap; written by run under mu.
	pluginFiles []string
	pluginHash  string
}

func newReloader(h *Host) *reloader {
	r := &reloader{h: h}
	r.runner = hotreload.NewRunner(r.run, 50)
	return r
}

// use makes src the source and loads it. When the host already serves a
// configuration, a failed load leaves it serving and the source unchanged.
func (r *reloader) use(src Source) error {
	r.mu.Lock()
	r.next = &sourceState{src: src}
	r.mu.Unlock()
	res := r.runner.Run(hotreload.TriggerStart)
	if !res.Success {
		return res.Err
	}
	return nil
}

// run parses, validates and builds a complete snapshot, then swaps it in
// with one atomic store. On any error nothing changes, and the result's Err
// is config.Errors.
//
// A file or poll trigger whose content hash equals that of the last attempt
// is skipped: an unrelated file in a watched directory, or a second event of
// the same save, costs one hash. The comparison is with the last attempt, not
// with the serving configuration, so that a rejected file is not rejected
// (and counted) again for every unrelated event, and writing back the
// serving content after a rejection is a real reload that makes
// config_last_reload_successful 1 again.
func (r *reloader) run(t hotreload.Trigger) hotreload.Result {
	h := r.h
	start := time.Now()
	res := hotreload.Result{Time: start, Trigger: t}
	fail := func(err error) hotreload.Result {
		res.Err, res.Error = err, err.Error()
		res.Duration = time.Since(start)
		return res
	}
	if h.srv.Closed() {
		return fail(errors.New("core: host shut down"))
	}
	cur := h.cur.Load()
	if cur != nil {
		res.Version = cur.Version
	}
	r.mu.Lock()
	src, switching := &r.source, r.next != nil
	if switching {
		src, r.next = r.next, nil
	}
	r.mu.Unlock()
	if src.src == nil {
		return fail(errors.New("core: no configuration source: call LoadFile or LoadBytes first"))
	}

	contentTrigger := cur != nil && !switching &&
		(t == hotreload.TriggerFile || t == hotreload.TriggerPoll || t == hotreload.Trigger(src.src.Kind()))
	settle := func() {}
	skip := func() hotreload.Result {
		settle()
		res.Skipped, res.Success, res.Error, res.Err = true, src.failed == nil, errText(src.failed), src.failed
		res.Duration = time.Since(start)
		return res
	}
	if contentTrigger && src.unchanged(h.opts.Env) && r.pluginFilesUnchanged() {
		return skip()
	}
	doc, err := src.src.Load(h.opts.Env)
	if err != nil && contentTrigger {
		doc, err = reloadEmpty(cur, src.src, h.opts.Env, doc, err)
	}
	l := doc.Loaded
	err = withHandlerErrors(h, l, err)
	r.mu.Lock() // ConfigStore reads them
	src.name, src.dir = doc.Name, doc.Dir
	r.mu.Unlock()
	settle = func() {
		if errors.Is(err, ErrSourceUnavailable) {
			return
		}
		r.mu.Lock()
		src.rev = doc.Revision
		r.mu.Unlock()
	}
	if errors.Is(err, ErrSourceUnavailable) || doc.Cached {
		h.metrics.sourceUp.Set(0)
	} else {
		h.metrics.sourceUp.Set(1)
	}
	if l != nil && contentTrigger && l.Hash == src.tried && r.pluginFilesUnchanged() {
		return skip()
	}
	if l != nil {
		src.tried, src.triedFiles, src.triedGlobs = l.Hash, l.Files, l.Globs
	}
	if err == nil && h.opts.EnableAdmin {
		l.Config.Server.Admin.Enabled = true
	}
	var s *Snapshot
	if err == nil {
		s, err = build(h, l, cur)
	}
	var plan *server.Plan
	if err == nil {
		if plan, err = h.srv.Prepare(s.settings()); err != nil {
			s.plugins.Discard()
			s.release()
			err = l.Annotate(keyed("server.addr", err))
		}
	}
	if switching && (err == nil || cur == nil) {
		r.mu.Lock()
		r.source = *src // a new source that failed is kept only when nothing serves
		src = &r.source
		r.mu.Unlock()
	}
	if err != nil {
		src.failed = err
		settle()
		h.metrics.reloads.WithLabelValues("failure").Inc()
		h.metrics.lastOK.Set(0)
		if t != hotreload.TriggerStart { // LoadFile and LoadBytes return it instead
			r.logRejection(err)
		}
		r.watch(cur, l)
		return fail(err)
	}
	src.failed = nil
	res.Changes = diff(cur, s)
	r.commit(cur, s, plan)
	files := s.plugins.Files()
	hash := hotreload.Hash(files)
	r.mu.Lock()
	r.pluginFiles, r.pluginHash = files, hash
	r.mu.Unlock()
	settle()
	r.recordGeneration(src.src, doc, s, t, start, res.Changes)
	if a, ok := src.src.(AppliedSource); ok {
		a.Applied(doc, l.Config)
	}
	res.Success, res.Version = true, s.Version
	res.Duration = time.Since(start)
	h.metrics.reloads.WithLabelValues("success").Inc()
	h.metrics.lastOK.Set(1)
	h.metrics.lastOKTS.Set(float64(time.Now().UnixNano()) / 1e9)
	r.watch(nil, l)
	attrs := []any{"version", s.Version, "trigger", string(t),
		"duration", res.Duration.Round(time.Microsecond).String(), "changes", res.Changes.String()}
	if k := src.src.Kind(); k != "file" && k != "bytes" {
		attrs = append(attrs, "source", k, "revision", doc.Revision)
	}
	h.log.Info("config loaded", attrs...)
	for _, w := range l.Warnings() {
		h.log.Warn("config warning", "at", w.Error())
	}
	return res
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// settings is what s says about listening and serving.
func (s *Snapshot) settings() server.Settings {
	c := s.Loaded.Config
	return server.Settings{
		TLS:               s.tls,
		H2C:               c.Server.H2C,
		Addr:              c.Server.Addr,
		Backlog:           c.Performance.Network.TCP.Backlog,
		KeepAlive:         c.Performance.Network.TCP.Keepalive,
		NoDelay:           c.Performance.Network.TCP.NoDelay,
		ReadHeaderTimeout: c.Server.ReadHeaderTimeout,
		ReadTimeout:       c.Server.ReadTimeout,
		WriteTimeout:      c.Server.WriteTimeout,
		IdleTimeout:       c.KeepaliveTimeout(),
		MaxHeaderBytes:    int(c.Server.MaxHeaderBytes),
		ShutdownTimeout:   c.Server.ShutdownTimeout,
	}
}

// watch points the watcher at the files of the load l. After a rejected
// load, serving is the configuration still in force: its files stay watched
// too, so that fixing any of them (an include the broken main file no longer
// reached, say) is seen.
func (r *reloader) watch(serving *Snapshot, l *config.Loaded) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.watcher == nil || l == nil {
		return
	}
	files, globs := union(l.Files, r.pluginFiles), l.Globs
	if serving != nil {
		files = union(serving.Loaded.Files, files)
		globs = union(serving.Loaded.Globs, globs)
	}
	r.watcher.SetLastFailed(serving != nil)
	if err := r.watcher.Watch(files, globs); err != nil {
		r.h.log.Warn("watching config files", "err", err)
	}
	if l.Config != nil {
		r.watcher.SetOptions(r.watchOptions(l.Config))
	}
}

func union(a, b []string) []string {
	out := slices.Clone(a)
	for _, x := range b {
		if !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}

// logRejection logs each error of a rejected config on its own line.
func (r *reloader) logRejection(err error) {
	var errs config.Errors
	if errors.As(err, &errs) {
		for _, e := range errs {
			attrs := []any{"file", e.File, "line", e.Line}
			if e.Key != "" { // a syntax error or an empty file has none
				attrs = append(attrs, "key", e.Key)
			}
			r.h.log.Error("config rejected", append(attrs, "err", e.Msg)...)
		}
		return
	}
	r.h.log.Error("config rejected", "err", err)
}

// commit applies pool settings, swaps the snapshot in, moves the server to
// its settings (plan is the listener prepared for it) and retires the old
// snapshot.
func (r *reloader) commit(cur, s *Snapshot, plan *server.Plan) {
	h := r.h
	if cur != nil {
		if s.condCache != nil && s.condCache == cur.condCache {
			cur.ownsCondCache, s.ownsCondCache = false, cur.ownsCondCache || s.ownsCondCache
		}
		if s.transport != nil && s.transport == cur.transport {
			cur.ownsTransport, s.ownsTransport = false, cur.ownsTransport || s.ownsTransport
		}
	}
	c := s.Loaded.Config
	h.pools.apply(c)
	reg := c.Performance.Middleware.Registry
	h.plugins.SetOptions(instances.Options{TTL: reg.TTL, MaxWarm: reg.CacheSize, Logger: h.log})
	h.cur.Store(s)
	h.srv.Apply(s.settings(), plan)
	if cur != nil {
		h.retired.retire(cur)
	}
}

func (r *reloader) watchOptions(c *config.Config) hotreload.Options {
	return hotreload.Options{Debounce: c.Reload.Debounce, Poll: c.Reload.Poll, Logger: r.h.log}
}

// startWatching starts the file watcher when reload.watch is on and the
// source is a file.
func (r *reloader) startWatching() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.watched {
		return nil
	}
	if r.h.srv.Closed() {
		return errors.New("core: Watch after the host was shut down")
	}
	s := r.h.cur.Load()
	if s == nil {
		return errors.New("core: Watch before a configuration is loaded")
	}
	r.watched = true
	if !s.Loaded.Config.Reload.Watch {
		return nil
	}
	if ws, ok := r.source.src.(WatchSource); ok {
		ctx, cancel := context.WithCancel(context.Background())
		r.stopSrc = cancel
		trigger := hotreload.Trigger(ws.Kind())
		r.srcWG.Go(func() {
			ws.Watch(ctx, func() { r.runner.Trigger(trigger) }, func(up bool) {
				v := 0.0
				if up {
					v = 1
				}
				r.h.metrics.sourceUp.Set(v)
			})
		})
		return nil
	}
	if _, file := r.source.src.(*fileSource); !file {
		return nil
	}
	w, err := hotreload.NewWatcher(r.watchOptions(s.Loaded.Config), r.runner.Trigger)
	if err != nil {
		r.watched = false
		return err
	}
	if err := w.Watch(union(s.Loaded.Files, r.pluginFiles), s.Loaded.Globs); err != nil {
		w.Close()
		r.watched = false
		return err
	}
	r.watcher = w
	return nil
}

// close stops the watcher and the runner; the history stays readable.
func (r *reloader) close() {
	r.mu.Lock()
	w := r.watcher
	r.watcher = nil
	stop := r.stopSrc
	r.stopSrc = nil
	r.mu.Unlock()
	if w != nil {
		w.Close()
	}
	if stop != nil {
		stop()
	}
	r.srcWG.Wait()
	r.runner.Close()
}

// withHandlerErrors adds to err, the error of a load that failed before
// anything was built (a structural error), the routes that name a Go
// handler this binary does not have, so that one load reports them too.
func withHandlerErrors(h *Host, l *config.Loaded, err error) error {
	var errs config.Errors
	if l == nil || !errors.As(err, &errs) {
		return err
	}
	routes, _ := l.Raw["routes"].([]any)
	var extra []error
	for i, rt := range routes {
		m, _ := rt.(map[string]any)
		name, ok := m["handler"].(string)
		if !ok || name == "" {
			continue
		}
		key := fmt.Sprintf("routes[%d].handler", i)
		if slices.ContainsFunc(errs, func(e *config.Error) bool { return strings.HasPrefix(e.Key, key) }) {
			continue
		}
		if hd, names := h.goHandler(name); hd == nil {
			extra = append(extra, keyed(key, fmt.Errorf("no handler registered in Go code under %q (registered: %v)", name, names)))
		}
	}
	if len(extra) == 0 {
		return err
	}
	return l.Annotate(errors.Join(append([]error{errs}, extra...)...))
}
