package admin

import (
	"html"
	"os"
	"strings"
	"testing"
	"time"
)

func TestDashboardPage(t *testing.T) {
	h, path := newAdminHost(t, adminYAML)
	rec := admin(h, "GET", "/_sy/", "", allowedPeer)
	if rec.Code != 200 {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	csp := rec.Header().Get("Content-Security-Policy")
	for _, part := range []string{"default-src 'none'", "script-src 'self'", "connect-src 'self'"} {
		if !strings.Contains(csp, part) {
			t.Errorf("CSP %q lacks %q", csp, part)
		}
	}
	page := html.UnescapeString(rec.Body.String())
	for _, want := range []string{
		h.Snapshot().Version, path, // version and source file
		"/_sy/assets/dashboard.js", "/_sy/assets/dashboard.css",
		"/hello", "/api/items/{id:int}", "/api/items/{id:[0-9]+}", // routes, pattern expanded
		"when <code>safe</code>", `request.path.startsWith("/api/")`, `{"method":["GET","HEAD"]}`, // conditions
		"pagecache", "othercache", "fakecache", // instances and types
		"hit ratio", "75.0%", `<meter min="0" max="1" value="0.75">`, "2.5 MB", // known stats formatted
		"responses</dt><dd>br 1, gzip 3", "store</dt><dd>memory", // other stats, generically
		`id="pools"`, "thread", // pools
		`id="chart-rps"`, `id="chart-latency"`, // the chart
		"start", "applied", // the first load, in the history
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(page, `class="alert"`) {
		t.Error("alert shown before any rejected reload")
	}
	if rec := admin(h, "HEAD", "/_sy/", "", allowedPeer); rec.Code != 200 || rec.Body.Len() != 0 || rec.Header().Get("Content-Length") == "" {
		t.Errorf("HEAD: %d, %d bytes, Content-Length %q", rec.Code, rec.Body.Len(), rec.Header().Get("Content-Length"))
	}
	if rec := admin(h, "GET", "/_sy", "", allowedPeer); rec.Code != 301 || rec.Header().Get("Location") != "/_sy/" {
		t.Errorf("prefix without slash: %d to %q", rec.Code, rec.Header().Get("Location"))
	}
}

func TestDashboardShowsRejectedReload(t *testing.T) {
	h, path := newAdminHost(t, adminYAML)
	bad := strings.Replace(adminYAML, "path: /hello", "path: /hello/{id:[0-9}", 1) +
		"  - path: /x\n    handler: {respond: {body: '<script>'}}\n    middleware: [{use: ghost}]\n"
	if err := os.WriteFile(path, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	res := h.Reload("admin")
	if res.Success || !strings.Contains(res.Error, "\n") {
		t.Fatalf("want a rejection with several errors, got %+v", res)
	}
	rec := admin(h, "GET", "/_sy/", "", allowedPeer)
	body := rec.Body.String()
	page := html.UnescapeString(body)
	if !strings.Contains(page, `class="alert"`) || !strings.Contains(page, "Last reload rejected") {
		t.Error("no alert for the rejected reload")
	}
	// Every line of the error, in full, in the alert and in the history.
	for _, line := range strings.Split(res.Error, "\n") {
		if n := strings.Count(page, line); n < 2 {
			t.Errorf("error line %q shown %d times, want in the alert and the history", line, n)
		}
	}
	if !strings.Contains(page, `keeps serving`) || !strings.Contains(page, h.Snapshot().Version) {
		t.Error("the alert does not say which version keeps serving")
	}
	if strings.Contains(body, "<script>'") {
		t.Error("config text reached the page unescaped")
	}

	// Fixed: the alert goes, the history keeps the rejection.
	if err := os.WriteFile(path, []byte(adminYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	if res := h.Reload("admin"); !res.Success {
		t.Fatal(res.Error)
	}
	page = html.UnescapeString(admin(h, "GET", "/_sy/", "", allowedPeer).Body.String())
	if strings.Contains(page, `class="alert"`) {
		t.Error("alert still shown after a successful reload")
	}
	if !strings.Contains(page, "rejected") || !strings.Contains(page, "applied") {
		t.Error("history lacks the rejected and the applied reload")
	}
}

func TestDashboardAssets(t *testing.T) {
	h, _ := newAdminHost(t, adminYAML)
	for _, a := range []struct{ name, ctype, part string }{
		{"dashboard.js", "text/javascript", "api/stats"},
		{"dashboard.css", "text/css", "svg.chart"},
	} {
		rec := admin(h, "GET", "/_sy/assets/"+a.name, "", allowedPeer)
		if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), a.ctype) || !strings.Contains(rec.Body.String(), a.part) {
			t.Errorf("%s: %d %q", a.name, rec.Code, rec.Header().Get("Content-Type"))
		}
	}
	// No external resource anywhere: everything comes from the host.
	for _, f := range []string{"dashboard/page.html", "dashboard/dashboard.js", "dashboard/dashboard.css"} {
		data, err := dashboardFS.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, ext := range []string{"http://", "https://", "//cdn"} {
			if s := strings.ReplaceAll(string(data), "http://www.w3.org/2000/svg", ""); strings.Contains(s, ext) {
				t.Errorf("%s refers to %q", f, ext)
			}
		}
	}
}

func TestFormatStats(t *testing.T) {
	head, rest := formatStats(map[string]any{
		"hit_ratio": 1.7, // clamped for the meter
		"bytes":     uint64(999),
		"max_size":  int64(16_000_000),
		"keys":      3,
		"limited":   uint64(1234567),
		"ratio":     4.256,
		"policy":    `"perip";q=20;w=1`,
		"enabled":   false,
		"encodings": []string{"zstd", "br"},
		"weird":     nil,
		"avg":       0.123456,
		"nested":    map[string]any{"b": true, "a": int32(-5)},
	})
	var got []string
	for _, s := range head {
		got = append(got, s.Label+"="+s.Value)
	}
	want := "hit ratio=170.0%|cached=999 B|capacity=16.0 MB|keys=3|refused=1\u202f234\u202f567|compression ratio=4.26×"
	if strings.Join(got, "|") != want {
		t.Errorf("headline %q\nwant     %q", strings.Join(got, "|"), want)
	}
	if !head[0].HasMeter || head[0].Meter != 1 || head[1].HasMeter {
		t.Errorf("meters: %+v", head)
	}
	got = got[:0]
	for _, s := range rest {
		got = append(got, s.Label+"="+s.Value)
	}
	want = `avg=0.1235|enabled=no|encodings=zstd, br|nested=a -5, b yes|policy="perip";q=20;w=1|weird=—`
	if strings.Join(got, "|") != want {
		t.Errorf("details %q\nwant    %q", strings.Join(got, "|"), want)
	}
}

func TestFormatters(t *testing.T) {
	tests := []struct{ got, want string }{
		{formatBytes(0), "0 B"},
		{formatBytes(1000), "1.0 kB"},
		{formatBytes(64 << 20), "67.1 MB"},
		{formatCount(-1234), "-1\u202f234"},
		{formatCount(100), "100"},
		{formatRatio(0), "—"},
		{formatPercent(0.5), "50.0%"},
		{formatDuration(1500 * time.Microsecond), "1.5 ms"},
		{formatDuration(2 * time.Second), "2.00 s"},
		{formatDuration(250 * time.Microsecond), "250 µs"},
	}
	for i, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%d: %q, want %q", i, tt.got, tt.want)
		}
	}
}
