package config

import (
	"strings"
	"testing"
)

func TestPoolWarnings(t *testing.T) {
	const proxy = "routes:\n  - path: /api\n    handler: {proxy: {upstream: \"http://127.0.0.1:9\"}}\n"
	const respond = "routes:\n  - path: /api\n    handler: {respond: {body: ok}}\n"
	pool := func(lines string) string {
		return "performance:\n  memory:\n    connection_pool:\n" + lines
	}
	tests := []struct {
		name string
		yaml string
		want []string // "line: key" of each warning
	}{
		{"defaults", proxy, nil},
		{"max_size no limit", pool("      max_size: 0\n") + proxy, []string{"4: performance.memory.connection_pool.max_size"}},
		{"no limit with a large floor", pool("      max_size: 0\n      min_size: 200\n") + proxy, nil},
		{"short ttl", pool("      ttl: 100ms\n") + proxy, []string{"4: performance.memory.connection_pool.ttl"}},
		{"both", pool("      ttl: 10ms\n      max_size: 0\n") + proxy, []string{
			"4: performance.memory.connection_pool.ttl", "5: performance.memory.connection_pool.max_size"}},
		{"no proxy route", pool("      ttl: 10ms\n      max_size: 0\n") + respond, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l, err := LoadBytes("sw.yaml", []byte(tc.yaml), t.TempDir(), nil)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, w := range l.Warnings() {
				got = append(got, strings.TrimPrefix(w.Error(), "sw.yaml:"))
			}
			if len(got) != len(tc.want) {
				t.Fatalf("warnings %q, want %d", got, len(tc.want))
			}
			for i, w := range tc.want {
				if !strings.HasPrefix(got[i], w+": ") {
					t.Errorf("warning %q, want it to start with %q", got[i], w)
				}
			}
		})
	}
}
