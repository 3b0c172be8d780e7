package ratelimit

import (
	"net/http"
	"net/netip"
	"testing"

	"github.com/switchyard/switchyard/clientip"
	"github.com/switchyard/switchyard/plugintest"
)

// TestUnknownClientOwnBucket: behind a trusted proxy, clients whose
// forwarded address does not parse share one bucket of their own; they use
// neither the proxy's bucket nor a real client's.
func TestUnknownClientOwnBucket(t *testing.T) {
	e := newEnv(t)
	res := clientip.New([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")})
	e.opts = append(e.opts, plugintest.WithClientIP(res.IP))
	h := e.limiter("perip", limit5()).Wrap(okHandler)
	junk := []struct{ name, value string }{
		{"X-Forwarded-For", "unknown"},
		{"X-Forwarded-For", "8.8.8.8, unknown"},
		{"Forwarded", "for=_hidden"},
		{"Forwarded", "for=unknown"},
		{"X-Forwarded-For", "garbage"},
	}
	for i, j := range junk {
		if w := do(h, "10.0.0.1:5555", j.name, j.value); w.Code != http.StatusOK {
			t.Fatalf("unknown client %d (%s: %s): status %d", i+1, j.name, j.value, w.Code)
		}
	}
	if w := do(h, "10.0.0.1:6666", "X-Forwarded-For", "unknown"); w.Code != http.StatusTooManyRequests {
		t.Fatalf("6th unknown client: status %d, want 429 (one shared bucket)", w.Code)
	}
	if w := do(h, "10.0.0.1:5555"); w.Code != http.StatusOK {
		t.Fatalf("the proxy itself: status %d, want 200 (its own bucket)", w.Code)
	}
	if w := do(h, "10.0.0.1:5555", "X-Forwarded-For", "198.51.100.7"); w.Code != http.StatusOK {
		t.Fatalf("a real client behind the proxy: status %d, want 200", w.Code)
	}
}
