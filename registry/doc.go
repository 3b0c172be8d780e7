// Package registry is where plugin types register and where the host turns the
// `plugins:` block of a configuration into live middleware instances.
//
// # Registering a plugin type
//
// A plugin type registers itself by name from an init function, as database/sql
// drivers do; a binary includes it by importing the package:
//
//	func init() {
//		registry.Register("hello", func(ctx *registry.Context, cfg *Config) (registry.Instance, error) {
//			return registry.MiddlewareFunc(func(next http.Handler) http.Handler { ... }), nil
//		})
//	}
//
// The config type C is a struct with `koanf` tags. The registry decodes the
// instance's keys into a fresh *C (unknown keys and wrong types are errors),
// after calling its SetDefaults method when it has one, and calls its Validate
// method when it has one. Only then is the factory called.
//
// # The contract
//
// An [Instance] has one required method, Wrap, which returns the middleware
// around next: every func(http.Handler) http.Handler can be wrapped with
// [MiddlewareFunc]. Optional behaviour is found by type assertion: [Closer]
// (release resources once retired) on the instance, [Validator] and
// [Defaulter] on the config.
//
// # Reuse across reloads
//
// A [Registry] keeps the live instances keyed by instance name, type and a
// canonical hash of the decoded config. A build whose config for an instance is
// unchanged gets the very same instance back, so rate-limit counters, cache
// contents and connections survive a reload. An instance that no live [Set]
// references any more is retired: it stays warm for the registry TTL (so that
// reverting an edit gets its state back), then it is closed, exactly once, after
// the last request that ran on it has finished.
package registry
