package config

import "time"

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

// Sections returns performance.response as the host hands it to plugin
// types: each type's section (performance.response.compression for the
// compression type, say) as parsed, with defaults and overrides merged.
func (l *Loaded) Sections() map[string]map[string]any {
	out := map[string]map[string]any{}
	perf, _ := l.Raw["performance"].(map[string]any)
	resp, _ := perf["response"].(map[string]any)
	for typ, v := range resp {
		if m, ok := v.(map[string]any); ok {
			out[typ] = m
		}
	}
	return out
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
