package admin

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
)

func TestValidatePreview(t *testing.T) {
	h, _ := newAdminHost(t, adminYAML)
	before := h.Snapshot().Version
	candidate := strings.NewReplacer(
		"tag: admin", "tag: other", // counter rebuilt
		"  othercache: {type: fakecache, entries: [/api/z]}\n", "", // retired
		"      - {use: othercache}\n", "",
		"  - path: /boom\n", "  - path: /new\n", // one route gone, one added
		"server:\n", "server:\n  read_timeout: 7s\n",
	).Replace(adminYAML)
	tests := []struct {
		name, body string
		code       int
		check      func(t *testing.T, v validateView)
	}{
		{"preview", candidate, http.StatusOK, func(t *testing.T, v validateView) {
			c := v.Changes
			if !v.Valid || v.Version == "" || v.Version == before || v.Serving != before {
				t.Errorf("valid %v version %q serving %q (before %q)", v.Valid, v.Version, v.Serving, before)
			}
			if !slices.Equal(c.RoutesAdded, []string{"/new"}) || !slices.Equal(c.RoutesRemoved, []string{"/boom"}) {
				t.Errorf("routes +%v -%v", c.RoutesAdded, c.RoutesRemoved)
			}
			if !slices.Equal(v.PluginsRebuilt, []string{"counter"}) || !slices.Contains(c.PluginsRetired, "othercache") ||
				!slices.Contains(c.PluginsKept, "pagecache") {
				t.Errorf("plugins rebuilt %v, changes %+v", v.PluginsRebuilt, c)
			}
			if !slices.Equal(v.Server, []string{"server.read_timeout"}) || v.NewListener {
				t.Errorf("server %v new listener %v", v.Server, v.NewListener)
			}
		}},
		{"rejected", "routes:\n  - path: /x\n    handler: {respond: {status: 999}}\n", http.StatusUnprocessableEntity, func(t *testing.T, v validateView) {
			if v.Valid || len(v.Errors) == 0 || v.Errors[0].Line != 3 || !strings.Contains(v.Errors[0].Key, "routes[0]") {
				t.Errorf("errors %+v", v.Errors)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := admin(h, http.MethodPost, "/_sy/api/config/validate?name=next.yaml", tt.body, allowedPeer)
			if rec.Code != tt.code {
				t.Fatalf("code %d, want %d: %s", rec.Code, tt.code, rec.Body)
			}
			var v validateView
			if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
				t.Fatal(err)
			}
			tt.check(t, v)
			if h.Snapshot().Version != before {
				t.Fatal("validate applied the candidate")
			}
		})
	}
	if rec := admin(h, http.MethodGet, "/_sy/api/config/validate", "", allowedPeer); rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d", rec.Code)
	}
	if rec := admin(h, http.MethodPost, "/_sy/api/config/validate", candidate, disallowedPeer); rec.Code != http.StatusForbidden {
		t.Errorf("outside allow: %d", rec.Code)
	}
}
