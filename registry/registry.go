package registry

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"sync"
)

// Instance is a built plugin: one link of a chain.
type Instance interface {
	// Wrap returns the middleware around next. It is called once per chain
	// when a configuration is built, never per request.
	Wrap(next http.Handler) http.Handler
}

// MiddlewareFunc adapts an ordinary net/http middleware into an Instance.
type MiddlewareFunc func(next http.Handler) http.Handler

// Wrap calls f(next).
func (f MiddlewareFunc) Wrap(next http.Handler) http.Handler { return f(next) }

// Closer is implemented by instances that hold resources. Close is called
// exactly once, after the instance is retired and its last in-flight request
// has finished.
type Closer interface {
	Close() error
}

// Validator is implemented by config types that check themselves. Validate runs
// after decoding and defaults, before the factory; its error should name the key.
type Validator interface {
	Validate() error
}

// Defaulter is implemented by config types that fill in their defaults before
// the instance's keys are decoded over them. host is the plugin type's own
// section of the host configuration, performance.response.<type> (empty when
// the configuration has none): decode it with [Section.Decode] into a struct
// of the type's choosing. An error is reported at that section's key.
type Defaulter interface {
	SetDefaults(host Section) error
}

// Section is a block of the host configuration as parsed from the file, such
// as performance.response.compression for the compression type.
type Section map[string]any

// Decode decodes the section into out (a pointer to a struct with koanf
// tags) strictly, as instance keys are decoded: an unknown key or a wrong type
// is an error naming the key.
func (s Section) Decode(out any) error {
	if s == nil {
		return nil
	}
	return Decode(map[string]any(s), out)
}

// Factory builds an instance from its decoded, defaulted and validated config.
type Factory[C any] func(ctx *Context, cfg *C) (Instance, error)

// Type is a registered plugin type, as [Lookup] finds it.
type Type struct {
	name    string
	cfgType reflect.Type
	newCfg  func() any
	build   func(ctx *Context, cfg any) (Instance, error)
}

var (
	typesMu sync.RWMutex
	types   = map[string]*Type{}
)

// Register makes a plugin type available under name. It is meant to be called
// from an init function and panics when name is empty or already registered,
// or when C is not a struct type: those are programming errors.
func Register[C any](name string, factory Factory[C]) {
	if name == "" {
		panic("registry: Register with an empty name")
	}
	if factory == nil {
		panic("registry: Register " + name + " with a nil factory")
	}
	if t := reflect.TypeFor[C](); t.Kind() != reflect.Struct {
		panic(fmt.Sprintf("registry: Register %s: config type %s is not a struct", name, t))
	}
	typesMu.Lock()
	defer typesMu.Unlock()
	if _, dup := types[name]; dup {
		panic("registry: Register called twice for plugin type " + name)
	}
	types[name] = &Type{
		name:    name,
		cfgType: reflect.TypeFor[C](),
		newCfg:  func() any { return new(C) },
		build: func(ctx *Context, cfg any) (Instance, error) {
			return factory(ctx, cfg.(*C))
		},
	}
}

// Types returns the names of the registered plugin types, sorted.
func Types() []string {
	typesMu.RLock()
	defer typesMu.RUnlock()
	return slices.Sorted(maps.Keys(types))
}

// Lookup returns the plugin type registered under name.
func Lookup(name string) (*Type, bool) {
	typesMu.RLock()
	defer typesMu.RUnlock()
	t, ok := types[name]
	return t, ok
}

// Name is the name the type was registered under.
func (t *Type) Name() string { return t.name }

// ConfigType is the type's config struct, for documentation and tooling.
func (t *Type) ConfigType() reflect.Type { return t.cfgType }

// SectionError is an error of the host section that [Type.Decode] was given:
// the type's SetDefaults refused it.
type SectionError struct{ Err error }

func (e *SectionError) Error() string { return e.Err.Error() }
func (e *SectionError) Unwrap() error { return e.Err }

// Decode makes the type's config from an instance's keys, as a host does
// before building: a fresh config, SetDefaults with host (a *SectionError
// when it fails), then keys decoded strictly over it (a *FieldError or
// [DecodeErrors] naming each bad key), then Validate. The result is the
// *C that [Type.New] takes.
func (t *Type) Decode(host Section, keys map[string]any) (any, error) {
	cfg := t.newCfg()
	if df, ok := cfg.(Defaulter); ok {
		if err := df.SetDefaults(host); err != nil {
			return nil, &SectionError{Err: err}
		}
	}
	if keys == nil {
		keys = map[string]any{}
	}
	if err := Decode(keys, cfg); err != nil {
		err = scrubSecretKeys(secretsOf(t.cfgType), err)
		return nil, scrubError(err, t.secretsOfConfig(cfg, keys))
	}
	if v, ok := cfg.(Validator); ok {
		if err := v.Validate(); err != nil {
			return nil, scrubError(err, t.secretsOfConfig(cfg, keys))
		}
	}
	return cfg, nil
}

// New calls the type's factory with a config that [Type.Decode] made. A
// panic in the factory is returned as an error, and so is a factory that
// returns no instance.
func (t *Type) New(ctx *Context, cfg any) (inst Instance, err error) {
	if reflect.TypeOf(cfg) != reflect.PointerTo(t.cfgType) {
		return nil, fmt.Errorf("plugin type %s: config is %T, want *%s", t.name, cfg, t.cfgType)
	}
	defer func() {
		if p := recover(); p != nil {
			inst, err = nil, scrubError(fmt.Errorf("plugin type %s panicked while building: %v", t.name, p), t.secretsOfConfig(cfg, nil))
		}
	}()
	// Previous is for the factory alone: an instance that keeps ctx must not
	// keep its predecessor (and, through it, every instance before it).
	defer func() { ctx.Previous = nil }()
	inst, err = t.build(ctx, cfg)
	if err == nil && inst == nil {
		err = errors.New("plugin factory returned no instance")
	}
	return inst, scrubError(err, t.secretsOfConfig(cfg, nil))
}
