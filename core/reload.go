package core

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/switchyard/switchyard/core/config"
	"github.com/switchyard/switchyard/hotreload"
	"github.com/switchyard/switchyard/pool"
	"github.com/switchyard/switchyard/registry"
)

// source is where the configuration comes from: a file, or bytes embedded
// in a binary (the devserver's default).
type source struct {
	path string
	name string
	data []byte
	dir  string

	// tried is the content hash of the last load attempted from this source
	// and failed the error that rejected it ("" when it was applied). A file
	// event whose content equals the last attempt changes nothing: it is
	// skipped, whether that attempt serves or was rejected. triedFiles and
	// triedGlobs are the files that load read and its include globs.
	tried      string
	failed     string
	triedFiles []string
	triedGlobs []string
}

// unchanged reports, without parsing anything, that the files of the last
// attempt still hold what it read, so that a load now would give the same
// result: the source is a file, no SWITCHYARD_ variable is in the
// environment (the hash of a load is then the hash of its files alone), no
// file matching an include glob appeared, and the files hash as before. It
// is how an event that changes no content (a touch, an editor's swap file,
// the second event of a save) costs one hash. False means "load and see".
func (s *source) unchanged(env []string) bool {
	if s.path == "" || s.tried == "" || len(s.triedFiles) == 0 {
		return false
	}
	for _, kv := range env {
		if strings.HasPrefix(kv, config.EnvPrefix) {
			return false
		}
	}
	for _, g := range s.triedGlobs {
		matches, err := filepath.Glob(g)
		if err != nil {
			return false
		}
		for _, m := range matches {
			if !slices.Contains(s.triedFiles, m) {
				return false
			}
		}
	}
	return hotreload.Hash(s.triedFiles) == s.tried
}

func (s source) load(env []string) (*config.Loaded, error) {
	if s.path != "" {
		return config.Load(s.path, env)
	}
	return config.LoadBytes(s.name, s.data, s.dir, env)
}

// LoadFile makes path the host's configuration source and loads it. When
// the host already serves a configuration, a failed load leaves it serving.
func (h *Host) LoadFile(path string) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	return h.setSource(source{path: abs})
}

// LoadBytes makes an in-memory document the configuration source; name
// (its extension picks the format) is used in errors, and includes resolve
// relative to dir.
func (h *Host) LoadBytes(name string, data []byte, dir string) error {
	return h.setSource(source{name: name, data: data, dir: dir})
}

func (h *Host) setSource(src source) error {
	h.reloadMu.Lock()
	old := h.source
	h.source = src
	h.reloadMu.Unlock()
	res := h.reload(hotreload.TriggerStart)
	if !res.Success {
		h.reloadMu.Lock()
		if h.cur.Load() != nil {
			h.source = old
		}
		h.reloadMu.Unlock()
		return errors.New(res.Error)
	}
	return nil
}

// Reload re-reads the configuration source and swaps in the result. It is
// what SIGHUP, the admin API and the file watcher call.
func (h *Host) Reload(t hotreload.Trigger) hotreload.Result {
	if r := h.reloadRunner(); r != nil {
		return r.Run(t)
	}
	return h.reload(t)
}

// reloadRunner returns the runner that Watch started, if any.
func (h *Host) reloadRunner() *hotreload.Runner {
	h.reloadMu.Lock()
	defer h.reloadMu.Unlock()
	return h.runner
}

// reload parses, validates and builds a complete snapshot, then swaps it in
// with one atomic store. On any error nothing changes.
//
// A file or poll trigger whose content hash equals that of the last attempt
// is skipped: an unrelated file in a watched directory, or a second event of
// the same save, costs one hash. The comparison is with the last attempt, not
// with the serving configuration, so that a rejected file is not rejected
// (and counted) again for every unrelated event, and writing back the
// serving content after a rejection is a real reload that makes
// config_last_reload_successful 1 again.
func (h *Host) reload(t hotreload.Trigger) hotreload.Result {
	h.reloadMu.Lock()
	defer h.reloadMu.Unlock()
	start := time.Now()
	res := hotreload.Result{Time: start, Trigger: t}
	if h.srv.closed() {
		res.Error = "core: host shut down"
		return res
	}
	cur := h.cur.Load()
	if cur != nil {
		res.Version = cur.Version
	}

	contentTrigger := cur != nil && (t == hotreload.TriggerFile || t == hotreload.TriggerPoll)
	skip := func() hotreload.Result {
		res.Skipped, res.Success, res.Error = true, h.source.failed == "", h.source.failed
		res.Duration = time.Since(start)
		return res
	}
	if contentTrigger && h.source.unchanged(h.opts.Env) {
		return skip()
	}
	l, err := h.source.load(h.opts.Env)
	if l != nil && contentTrigger && l.Hash == h.source.tried {
		return skip()
	}
	if l != nil {
		h.source.tried, h.source.triedFiles, h.source.triedGlobs = l.Hash, l.Files, l.Globs
	}
	if err == nil && h.opts.EnableAdmin {
		l.Config.Server.Admin.Enabled = true
	}
	var s *Snapshot
	if err == nil {
		s, err = h.build(l, cur)
	}
	var plan *listenPlan
	if err == nil {
		if plan, err = h.srv.prepare(h, l.Config); err != nil {
			s.releaseResources()
			err = l.Annotate(&registry.BuildError{Key: "server.addr", Err: err})
		}
	}
	if err != nil {
		res.Error = err.Error()
		res.Duration = time.Since(start)
		h.source.failed = res.Error
		h.metrics.reloads.WithLabelValues("failure").Inc()
		h.metrics.lastOK.Set(0)
		h.logRejection(err)
		h.watch(cur, l)
		return res
	}
	h.source.failed = ""
	res.Changes = diff(cur, s)
	h.commit(cur, s, plan)
	res.Success, res.Version = true, s.Version
	res.Duration = time.Since(start)
	h.metrics.reloads.WithLabelValues("success").Inc()
	h.metrics.lastOK.Set(1)
	h.metrics.lastOKTS.Set(float64(time.Now().UnixNano()) / 1e9)
	h.watch(nil, l)
	h.log.Info("config loaded", "version", s.Version, "trigger", string(t),
		"duration", res.Duration.Round(time.Microsecond).String(), "changes", res.Changes.String())
	return res
}

// watch points the watcher at the files of the load l. After a rejected
// load, serving is the configuration still in force: its files stay watched
// too, so that fixing any of them (an include the broken main file no longer
// reached, say) is seen.
func (h *Host) watch(serving *Snapshot, l *config.Loaded) {
	if h.watcher == nil || l == nil {
		return
	}
	files, globs := l.Files, l.Globs
	if serving != nil {
		files = union(serving.Loaded.Files, files)
		globs = union(serving.Loaded.Globs, globs)
	}
	if err := h.watcher.Watch(files, globs); err != nil {
		h.log.Warn("watching config files", "err", err)
	}
	if l.Config != nil {
		h.watcher.SetOptions(h.watchOptions(l.Config))
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
func (h *Host) logRejection(err error) {
	var errs config.Errors
	if errors.As(err, &errs) {
		for _, e := range errs {
			attrs := []any{"file", e.File, "line", e.Line}
			if e.Key != "" { // a syntax error or an empty file has none
				attrs = append(attrs, "key", e.Key)
			}
			h.log.Error("config rejected", append(attrs, "err", e.Msg)...)
		}
		return
	}
	h.log.Error("config rejected", "err", err)
}

// commit applies pool settings, swaps the snapshot in, moves the servers to
// its settings (plan is the listener prepared for it) and retires the old
// snapshot.
func (h *Host) commit(cur, s *Snapshot, plan *listenPlan) {
	if cur != nil {
		if s.condCache != nil && s.condCache == cur.condCache {
			cur.ownsCondCache, s.ownsCondCache = false, cur.ownsCondCache || s.ownsCondCache
		}
		if s.transport != nil && s.transport == cur.transport {
			cur.ownsTransport, s.ownsTransport = false, cur.ownsTransport || s.ownsTransport
		}
	}
	h.applyPools(s.Loaded.Config)
	h.cur.Store(s)
	h.srv.apply(h, s.Loaded.Config, plan)
	if cur != nil {
		h.retire(cur)
	}
}

// retire waits, off the request path, for the last request on s to finish
// and then releases what only s held (plugin instances, caches, transports).
func (h *Host) retire(s *Snapshot) {
	s.retired.Store(true)
	if s.inflight.Load() == 0 {
		s.releaseResources()
		return
	}
	h.drainingMu.Lock()
	if h.draining == nil {
		h.draining = map[*Snapshot]struct{}{}
	}
	h.draining[s] = struct{}{}
	h.drainingMu.Unlock()
	h.drainWG.Add(1)
	go func() {
		defer h.drainWG.Done()
		for s.inflight.Load() != 0 {
			<-s.drained
		}
		h.drainingMu.Lock()
		delete(h.draining, s)
		h.drainingMu.Unlock()
		s.releaseResources()
	}()
}

// applyPools resizes the host's pools in place to the performance block.
func (h *Host) applyPools(c *config.Config) {
	p := c.Performance
	h.buffers.Resize(pool.BufferOptions{MaxSize: int(p.Memory.BufferPool.Size), Count: p.Memory.BufferPool.Count, Prealloc: p.Memory.BufferPool.Prealloc})
	h.objects.Resize(p.Memory.ObjectPool.Size, p.Memory.ObjectPool.TTL)
	h.threads.Resize(pool.WorkerOptions{MinWorkers: p.CPU.ThreadPool.MinWorkers, MaxWorkers: p.CPU.ThreadPool.MaxWorkers, QueueSize: p.CPU.ThreadPool.QueueSize})
	workers := p.CPU.ProcessPool.Workers
	h.workers.Resize(pool.WorkerOptions{MinWorkers: workers, MaxWorkers: workers, QueueSize: max(4*workers, 64), MaxTasksPerWorker: p.CPU.ProcessPool.MaxTasksPerChild})
	h.reg.SetOptions(registry.Options{TTL: p.Middleware.Registry.TTL, MaxWarm: p.Middleware.Registry.CacheSize, Logger: h.log})
	h.applyDBPools(p.Memory.ConnectionPool)
}

func (h *Host) watchOptions(c *config.Config) hotreload.Options {
	return hotreload.Options{Debounce: c.Reload.Debounce, Poll: c.Reload.Poll, Logger: h.log}
}

// diff says what a reload changed, for the history and the log line.
func diff(old, s *Snapshot) hotreload.Changes {
	var c hotreload.Changes
	c.PluginsCreated = s.plugins.Created()
	c.PluginsKept = s.plugins.Kept()
	if old == nil {
		for _, r := range s.routes {
			c.RoutesAdded = append(c.RoutesAdded, r.Path)
		}
		return c
	}
	for _, n := range old.plugins.Names() {
		if !slices.Contains(s.plugins.Kept(), n) {
			c.PluginsRetired = append(c.PluginsRetired, n)
		}
	}
	was := map[string]string{}
	for _, r := range old.routes {
		was[r.Path] = fmt.Sprint(r)
	}
	now := map[string]bool{}
	for _, r := range s.routes {
		now[r.Path] = true
		prev, ok := was[r.Path]
		switch {
		case !ok:
			c.RoutesAdded = append(c.RoutesAdded, r.Path)
		case prev != fmt.Sprint(r) || usesAny(r, c.PluginsCreated):
			c.RoutesChanged = append(c.RoutesChanged, r.Path)
		}
	}
	for _, r := range old.routes {
		if !now[r.Path] {
			c.RoutesRemoved = append(c.RoutesRemoved, r.Path)
		}
	}
	sort.Strings(c.RoutesAdded)
	sort.Strings(c.RoutesRemoved)
	sort.Strings(c.RoutesChanged)
	return c
}

// usesAny reports whether r's chain uses one of the plugins named.
func usesAny(r RouteInfo, plugins []string) bool {
	for _, l := range r.Chain {
		if slices.Contains(plugins, l.Plugin) {
			return true
		}
	}
	return false
}

// Watch starts the reload machinery: the serialising runner that Reload
// goes through from then on, and the file watcher when reload.watch is on
// and the source is a file. SIGHUP is the caller's to wire, for example
// `go hotreload.Signals(ctx, func(t hotreload.Trigger) { h.Reload(t) })`.
// Close and Shutdown stop it.
func (h *Host) Watch() error {
	h.reloadMu.Lock()
	defer h.reloadMu.Unlock()
	if h.runner != nil {
		return nil
	}
	if h.srv.closed() {
		return errors.New("core: Watch after the host was shut down")
	}
	s := h.cur.Load()
	if s == nil {
		return errors.New("core: Watch before a configuration is loaded")
	}
	h.runner = hotreload.NewRunner(h.reload, 50)
	if h.source.path == "" || !s.Loaded.Config.Reload.Watch {
		return nil
	}
	w, err := hotreload.NewWatcher(h.watchOptions(s.Loaded.Config), h.runner.Trigger)
	if err != nil {
		return err
	}
	if err := w.Watch(s.Loaded.Files, s.Loaded.Globs); err != nil {
		w.Close()
		return err
	}
	h.watcher = w
	return nil
}

// History returns the reload history, newest first.
func (h *Host) History() []hotreload.Result {
	if r := h.reloadRunner(); r != nil {
		return r.History()
	}
	return nil
}
