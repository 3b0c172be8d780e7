package config

import (
	"fmt"
	"time"
)

// MinPoolTTL is the shortest connection_pool.ttl that keeps upstream
// connections between requests of a modest load without a warning.
const MinPoolTTL = time.Second

// DefaultProxyMaxIdle is the idle connections a proxy keeps per upstream without
// a max_size (handlers.DefaultMaxIdle).
const DefaultProxyMaxIdle = 100

// Warnings returns the settings that are valid but that a user almost
// certainly does not want, located like errors: today, a connection pool
// that makes the proxy close upstream connections and dial them again
// under load. The host logs them on every load, and -check prints them.
func (l *Loaded) Warnings() []*Error {
	c := l.Config
	if c == nil || !c.hasProxy() {
		return nil
	}
	cp := c.Performance.Memory.ConnectionPool
	var out []*Error
	if cp.TTL > 0 && cp.TTL < MinPoolTTL {
		out = append(out, l.errorAt("performance.memory.connection_pool.ttl", fmt.Sprintf(
			"%s closes an idle upstream connection before most next requests come: the proxy dials again "+
				"for nearly every request (use %s or more)", cp.TTL, MinPoolTTL)))
	}
	if cp.MaxSize == 0 && cp.MinSize < DefaultProxyMaxIdle {
		out = append(out, l.errorAt("performance.memory.connection_pool.max_size", fmt.Sprintf(
			"0 (no limit) keeps at most %d idle connections per upstream: above %d concurrent requests to "+
				"one upstream, connections are closed after one use and dialed again (set max_size to the "+
				"concurrency you expect, or min_size to keep more idle)", DefaultProxyMaxIdle, DefaultProxyMaxIdle)))
	}
	return out
}

// hasProxy reports whether a route forwards to an upstream.
func (c *Config) hasProxy() bool {
	for _, r := range c.Routes {
		if r.Handler.Proxy != nil {
			return true
		}
	}
	return false
}
