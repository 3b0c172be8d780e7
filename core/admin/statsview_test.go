package admin

import (
	"strings"
	"testing"

	"github.com/switchyard/switchyard/hotreload"
)

// TestStatsLeaveOutTheirOwnRequest: the in-flight count that the dashboard
// polls does not count the poll itself.
func TestStatsLeaveOutTheirOwnRequest(t *testing.T) {
	h, _ := newAdminHost(t, adminYAML)
	for range 3 {
		v := decode[statsView](t, admin(h, "GET", "/_sy/api/stats", "", allowedPeer), 200)
		if v.InFlight != 0 {
			t.Fatalf("in_flight %v on an idle host, want 0", v.InFlight)
		}
	}
}

// TestReloadResultWords: the reload list and /api/reloads use the same
// word for each outcome.
func TestReloadResultWords(t *testing.T) {
	h, _ := newAdminHost(t, adminYAML)
	h.Reload(hotreload.TriggerFile) // the files did not change: unchanged
	v := decode[reloadsView](t, admin(h, "GET", "/_sy/api/reloads", "", allowedPeer), 200)
	if len(v.Reloads) != 2 || v.Reloads[0].Result != "unchanged" || !v.Reloads[0].Skipped || v.Reloads[1].Result != "applied" {
		t.Fatalf("history %+v, want unchanged then applied", v.Reloads)
	}
	page := admin(h, "GET", "/_sy/", "", allowedPeer).Body.String()
	for _, word := range []string{"<td>unchanged</td>", "<td>applied</td>"} {
		if !strings.Contains(page, word) {
			t.Errorf("the reload list lacks %q", word)
		}
	}
	if strings.Contains(page, "skipped</td>") {
		t.Error("the reload list says skipped")
	}
}
