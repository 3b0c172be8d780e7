package core

import (
	"net/http"
	"strings"
	"testing"

	_ "github.com/switchyard/switchyard/plugins/caching"
	_ "github.com/switchyard/switchyard/plugins/compression"
	_ "github.com/switchyard/switchyard/plugins/ratelimit"
)

// A link whose condition does not hold is skipped: the next link and the
// handler run, and the skipped plugin's counters do not move. Shown for each
// built-in plugin.
func TestConditionSkipsBuiltinPlugins(t *testing.T) {
	h := newHost(t, `
plugins:
  rl:    {type: ratelimit, rate: 1, per: 1m, key: ip}
  gz:    {type: compression, min_size: 0}
  cache: {type: caching, max_size: 1MB}
  after: {type: count, tag: after}
routes:
  - path: /x
    methods: [GET]
    middleware:
      - use: rl
        when: 'request.header.exists("X-Limit")'
      - use: gz
        when: {header: {X-Gzip: ""}}
      - use: cache
        when: 'request.query.exists("cache")'
      - use: after
    handler: {respond: {status: 200, body: '{"hello":"world, a body long enough to compress"}', headers: {Content-Type: application/json, Cache-Control: "public, max-age=60"}}}
`)
	after := lastCounter("after")
	count := func(name string, labels ...string) float64 {
		t.Helper()
		mfs, err := h.Metrics().Gather()
		if err != nil {
			t.Fatal(err)
		}
		total := 0.0
		for _, mf := range mfs {
			if mf.GetName() != "switchyard_"+name {
				continue
			}
			for _, m := range mf.GetMetric() {
				match := true
				for _, lp := range m.GetLabel() {
					for i := 0; i+1 < len(labels); i += 2 {
						if lp.GetName() == labels[i] && lp.GetValue() != labels[i+1] {
							match = false
						}
					}
				}
				if match {
					total += m.GetCounter().GetValue()
				}
			}
		}
		return total
	}

	for i := range 3 {
		rec := do(h, "GET", "/x", "Accept-Encoding", "gzip")
		if rec.Code != 200 {
			t.Fatalf("request %d = %d", i, rec.Code)
		}
		for _, hd := range []string{"RateLimit", "RateLimit-Policy", "Content-Encoding", "X-Cache"} {
			if v := rec.Header().Get(hd); v != "" {
				t.Fatalf("skipped links still acted: %s: %s", hd, v)
			}
		}
		if !strings.Contains(rec.Body.String(), "hello") {
			t.Fatalf("handler did not run: %q", rec.Body)
		}
	}
	if n := after.hits.Load(); n != 3 {
		t.Fatalf("the link after the skipped ones ran %d times, want 3", n)
	}
	for _, m := range []string{"ratelimit_requests_total", "compression_responses_total", "cache_requests_total"} {
		if v := count(m); v != 0 {
			t.Fatalf("%s moved to %v while its link was skipped", m, v)
		}
	}

	// The same links with their conditions holding do act.
	rec := do(h, "GET", "/x?cache=1", "Accept-Encoding", "gzip", "X-Limit", "1", "X-Gzip", "1")
	if rec.Header().Get("RateLimit-Policy") == "" || rec.Header().Get("Content-Encoding") != "gzip" || rec.Header().Get("X-Cache") == "" {
		t.Fatalf("links with holding conditions did not act: %v", rec.Header())
	}
	if count("ratelimit_requests_total", "plugin", "rl") != 1 || count("compression_responses_total", "plugin", "gz") != 1 || count("cache_requests_total", "plugin", "cache") != 1 {
		t.Fatal("counters did not move when the links ran")
	}
	if rec := do(h, "GET", "/x", "X-Limit", "1"); rec.Code != http.StatusTooManyRequests {
		t.Fatalf("second limited request = %d, want 429", rec.Code)
	}
}
