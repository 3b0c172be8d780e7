package caching

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/wait"
)

// TestBlackBox runs the thirteen black-box cases of the caching acceptance
// list through a real HTTP server.
func TestBlackBox(t *testing.T) {
	cases := []struct {
		name string
		cfg  map[string]any
		run  func(t *testing.T, e *env)
	}{
		{name: "max-age twice: one upstream and an Age", run: func(t *testing.T, e *env) {
			up := &counter{fn: func(n int64, w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Cache-Control", "max-age=60")
				fmt.Fprint(w, "hello")
			}}
			srv := e.server(up)
			first := get(t, srv, "GET", "/a", nil)
			e.clock.Advance(3 * time.Second)
			second := get(t, srv, "GET", "/a", nil)
			if up.calls() != 1 {
				t.Fatalf("upstream calls = %d, want 1", up.calls())
			}
			if first.header.Get("X-Cache") != "MISS" || second.header.Get("X-Cache") != "HIT" {
				t.Errorf("X-Cache = %q then %q, want MISS then HIT", first.header.Get("X-Cache"), second.header.Get("X-Cache"))
			}
			if got := second.header.Get("Age"); got != "3" {
				t.Errorf("Age = %q, want 3", got)
			}
			if second.body != "hello" {
				t.Errorf("body = %q", second.body)
			}
			if got := second.header.Get("Cache-Status"); got != "switchyard; hit" {
				t.Errorf("Cache-Status = %q", got)
			}
			if got := first.header.Get("Cache-Status"); got != "switchyard; fwd=uri-miss; stored" {
				t.Errorf("Cache-Status on the miss = %q", got)
			}
		}},
		{name: "no-store and private: upstream every time", run: func(t *testing.T, e *env) {
			for _, cc := range []string{"no-store", "private, max-age=60", "max-age=60, no-store"} {
				up := &counter{fn: func(n int64, w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Cache-Control", cc)
					fmt.Fprint(w, "x")
				}}
				srv := e.server(up)
				get(t, srv, "GET", "/p", nil)
				r2 := get(t, srv, "GET", "/p", nil)
				if up.calls() != 2 {
					t.Errorf("%s: upstream calls = %d, want 2", cc, up.calls())
				}
				if r2.header.Get("X-Cache") != "MISS" {
					t.Errorf("%s: X-Cache = %q", cc, r2.header.Get("X-Cache"))
				}
			}
		}},
		{name: "Authorization: stored only when public", run: func(t *testing.T, e *env) {
			for _, tc := range []struct {
				cc    string
				calls int64
			}{{"max-age=60", 2}, {"public, max-age=60", 1}, {"s-maxage=60", 1}, {"max-age=60, must-revalidate", 1}} {
				up := &counter{fn: func(n int64, w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Cache-Control", tc.cc)
					fmt.Fprint(w, "secret-", n)
				}}
				srv := e.server(up)
				path := "/auth/" + strconv.Itoa(len(tc.cc))
				get(t, srv, "GET", path, map[string]string{"Authorization": "Bearer a"})
				get(t, srv, "GET", path, map[string]string{"Authorization": "Bearer a"})
				if up.calls() != tc.calls {
					t.Errorf("%q: upstream calls = %d, want %d", tc.cc, up.calls(), tc.calls)
				}
			}
		}},
		{name: "s-maxage wins over max-age", run: func(t *testing.T, e *env) {
			up := &counter{fn: func(n int64, w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Cache-Control", "s-maxage=1, max-age=60")
				fmt.Fprint(w, "v", n)
			}}
			srv := e.server(up)
			get(t, srv, "GET", "/s", nil)
			e.clock.Advance(2 * time.Second)
			r := get(t, srv, "GET", "/s", nil)
			if up.calls() != 2 || r.body != "v2" {
				t.Fatalf("upstream calls = %d, body %q; want 2 and v2", up.calls(), r.body)
			}
		}},
		{name: "Vary: Accept-Language and Vary: *", run: func(t *testing.T, e *env) {
			up := &counter{fn: func(n int64, w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Cache-Control", "max-age=60")
				w.Header().Set("Vary", "Accept-Language")
				fmt.Fprint(w, "lang=", r.Header.Get("Accept-Language"))
			}}
			srv := e.server(up)
			for _, lang := range []string{"en", "fr", "en", "fr"} {
				r := get(t, srv, "GET", "/v", map[string]string{"Accept-Language": lang})
				if r.body != "lang="+lang {
					t.Fatalf("Accept-Language %s got %q", lang, r.body)
				}
			}
			if up.calls() != 2 {
				t.Errorf("Vary: Accept-Language upstream calls = %d, want 2", up.calls())
			}
			star := &counter{fn: func(n int64, w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Cache-Control", "max-age=60")
				w.Header().Set("Vary", "*")
				fmt.Fprint(w, "star")
			}}
			srv2 := e.server(star)
			for range 3 {
				get(t, srv2, "GET", "/star", nil)
			}
			if star.calls() != 3 {
				t.Errorf("Vary: * upstream calls = %d, want 3", star.calls())
			}
		}},
		{name: "Set-Cookie is never replayed", run: func(t *testing.T, e *env) {
			up := &counter{fn: func(n int64, w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Cache-Control", "max-age=60")
				w.Header().Set("Set-Cookie", "session=client"+strconv.FormatInt(n, 10))
				fmt.Fprint(w, "page")
			}}
			srv := e.server(up)
			a := get(t, srv, "GET", "/c", nil)
			b := get(t, srv, "GET", "/c", nil)
			if a.header.Get("Set-Cookie") != "session=client1" {
				t.Fatalf("first client cookie = %q", a.header.Get("Set-Cookie"))
			}
			if got := b.header.Get("Set-Cookie"); got == "session=client1" || strings.Contains(got, "client1") {
				t.Fatalf("second client saw the first client's cookie: %q", got)
			}
			if up.calls() != 2 {
				t.Errorf("upstream calls = %d, want 2 (not stored)", up.calls())
			}
		}},
		{name: "revalidation: If-None-Match and 304 merging", run: func(t *testing.T, e *env) {
			var gotINM []string
			var mu sync.Mutex
			up := &counter{fn: func(n int64, w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				gotINM = append(gotINM, r.Header.Get("If-None-Match"))
				mu.Unlock()
				w.Header().Set("Cache-Control", "max-age=1")
				w.Header().Set("ETag", `"v1"`)
				w.Header().Set("X-Version", strconv.FormatInt(n, 10))
				if r.Header.Get("If-None-Match") == `"v1"` {
					w.WriteHeader(http.StatusNotModified)
					return
				}
				fmt.Fprint(w, "full body")
			}}
			srv := e.server(up)
			get(t, srv, "GET", "/r", nil)
			e.clock.Advance(2 * time.Second)
			r := get(t, srv, "GET", "/r", nil)
			if up.calls() != 2 {
				t.Fatalf("upstream calls = %d, want 2", up.calls())
			}
			if gotINM[1] != `"v1"` {
				t.Errorf("revalidation If-None-Match = %q, want \"v1\"", gotINM[1])
			}
			if r.status != 200 || r.body != "full body" || r.header.Get("X-Version") != "2" {
				t.Errorf("after 304: status %d body %q X-Version %q; want 200, full body, 2", r.status, r.body, r.header.Get("X-Version"))
			}
			if got := r.header.Get("Cache-Status"); got != "switchyard; fwd=stale; fwd-status=304" {
				t.Errorf("Cache-Status = %q", got)
			}
			// The freshened entry is fresh again.
			r3 := get(t, srv, "GET", "/r", nil)
			if up.calls() != 2 || r3.header.Get("X-Cache") != "HIT" || r3.header.Get("X-Version") != "2" {
				t.Errorf("after freshening: calls %d X-Cache %q X-Version %q", up.calls(), r3.header.Get("X-Cache"), r3.header.Get("X-Version"))
			}
		}},
		{name: "client If-None-Match on a fresh entry: 304", run: func(t *testing.T, e *env) {
			up := &counter{fn: func(n int64, w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Cache-Control", "max-age=60")
				w.Header().Set("ETag", `"abc"`)
				w.Header().Set("Content-Type", "text/plain")
				fmt.Fprint(w, "body")
			}}
			srv := e.server(up)
			get(t, srv, "GET", "/inm", nil)
			r := get(t, srv, "GET", "/inm", map[string]string{"If-None-Match": `W/"zzz", "abc"`})
			if r.status != http.StatusNotModified || r.header.Get("ETag") != `"abc"` || r.body != "" {
				t.Fatalf("status %d ETag %q body %q; want 304 with the ETag", r.status, r.header.Get("ETag"), r.body)
			}
			if r.header.Get("Content-Type") != "" || r.header.Get("Age") == "" {
				t.Errorf("304 fields: Content-Type %q Age %q", r.header.Get("Content-Type"), r.header.Get("Age"))
			}
			if up.calls() != 1 {
				t.Errorf("upstream calls = %d, want 1", up.calls())
			}
			r2 := get(t, srv, "GET", "/inm", map[string]string{"If-None-Match": `"other"`})
			if r2.status != 200 || r2.body != "body" {
				t.Errorf("non-matching If-None-Match: %d %q", r2.status, r2.body)
			}
		}},
		{name: "stale-while-revalidate: stale at once, one background request", run: func(t *testing.T, e *env) {
			release := make(chan struct{})
			up := &counter{fn: func(n int64, w http.ResponseWriter, r *http.Request) {
				if n > 1 {
					<-release // the revalidation is slow
				}
				w.Header().Set("Cache-Control", "max-age=1, stale-while-revalidate=10")
				fmt.Fprint(w, "v", n)
			}}
			srv := e.server(up)
			get(t, srv, "GET", "/swr", nil)
			e.clock.Advance(2 * time.Second)
			for i := range 5 {
				start := time.Now()
				r := get(t, srv, "GET", "/swr", nil)
				if took := time.Since(start); took > time.Second {
					t.Fatalf("stale response %d took %v", i, took)
				}
				if r.header.Get("X-Cache") != "STALE" || r.body != "v1" {
					t.Fatalf("request %d: X-Cache %q body %q, want STALE v1", i, r.header.Get("X-Cache"), r.body)
				}
				if got := r.header.Get("Cache-Status"); got != "switchyard; fwd=stale; detail=stale-while-revalidate" {
					t.Errorf("Cache-Status = %q", got)
				}
			}
			close(release)
			e.cache.bg.Wait()
			if up.calls() != 2 {
				t.Fatalf("upstream calls = %d, want 2 (one background revalidation)", up.calls())
			}
			r := get(t, srv, "GET", "/swr", nil)
			if r.header.Get("X-Cache") != "HIT" || r.body != "v2" {
				t.Errorf("after revalidation: X-Cache %q body %q, want HIT v2", r.header.Get("X-Cache"), r.body)
			}
		}},
		{name: "20 concurrent cold GETs collapse; private followers go upstream", run: func(t *testing.T, e *env) {
			for _, private := range []bool{false, true} {
				up := &counter{fn: func(n int64, w http.ResponseWriter, r *http.Request) {
					if n == 1 {
						// The leader answers once the 19 others wait for it.
						wait.Check(wait.Deadline, func() bool { return followers() == 19 || r.Context().Err() != nil })
					}
					if private {
						w.Header().Set("Cache-Control", "private, max-age=60")
					} else {
						w.Header().Set("Cache-Control", "max-age=60")
					}
					fmt.Fprint(w, "response-", n)
				}}
				srv := e.server(up)
				path := fmt.Sprintf("/cold/%v", private)
				bodies := make([]string, 20)
				var wg sync.WaitGroup
				for i := range bodies {
					wg.Go(func() { bodies[i] = get(t, srv, "GET", path, nil).body })
				}
				wg.Wait()
				seen := map[string]int{}
				for _, b := range bodies {
					seen[b]++
				}
				if !private {
					if up.calls() != 1 || len(seen) != 1 || bodies[0] != "response-1" {
						t.Errorf("public: upstream calls %d, distinct bodies %v; want 1 and one body", up.calls(), seen)
					}
					continue
				}
				if up.calls() != 20 {
					t.Errorf("private: upstream calls %d, want 20", up.calls())
				}
				for b, n := range seen {
					if n != 1 {
						t.Errorf("private: body %q went to %d clients", b, n)
					}
				}
			}
		}},
		{name: "POST invalidates: the next GET goes upstream", run: func(t *testing.T, e *env) {
			up := &counter{fn: func(n int64, w http.ResponseWriter, r *http.Request) {
				if r.Method == http.MethodPost {
					w.WriteHeader(http.StatusNoContent)
					return
				}
				w.Header().Set("Cache-Control", "max-age=60")
				fmt.Fprint(w, "v", n)
			}}
			srv := e.server(up)
			get(t, srv, "GET", "/item", nil)
			get(t, srv, "GET", "/item", nil)
			post := get(t, srv, "POST", "/item", nil)
			r := get(t, srv, "GET", "/item", nil)
			if up.calls() != 3 || r.header.Get("X-Cache") != "MISS" {
				t.Fatalf("upstream calls %d X-Cache %q; want 3 and MISS", up.calls(), r.header.Get("X-Cache"))
			}
			if post.header.Get("X-Cache") != "BYPASS" {
				t.Errorf("POST X-Cache = %q", post.header.Get("X-Cache"))
			}
		}},
		{name: "no heuristic caching of an uncacheable path; X-Forwarded-Host bypasses", run: func(t *testing.T, e *env) {
			css := &counter{fn: func(n int64, w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/css")
				fmt.Fprint(w, "account page of user ", n)
			}}
			srv := e.server(css)
			for range 3 {
				get(t, srv, "GET", "/account/p.css", nil)
			}
			if css.calls() != 3 {
				t.Errorf("/account/p.css upstream calls = %d, want 3", css.calls())
			}
			up := &counter{fn: func(n int64, w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Cache-Control", "max-age=60")
				fmt.Fprint(w, "host=", r.Header.Get("X-Forwarded-Host"))
			}}
			srv2 := e.server(up)
			r := get(t, srv2, "GET", "/xfh", map[string]string{"X-Forwarded-Host": "evil.example"})
			if r.header.Get("X-Cache") != "BYPASS" {
				t.Errorf("X-Forwarded-Host: X-Cache = %q", r.header.Get("X-Cache"))
			}
			clean := get(t, srv2, "GET", "/xfh", nil)
			if clean.body != "host=" || up.calls() != 2 {
				t.Errorf("poisoned: body %q, upstream calls %d", clean.body, up.calls())
			}
		}},
		{name: "500 not stored, 404 with max-age stored, large body streamed", cfg: map[string]any{"max_object_size": "1KB"}, run: func(t *testing.T, e *env) {
			up := &counter{fn: func(n int64, w http.ResponseWriter, r *http.Request) {
				switch r.URL.Path {
				case "/500":
					w.WriteHeader(http.StatusInternalServerError)
					fmt.Fprint(w, "boom")
				case "/404":
					w.Header().Set("Cache-Control", "max-age=60")
					w.WriteHeader(http.StatusNotFound)
					fmt.Fprint(w, "nope")
				case "/big":
					w.Header().Set("Cache-Control", "max-age=60")
					for range 4 {
						w.Write([]byte(strings.Repeat("x", 1024)))
						w.(http.Flusher).Flush()
					}
				}
			}}
			srv := e.server(up)
			for _, p := range []string{"/500", "/500", "/404", "/404", "/big", "/big"} {
				r := get(t, srv, "GET", p, nil)
				if p == "/big" && len(r.body) != 4096 {
					t.Fatalf("big body length = %d", len(r.body))
				}
			}
			if up.calls() != 5 { // 500 twice, 404 once, big twice
				t.Errorf("upstream calls = %d, want 5", up.calls())
			}
			if e.cache.mem.entries.Load() != 1 {
				t.Errorf("entries = %d, want 1 (the 404)", e.cache.mem.entries.Load())
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.run(t, newEnv(t, tc.cfg))
		})
	}
}
