package caching

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

// step is one request in a behaviour case: the clock moves by advance, then
// the request is served, then the expectations are checked.
type step struct {
	advance    time.Duration
	method     string // GET when empty
	path       string // /r when empty
	hdr        map[string]string
	status     int    // 200 when 0
	xcache     string // not checked when empty
	body       string // not checked when "-"
	calls      int64  // upstream calls so far; not checked when 0
	wantHeader map[string]string
	noHeader   []string
}

func TestBehaviour(t *testing.T) {
	date := func(c *fakeClock, d time.Duration) string { return c.Now().Add(d).UTC().Format(http.TimeFormat) }
	cases := []struct {
		name  string
		cfg   map[string]any
		up    func(c *fakeClock) func(n int64, w http.ResponseWriter, r *http.Request)
		steps []step
	}{
		{
			name: "Expires - Date gives the lifetime",
			up: func(c *fakeClock) func(int64, http.ResponseWriter, *http.Request) {
				return func(n int64, w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Date", date(c, 0))
					w.Header().Set("Expires", date(c, 10*time.Second))
					fmt.Fprint(w, "v", n)
				}
			},
			steps: []step{
				{body: "v1", xcache: "MISS", calls: 1},
				{advance: 5 * time.Second, body: "v1", xcache: "HIT", calls: 1, wantHeader: map[string]string{"Age": "5"}},
				{advance: 6 * time.Second, body: "v2", xcache: "MISS", calls: 2},
			},
		},
		{
			name: "an invalid Expires is already stale",
			up: func(c *fakeClock) func(int64, http.ResponseWriter, *http.Request) {
				return func(n int64, w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Expires", "0")
					fmt.Fprint(w, "v", n)
				}
			},
			steps: []step{{body: "v1"}, {body: "v2", xcache: "MISS", calls: 2}},
		},
		{
			name: "an upstream Age counts towards the age",
			up: func(c *fakeClock) func(int64, http.ResponseWriter, *http.Request) {
				return func(n int64, w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Cache-Control", "max-age=60")
					w.Header().Set("Age", "50")
					fmt.Fprint(w, "v", n)
				}
			},
			steps: []step{
				{body: "v1", wantHeader: map[string]string{"Age": "50"}},
				{advance: 5 * time.Second, body: "v1", xcache: "HIT", wantHeader: map[string]string{"Age": "55"}},
				{advance: 6 * time.Second, body: "v2", xcache: "MISS", calls: 2},
			},
		},
		{
			name: "heuristic freshness: 10% of Date - Last-Modified",
			up: func(c *fakeClock) func(int64, http.ResponseWriter, *http.Request) {
				return func(n int64, w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Date", date(c, 0))
					w.Header().Set("Last-Modified", date(c, -100*time.Second))
					fmt.Fprint(w, "v", n)
				}
			},
			steps: []step{
				{body: "v1"},
				{advance: 9 * time.Second, body: "v1", xcache: "HIT"},
				// Stale now; Last-Modified is a validator: a conditional request
				// that this upstream answers in full.
				{advance: 2 * time.Second, body: "v2", xcache: "MISS", calls: 2},
			},
		},
		{
			name: "no heuristic freshness for a 404",
			up: func(c *fakeClock) func(int64, http.ResponseWriter, *http.Request) {
				return func(n int64, w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Last-Modified", date(c, -1000*time.Second))
					w.WriteHeader(http.StatusNotFound)
					fmt.Fprint(w, "v", n)
				}
			},
			steps: []step{{status: 404, body: "v1"}, {status: 404, body: "v2", calls: 2}},
		},
		{
			name: "Date is kept and X-Cache, Cache-Status follow an upstream Cache-Status",
			up: func(c *fakeClock) func(int64, http.ResponseWriter, *http.Request) {
				return func(n int64, w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Date", "Fri, 02 Jan 2026 03:04:00 GMT")
					w.Header().Set("Cache-Control", "max-age=600")
					w.Header().Set("Cache-Status", "origin-cache; hit")
					fmt.Fprint(w, "v", n)
				}
			},
			steps: []step{
				{body: "v1", wantHeader: map[string]string{"Cache-Status": "origin-cache; hit, switchyard; fwd=uri-miss; stored"}},
				{body: "v1", xcache: "HIT", wantHeader: map[string]string{
					"Date": "Fri, 02 Jan 2026 03:04:00 GMT", "Age": "5", "Cache-Status": "origin-cache; hit, switchyard; hit"}},
			},
		},
		{
			name: "request max-age=0 and no-cache revalidate",
			up: func(c *fakeClock) func(int64, http.ResponseWriter, *http.Request) {
				return func(n int64, w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Cache-Control", "max-age=60")
					w.Header().Set("ETag", `"e"`)
					if r.Header.Get("If-None-Match") == `"e"` {
						w.Header().Set("X-Validated", strconv.FormatInt(n, 10))
						w.WriteHeader(http.StatusNotModified)
						return
					}
					fmt.Fprint(w, "body")
				}
			},
			steps: []step{
				{body: "body"},
				{advance: time.Second, hdr: map[string]string{"Cache-Control": "max-age=0"}, body: "body", xcache: "MISS", calls: 2,
					wantHeader: map[string]string{"X-Validated": "2", "Cache-Status": "switchyard; fwd=request; fwd-status=304"}},
				{hdr: map[string]string{"Cache-Control": "no-cache"}, body: "body", calls: 3, wantHeader: map[string]string{"X-Validated": "3"}},
				{hdr: map[string]string{"Pragma": "no-cache"}, body: "body", calls: 4},
				{body: "body", xcache: "HIT", calls: 4, wantHeader: map[string]string{"X-Validated": "4"}},
			},
		},
		{
			name: "max-stale, min-fresh and only-if-cached",
			up: func(c *fakeClock) func(int64, http.ResponseWriter, *http.Request) {
				return func(n int64, w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Cache-Control", "max-age=10")
					fmt.Fprint(w, "v", n)
				}
			},
			steps: []step{
				{path: "/none", hdr: map[string]string{"Cache-Control": "only-if-cached"}, status: 504, xcache: "MISS", body: "-"},
				{body: "v1", calls: 1},
				{hdr: map[string]string{"Cache-Control": "only-if-cached"}, body: "v1", xcache: "HIT", calls: 1},
				{advance: 5 * time.Second, hdr: map[string]string{"Cache-Control": "min-fresh=8"}, body: "v2", calls: 2},
				{advance: 15 * time.Second, hdr: map[string]string{"Cache-Control": "max-stale=10"}, body: "v2", xcache: "STALE", calls: 2},
				{hdr: map[string]string{"Cache-Control": "max-stale=2"}, body: "v3", xcache: "MISS", calls: 3},
				{advance: 30 * time.Second, hdr: map[string]string{"Cache-Control": "only-if-cached"}, status: 504, body: "-", calls: 3},
			},
		},
		{
			name: "stale-if-error serves the stale response for a 5xx",
			up: func(c *fakeClock) func(int64, http.ResponseWriter, *http.Request) {
				return func(n int64, w http.ResponseWriter, r *http.Request) {
					if n > 1 {
						w.Header().Set("Retry-After", "5")
						w.WriteHeader(http.StatusServiceUnavailable)
						fmt.Fprint(w, "down")
						return
					}
					w.Header().Set("Cache-Control", "max-age=1, stale-if-error=60")
					fmt.Fprint(w, "good")
				}
			},
			steps: []step{
				{body: "good"},
				{advance: 2 * time.Second, body: "good", xcache: "STALE", calls: 2, noHeader: []string{"Retry-After"},
					wantHeader: map[string]string{"Cache-Status": "switchyard; fwd=stale; fwd-status=503; detail=stale-if-error"}},
				{advance: 60 * time.Second, status: 503, body: "down", calls: 3},
			},
		},
		{
			name: "stale_if_error default, but not past must-revalidate",
			cfg:  map[string]any{"stale_if_error": "1m"},
			up: func(c *fakeClock) func(int64, http.ResponseWriter, *http.Request) {
				return func(n int64, w http.ResponseWriter, r *http.Request) {
					if n > 2 {
						w.WriteHeader(http.StatusBadGateway)
						return
					}
					if r.URL.Path == "/mr" {
						w.Header().Set("Cache-Control", "max-age=1, must-revalidate")
					} else {
						w.Header().Set("Cache-Control", "max-age=1")
					}
					fmt.Fprint(w, "good")
				}
			},
			steps: []step{
				{path: "/d", body: "good"},
				{path: "/mr", body: "good"},
				{advance: 2 * time.Second, path: "/d", body: "good", xcache: "STALE", calls: 3},
				{path: "/mr", status: 502, body: "", calls: 4},
			},
		},
		{
			name: "HEAD is answered from a stored GET",
			up: func(c *fakeClock) func(int64, http.ResponseWriter, *http.Request) {
				return func(n int64, w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Cache-Control", "max-age=60")
					fmt.Fprint(w, "twelve bytes")
				}
			},
			steps: []step{
				{method: "HEAD", body: "-", xcache: "MISS", calls: 1},
				{body: "twelve bytes", calls: 2},
				{method: "HEAD", body: "", xcache: "HIT", calls: 2, wantHeader: map[string]string{"Content-Length": "12"}},
			},
		},
		{
			name: "enabled: false passes everything through",
			cfg:  map[string]any{"enabled": false},
			up: func(c *fakeClock) func(int64, http.ResponseWriter, *http.Request) {
				return func(n int64, w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Cache-Control", "max-age=60")
					fmt.Fprint(w, "v", n)
				}
			},
			steps: []step{
				{body: "v1", xcache: "BYPASS"},
				{body: "v2", xcache: "BYPASS", calls: 2, wantHeader: map[string]string{"Cache-Status": "switchyard; fwd=bypass; detail=disabled"}},
			},
		},
		{
			name: "unsafe methods invalidate Location and Content-Location of the same origin",
			up: func(c *fakeClock) func(int64, http.ResponseWriter, *http.Request) {
				return func(n int64, w http.ResponseWriter, r *http.Request) {
					switch r.Method {
					case "PUT":
						w.Header().Set("Location", "/b")
						w.Header().Set("Content-Location", "http://other.example/c")
						w.WriteHeader(http.StatusCreated)
					case "DELETE":
						w.WriteHeader(http.StatusForbidden)
					default:
						w.Header().Set("Cache-Control", "max-age=60")
						fmt.Fprint(w, r.URL.Path, n)
					}
				}
			},
			steps: []step{
				{path: "/b", body: "/b1"},
				{path: "/a", body: "/a2"},
				{method: "DELETE", path: "/a", status: 403, body: "", xcache: "BYPASS"},
				{path: "/a", body: "/a2", xcache: "HIT"},
				{method: "PUT", path: "/a", status: 201, body: ""},
				{path: "/b", body: "/b5", xcache: "MISS"},
				{path: "/a", body: "/a6", xcache: "MISS"},
			},
		},
		{
			name: "qualified private strips the named fields",
			up: func(c *fakeClock) func(int64, http.ResponseWriter, *http.Request) {
				return func(n int64, w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Cache-Control", `max-age=60, private="X-Secret, Set-Cookie"`)
					w.Header().Set("X-Secret", "for client "+strconv.FormatInt(n, 10))
					w.Header().Set("Set-Cookie", "s=1")
					fmt.Fprint(w, "shared")
				}
			},
			steps: []step{
				{body: "shared", wantHeader: map[string]string{"X-Secret": "for client 1"}},
				{body: "shared", xcache: "HIT", noHeader: []string{"X-Secret", "Set-Cookie"}},
			},
		},
		{
			name: "store_set_cookie stores the cookie and replays it",
			cfg:  map[string]any{"store_set_cookie": true},
			up: func(c *fakeClock) func(int64, http.ResponseWriter, *http.Request) {
				return func(n int64, w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Cache-Control", "max-age=60")
					w.Header().Set("Set-Cookie", "session=1")
					fmt.Fprint(w, "page")
				}
			},
			steps: []step{
				{body: "page", wantHeader: map[string]string{"Set-Cookie": "session=1"}},
				{body: "page", xcache: "HIT", calls: 1, wantHeader: map[string]string{"Set-Cookie": "session=1"}},
			},
		},
		{
			name: "hop-by-hop fields are not stored",
			up: func(c *fakeClock) func(int64, http.ResponseWriter, *http.Request) {
				return func(n int64, w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Cache-Control", "max-age=60")
					w.Header().Set("Connection", "X-Hop")
					w.Header().Set("X-Hop", "1")
					w.Header().Set("Keep-Alive", "timeout=5")
					w.Header().Set("X-End", "1")
					fmt.Fprint(w, "x")
				}
			},
			steps: []step{
				{body: "x"},
				{body: "x", xcache: "HIT", noHeader: []string{"Connection", "X-Hop", "Keep-Alive"}, wantHeader: map[string]string{"X-End": "1"}},
			},
		},
		{
			name: "no-cache response with a validator is revalidated on every use",
			up: func(c *fakeClock) func(int64, http.ResponseWriter, *http.Request) {
				return func(n int64, w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Cache-Control", "no-cache")
					w.Header().Set("ETag", `"nc"`)
					if r.Header.Get("If-None-Match") == `"nc"` {
						w.WriteHeader(http.StatusNotModified)
						return
					}
					fmt.Fprint(w, "payload")
				}
			},
			steps: []step{{body: "payload"}, {body: "payload", calls: 2}, {body: "payload", calls: 3}},
		},
		{
			name: "a cookie set by a 304 goes to its client only",
			up: func(c *fakeClock) func(int64, http.ResponseWriter, *http.Request) {
				return func(n int64, w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Cache-Control", "max-age=1")
					w.Header().Set("ETag", `"c"`)
					if r.Header.Get("If-None-Match") == `"c"` {
						w.Header().Set("Set-Cookie", "s=revalidator")
						w.WriteHeader(http.StatusNotModified)
						return
					}
					fmt.Fprint(w, "doc")
				}
			},
			steps: []step{
				{body: "doc"},
				{advance: 2 * time.Second, body: "doc", calls: 2, wantHeader: map[string]string{"Set-Cookie": "s=revalidator"}},
				{body: "doc", xcache: "HIT", calls: 2, noHeader: []string{"Set-Cookie"}},
			},
		},
		{
			name: "a 304 for another representation is fetched again",
			up: func(c *fakeClock) func(int64, http.ResponseWriter, *http.Request) {
				return func(n int64, w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Cache-Control", "max-age=1")
					if r.Header.Get("If-None-Match") != "" {
						w.Header().Set("ETag", `"other"`)
						w.WriteHeader(http.StatusNotModified)
						return
					}
					w.Header().Set("ETag", `"v`+strconv.FormatInt(n, 10)+`"`)
					fmt.Fprint(w, "body", n)
				}
			},
			steps: []step{{body: "body1"}, {advance: 2 * time.Second, body: "body3", calls: 3}},
		},
		{
			name: "must-understand lets an understood status be stored despite no-store",
			up: func(c *fakeClock) func(int64, http.ResponseWriter, *http.Request) {
				return func(n int64, w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Cache-Control", "must-understand, no-store, max-age=60")
					fmt.Fprint(w, "v", n)
				}
			},
			steps: []step{{body: "v1"}, {body: "v1", xcache: "HIT"}},
		},
		{
			name: "request no-store: the response is not stored",
			up: func(c *fakeClock) func(int64, http.ResponseWriter, *http.Request) {
				return func(n int64, w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Cache-Control", "max-age=60")
					fmt.Fprint(w, "v", n)
				}
			},
			steps: []step{{hdr: map[string]string{"Cache-Control": "no-store"}, body: "v1"}, {body: "v2", calls: 2}, {body: "v2", xcache: "HIT"}},
		},
		{
			name: "unkeyed headers: configurable, Upgrade bypasses, Range is served from the cache",
			cfg:  map[string]any{"unkeyed_headers": []any{"x-tenant"}},
			up: func(c *fakeClock) func(int64, http.ResponseWriter, *http.Request) {
				return func(n int64, w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Cache-Control", "max-age=60")
					fmt.Fprint(w, "v", n)
				}
			},
			steps: []step{
				{hdr: map[string]string{"X-Tenant": "a"}, body: "v1", xcache: "BYPASS"},
				{hdr: map[string]string{"X-Forwarded-Host": "h"}, body: "v2", xcache: "MISS"},
				{body: "v2", xcache: "HIT"},
				{hdr: map[string]string{"Upgrade": "websocket"}, body: "v3", xcache: "BYPASS"},
				{hdr: map[string]string{"Range": "bytes=0-0"}, status: 206, body: "v", xcache: "HIT", calls: 3},
				{path: "/other", hdr: map[string]string{"Range": "bytes=0-1"}, body: "v4", xcache: "BYPASS"},
			},
		},
		{
			name: "client If-Modified-Since on a fresh entry",
			up: func(c *fakeClock) func(int64, http.ResponseWriter, *http.Request) {
				return func(n int64, w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Cache-Control", "max-age=60")
					w.Header().Set("Last-Modified", "Fri, 02 Jan 2026 00:00:00 GMT")
					fmt.Fprint(w, "doc")
				}
			},
			steps: []step{
				{body: "doc"},
				{hdr: map[string]string{"If-Modified-Since": "Fri, 02 Jan 2026 01:00:00 GMT"}, status: 304, body: "", xcache: "HIT",
					wantHeader: map[string]string{"Last-Modified": "Fri, 02 Jan 2026 00:00:00 GMT"}},
				{hdr: map[string]string{"If-Modified-Since": "Thu, 01 Jan 2026 00:00:00 GMT"}, body: "doc", calls: 1},
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.cfg)
			up := &counter{fn: tc.up(e.clock)}
			h := e.cache.Wrap(up)
			for i, st := range tc.steps {
				e.clock.Advance(st.advance)
				method, path := st.method, st.path
				if method == "" {
					method = "GET"
				}
				if path == "" {
					path = "/r"
				}
				req := httptest.NewRequest(method, path, nil)
				for k, v := range st.hdr {
					req.Header.Set(k, v)
				}
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				res := rec.Result()
				want := st.status
				if want == 0 {
					want = 200
				}
				where := fmt.Sprintf("step %d (%s %s)", i, method, path)
				if res.StatusCode != want {
					t.Fatalf("%s: status %d, want %d", where, res.StatusCode, want)
				}
				if st.body != "-" && rec.Body.String() != st.body {
					t.Errorf("%s: body %q, want %q", where, rec.Body.String(), st.body)
				}
				if st.xcache != "" && res.Header.Get("X-Cache") != st.xcache {
					t.Errorf("%s: X-Cache %q, want %q", where, res.Header.Get("X-Cache"), st.xcache)
				}
				if st.calls != 0 && up.calls() != st.calls {
					t.Errorf("%s: upstream calls %d, want %d", where, up.calls(), st.calls)
				}
				for k, v := range st.wantHeader {
					if got := strings.Join(res.Header.Values(k), ", "); got != v {
						t.Errorf("%s: %s = %q, want %q", where, k, got, v)
					}
				}
				for _, k := range st.noHeader {
					if v := res.Header.Get(k); v != "" {
						t.Errorf("%s: %s = %q, want none", where, k, v)
					}
				}
			}
		})
	}
}
