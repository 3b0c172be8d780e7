package core

import (
	"io"
	"strings"
	"testing"
)

// BenchmarkRoutedAccessLog is BenchmarkRouted's switchyard case with the
// access log off and on, in each format, written to io.Discard: the cost of
// formatting a line per request.
func BenchmarkRoutedAccessLog(b *testing.B) {
	accessLogWriter = io.Discard
	defer func() { accessLogWriter = nil }()
	routes, _ := twentyRoutes()
	for _, format := range []string{"off", "json", "text", "common", "combined"} {
		b.Run(format, func(b *testing.B) {
			yaml := routes
			if format != "off" {
				yaml = "server:\n  access_log: {enabled: true, format: " + format + "}\n" + routes
			}
			h := New(Options{Logger: quietLogger()})
			defer h.Close()
			if err := h.LoadBytes("bench.yaml", []byte(yaml), b.TempDir()); err != nil {
				b.Fatal(err)
			}
			if format != "off" && !strings.Contains(h.Snapshot().Loaded.Config.Server.AccessLog.Format, format) {
				b.Fatal("access log not configured")
			}
			serveLoop(b, h)
		})
	}
}
