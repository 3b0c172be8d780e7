package admin

import (
	"html"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/devstatus"
)

// TestDashboardShowsFailedBuild: under devserver -build, a build that does
// not compile shows on the serving child's dashboard with the compiler's
// file and line, until a good build clears it.
func TestDashboardShowsFailedBuild(t *testing.T) {
	h, _ := newAdminHost(t, adminYAML)
	status := filepath.Join(t.TempDir(), "status.json")
	t.Setenv(devstatus.Env, status)
	page := func() string {
		t.Helper()
		rec := admin(h, "GET", "/_sy/", "", allowedPeer)
		if rec.Code != 200 {
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
		return html.UnescapeString(rec.Body.String())
	}
	tests := []struct {
		name   string
		status *devstatus.Status
		want   []string
		absent []string
	}{
		{"no status file yet", nil, nil, []string{`id="build-failed"`}},
		{"failed build", &devstatus.Status{Package: "./cmd/app", Serving: 3, Failed: 4, At: time.Now(),
			Output: "# example.com/app\n./handler.go:6:17: undefined: undefinedBody"},
			[]string{`id="build-failed"`, "Build 4 of <code>./cmd/app</code> failed", "build 3 keeps serving", "./handler.go:6:17: undefined: undefinedBody"}, nil},
		{"failed first build", &devstatus.Status{Package: ".", Failed: 1, At: time.Now(), Output: "./main.go:3:1: syntax error"},
			[]string{"no build serves yet", "./main.go:3:1: syntax error"}, nil},
		{"good build", &devstatus.Status{Package: "./cmd/app", Serving: 5, At: time.Now()}, nil, []string{`id="build-failed"`, "undefinedBody"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.status != nil {
				if err := devstatus.Write(status, *tc.status); err != nil {
					t.Fatal(err)
				}
			}
			p := page()
			for _, w := range tc.want {
				if !strings.Contains(p, w) {
					t.Errorf("page lacks %q", w)
				}
			}
			for _, a := range tc.absent {
				if strings.Contains(p, a) {
					t.Errorf("page shows %q", a)
				}
			}
		})
	}
}
