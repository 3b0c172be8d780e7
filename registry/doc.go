// Package registry is the plugin author's contract: where a plugin type
// registers, what its config looks like, and what the host gives an instance.
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
// The config type C is a struct with `koanf` tags. The host makes a fresh *C,
// calls its SetDefaults method when it has one ([Defaulter]; it receives the
// type's own section of the host config, performance.response.<type>),
// decodes the instance's keys over it strictly (unknown keys and wrong types
// are errors naming the key), and calls its Validate method when it has one
// ([Validator]). Only then is the factory called.
//
// # The contract
//
// An [Instance] has one required method, Wrap, which returns the middleware
// around next: every func(http.Handler) http.Handler can be wrapped with
// [MiddlewareFunc]. Optional behaviour is found by type assertion: [Closer]
// (release resources once retired) and [StatsReporter] (live numbers for the
// dashboard) on the instance, [Defaulter] and [Validator] on the config.
//
// # What the host gives an instance
//
// The factory's [Context] carries the instance's name and type, the instance
// it replaces (Previous, to carry state over), and the host's services as
// methods that are never nil: a logger, metrics, the buffer and worker pools,
// the client address, the clock, and compilers for conditions and CEL
// expressions. Context is also a context.Context that is done once the
// instance is retired: a plugin that starts background work stops it then.
//
// # Secrets
//
// A config field tagged secret:"true" holds a secret:
//
//	Password string `koanf:"password" json:"password" secret:"true"`
//
// Wherever the host shows configuration (the admin API, the dashboard,
// -print-config) its value is replaced by [Redacted]; [Type.Redact] does it
// for an instance's keys and [Type.SecretKeys] lists the tagged key paths.
// Errors of [Type.Decode] and [Type.New] never quote a tagged value: a
// decoding error about a secret key omits the value, and the message of a
// Validate or factory error has every tagged value replaced by [Redacted].
//
// # Request values
//
// A link hands what it learned about a request to the rest of the chain
// with [SetValue], which returns the request to pass on:
//
//	next.ServeHTTP(w, registry.SetValue(r, "user", name))
//
// Later links and Go handlers read it with [Value] or [ValueOf], conditions
// as request.vars.user (CEL) or vars: {user: GLOB} (structured), and the
// ratelimit plugin with key: var:user. A request that sets nothing pays
// nothing; reading allocates nothing.
//
// # Outcomes on the access log
//
// A link reports what it decided for a request with [Note] on the
// ResponseWriter it was given, and the host writes it on the request's
// access log line:
//
//	registry.Note(w, "quota", "refused")
//
// The built-in plugins note "cache", "ratelimit" and "encoding". Note
// allocates nothing and does nothing outside the host.
//
// # Across reloads
//
// A reload that leaves an instance's config unchanged reuses the very same
// instance, so its state survives. A changed config builds a new instance
// that receives the serving one as Previous. An instance no configuration
// uses is retired after its last request: its Context is done, and Close is
// called exactly once.
package registry
