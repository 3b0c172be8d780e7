package registry

import (
	"fmt"
	"net/http"
	"reflect"
	"sort"
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

// Defaulter is implemented by config types that fill in defaults before the
// user's keys are decoded over them. d carries the host-wide defaults of the
// performance.response block.
type Defaulter interface {
	SetDefaults(d Defaults)
}

// Factory builds an instance from its decoded, defaulted and validated config.
type Factory[C any] func(ctx *Context, cfg *C) (Instance, error)

// pluginType is the type-erased form of a registered plugin type.
type pluginType struct {
	name    string
	cfgType reflect.Type
	newCfg  func() any
	build   func(ctx *Context, cfg any) (Instance, error)
}

var (
	typesMu sync.RWMutex
	types   = map[string]*pluginType{}
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
	types[name] = &pluginType{
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
	names := make([]string, 0, len(types))
	for n := range types {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Lookup reports whether a plugin type is registered.
func Lookup(name string) bool {
	typesMu.RLock()
	defer typesMu.RUnlock()
	_, ok := types[name]
	return ok
}

// ConfigType returns the config struct type of a registered plugin type, for
// documentation and tooling.
func ConfigType(name string) (reflect.Type, bool) {
	typesMu.RLock()
	defer typesMu.RUnlock()
	t, ok := types[name]
	if !ok {
		return nil, false
	}
	return t.cfgType, true
}

func lookup(name string) (*pluginType, bool) {
	typesMu.RLock()
	defer typesMu.RUnlock()
	t, ok := types[name]
	return t, ok
}
