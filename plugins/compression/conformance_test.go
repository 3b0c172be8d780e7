package compression_test

import (
	"testing"

	_ "github.com/switchyard/switchyard/plugins/compression"
	"github.com/switchyard/switchyard/plugintest"
)

// The compression plugin passes the plugin conformance suite, with small
// bodies encoded (min_size 16) so that every check runs through an encoder.
func TestConformance(t *testing.T) {
	plugintest.Conformance(t, "compression", `
level: 5
min_size: 16
encodings: [gzip, zstd, br]
`, plugintest.WithChangedConfig(`
level: 6
min_size: 16
encodings: [gzip, zstd, br]
`))
}
