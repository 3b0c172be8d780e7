package ratelimit

import (
	"errors"
	"fmt"
	"math"
	"net/textproto"
	"strings"
	"time"

	"github.com/switchyard/switchyard/registry"
)

// Config is the configuration of one ratelimit instance: the keys under
// `plugins.NAME` next to `type: ratelimit`.
type Config struct {
	// Rate is the number of requests a key may make every Per (the quota).
	// Required, > 0.
	Rate int `koanf:"rate" json:"rate"`
	// Per is the window the Rate is spread over; quota returns continuously,
	// one request every Per/Rate. Default 1s.
	Per time.Duration `koanf:"per" json:"per"`
	// Burst is how many requests a full bucket holds, that is how many a quiet
	// key may send at once. 0 (the default) means Rate.
	Burst int `koanf:"burst" json:"burst"`
	// Key chooses the bucket of a request: "ip" (the client address, IPv6
	// grouped by IPv6Prefix), "header:NAME" (the first value of that request
	// header; requests without it are keyed by their IP), "route" (the matched
	// route pattern), "var:NAME" (the request value NAME that an earlier link
	// set with registry.SetValue, such as the user an auth plugin identified;
	// requests without it are keyed by their IP) or any other string, which is
	// a CEL expression of type string over `request` (request.vars included).
	// Default "ip".
	Key string `koanf:"key" json:"key"`
	// IPv6Prefix is the prefix length IPv6 client addresses are grouped by
	// (a client usually holds a whole /64). 1..128, default 64.
	IPv6Prefix int `koanf:"ipv6_prefix" json:"ipv6_prefix"`
	// Store is where bucket state lives: "memory" (this process) or "redis"
	// (shared by every instance that points at the same Redis). Default memory.
	Store string `koanf:"store" json:"store"`
	// MaxKeys bounds the keys the memory store tracks; idle keys are dropped
	// first, then the keys closest to a full bucket. Default 1,000,000.
	MaxKeys int `koanf:"max_keys" json:"max_keys"`
	// Redis configures the Redis store (used only when Store is "redis").
	Redis RedisConfig `koanf:"redis" json:"redis"`
	// OnError decides a request's fate when Redis cannot answer within its
	// timeout: "allow" (the default) lets it through, "deny" answers 503.
	OnError string `koanf:"on_error" json:"on_error"`
	// LegacyHeaders adds X-RateLimit-Limit, X-RateLimit-Remaining and
	// X-RateLimit-Reset next to the standard RateLimit fields.
	LegacyHeaders bool `koanf:"legacy_headers" json:"legacy_headers"`
	// DryRun counts and logs the requests that would be refused but lets
	// every request through.
	DryRun bool `koanf:"dry_run" json:"dry_run"`
	// Name is the policy name in the RateLimit and RateLimit-Policy fields.
	// Empty (the default) means the instance name.
	Name string `koanf:"name" json:"name"`
}

// RedisConfig configures the connection of the Redis store.
type RedisConfig struct {
	// Addr is the host:port of the Redis server. Default localhost:6379.
	Addr string `koanf:"addr" json:"addr"`
	// Password authenticates to Redis (AUTH); empty for none.
	Password string `koanf:"password" json:"password" secret:"true"`
	// DB is the logical database to select. Default 0.
	DB int `koanf:"db" json:"db"`
	// Prefix starts every bucket key; instances with the same prefix share
	// buckets. Empty (the default) means "switchyard:ratelimit:<instance name>".
	Prefix string `koanf:"prefix" json:"prefix"`
	// Timeout bounds one decision (connection, script and reply); past it the
	// request follows on_error. Default 50ms.
	Timeout time.Duration `koanf:"timeout" json:"timeout"`
}

// Default values of the keys that have one.
const (
	DefaultPer          = time.Second
	DefaultKey          = "ip"
	DefaultIPv6Prefix   = 64
	DefaultStore        = "memory"
	DefaultMaxKeys      = 1_000_000
	DefaultOnError      = "allow"
	DefaultRedisAddr    = "localhost:6379"
	DefaultRedisTimeout = 50 * time.Millisecond
)

// SetDefaults fills in the defaults before the instance's keys are decoded
// over them. The ratelimit plugin has no performance.response section.
func (c *Config) SetDefaults(registry.Section) error {
	c.Per = DefaultPer
	c.Key = DefaultKey
	c.IPv6Prefix = DefaultIPv6Prefix
	c.Store = DefaultStore
	c.MaxKeys = DefaultMaxKeys
	c.OnError = DefaultOnError
	c.Redis.Addr = DefaultRedisAddr
	c.Redis.Timeout = DefaultRedisTimeout
	return nil
}

// Validate checks the decoded config. It reports every problem at once, as
// a registry.DecodeErrors whose entries name their keys.
func (c *Config) Validate() error {
	var errs registry.DecodeErrors
	bad := func(key, format string, args ...any) {
		errs = append(errs, &registry.FieldError{Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	if c.Rate <= 0 {
		bad("rate", "must be > 0, got %d", c.Rate)
	}
	if c.Per <= 0 {
		bad("per", "must be > 0, got %s", c.Per)
	}
	if c.Burst < 0 {
		bad("burst", "must be >= 0, got %d", c.Burst)
	}
	if c.Rate > 0 && c.Per > 0 {
		interval := int64(c.Per) / int64(c.Rate)
		switch {
		case interval < 1:
			bad("rate", "%d per %s is more than one request per nanosecond", c.Rate, c.Per)
		case c.Store == "redis" && interval < int64(time.Microsecond):
			bad("rate", "%d per %s is more than one request per microsecond, the resolution of the Redis store", c.Rate, c.Per)
		case c.Burst >= 0 && int64(c.capacity()) > math.MaxInt64/4/interval:
			bad("burst", "a bucket of %d requests of %s each is too long", c.capacity(), time.Duration(interval))
		}
	}
	if _, err := parseKey(c.Key); err != nil {
		bad("key", "%v", err)
	}
	if c.IPv6Prefix < 1 || c.IPv6Prefix > 128 {
		bad("ipv6_prefix", "must be between 1 and 128, got %d", c.IPv6Prefix)
	}
	switch c.Store {
	case "memory", "redis":
	default:
		bad("store", "must be memory or redis, got %q", c.Store)
	}
	if c.MaxKeys <= 0 {
		bad("max_keys", "must be > 0, got %d", c.MaxKeys)
	}
	switch c.OnError {
	case "allow", "deny":
	default:
		bad("on_error", "must be allow or deny, got %q", c.OnError)
	}
	if c.Store == "redis" {
		if strings.TrimSpace(c.Redis.Addr) == "" {
			bad("redis.addr", "must be set when store is redis")
		}
		if c.Redis.DB < 0 {
			bad("redis.db", "must be >= 0, got %d", c.Redis.DB)
		}
		if c.Redis.Timeout <= 0 {
			bad("redis.timeout", "must be > 0, got %s", c.Redis.Timeout)
		}
	}
	if err := checkPolicyName(c.Name); err != nil {
		bad("name", "%v", err)
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// capacity is the number of requests a full bucket holds.
func (c *Config) capacity() int {
	if c.Burst > 0 {
		return c.Burst
	}
	return c.Rate
}

// keySource is the kind of value a request's bucket is chosen by.
type keySource uint8

const (
	sourceIP keySource = iota
	sourceHeader
	sourceRoute
	sourceExpr
	sourceVar
)

// keySpec is a parsed `key`.
type keySpec struct {
	source keySource
	header string // canonical header name for sourceHeader
	expr   string // CEL source for sourceExpr
	name   string // request value name for sourceVar
}

// parseKey reads the `key` setting: ip, route, header:NAME, var:NAME or an
// expression.
func parseKey(s string) (keySpec, error) {
	t := strings.TrimSpace(s)
	switch {
	case t == "":
		return keySpec{}, errors.New("must not be empty (ip, route, header:NAME, var:NAME or a CEL expression)")
	case t == "ip":
		return keySpec{source: sourceIP}, nil
	case t == "route":
		return keySpec{source: sourceRoute}, nil
	case strings.HasPrefix(t, "header:"):
		name := strings.TrimSpace(strings.TrimPrefix(t, "header:"))
		if name == "" {
			return keySpec{}, errors.New("header: needs a header name, as in header:X-API-Key")
		}
		for i := 0; i < len(name); i++ {
			if !isTokenChar(name[i]) {
				return keySpec{}, fmt.Errorf("invalid header name %q: character %q is not allowed in a field name", name, name[i])
			}
		}
		return keySpec{source: sourceHeader, header: textproto.CanonicalMIMEHeaderKey(name)}, nil
	case strings.HasPrefix(t, "var:"):
		name := strings.TrimSpace(strings.TrimPrefix(t, "var:"))
		if name == "" {
			return keySpec{}, errors.New("var: needs a request value name, as in var:user")
		}
		return keySpec{source: sourceVar, name: name}, nil
	}
	return keySpec{source: sourceExpr, expr: t}, nil
}

// isTokenChar reports whether c may appear in an HTTP field name (RFC 9110 token).
func isTokenChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// checkPolicyName accepts what a structured-field string can carry:
// printable ASCII.
func checkPolicyName(s string) error {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return fmt.Errorf("must be printable ASCII, found byte 0x%02x at %d", s[i], i)
		}
	}
	return nil
}
