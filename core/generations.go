package core

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/switchyard/switchyard/hotreload"
)

// TriggerRollback is the trigger of a reload that applies a rollback.
const TriggerRollback hotreload.Trigger = "rollback"

// ErrUnknownGeneration is the error of a rollback to a version that no kept
// generation has.
var ErrUnknownGeneration = errors.New("core: no kept generation has that version")

// Generation is one configuration the host applied. A reload that changes
// nothing (the same version) is no new generation; a rollback is one.
type Generation struct {
	// Number counts the generations of the host's life from 1.
	Number uint64 `json:"number"`
	// Version is the configuration version (see Snapshot.Version).
	Version string `json:"version"`
	// Source is the kind of source it came from: file, bytes, etcd.
	Source string `json:"source"`
	// Revision is the source's revision of it (etcd's mod revision), if any.
	Revision string `json:"revision,omitempty"`
	// Time is when the reload that applied it started.
	Time time.Time `json:"time"`
	// Trigger is what started that reload.
	Trigger hotreload.Trigger `json:"trigger"`
	// Changes is what it changed from the generation before it.
	Changes hotreload.Changes `json:"changes"`

	data []byte // the main document, for a rollback
}

// generations is the ring of the last reload.history generations, oldest
// first.
type generations struct {
	mu   sync.Mutex
	list []Generation
	n    uint64
	// writing is the trigger of a write through the ConfigStore under way:
	// the generation it makes carries it, even when the source's watch
	// applies it before the store's own reload does.
	writing hotreload.Trigger
}

// recordGeneration adds the configuration just applied when its version
// differs from the newest generation's, and publishes
// config_generation_info.
func (r *reloader) recordGeneration(src Source, d Document, s *Snapshot, t hotreload.Trigger, at time.Time, ch hotreload.Changes) {
	g := &r.gens
	g.mu.Lock()
	defer g.mu.Unlock()
	keep := s.Config().Reload.History
	if keep < 1 {
		keep = 1
	}
	if k := len(g.list); k > 0 && g.list[k-1].Version == s.Version {
		return
	}
	if k := len(g.list); k > 0 {
		r.h.metrics.genInfo.DeleteLabelValues(g.list[k-1].Version)
	}
	r.h.metrics.genInfo.WithLabelValues(s.Version).Set(1)
	if g.writing != "" {
		t = g.writing
	}
	g.n++
	g.list = append(g.list, Generation{Number: g.n, Version: s.Version, Source: src.Kind(),
		Revision: d.Revision, Time: at, Trigger: t, Changes: ch, data: d.Data})
	if over := len(g.list) - keep; over > 0 {
		g.list = slices.Delete(g.list, 0, over)
	}
}

// ConfigStore writes the host's configuration to its source and keeps its
// generations: what the admin API's PUT config, rollback and generations
// routes use. Its methods are safe for concurrent use; writes through one
// host are serialised.
type ConfigStore struct {
	h  *Host
	mu sync.Mutex
}

// ConfigStore returns the host's configuration store.
func (h *Host) ConfigStore() *ConfigStore { return h.store }

// Generations returns the kept generations, newest first.
func (c *ConfigStore) Generations() []Generation {
	g := &c.h.reload.gens
	g.mu.Lock()
	defer g.mu.Unlock()
	out := slices.Clone(g.list)
	slices.Reverse(out)
	return out
}

// Put validates data as a reload would, writes it to the source (only if
// the host serves ifMatch and the source has not changed since the host
// read it: otherwise the error wraps ErrStale) and reloads. It returns the
// reload's result, whose Version is the new version. A document that does
// not validate is not written: the error is config.Errors. A source that
// cannot be written gives ErrNotWritable.
func (c *ConfigStore) Put(ctx context.Context, ifMatch string, data []byte) (hotreload.Result, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.write(ctx, data, hotreload.TriggerAdmin, ifMatch)
}

// Rollback writes the kept generation of the given version back to the
// source, so that every host reading it follows, and reloads: it becomes a
// new generation.
func (c *ConfigStore) Rollback(ctx context.Context, version string) (hotreload.Result, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var data []byte
	for _, g := range c.Generations() {
		if g.Version == version && g.data != nil {
			data = g.data
			break
		}
	}
	if data == nil {
		return hotreload.Result{}, fmt.Errorf("%w: %q", ErrUnknownGeneration, version)
	}
	return c.write(ctx, data, TriggerRollback, "")
}

// write validates data, writes it to the source if the source still holds
// what the host last read, and reloads. With ifMatch set, the host must
// serve that version; without, a stale source is caught up once and the
// write tried again (a rollback names no version it replaces).
func (c *ConfigStore) write(ctx context.Context, data []byte, t hotreload.Trigger, ifMatch string) (hotreload.Result, error) {
	r := c.h.reload
	// The revision first, then the version: the reloader sets the revision
	// after the swap, so a version older than the revision cannot be seen.
	r.mu.Lock()
	src, name, dir, rev := r.source.src, r.source.name, r.source.dir, r.source.rev
	r.mu.Unlock()
	cur := c.h.cur.Load()
	if cur == nil {
		return hotreload.Result{}, errors.New("core: no configuration loaded")
	}
	if ifMatch != "" && ifMatch != cur.Version {
		return hotreload.Result{}, fmt.Errorf("%w: serving version is %s, not %s", ErrStale, cur.Version, ifMatch)
	}
	ws, ok := src.(WritableSource)
	if !ok {
		return hotreload.Result{}, ErrNotWritable
	}
	if _, err := c.h.Check(name, data, dir); err != nil {
		return hotreload.Result{}, err
	}
	g := &r.gens
	g.mu.Lock()
	g.writing = t
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		g.writing = ""
		g.mu.Unlock()
	}()
	err := ws.Write(ctx, data, rev)
	if errors.Is(err, ErrStale) && ifMatch == "" {
		c.h.Reload(t)
		r.mu.Lock()
		rev = r.source.rev
		r.mu.Unlock()
		err = ws.Write(ctx, data, rev)
	}
	if err != nil {
		return hotreload.Result{}, err
	}
	res := c.h.Reload(t)
	if !res.Success {
		return res, res.Err
	}
	return res, nil
}
