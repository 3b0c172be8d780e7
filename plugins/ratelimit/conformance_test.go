package ratelimit_test

import (
	"testing"

	_ "github.com/switchyard/switchyard/plugins/ratelimit"
	"github.com/switchyard/switchyard/plugintest"
)

// The ratelimit plugin passes the plugin conformance suite with a limit the
// suite's requests stay under; the changed config carries the buckets over.
func TestConformance(t *testing.T) {
	plugintest.Conformance(t, "ratelimit", `
rate: 1000
per: 1s
burst: 500
key: ip
`, plugintest.WithChangedConfig(`
rate: 2000
per: 1s
burst: 500
key: ip
`))
}
