package handlers

import (
	"testing"

	"github.com/switchyard/switchyard/core/config"
)

// The config's pool warnings assume the proxy's idle default.
func TestDefaultMaxIdleMatchesConfig(t *testing.T) {
	if DefaultMaxIdle != config.DefaultProxyMaxIdle {
		t.Fatalf("handlers.DefaultMaxIdle = %d, config.DefaultProxyMaxIdle = %d", DefaultMaxIdle, config.DefaultProxyMaxIdle)
	}
}
