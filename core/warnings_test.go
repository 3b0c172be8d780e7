package core

import (
	"log/slog"
	"testing"

	"github.com/switchyard/switchyard/internal/wait"
)

// TestLoadLogsPoolWarning: a load whose connection pool would churn
// upstream connections is applied and logged as a warning with its key.
func TestLoadLogsPoolWarning(t *testing.T) {
	var log wait.Buffer
	h := New(Options{Logger: slog.New(slog.NewTextHandler(&log, nil))})
	defer h.Close()
	yaml := "performance: {memory: {connection_pool: {ttl: 50ms}}}\n" +
		"routes:\n  - path: /api\n    handler: {proxy: {upstream: \"http://127.0.0.1:9\"}}\n"
	if err := h.LoadBytes("sw.yaml", []byte(yaml), t.TempDir()); err != nil {
		t.Fatal(err)
	}
	if log.Count("level=WARN msg=\"config warning\"") != 1 || log.Count("performance.memory.connection_pool.ttl: 50ms closes") != 1 {
		t.Errorf("the log lacks the pool warning:\n%s", log.String())
	}
}
