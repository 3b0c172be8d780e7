// Package instances is the host's side of the plugin registry: it turns the
// `plugins:` block of a configuration into live instances of the registered
// plugin types, reuses an instance whose config is unchanged across reloads,
// and retires the instances a configuration no longer uses.
//
// # Reuse across reloads
//
// A [Registry] keys live instances by name, type and a canonical hash of the
// decoded config. A build whose config for an instance is unchanged gets the
// very same instance back, so rate-limit counters, cache contents and
// connections survive a reload.
//
// # Retirement
//
// An instance that no live [Set] references any more is retired once the last
// request on the configuration that used it has finished (the host releases
// the Set then): its [registry.Context] is cancelled at once, so that its
// background work stops, and it is kept warm for the registry TTL. A later
// build with the same config within the TTL builds a new instance that
// receives the warm one as Previous, so that its state comes back; the warm
// instance is then closed. An instance is closed exactly once.
package instances

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/switchyard/switchyard/hotreload"
	"github.com/switchyard/switchyard/registry"
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

// Specs returns the `plugins:` block of a configuration as specs sorted by
// name: each instance's type, and its other keys as the type's config.
func Specs(plugins map[string]map[string]any) []Spec {
	specs := make([]Spec, 0, len(plugins))
	for _, name := range slices.Sorted(maps.Keys(plugins)) {
		raw := plugins[name]
		typ, _ := raw["type"].(string)
		cfg := make(map[string]any, len(raw))
		for k, v := range raw {
			if k != "type" {
				cfg[k] = v
			}
		}
		specs = append(specs, Spec{Name: name, Type: typ, Config: cfg})
	}
	return specs
}

// Options tune a Registry (performance.middleware.registry).
type Options struct {
	// TTL is how long a retired instance stays warm so that a later build
	// with the same config gets its state back. Zero closes retired
	// instances at once.
	TTL time.Duration
	// MaxWarm bounds how many retired instances stay warm; the oldest is
	// closed first. Zero means no bound beyond TTL.
	MaxWarm int
	// Logger receives the registry's lifecycle logs; nil discards them.
	Logger *slog.Logger
}

// Error is a plugin instance that could not be built: Key is the config key
// path (plugins.NAME, plugins.NAME.KEY or performance.response.TYPE), Err
// the reason.
type Error struct {
	Key string
	Err error
}

func (e *Error) Error() string { return e.Key + ": " + e.Err.Error() }

// Unwrap returns the reason.
func (e *Error) Unwrap() error { return e.Err }

// KeyPath returns Key, so that the config loader places the error.
func (e *Error) KeyPath() string { return e.Key }

// Registry holds the live plugin instances of one host and decides, build by
// build, which can be reused.
type Registry struct {
	life    context.Context // every instance's context descends from it
	end     context.CancelFunc
	mu      sync.Mutex
	opts    Options
	entries map[key]*entry // live and warm
	warm    []*entry       // retired, oldest first
	closed  bool
}

type key struct{ name, typ, hash string }

type entry struct {
	key     key
	inst    registry.Instance
	cancel  context.CancelFunc // ends the instance's Context
	refs    int                // live Sets holding the entry
	built   time.Time
	timer   *time.Timer
	revived int
	closed  bool
	// files are the files the instance declared (registry.Context.File)
	// and filesHash their content hash when it was built; stale marks an
	// entry displaced because they changed, closed once no set holds it.
	files     []string
	filesHash string
	stale     bool
	replaces  *entry // the stale entry this one displaced, until that one is closed
	successor *entry // of a stale entry: the entry that displaced it
}

// filesChanged reports whether a file the instance declared changed since
// it was built.
func (e *entry) filesChanged() bool {
	return len(e.files) > 0 && hotreload.Hash(e.files) != e.filesHash
}

// New returns an empty Registry.
func New(opts Options) *Registry {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	life, end := context.WithCancel(context.Background())
	return &Registry{life: life, end: end, opts: opts, entries: map[key]*entry{}}
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
func (s *Set) Get(name string) (registry.Instance, bool) {
	e, ok := s.byName[name]
	if !ok {
		return nil, false
	}
	return e.inst, true
}

// Names returns the instance names in the set, sorted.
func (s *Set) Names() []string { return slices.Sorted(maps.Keys(s.byName)) }

// Created returns the names of the instances this build constructed.
func (s *Set) Created() []string { return s.created }

// Files returns the files that the set's instances declared they read
// (registry.Context.File), sorted: the host watches them.
func (s *Set) Files() []string {
	var out []string
	for _, e := range s.byName {
		for _, f := range e.files {
			if !slices.Contains(out, f) {
				out = append(out, f)
			}
		}
	}
	slices.Sort(out)
	return out
}

// Kept returns the names of the instances this build reused, live, with the
// same config.
func (s *Set) Kept() []string { return s.kept }

// Release drops the set's references. The host calls it once no request is
// in flight on the configuration that used the set. Instances that no other
// live set references are retired. Release is idempotent.
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
				if old := e.replaces; old != nil && !old.closed { // it keeps serving as it was
					old.stale = false
					r.entries[e.key] = old
				}
			}
		}
		r.mu.Unlock()
		r.closeAll(closing)
		r.retireUnused(s.byName)
	})
}

// Build resolves specs into a Set: for each spec it decodes the config into
// the type's struct (strictly) over the type's defaults and its section of
// sections (performance.response.<type>, by type name), validates it, and
// then either reuses the live instance with the same name, type and
// canonical config or calls the type's factory with services. On error
// nothing changes: instances built by this call are closed, and the error
// lists every spec that failed (an errors.Join of *Error).
func (r *Registry) Build(services registry.Services, specs []Spec, sections map[string]map[string]any) (*Set, error) {
	set := &Set{reg: r, byName: make(map[string]*entry, len(specs))}
	var errs []error
	var fresh, revived []*entry
	for _, sp := range specs {
		e, was, err := r.acquire(services, sp, sections[sp.Type])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		set.byName[sp.Name] = e
		if was == nil || was != e {
			fresh = append(fresh, e)
			set.created = append(set.created, sp.Name)
			if was != nil {
				revived = append(revived, was)
			}
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
			if old := e.replaces; old != nil { // it keeps serving as it was
				old.stale = false
				r.entries[e.key] = old
			}
		}
		for _, w := range revived { // back to the warm set, untouched
			if _, taken := r.entries[w.key]; !taken {
				r.entries[w.key] = w
			}
		}
		r.mu.Unlock()
		r.closeAll(fresh)
		r.retireUnused(set.byName)
		return nil, errors.Join(errs...)
	}
	r.closeAll(revived) // their state went to their successors
	slices.Sort(set.created)
	slices.Sort(set.kept)
	return set, nil
}

// acquire decodes one spec and returns its entry with one more reference,
// and the entry that was there for the same config: the same entry when it
// is reused live, a warm one that the new entry replaces, or nil.
func (r *Registry) acquire(services registry.Services, sp Spec, section map[string]any) (*entry, *entry, error) {
	pt, ok := registry.Lookup(sp.Type)
	if !ok {
		return nil, nil, &Error{Key: "plugins." + sp.Name + ".type",
			Err: fmt.Errorf("unknown plugin type %q (registered: %v)", sp.Type, registry.Types())}
	}
	cfg, err := pt.Decode(section, sp.Config)
	if err != nil {
		var se *registry.SectionError
		if errors.As(err, &se) {
			return nil, nil, prefixErr("performance.response."+sp.Type, se.Err)
		}
		return nil, nil, prefixErr("plugins."+sp.Name, err)
	}
	hash, err := canonicalHash(cfg)
	if err != nil {
		return nil, nil, &Error{Key: "plugins." + sp.Name, Err: err}
	}
	k := key{name: sp.Name, typ: sp.Type, hash: hash}

	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil, nil, &Error{Key: "plugins." + sp.Name, Err: errors.New("registry is closed")}
	}
	var warm *entry
	var changed *entry // live, same config, but a file it reads changed
	if e, ok := r.entries[k]; ok {
		switch {
		case e.refs > 0 && !e.filesChanged(): // live: reuse it as it is
			e.refs++
			r.mu.Unlock()
			return e, e, nil
		case e.refs > 0:
			e.stale = true
			delete(r.entries, k)
			changed = e
		default:
			// Warm: its Context is done, so a new instance takes its state.
			r.unwarmLocked(e)
			delete(r.entries, k)
			warm = e
		}
	}
	var prev registry.Instance
	switch {
	case warm != nil:
		prev = warm.inst
	case changed != nil:
		prev = changed.inst
	default:
		for _, e := range r.entries {
			if e.key.name == sp.Name && e.key.typ == sp.Type && e.refs > 0 {
				prev = e.inst
				break
			}
		}
	}
	life, cancel := context.WithCancel(r.life)
	r.mu.Unlock()

	ctx := registry.NewContext(life, sp.Name, sp.Type, prev, services)
	inst, err := pt.New(ctx, cfg)
	if err != nil {
		cancel()
		if warm != nil {
			r.rewarm(warm)
		}
		if changed != nil {
			r.unstale(changed)
		}
		var fe *registry.FieldError
		var de registry.DecodeErrors
		if errors.As(err, &fe) || errors.As(err, &de) {
			return nil, nil, prefixErr("plugins."+sp.Name, err)
		}
		var ie *Error
		if errors.As(err, &ie) && strings.HasPrefix(ie.Key, "plugins."+sp.Name) {
			return nil, nil, err // already names its key
		}
		return nil, nil, &Error{Key: "plugins." + sp.Name, Err: err}
	}
	e := &entry{key: k, inst: inst, cancel: cancel, refs: 1, built: time.Now(), files: ctx.Files(), replaces: changed}
	if changed != nil {
		r.mu.Lock()
		changed.successor = e
		r.mu.Unlock()
	}
	if len(e.files) > 0 {
		e.filesHash = hotreload.Hash(e.files)
	}
	if warm != nil {
		e.revived = warm.revived + 1
	}
	r.mu.Lock()
	if other, ok := r.entries[k]; ok && other.refs > 0 { // a concurrent build made the same one
		other.refs++
		r.mu.Unlock()
		r.closeAll([]*entry{e})
		if warm != nil {
			r.closeAll([]*entry{warm})
		}
		return other, other, nil
	}
	r.entries[k] = e
	r.mu.Unlock()
	return e, warm, nil
}

// unstale puts back a live entry whose rebuild, for a changed file, failed:
// it keeps serving, and the next reload tries again.
func (r *Registry) unstale(e *entry) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, taken := r.entries[e.key]; !taken {
		e.stale = false
		r.entries[e.key] = e
	}
}

// rewarm puts back a warm entry whose revival failed.
func (r *Registry) rewarm(e *entry) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, taken := r.entries[e.key]; taken || r.closed {
		return
	}
	r.entries[e.key] = e
	r.warm = append(r.warm, e)
	if r.opts.TTL > 0 {
		e.timer = time.AfterFunc(r.opts.TTL, func() { r.expire(e) })
	}
}

// prefixErr puts a key path in front of decoding and validation errors.
func prefixErr(prefix string, err error) error {
	var de registry.DecodeErrors
	if errors.As(err, &de) {
		errs := make([]error, len(de))
		for i, fe := range de {
			errs[i] = &Error{Key: joinKey(prefix, fe.Key), Err: errors.New(fe.Msg)}
		}
		return errors.Join(errs...)
	}
	var fe *registry.FieldError
	if errors.As(err, &fe) {
		return &Error{Key: joinKey(prefix, fe.Key), Err: errors.New(fe.Msg)}
	}
	return &Error{Key: prefix, Err: err}
}

func joinKey(prefix, k string) string {
	switch {
	case k == "":
		return prefix
	case strings.HasPrefix(k, "["):
		return prefix + k
	}
	return prefix + "." + k
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

// retireUnused retires the entries that no live set references: their
// Context ends, and they go to the warm set, or are closed when the TTL is
// zero.
func (r *Registry) retireUnused(byName map[string]*entry) {
	var closing []*entry
	r.mu.Lock()
	for _, e := range byName {
		if e.refs == 0 && e.stale && !e.closed && !slices.Contains(closing, e) { // replaced for a changed file
			e.cancel()
			closing = append(closing, e)
			if e.successor != nil {
				e.successor.replaces, e.successor = nil, nil
			}
			continue
		}
		if e.refs != 0 || r.entries[e.key] != e || e.timer != nil || slices.Contains(r.warm, e) {
			continue
		}
		e.cancel()
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

func (r *Registry) unwarmLocked(e *entry) {
	if e.timer != nil {
		e.timer.Stop()
		e.timer = nil
	}
	if i := slices.Index(r.warm, e); i >= 0 {
		r.warm = slices.Delete(r.warm, i, i+1)
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
	if e.refs != 0 || !slices.Contains(r.warm, e) {
		r.mu.Unlock()
		return
	}
	r.unwarmLocked(e)
	delete(r.entries, e.key)
	r.mu.Unlock()
	r.closeAll([]*entry{e})
}

// closeAll ends the entries' Contexts and closes their instances, once each.
func (r *Registry) closeAll(es []*entry) {
	for _, e := range es {
		r.mu.Lock()
		done := e.closed
		e.closed = true
		r.mu.Unlock()
		if done {
			continue
		}
		e.cancel()
		c, ok := e.inst.(registry.Closer)
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

// Info describes one instance for the admin API.
type Info struct {
	Name    string         `json:"name"`
	Type    string         `json:"type"`
	Hash    string         `json:"config_hash"`
	Live    bool           `json:"live"`
	Refs    int            `json:"refs"`
	Built   time.Time      `json:"built"`
	Revived int            `json:"revived"`
	Stats   map[string]any `json:"stats,omitempty"`
}

// Instances lists the live and warm instances, sorted by name, live first.
func (r *Registry) Instances() []Info {
	r.mu.Lock()
	type pair struct {
		info Info
		inst registry.Instance
	}
	ps := make([]pair, 0, len(r.entries))
	for _, e := range r.entries {
		ps = append(ps, pair{Info{Name: e.key.name, Type: e.key.typ, Hash: e.key.hash,
			Live: e.refs > 0, Refs: e.refs, Built: e.built, Revived: e.revived}, e.inst})
	}
	r.mu.Unlock()
	out := make([]Info, len(ps))
	for i, p := range ps {
		if sr, ok := p.inst.(registry.StatsReporter); ok {
			p.info.Stats = sr.Stats()
		}
		out[i] = p.info
	}
	slices.SortFunc(out, func(a, b Info) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		switch {
		case a.Live && !b.Live:
			return -1
		case b.Live && !a.Live:
			return 1
		}
		return 0
	})
	return out
}

// Each calls fn for every live instance (for example to purge caches).
func (r *Registry) Each(fn func(name, typ string, inst registry.Instance)) {
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

// Close closes every warm instance, ends the Context of every instance, and
// marks the registry closed; instances still held by live sets are closed
// when those sets are released.
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
	r.end()
}
