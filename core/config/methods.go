package config

import (
	"sort"
	"time"

	"github.com/switchyard/switchyard/registry"
)

// PluginSpecs returns the `plugins:` block as registry specs, sorted by
// name: each instance's type, and its other keys as the type's config.
func (c *Config) PluginSpecs() []registry.Spec {
	names := make([]string, 0, len(c.Plugins))
	for n := range c.Plugins {
		names = append(names, n)
	}
	sort.Strings(names)
	specs := make([]registry.Spec, 0, len(names))
	for _, n := range names {
		raw := c.Plugins[n]
		typ, _ := raw["type"].(string)
		cfg := make(map[string]any, len(raw))
		for k, v := range raw {
			if k != "type" {
				cfg[k] = v
			}
		}
		specs = append(specs, registry.Spec{Name: n, Type: typ, Config: cfg})
	}
	return specs
}

// ChainLink is one link of a route's effective chain, with the key path it
// was written at (for errors).
type ChainLink struct {
	// Link is the link as configured.
	Link
	// Key is the link's key path, middleware[i] or routes[r].middleware[i].
	Key string
}

// Chain returns the effective chain of route i: the global middleware
// (unless the route sets skip_global) followed by the route's own links.
func (c *Config) Chain(i int) []ChainLink {
	r := &c.Routes[i]
	var out []ChainLink
	if !r.SkipGlobal {
		for j, l := range c.Middleware {
			out = append(out, ChainLink{Link: l, Key: indexKey("middleware", j)})
		}
	}
	base := indexKey("routes", i) + ".middleware"
	for j, l := range r.Middleware {
		out = append(out, ChainLink{Link: l, Key: indexKey(base, j)})
	}
	return out
}

// ResponseDefaults returns performance.response as the registry hands it to
// plugin types.
func (c *Config) ResponseDefaults() registry.Defaults {
	r := c.Performance.Response
	return registry.Defaults{
		Compression: registry.CompressionDefaults{Level: r.Compression.Level, MinSize: r.Compression.MinSize},
		Caching:     registry.CachingDefaults{Enabled: r.Caching.Enabled, Size: r.Caching.Size, TTL: r.Caching.TTL},
	}
}

// KeepaliveTimeout is the idle keep-alive timeout in effect:
// performance.network.http.keepalive_timeout, or server.idle_timeout when
// that is 0.
func (c *Config) KeepaliveTimeout() time.Duration {
	if d := c.Performance.Network.HTTP.KeepaliveTimeout; d > 0 {
		return d
	}
	return c.Server.IdleTimeout
}

// RoutePattern returns route i's path with the presets expanded, as chi
// takes it. Load has validated it, so the error is nil for a loaded config.
func (c *Config) RoutePattern(i int) (string, error) {
	return ExpandPattern(c.Routes[i].Path)
}
