package caching_test

import (
	"testing"

	_ "github.com/switchyard/switchyard/plugins/caching"
	"github.com/switchyard/switchyard/plugintest"
)

// The caching plugin passes the plugin conformance suite. The suite's
// responses carry no freshness, so they stream through the cache's capture
// path without being stored; max_object_size below the 1.5 MB bodies also
// runs the path that gives up capturing mid-response.
func TestConformance(t *testing.T) {
	plugintest.Conformance(t, "caching", `
ttl: 60s
max_size: 8MB
max_object_size: 1MB
`, plugintest.WithChangedConfig(`
ttl: 120s
max_size: 8MB
max_object_size: 1MB
`))
}
