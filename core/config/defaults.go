package config

// Defaults returns the default configuration as the map that every load
// starts from, before the files and the environment overrides are merged in.
// It is a fresh map on every call: the caller may change it.
//
// The values are those of the specification, with two deliberate choices:
// performance.network.http.keepalive_timeout is 0, which means "use
// server.idle_timeout", and performance.cpu.process_pool.workers is 0, which
// means GOMAXPROCS. The admin routes are off by default; the devserver turns
// them on.
func Defaults() map[string]any {
	return map[string]any{
		"server": map[string]any{
			"addr":                "127.0.0.1:8080",
			"read_header_timeout": "5s",
			"read_timeout":        "30s",
			"write_timeout":       "30s",
			"idle_timeout":        "60s",
			"max_header_bytes":    "1MB",
			"max_body_bytes":      "10MB",
			"shutdown_timeout":    "10s",
			"trusted_proxies":     []any{},
			"admin": map[string]any{
				"enabled": false,
				"prefix":  "/_switchyard",
				"allow":   []any{"127.0.0.0/8", "::1/128"},
				"hosts":   []any{},
			},
			"tls": map[string]any{"min_version": "1.2"},
			"h2c": false,
			"access_log": map[string]any{
				"enabled":    false,
				"format":     "text",
				"output":     "stderr",
				"sample":     1.0,
				"skip_paths": []any{},
			},
			"tracing": map[string]any{
				"enabled":      false,
				"service_name": "switchyard",
				"sample":       1.0,
			},
		},
		"reload": map[string]any{
			"watch":      true,
			"debounce":   "100ms",
			"poll":       "0s",
			"history":    20,
			"cache_file": "",
		},
		"performance": map[string]any{
			"memory": map[string]any{
				"buffer_pool":     map[string]any{"size": "1MB", "count": 100, "prealloc": true},
				"object_pool":     map[string]any{"size": 10000, "ttl": "60s"},
				"connection_pool": map[string]any{"min_size": 10, "max_size": 100, "ttl": "300s"},
			},
			"cpu": map[string]any{
				"thread_pool":  map[string]any{"min_workers": 4, "max_workers": 16, "queue_size": 1000},
				"process_pool": map[string]any{"workers": 0, "maxtasksperchild": 1000},
			},
			"network": map[string]any{
				"tcp":  map[string]any{"keepalive": true, "nodelay": true, "backlog": 2048},
				"http": map[string]any{"pipeline": true, "max_requests": 10000, "keepalive_timeout": "0s"},
			},
			"routing": map[string]any{
				"cache_size":    10000,
				"pattern_cache": true,
				"fast_paths":    []any{"/static/*", "/health", "/metrics"},
			},
			"middleware": map[string]any{
				"registry":   map[string]any{"cache_size": 1000, "ttl": "60s"},
				"conditions": map[string]any{"cache_size": 5000, "ttl": "30s"},
			},
			"response": map[string]any{
				"compression": map[string]any{"level": 6, "min_size": 1024},
				"caching":     map[string]any{"enabled": true, "size": 1000, "ttl": "300s"},
			},
		},
		"static": map[string]any{
			"root": "./public",
		},
	}
}

// topLevelKeys are the keys a config file may have at its top level; an
// environment variable whose first segment is not one of them is not a
// config override.
var topLevelKeys = map[string]bool{
	"include": true, "server": true, "reload": true, "performance": true, "static": true,
	"conditions": true, "plugins": true, "middleware": true, "routes": true,
}
