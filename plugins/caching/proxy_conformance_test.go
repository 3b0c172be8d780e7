package caching_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard/switchyard/core"
	"github.com/switchyard/switchyard/plugintest"

	_ "github.com/switchyard/switchyard/plugins/caching"
)

// proxyEnv is a host serving one proxy route behind a caching instance
// named "cache", with a real origin on loopback and the plugin's clock
// faked.
type proxyEnv struct {
	t      *testing.T
	base   string
	clock  *plugintest.Clock
	calls  atomic.Int64
	mu     sync.Mutex
	seen   []string // method and path of every request the origin got
	origin func(e *proxyEnv, n int64, w http.ResponseWriter, r *http.Request)
}

// startProxyHost serves yaml (which must define the plugin "cache" and
// route to {{origin}}) with a fake clock. An empty yaml is the plain
// documented wiring: the cache in front of a proxy route, without a when.
func startProxyHost(t *testing.T, yaml string, origin func(e *proxyEnv, n int64, w http.ResponseWriter, r *http.Request)) *proxyEnv {
	t.Helper()
	e := &proxyEnv{t: t, clock: plugintest.NewClock(time.Now().UTC().Truncate(time.Second)), origin: origin}
	o := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := e.calls.Add(1)
		e.mu.Lock()
		e.seen = append(e.seen, r.Method+" "+r.URL.Path)
		e.mu.Unlock()
		e.origin(e, n, w, r)
	}))
	t.Cleanup(o.Close)
	if yaml == "" {
		yaml = `
plugins:
  cache: {type: caching}
routes:
  - path: /*
    middleware:
      - use: cache
    handler:
      proxy: {upstream: "{{origin}}"}
`
	}
	h := core.New(core.Options{Logger: slog.New(slog.DiscardHandler), Now: e.clock.Now})
	if err := h.LoadBytes("test.yaml", []byte(strings.ReplaceAll(yaml, "{{origin}}", o.URL)), t.TempDir()); err != nil {
		h.Close()
		t.Fatalf("load: %v", err)
	}
	if err := h.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Shutdown(context.Background()) })
	e.base = "http://" + h.Addr().String()
	return e
}

// pluginYAML is the documented wiring with extra keys for the plugin.
func pluginYAML(keys string) string {
	return `
plugins:
  cache:
    type: caching
` + indent(keys, "    ") + `
routes:
  - path: /*
    middleware:
      - use: cache
    handler:
      proxy: {upstream: "{{origin}}"}
`
}

func indent(s, by string) string {
	var b strings.Builder
	for line := range strings.SplitSeq(strings.TrimSpace(s), "\n") {
		if line != "" {
			b.WriteString(by + line + "\n")
		}
	}
	return b.String()
}

// date formats the fake clock moved by d as an IMF-fixdate.
func (e *proxyEnv) date(d time.Duration) string { return e.clock.Now().Add(d).Format(http.TimeFormat) }

type got struct {
	status int
	header http.Header
	body   string
	hints  []http.Header // headers of the 1xx responses
	err    error         // reading the response failed
}

func (e *proxyEnv) do(method, path string, hdr map[string]string) got {
	e.t.Helper()
	req, err := http.NewRequest(method, e.base+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	var g got
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
			g.hints = append(g.hints, http.Header(h))
			return nil
		},
	}))
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	res, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		g.err = err
		return g
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	g.status, g.header, g.body, g.err = res.StatusCode, res.Header, string(b), err
	return g
}

// pstep is one request of a case: the clock moves by advance, the request
// is sent, and what is set of the rest is checked.
type pstep struct {
	advance time.Duration
	method  string // GET when empty
	path    string // /r when empty
	hdr     map[string]string
	status  int    // 200 when 0
	xcache  string // not checked when empty
	body    *string
	calls   int64 // origin calls so far; not checked when 0
	want    map[string]string
	absent  []string
	readErr bool // the body must fail to read (cut off)
	check   func(t *testing.T, e *proxyEnv, g got)
}

func str(s string) *string { return &s }

// body4096 is the 4 KB body of the range cases.
var body4096 = strings.Repeat("0123456789abcdef", 256)

// cutOff answers with a raw response and closes the connection.
func cutOff(w http.ResponseWriter, raw string) {
	conn, bw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(err)
	}
	_, _ = bw.WriteString(raw)
	_ = bw.Flush()
	_ = conn.Close()
}

// TestProxyConformance runs the shared-cache cases through a host: a real
// origin behind a proxy route with the cache in its chain.
func TestProxyConformance(t *testing.T) {
	type origin = func(e *proxyEnv, n int64, w http.ResponseWriter, r *http.Request)
	maxAge60 := func(e *proxyEnv, n int64, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		fmt.Fprint(w, "v", n)
	}
	expires := func(vals ...string) origin {
		return func(e *proxyEnv, n int64, w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Date", e.date(0))
			for _, v := range vals {
				w.Header().Add("Expires", strings.ReplaceAll(v, "{{future}}", e.date(time.Hour)))
			}
			fmt.Fprint(w, "v", n)
		}
	}
	fields := func(kv ...string) origin {
		return func(e *proxyEnv, n int64, w http.ResponseWriter, r *http.Request) {
			for i := 0; i+1 < len(kv); i += 2 {
				w.Header().Add(kv[i], strings.ReplaceAll(kv[i+1], "{{past}}", e.date(-time.Hour)))
			}
			fmt.Fprint(w, "v", n)
		}
	}
	storedTwice := []pstep{{body: str("v1"), xcache: "MISS"}, {advance: time.Second, body: str("v1"), xcache: "HIT", calls: 1}}
	notStored := []pstep{{body: str("v1"), xcache: "MISS"}, {advance: time.Second, body: str("v2"), xcache: "MISS", calls: 2}}
	rangeOrigin := func(e *proxyEnv, n int64, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("ETag", `"r1"`)
		w.Header().Set("Content-Type", "text/plain")
		if r.URL.Path == "/partial" && r.Header.Get("Range") != "" {
			w.Header().Set("Content-Range", "bytes 0-1/4096")
			w.WriteHeader(http.StatusPartialContent)
			fmt.Fprint(w, "01")
			return
		}
		fmt.Fprint(w, body4096)
	}

	cases := []struct {
		name   string
		yaml   string
		origin origin
		steps  []pstep
	}{
		// 1. Dates: exactly the three forms of RFC 9110; a bad or repeated
		// Expires is already expired.
		{name: "dates: IMF-fixdate Expires is fresh", origin: expires("{{future}}"), steps: storedTwice},
		{name: "dates: one-digit hour in Expires is expired", origin: expires("Thu, 18 Aug 2050 2:01:18 GMT"), steps: notStored},
		{name: "dates: doubled spaces in Expires is expired", origin: expires("Thu, 18  Aug  2050 02:01:18 GMT"), steps: notStored},
		{name: "dates: lower-case GMT is expired", origin: expires("Thu, 18 Aug 2050 02:01:18 gmt"), steps: notStored},
		{name: "dates: two Expires lines are expired", origin: expires("{{future}}", "{{future}}"), steps: notStored},
		{name: "dates: rfc850 Expires is fresh", origin: expires("Thursday, 18-Aug-50 02:01:18 GMT"), steps: storedTwice},
		{name: "dates: asctime Expires is fresh", origin: expires("Thu Aug 18 02:01:18 2050"), steps: storedTwice},
		{name: "dates: an invalid If-Modified-Since is ignored",
			origin: fields("Cache-Control", "max-age=60", "Last-Modified", "{{past}}"),
			steps: []pstep{
				{body: str("v1")},
				{hdr: map[string]string{"If-Modified-Since": "Thu, 18 Aug 2050 2:01:18 GMT"}, body: str("v1"), xcache: "HIT"},
				{hdr: map[string]string{"If-Modified-Since": "Thu, 18 Aug 2050 02:01:18 GMT"}, status: 304, xcache: "HIT", calls: 1},
			}},
		{name: "dates: an invalid Last-Modified gives no heuristic lifetime",
			origin: fields("Last-Modified", "Mon, 1 Jan 2024 00:00:00 GMT"), steps: notStored},

		// 2. Targeted cache control (RFC 9213).
		{name: "targeted: CDN-Cache-Control private is not stored", origin: fields("Cache-Control", "max-age=60", "CDN-Cache-Control", "private"), steps: notStored},
		{name: "targeted: CDN-Cache-Control no-store is not stored", origin: fields("Cache-Control", "max-age=60", "CDN-Cache-Control", "no-store"), steps: notStored},
		{name: "targeted: CDN-Cache-Control max-age=0 is not served", origin: fields("Cache-Control", "max-age=60", "CDN-Cache-Control", "max-age=0"), steps: notStored},
		{name: "targeted: CDN-Cache-Control overrides Cache-Control and stays for downstream",
			origin: fields("Cache-Control", "no-store", "CDN-Cache-Control", "max-age=60"),
			steps: []pstep{
				{body: str("v1"), xcache: "MISS"},
				{advance: 30 * time.Second, body: str("v1"), xcache: "HIT", calls: 1, want: map[string]string{"CDN-Cache-Control": "max-age=60", "Cache-Control": "no-store"}},
				{advance: 31 * time.Second, body: str("v2"), xcache: "MISS", calls: 2},
			}},
		{name: "targeted: Expires is ignored under CDN-Cache-Control", origin: fields("Expires", "{{past}}", "CDN-Cache-Control", "max-age=60"), steps: storedTwice},
		{name: "targeted: an invalid CDN-Cache-Control is ignored as a whole", origin: fields("Cache-Control", "max-age=60", "CDN-Cache-Control", `no-store, max-age="60`), steps: storedTwice},
		{name: "targeted: configured fields in precedence order",
			yaml:   pluginYAML("targeted_fields: [Switchyard-Cache-Control, CDN-Cache-Control]"),
			origin: fields("Switchyard-Cache-Control", "no-store", "CDN-Cache-Control", "max-age=60"), steps: notStored},
		{name: "targeted: an empty list obeys Cache-Control only",
			yaml:   pluginYAML("targeted_fields: []"),
			origin: fields("Cache-Control", "max-age=60", "CDN-Cache-Control", "no-store"), steps: storedTwice},

		// 3. Ranges from the cache.
		{name: "ranges: 206 and 416 from a stored 4 KB response", origin: rangeOrigin, steps: []pstep{
			{body: str(body4096), xcache: "MISS"},
			{hdr: map[string]string{"Range": "bytes=0-9"}, status: 206, body: str(body4096[:10]), xcache: "HIT", calls: 1,
				want: map[string]string{"Content-Range": "bytes 0-9/4096", "Content-Length": "10", "Content-Type": "text/plain", "ETag": `"r1"`}},
			{hdr: map[string]string{"Range": "bytes=-6"}, status: 206, body: str(body4096[4090:]), calls: 1, want: map[string]string{"Content-Range": "bytes 4090-4095/4096"}},
			{hdr: map[string]string{"Range": "bytes=4000-"}, status: 206, body: str(body4096[4000:]), calls: 1},
			{hdr: map[string]string{"Range": "bytes=5000-6000"}, status: 416, xcache: "HIT", calls: 1, want: map[string]string{"Content-Range": "bytes */4096"}},
			{hdr: map[string]string{"Range": "bytes=0-1", "If-Range": `"r1"`}, status: 206, body: str("01"), calls: 1},
			{hdr: map[string]string{"Range": "bytes=0-1", "If-Range": `"other"`}, status: 200, body: str(body4096), xcache: "HIT", calls: 1},
			{hdr: map[string]string{"Range": "items=0-1"}, status: 200, body: str(body4096), xcache: "HIT", calls: 1},
			{hdr: map[string]string{"Range": "bytes=0-1,5-6"}, status: 200, xcache: "BYPASS", calls: 2},
		}},
		{name: "ranges: an upstream 206 passes through and is not stored", origin: rangeOrigin, steps: []pstep{
			{path: "/partial", hdr: map[string]string{"Range": "bytes=0-1"}, status: 206, body: str("01"), want: map[string]string{"Content-Range": "bytes 0-1/4096"}},
			{path: "/partial", body: str(body4096), xcache: "MISS", calls: 2},
		}},

		// 4. Extension methods reach the chain and invalidate.
		{name: "methods: M-SEARCH and PROPFIND are forwarded; a 200 invalidates", origin: func(e *proxyEnv, n int64, w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Cache-Control", "max-age=60")
			if r.Method == "REPORT" {
				w.WriteHeader(http.StatusInternalServerError)
			}
			fmt.Fprint(w, r.Method, n)
		}, steps: []pstep{
			{body: str("GET1"), xcache: "MISS"},
			{body: str("GET1"), xcache: "HIT", calls: 1},
			{method: "M-SEARCH", body: str("M-SEARCH2"), xcache: "BYPASS", calls: 2},
			{body: str("GET3"), xcache: "MISS", calls: 3},
			{method: "PROPFIND", body: str("PROPFIND4"), calls: 4},
			{body: str("GET5"), xcache: "MISS", calls: 5},
			{method: "REPORT", status: 500, calls: 6},
			{body: str("GET5"), xcache: "HIT", calls: 6},
			{check: func(t *testing.T, e *proxyEnv, _ got) {
				e.mu.Lock()
				defer e.mu.Unlock()
				if s := strings.Join(e.seen, ","); !strings.Contains(s, "M-SEARCH /r") || !strings.Contains(s, "PROPFIND /r") {
					t.Errorf("the origin saw %s", s)
				}
			}},
		}},

		// 5. The fields of a 1xx stay with it.
		{name: "1xx: Early Hints fields do not reach the final response", origin: func(e *proxyEnv, n int64, w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-My-Header", "hint")
			w.Header().Set("Link", "</s.css>; rel=preload")
			w.WriteHeader(http.StatusEarlyHints)
			w.Header().Del("X-My-Header")
			w.Header().Del("Link")
			w.Header().Set("Cache-Control", "max-age=60")
			fmt.Fprint(w, "v", n)
		}, steps: []pstep{
			{body: str("v1"), xcache: "MISS", absent: []string{"X-My-Header", "Link"}, check: func(t *testing.T, _ *proxyEnv, g got) {
				if len(g.hints) != 1 || g.hints[0].Get("X-My-Header") != "hint" {
					t.Errorf("1xx responses %v, want one 103 with X-My-Header", g.hints)
				}
			}},
			{body: str("v1"), xcache: "HIT", absent: []string{"X-My-Header", "Link"}},
		}},

		// 6. The documented wiring (no when) invalidates on unsafe methods.
		{name: "invalidation: POST invalidates the URL and its same-origin Location", origin: func(e *proxyEnv, n int64, w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Cache-Control", "max-age=60")
			if r.Method == http.MethodPost {
				w.Header().Set("Location", "/other")
				w.WriteHeader(http.StatusCreated)
			}
			fmt.Fprint(w, r.Method, n)
		}, steps: []pstep{
			{body: str("GET1")},
			{path: "/other", body: str("GET2")},
			{body: str("GET1"), xcache: "HIT"},
			{path: "/other", body: str("GET2"), xcache: "HIT", calls: 2},
			{method: "POST", status: 201, xcache: "BYPASS", calls: 3},
			{body: str("GET4"), xcache: "MISS"},
			{path: "/other", body: str("GET5"), xcache: "MISS", calls: 5},
			{method: "DELETE", calls: 6},
			{body: str("GET7"), xcache: "MISS", calls: 7},
		}},

		// 7. Cookies.
		{name: "cookies: Set-Cookie is not stored by default", origin: fields("Cache-Control", "max-age=60", "Set-Cookie", "a=1"), steps: notStored},
		{name: "cookies: Set-Cookie2 is not stored by default", origin: fields("Cache-Control", "max-age=60", "Set-Cookie2", "a=1"), steps: notStored},
		{name: "cookies: store_set_cookie replays the response as the origin sent it",
			yaml:   pluginYAML("store_set_cookie: true"),
			origin: fields("Cache-Control", "max-age=60", "Set-Cookie", "a=1", "Set-Cookie2", "b=2"),
			steps: []pstep{
				{body: str("v1"), xcache: "MISS", want: map[string]string{"Set-Cookie": "a=1", "Set-Cookie2": "b=2"}},
				{body: str("v1"), xcache: "HIT", calls: 1, want: map[string]string{"Set-Cookie": "a=1", "Set-Cookie2": "b=2"}},
			}},

		// Broken upstream bodies: no "stored" for what was not stored, and a
		// 502 rather than an empty reply when nothing was sent yet.
		{name: "cut off: before the body, the client gets 502", origin: func(e *proxyEnv, n int64, w http.ResponseWriter, r *http.Request) {
			cutOff(w, "HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\nContent-Length: 100\r\n\r\n")
		}, steps: []pstep{
			{status: 502, want: map[string]string{"Content-Type": "application/json"}, absent: []string{"Cache-Control"}, check: func(t *testing.T, _ *proxyEnv, g got) {
				if strings.Contains(g.header.Get("Cache-Status"), "stored") || !strings.Contains(g.body, "bad gateway") {
					t.Errorf("Cache-Status %q body %q", g.header.Get("Cache-Status"), g.body)
				}
			}},
			{status: 502, calls: 2},
		}},
		{name: "cut off: mid-body with a Content-Length, the client gets 502 and nothing is stored", origin: func(e *proxyEnv, n int64, w http.ResponseWriter, r *http.Request) {
			cutOff(w, "HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\nContent-Length: 100\r\n\r\n0123456789")
		}, steps: []pstep{{status: 502}, {status: 502, calls: 2}}},
		{name: "cut off: a streamed body never claims stored", origin: func(e *proxyEnv, n int64, w http.ResponseWriter, r *http.Request) {
			cutOff(w, "HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\nTransfer-Encoding: chunked\r\n\r\na\r\n0123456789\r\n")
		}, steps: []pstep{
			{readErr: true, check: func(t *testing.T, _ *proxyEnv, g got) {
				if cs := g.header.Get("Cache-Status"); strings.Contains(cs, "stored") {
					t.Errorf("Cache-Status %q on a body that broke off", cs)
				}
			}},
			{readErr: true, calls: 2},
		}},
		{name: "whole body: stored is said of what was stored", origin: maxAge60, steps: []pstep{
			{body: str("v1"), want: map[string]string{"Cache-Status": "switchyard; fwd=uri-miss; stored"}},
			{body: str("v1"), xcache: "HIT", calls: 1},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := startProxyHost(t, tc.yaml, tc.origin)
			for i, s := range tc.steps {
				e.clock.Advance(s.advance)
				method, path := s.method, s.path
				if method == "" {
					method = "GET"
				}
				if path == "" {
					path = "/r"
				}
				g := e.do(method, path, s.hdr)
				where := fmt.Sprintf("step %d (%s %s)", i+1, method, path)
				if s.readErr {
					if g.err == nil {
						t.Errorf("%s: the body read whole (%d %q), want it cut off", where, g.status, g.body)
					}
				} else if g.err != nil {
					t.Fatalf("%s: %v", where, g.err)
				}
				want := s.status
				if want == 0 {
					want = 200
				}
				if !s.readErr && s.check == nil || s.status != 0 {
					if g.status != want {
						t.Errorf("%s: status %d, want %d (body %.80q)", where, g.status, want, g.body)
					}
				}
				if s.xcache != "" && g.header.Get("X-Cache") != s.xcache {
					t.Errorf("%s: X-Cache %q, want %q (Cache-Status %q)", where, g.header.Get("X-Cache"), s.xcache, g.header.Get("Cache-Status"))
				}
				if s.body != nil && g.body != *s.body {
					t.Errorf("%s: body %.60q, want %.60q", where, g.body, *s.body)
				}
				if s.calls != 0 && e.calls.Load() != s.calls {
					t.Errorf("%s: origin calls %d, want %d", where, e.calls.Load(), s.calls)
				}
				for k, v := range s.want {
					if got := strings.Join(g.header.Values(k), ", "); got != v {
						t.Errorf("%s: %s = %q, want %q", where, k, got, v)
					}
				}
				for _, k := range s.absent {
					if v, ok := g.header[textproto.CanonicalMIMEHeaderKey(k)]; ok {
						t.Errorf("%s: %s = %q, want none", where, k, v)
					}
				}
				if s.check != nil {
					s.check(t, e, g)
				}
			}
		})
	}
}
