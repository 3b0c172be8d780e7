package core

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/switchyard/switchyard/hotreload"
)

// TestReloadEmptyReadRetried: a file trigger that reads the config between
// an in-place save's truncate and its write waits one debounce and reads
// again; only a file still empty then is a failed reload.
func TestReloadEmptyReadRetried(t *testing.T) {
	const v1 = "reload: {watch: false, debounce: 10ms}\nroutes:\n  - path: /a\n    handler: {respond: {body: one}}\n"
	const v2 = "reload: {watch: false, debounce: 10ms}\nroutes:\n  - path: /a\n    handler: {respond: {body: two}}\n"
	tests := []struct {
		name     string
		finish   string // what the save writes during the wait; "" = nothing
		wantOK   bool
		wantBody string
	}{
		{"save completes during the wait", v2, true, "two"},
		{"file stays empty", "", false, "one"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "switchyard.yaml")
			if err := os.WriteFile(path, []byte(v1), 0o644); err != nil {
				t.Fatal(err)
			}
			h := New(Options{Logger: quietLogger()})
			t.Cleanup(h.Close)
			if err := h.LoadFile(path); err != nil {
				t.Fatal(err)
			}
			failures := testutil.ToFloat64(h.metrics.reloads.WithLabelValues("failure"))
			var waited []time.Duration
			old := emptyWait
			emptyWait = func(d time.Duration) {
				waited = append(waited, d)
				if tt.finish != "" {
					if err := os.WriteFile(path, []byte(tt.finish), 0o644); err != nil {
						t.Error(err)
					}
				}
			}
			t.Cleanup(func() { emptyWait = old })

			if err := os.Truncate(path, 0); err != nil { // the save's first step
				t.Fatal(err)
			}
			res := h.reload.runner.Run(hotreload.TriggerFile)
			if res.Success != tt.wantOK {
				t.Fatalf("reload success = %v (%s), want %v", res.Success, res.Error, tt.wantOK)
			}
			if len(waited) != 1 || waited[0] != 10*time.Millisecond {
				t.Errorf("waited %v, want one reload.debounce (10ms)", waited)
			}
			if got := do(h, "GET", "/a").Body.String(); got != tt.wantBody {
				t.Errorf("serving %q, want %q", got, tt.wantBody)
			}
			wantFailures := failures
			if !tt.wantOK {
				wantFailures++
			}
			if got := testutil.ToFloat64(h.metrics.reloads.WithLabelValues("failure")); got != wantFailures {
				t.Errorf("failed reloads = %v, want %v", got, wantFailures)
			}
		})
	}
}
