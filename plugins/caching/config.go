package caching

import (
	"errors"
	"fmt"
	"net/textproto"
	"slices"
	"strings"
	"time"

	"github.com/switchyard/switchyard/registry"
)

// Defaults used when neither the config nor performance.response.caching
// gives a value.
const (
	// DefaultTTL is the storage cap when performance.response.caching.ttl is unset.
	DefaultTTL = 300 * time.Second
	// DefaultMaxSize bounds a cache's memory tier.
	DefaultMaxSize = 64 << 20
	// DefaultMaxObjectSize is the largest response body that is stored.
	DefaultMaxObjectSize = 1 << 20
	// DefaultRedisTimeout bounds every Redis command of the shared tier.
	DefaultRedisTimeout = 50 * time.Millisecond
	// DefaultRedisPrefix starts every Redis key; the instance name follows it.
	DefaultRedisPrefix = "switchyard:cache:"
)

// DefaultUnkeyedHeaders are request headers that change what many origins
// serve without being part of the cache key (the usual cache-poisoning
// vectors). A request carrying one of them bypasses the cache.
var DefaultUnkeyedHeaders = []string{
	"X-Forwarded-Host", "X-Original-URL", "X-Rewrite-URL",
	"X-HTTP-Method-Override", "X-Forwarded-Scheme",
}

// DefaultTargetedFields are the targeted cache-control fields (RFC 9213)
// this cache obeys, in precedence order.
var DefaultTargetedFields = []string{"CDN-Cache-Control"}

// Config is the configuration of a caching instance.
type Config struct {
	// Enabled turns the cache on. When false every request passes through
	// untouched except for X-Cache: BYPASS. Default:
	// performance.response.caching.enabled (true).
	Enabled bool `koanf:"enabled" json:"enabled"`
	// TTL is the longest time a response stays stored, counted from when it
	// was received. It caps, and never extends, the freshness the origin
	// gives (s-maxage, max-age, Expires, or the heuristic for Last-Modified):
	// a response is served as fresh only within its own lifetime and never
	// after TTL. Until TTL a stored response can be revalidated, served
	// stale where a directive allows it, or given to a request with
	// max-stale. A response with no lifetime gets none from TTL. Default:
	// performance.response.caching.ttl (300s).
	TTL time.Duration `koanf:"ttl" json:"ttl"`
	// MaxSize bounds the bytes held by the memory tier (bodies, stored
	// headers, keys and a fixed per-entry overhead). Default 64MiB.
	MaxSize registry.Size `koanf:"max_size" json:"max_size"`
	// MaxObjectSize is the largest body that is stored. A larger response is
	// streamed to the client and not stored. Default 1MiB, or max_size when
	// that is smaller; it may not exceed max_size.
	MaxObjectSize registry.Size `koanf:"max_object_size" json:"max_object_size"`
	// StoreSetCookie stores responses that carry Set-Cookie or Set-Cookie2
	// as the origin sent them, cookies included: every client served the
	// stored copy receives the same cookie. When false (the default) such
	// responses are not stored at all.
	StoreSetCookie bool `koanf:"store_set_cookie" json:"store_set_cookie"`
	// UnkeyedHeaders lists request headers that make a request bypass the
	// cache: headers that may change the response but are not in the key.
	// Default: X-Forwarded-Host, X-Original-URL, X-Rewrite-URL,
	// X-HTTP-Method-Override, X-Forwarded-Scheme. An empty list turns the
	// check off.
	UnkeyedHeaders []string `koanf:"unkeyed_headers" json:"unkeyed_headers"`
	// TargetedFields lists the targeted cache-control fields (RFC 9213)
	// this cache obeys, in precedence order: the first one a response
	// carries and that parses governs storing and freshness, and
	// Cache-Control and Expires are then ignored. Default
	// [CDN-Cache-Control]; an empty list obeys Cache-Control only.
	TargetedFields []string `koanf:"targeted_fields" json:"targeted_fields"`
	// StaleWhileRevalidate is the stale-while-revalidate window given to
	// responses whose Cache-Control has none, provided they have a positive
	// freshness lifetime and no must-revalidate, proxy-revalidate, s-maxage
	// or no-cache. 0 (the default) uses only what responses say.
	StaleWhileRevalidate time.Duration `koanf:"stale_while_revalidate" json:"stale_while_revalidate"`
	// StaleIfError is the stale-if-error window given to responses whose
	// Cache-Control has none, under the same conditions as
	// StaleWhileRevalidate. 0 (the default) uses only what responses and
	// requests say.
	StaleIfError time.Duration `koanf:"stale_if_error" json:"stale_if_error"`
	// Store selects where entries live: "memory" (default) or "redis" (a
	// shared Redis tier behind the memory tier).
	Store string `koanf:"store" json:"store"`
	// Redis configures the shared tier; used when Store is "redis".
	Redis RedisConfig `koanf:"redis" json:"redis"`

	// sizeHint is performance.response.caching.size, the number of entries
	// the cache is expected to hold; it sizes the admission counters.
	sizeHint int
}

// RedisConfig configures the shared Redis tier.
type RedisConfig struct {
	// Addr is the Redis server as host:port. Required with store: redis.
	Addr string `koanf:"addr" json:"addr"`
	// Password authenticates to Redis (AUTH); empty for none.
	Password string `koanf:"password" json:"password" secret:"true"`
	// DB is the Redis database number. Default 0.
	DB int `koanf:"db" json:"db"`
	// Prefix starts every key the cache writes. Hosts that share entries
	// must use the same prefix. Default "switchyard:cache:" followed by the
	// instance name and ":".
	Prefix string `koanf:"prefix" json:"prefix"`
	// Timeout bounds every Redis command; a slower Redis is treated as down.
	// Default 50ms.
	Timeout time.Duration `koanf:"timeout" json:"timeout"`
}

// SetDefaults fills in the defaults, from the host's
// performance.response.caching section where it sets them: enabled (default
// true), size (the number of entries expected, which sizes the admission
// counters) and ttl (default 300s).
func (c *Config) SetDefaults(host registry.Section) error {
	d := struct {
		Enabled bool          `koanf:"enabled"`
		Size    int           `koanf:"size"`
		TTL     time.Duration `koanf:"ttl"`
	}{Enabled: true, TTL: DefaultTTL}
	if err := host.Decode(&d); err != nil {
		return err
	}
	c.Enabled = d.Enabled
	c.TTL = d.TTL
	if c.TTL <= 0 {
		c.TTL = DefaultTTL
	}
	c.sizeHint = d.Size
	c.MaxSize = DefaultMaxSize
	c.MaxObjectSize = DefaultMaxObjectSize
	c.UnkeyedHeaders = slices.Clone(DefaultUnkeyedHeaders)
	c.TargetedFields = slices.Clone(DefaultTargetedFields)
	c.Store = "memory"
	c.Redis.Timeout = DefaultRedisTimeout
	return nil
}

// Validate checks the decoded config; errors name the key.
func (c *Config) Validate() error {
	var errs []error
	if c.TTL <= 0 {
		errs = append(errs, fmt.Errorf("ttl: must be > 0, got %s", c.TTL))
	}
	if c.MaxSize <= 0 {
		errs = append(errs, errors.New("max_size: must be > 0"))
	}
	if c.MaxObjectSize == DefaultMaxObjectSize && c.MaxSize > 0 && c.MaxSize < c.MaxObjectSize {
		c.MaxObjectSize = c.MaxSize // the default follows a smaller max_size
	}
	if c.MaxObjectSize <= 0 {
		errs = append(errs, errors.New("max_object_size: must be > 0"))
	} else if c.MaxSize > 0 && c.MaxObjectSize > c.MaxSize {
		errs = append(errs, fmt.Errorf("max_object_size: %s is larger than max_size %s", c.MaxObjectSize, c.MaxSize))
	}
	for i, h := range c.UnkeyedHeaders {
		if !validFieldName(h) {
			errs = append(errs, fmt.Errorf("unkeyed_headers[%d]: %q is not a valid header name", i, h))
		}
	}
	for i, h := range c.TargetedFields {
		switch {
		case !validFieldName(h):
			errs = append(errs, fmt.Errorf("targeted_fields[%d]: %q is not a valid header name", i, h))
		case strings.EqualFold(h, "Cache-Control") || strings.EqualFold(h, "Expires"):
			errs = append(errs, fmt.Errorf("targeted_fields[%d]: %q is not a targeted field (it is always read when no targeted field applies)", i, h))
		}
	}
	if c.StaleWhileRevalidate < 0 {
		errs = append(errs, errors.New("stale_while_revalidate: must not be negative"))
	}
	if c.StaleIfError < 0 {
		errs = append(errs, errors.New("stale_if_error: must not be negative"))
	}
	switch c.Store {
	case "memory":
	case "redis":
		if strings.TrimSpace(c.Redis.Addr) == "" {
			errs = append(errs, errors.New("redis.addr: required with store: redis"))
		}
	default:
		errs = append(errs, fmt.Errorf("store: %q is not memory or redis", c.Store))
	}
	if c.Redis.DB < 0 {
		errs = append(errs, errors.New("redis.db: must not be negative"))
	}
	if c.Redis.Timeout <= 0 {
		errs = append(errs, errors.New("redis.timeout: must be > 0"))
	}
	return errors.Join(errs...)
}

// validFieldName reports whether s is a header field name (a token).
func validFieldName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isTokenChar(s[i]) {
			return false
		}
	}
	return true
}

// canonicalHeaders returns the canonical forms of names, without duplicates.
func canonicalHeaders(names []string) []string {
	out := make([]string, 0, len(names))
	for _, n := range names {
		cn := textproto.CanonicalMIMEHeaderKey(n)
		if !slices.Contains(out, cn) {
			out = append(out, cn)
		}
	}
	return out
}
