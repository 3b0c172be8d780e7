package registry

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// Spec is one entry of the `plugins:` block: an instance name, its type and
// the type's own keys (everything but `type`).
type Spec struct {
	// Name is the instance name (the key under `plugins:`).
	Name string
	// Type is the registered plugin type.
	Type string
	// Config holds the instance's keys as parsed from the config file.
	Config map[string]any
}

// Options tune a Registry (performance.middleware.registry).
type Options struct {
	// TTL is how long a retired instance stays warm so that a later build with
	// the same config revives it, state and all. Zero closes retired instances
	// as soon as their last request has finished.
	TTL time.Duration
	// MaxWarm bounds how many retired instances stay warm; the oldest is closed
	// first. Zero means no bound beyond TTL.
	MaxWarm int
	// Logger receives the registry's lifecycle logs; nil discards them.
	Logger *slog.Logger
}

// Registry holds the live plugin instances of one host and decides, build by
// build, which can be reused.
type Registry struct {
	mu      sync.Mutex
	opts    Options
	entries map[key]*entry // live and warm
	warm    []*entry       // retired, oldest first
	closed  bool
}

type key struct{ name, typ, hash string }

type entry struct {
	key     key
	inst    Instance
	refs    int // live Sets holding the entry
	built   time.Time
	timer   *time.Timer
	revived int
}

// New returns an empty Registry.
func New(opts Options) *Registry {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Registry{opts: opts, entries: map[key]*entry{}}
}

// SetOptions changes the TTL and bound of the warm set; it applies to
// instances retired from then on, and trims the warm set at once.
func (r *Registry) SetOptions(opts Options) {
	if opts.Logger == nil {
		opts.Logger = r.opts.Logger
	}
	r.mu.Lock()
	r.opts = opts
	closing := r.trimLocked()
	r.mu.Unlock()
	r.closeAll(closing)
}

// Set is the group of instances one configuration uses. It holds a reference
// on each until Release.
type Set struct {
	reg      *Registry
	byName   map[string]*entry
	created  []string
	kept     []string
	released sync.Once
}

// Get returns the instance named name.
func (s *Set) Get(name string) (Instance, bool) {
	e, ok := s.byName[name]
	if !ok {
		return nil, false
	}
	return e.inst, true
}

// Names returns the instance names in the set, sorted.
func (s *Set) Names() []string {
	names := make([]string, 0, len(s.byName))
	for n := range s.byName {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Created returns the names of the instances this build constructed.
func (s *Set) Created() []string { return s.created }

// Kept returns the names of the instances this build reused from a live or
// warm instance with the same config.
func (s *Set) Kept() []string { return s.kept }

// Release drops the set's references. The host calls it once no request is in
// flight on the configuration that used the set (or at once, for a build that
// failed or was never served). Instances that no other live set references are
// retired. Release is idempotent.
func (s *Set) Release() {
	s.released.Do(func() { s.reg.release(s.byName) })
}

// Discard is Release for a set that never served: the instances it created
// are closed at once instead of staying warm, and the instances it reused go
// back to where they were. The host calls it when a later step of the same
// build fails. Discard and Release together run once.
func (s *Set) Discard() {
	s.released.Do(func() {
		r := s.reg
		var closing []*entry
		r.mu.Lock()
		for name, e := range s.byName {
			e.refs--
			if e.refs == 0 && r.entries[e.key] == e && slices.Contains(s.created, name) {
				delete(r.entries, e.key)
				closing = append(closing, e)
			}
		}
		r.mu.Unlock()
		r.closeAll(closing)
		r.retireUnused(s.byName)
	})
}

// BuildError is a plugin instance that could not be built: Key is the config
// key path (plugins.NAME or plugins.NAME.KEY), Err the reason.
type BuildError struct {
	Key string
	Err error
}

func (e *BuildError) Error() string { return e.Key + ": " + e.Err.Error() }
func (e *BuildError) Unwrap() error { return e.Err }

// Build resolves specs into a Set: for each spec it decodes the config into
// the type's struct (strictly), applies defaults, validates, and then either
// reuses the live or warm instance with the same name, type and canonical config
// or calls the type's factory. base supplies the host services; Build fills in
// Name, Type, Previous and a per-instance Logger.
//
// On error nothing changes: instances built by this call are closed, and the
// error lists every spec that failed (an errors.Join of *BuildError).
func (r *Registry) Build(base Context, specs []Spec) (*Set, error) {
	set := &Set{reg: r, byName: make(map[string]*entry, len(specs))}
	var errs []error
	var fresh []*entry
	for _, sp := range specs {
		e, isNew, err := r.acquire(base, sp)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		set.byName[sp.Name] = e
		if isNew {
			fresh = append(fresh, e)
			set.created = append(set.created, sp.Name)
		} else {
			set.kept = append(set.kept, sp.Name)
		}
	}
	if len(errs) > 0 {
		r.mu.Lock()
		for _, e := range set.byName {
			e.refs--
		}
		for _, e := range fresh {
			delete(r.entries, e.key)
		}
		r.mu.Unlock()
		r.closeAll(fresh)
		// Reused instances whose only reference was this build go back to
		// where they were (warm or live): their refs are restored above, and
		// release of a zero-ref live entry is handled by retireIfUnused.
		r.retireUnused(set.byName)
		return nil, errors.Join(errs...)
	}
	sort.Strings(set.created)
	sort.Strings(set.kept)
	return set, nil
}

// acquire decodes one spec and returns its entry with one more reference.
func (r *Registry) acquire(base Context, sp Spec) (*entry, bool, error) {
	pt, ok := lookup(sp.Type)
	if !ok {
		return nil, false, &BuildError{Key: "plugins." + sp.Name + ".type",
			Err: fmt.Errorf("unknown plugin type %q (registered: %v)", sp.Type, Types())}
	}
	cfg, err := decodeConfig(pt, sp.Config, base.Defaults)
	if err != nil {
		return nil, false, prefixErr("plugins."+sp.Name, err)
	}
	hash, err := canonicalHash(cfg)
	if err != nil {
		return nil, false, &BuildError{Key: "plugins." + sp.Name, Err: err}
	}
	k := key{name: sp.Name, typ: sp.Type, hash: hash}

	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil, false, &BuildError{Key: "plugins." + sp.Name, Err: errors.New("registry is closed")}
	}
	if e, ok := r.entries[k]; ok {
		if e.refs == 0 { // warm: revive it
			r.unwarmLocked(e)
			e.revived++
		}
		e.refs++
		r.mu.Unlock()
		return e, false, nil
	}
	var prev Instance
	for _, e := range r.entries {
		if e.key.name == sp.Name && e.key.typ == sp.Type && e.refs > 0 {
			prev = e.inst
			break
		}
	}
	r.mu.Unlock()

	ctx := base
	ctx.Name, ctx.Type, ctx.Previous = sp.Name, sp.Type, prev
	if ctx.Logger == nil {
		ctx.Logger = slog.New(slog.DiscardHandler)
	}
	ctx.Logger = ctx.Logger.With("plugin", sp.Name, "type", sp.Type)
	if ctx.Now == nil {
		ctx.Now = time.Now
	}
	if ctx.Metrics == nil {
		ctx.Metrics = NewMetrics(nil)
	}
	inst, err := callFactory(pt, &ctx, cfg)
	if err != nil {
		var be *BuildError
		if errors.As(err, &be) && strings.HasPrefix(be.Key, "plugins."+sp.Name) {
			return nil, false, err // already names its key (a compiled expression, say)
		}
		return nil, false, &BuildError{Key: "plugins." + sp.Name, Err: err}
	}
	if inst == nil {
		return nil, false, &BuildError{Key: "plugins." + sp.Name, Err: errors.New("plugin factory returned no instance")}
	}
	e := &entry{key: k, inst: inst, refs: 1, built: time.Now()}
	r.mu.Lock()
	if other, ok := r.entries[k]; ok { // a concurrent build made the same one
		other.refs++
		if other.refs == 1 {
			r.unwarmLocked(other)
		}
		r.mu.Unlock()
		r.closeAll([]*entry{e})
		return other, false, nil
	}
	r.entries[k] = e
	r.mu.Unlock()
	return e, true, nil
}

func callFactory(pt *pluginType, ctx *Context, cfg any) (inst Instance, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("plugin type %s panicked while building: %v", pt.name, p)
		}
	}()
	return pt.build(ctx, cfg)
}

func decodeConfig(pt *pluginType, raw map[string]any, d Defaults) (any, error) {
	cfg := pt.newCfg()
	if df, ok := cfg.(Defaulter); ok {
		df.SetDefaults(d)
	}
	if raw == nil {
		raw = map[string]any{}
	}
	if err := Decode(raw, cfg); err != nil {
		return nil, err
	}
	if v, ok := cfg.(Validator); ok {
		if err := v.Validate(); err != nil {
			return nil, err
		}
	}
	return cfg, nil
}

// prefixErr puts a key path in front of decoding and validation errors.
func prefixErr(prefix string, err error) error {
	var de DecodeErrors
	if errors.As(err, &de) {
		errs := make([]error, len(de))
		for i, fe := range de {
			errs[i] = &BuildError{Key: joinKey(prefix, fe.Key), Err: errors.New(fe.Msg)}
		}
		return errors.Join(errs...)
	}
	var fe *FieldError
	if errors.As(err, &fe) {
		return &BuildError{Key: joinKey(prefix, fe.Key), Err: errors.New(fe.Msg)}
	}
	return &BuildError{Key: prefix, Err: err}
}

// canonicalHash hashes the decoded config: JSON of a struct is deterministic
// (fields in order, map keys sorted), so equal configs hash equal whatever
// the file format or key order they came from.
func canonicalHash(cfg any) (string, error) {
	b, err := json.Marshal(cfg)
	if err != nil {
		return "", fmt.Errorf("config cannot be hashed: %w", err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8]), nil
}

func (r *Registry) release(byName map[string]*entry) {
	r.mu.Lock()
	for _, e := range byName {
		e.refs--
	}
	r.mu.Unlock()
	r.retireUnused(byName)
}

// retireUnused moves entries that no live set references to the warm set, or
// closes them when the TTL is zero.
func (r *Registry) retireUnused(byName map[string]*entry) {
	var closing []*entry
	r.mu.Lock()
	for _, e := range byName {
		if e.refs != 0 || r.entries[e.key] != e || e.timer != nil || r.isWarmLocked(e) {
			continue
		}
		if r.opts.TTL <= 0 || r.closed {
			delete(r.entries, e.key)
			closing = append(closing, e)
			continue
		}
		r.warm = append(r.warm, e)
		e.timer = time.AfterFunc(r.opts.TTL, func() { r.expire(e) })
	}
	closing = append(closing, r.trimLocked()...)
	r.mu.Unlock()
	r.closeAll(closing)
}

func (r *Registry) isWarmLocked(e *entry) bool {
	for _, w := range r.warm {
		if w == e {
			return true
		}
	}
	return false
}

func (r *Registry) unwarmLocked(e *entry) {
	if e.timer != nil {
		e.timer.Stop()
		e.timer = nil
	}
	for i, w := range r.warm {
		if w == e {
			r.warm = append(r.warm[:i], r.warm[i+1:]...)
			return
		}
	}
}

// trimLocked drops the oldest warm entries beyond MaxWarm, or all of them
// when the TTL is zero; the caller closes what it returns.
func (r *Registry) trimLocked() []*entry {
	var out []*entry
	for len(r.warm) > 0 && (r.opts.TTL <= 0 || (r.opts.MaxWarm > 0 && len(r.warm) > r.opts.MaxWarm)) {
		e := r.warm[0]
		r.unwarmLocked(e)
		delete(r.entries, e.key)
		out = append(out, e)
	}
	return out
}

func (r *Registry) expire(e *entry) {
	r.mu.Lock()
	if e.refs != 0 || !r.isWarmLocked(e) {
		r.mu.Unlock()
		return
	}
	r.unwarmLocked(e)
	delete(r.entries, e.key)
	r.mu.Unlock()
	r.closeAll([]*entry{e})
}

func (r *Registry) closeAll(es []*entry) {
	for _, e := range es {
		c, ok := e.inst.(Closer)
		if !ok {
			continue
		}
		func() {
			defer func() {
				if p := recover(); p != nil {
					r.opts.Logger.Error("plugin Close panicked", "plugin", e.key.name, "type", e.key.typ, "panic", p)
				}
			}()
			if err := c.Close(); err != nil {
				r.opts.Logger.Warn("plugin Close failed", "plugin", e.key.name, "type", e.key.typ, "err", err)
			}
		}()
	}
}

// InstanceInfo describes one instance for the admin API.
type InstanceInfo struct {
	Name    string         `json:"name"`
	Type    string         `json:"type"`
	Hash    string         `json:"config_hash"`
	Live    bool           `json:"live"`
	Refs    int            `json:"refs"`
	Built   time.Time      `json:"built"`
	Revived int            `json:"revived"`
	Stats   map[string]any `json:"stats,omitempty"`
}

// Instances lists the live and warm instances, sorted by name.
func (r *Registry) Instances() []InstanceInfo {
	r.mu.Lock()
	type pair struct {
		info InstanceInfo
		inst Instance
	}
	ps := make([]pair, 0, len(r.entries))
	for _, e := range r.entries {
		ps = append(ps, pair{InstanceInfo{Name: e.key.name, Type: e.key.typ, Hash: e.key.hash,
			Live: e.refs > 0, Refs: e.refs, Built: e.built, Revived: e.revived}, e.inst})
	}
	r.mu.Unlock()
	out := make([]InstanceInfo, len(ps))
	for i, p := range ps {
		if sr, ok := p.inst.(StatsReporter); ok {
			p.info.Stats = sr.Stats()
		}
		out[i] = p.info
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return out[i].Live && !out[j].Live
	})
	return out
}

// Each calls fn for every live instance (for example to purge caches).
func (r *Registry) Each(fn func(name, typ string, inst Instance)) {
	r.mu.Lock()
	var live []*entry
	for _, e := range r.entries {
		if e.refs > 0 {
			live = append(live, e)
		}
	}
	r.mu.Unlock()
	for _, e := range live {
		fn(e.key.name, e.key.typ, e.inst)
	}
}

// Close closes every warm instance and marks the registry closed; instances
// still held by live sets are closed when those sets are released.
func (r *Registry) Close() {
	r.mu.Lock()
	r.closed = true
	var closing []*entry
	for _, e := range r.warm {
		if e.timer != nil {
			e.timer.Stop()
			e.timer = nil
		}
		delete(r.entries, e.key)
		closing = append(closing, e)
	}
	r.warm = nil
	r.mu.Unlock()
	r.closeAll(closing)
}
