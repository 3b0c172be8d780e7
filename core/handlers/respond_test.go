package handlers

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/core/config"
)

func mustRespond(t testing.TB, cfg config.Respond) http.Handler {
	t.Helper()
	h, err := Respond(cfg)
	if err != nil {
		t.Fatalf("Respond(%+v): %v", cfg, err)
	}
	return h
}

func serve(h http.Handler, method, target string, hdr map[string]string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, nil)
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestRespond(t *testing.T) {
	tests := []struct {
		name       string
		cfg        config.Respond
		method     string
		wantStatus int
		wantBody   string
		wantHeader map[string]string // "" means absent
	}{
		{
			name:       "default status and text body",
			cfg:        config.Respond{Body: "Hello, World!"},
			wantStatus: 200, wantBody: "Hello, World!",
			wantHeader: map[string]string{"Content-Type": "text/plain; charset=utf-8", "Content-Length": "13"},
		},
		{
			name:       "configured content type wins, names canonicalized",
			cfg:        config.Respond{Status: 201, Body: `{"ok":true}`, Headers: map[string]string{"content-type": "application/json", "x-trace": "a b"}},
			wantStatus: 201, wantBody: `{"ok":true}`,
			wantHeader: map[string]string{"Content-Type": "application/json", "X-Trace": "a b", "Content-Length": "11"},
		},
		{
			name:       "empty body has no content type",
			cfg:        config.Respond{Status: 200},
			wantStatus: 200,
			wantHeader: map[string]string{"Content-Type": "", "Content-Length": "0"},
		},
		{
			name:       "HEAD sends headers without body",
			cfg:        config.Respond{Body: "abcdef"},
			method:     http.MethodHead,
			wantStatus: 200,
			wantHeader: map[string]string{"Content-Length": "6", "Content-Type": "text/plain; charset=utf-8"},
		},
		{
			name:       "204 has neither length nor type",
			cfg:        config.Respond{Status: 204},
			wantStatus: 204,
			wantHeader: map[string]string{"Content-Length": "", "Content-Type": ""},
		},
		{
			name:       "404 carries no validators",
			cfg:        config.Respond{Status: 404, Body: "nope"},
			wantStatus: 404, wantBody: "nope",
			wantHeader: map[string]string{"Etag": "", "Last-Modified": ""},
		},
		{
			name:       "redirect with Location",
			cfg:        config.Respond{Status: 308, Headers: map[string]string{"Location": "/new"}},
			wantStatus: 308,
			wantHeader: map[string]string{"Location": "/new"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method := tt.method
			if method == "" {
				method = http.MethodGet
			}
			w := serve(mustRespond(t, tt.cfg), method, "/x", nil)
			if w.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d", w.Code, tt.wantStatus)
			}
			if got := w.Body.String(); got != tt.wantBody {
				t.Errorf("body = %q, want %q", got, tt.wantBody)
			}
			for k, want := range tt.wantHeader {
				if got := w.Header().Get(k); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
		})
	}
}

func TestRespondValidators(t *testing.T) {
	a := mustRespond(t, config.Respond{Body: "one", Headers: map[string]string{"Cache-Control": "max-age=60"}})
	b := mustRespond(t, config.Respond{Body: "one", Headers: map[string]string{"cache-control": "max-age=60"}})
	c := mustRespond(t, config.Respond{Body: "two", Headers: map[string]string{"Cache-Control": "max-age=60"}})
	d := mustRespond(t, config.Respond{Body: "one", Headers: map[string]string{"Cache-Control": "max-age=61"}})
	e := mustRespond(t, config.Respond{Status: 202, Body: "one", Headers: map[string]string{"Cache-Control": "max-age=60"}})
	etag := func(h http.Handler) string { return serve(h, "GET", "/", nil).Header().Get("Etag") }

	ea := etag(a)
	if !validETag(ea) || strings.HasPrefix(ea, "W/") {
		t.Fatalf("ETag %q is not a strong entity-tag", ea)
	}
	if eb := etag(b); eb != ea {
		t.Errorf("same response built twice: ETag %q != %q", eb, ea)
	}
	for name, h := range map[string]http.Handler{"body": c, "header": d, "status": e} {
		if got := etag(h); got == ea {
			t.Errorf("changed %s kept ETag %q", name, got)
		}
	}
	lm, err := http.ParseTime(serve(a, "GET", "/", nil).Header().Get("Last-Modified"))
	if err != nil {
		t.Fatalf("Last-Modified: %v", err)
	}
	if since := time.Since(lm); since < 0 || since > time.Minute {
		t.Errorf("Last-Modified %v is not the build time", lm)
	}

	// Configured validators replace the computed ones.
	own := mustRespond(t, config.Respond{Body: "x", Headers: map[string]string{
		"ETag": `W/"v1"`, "Last-Modified": "Mon, 02 Jan 2006 15:04:05 GMT"}})
	w := serve(own, "GET", "/", nil)
	if got := w.Header().Get("Etag"); got != `W/"v1"` {
		t.Errorf("ETag = %q, want the configured one", got)
	}
	if got := w.Header().Get("Last-Modified"); got != "Mon, 02 Jan 2006 15:04:05 GMT" {
		t.Errorf("Last-Modified = %q, want the configured one", got)
	}
	if w := serve(own, "GET", "/", map[string]string{"If-None-Match": `"v1"`}); w.Code != 304 {
		t.Errorf("weak comparison against configured W/ tag: status %d, want 304", w.Code)
	}
	if w := serve(own, "GET", "/", map[string]string{"If-Modified-Since": "Tue, 03 Jan 2006 00:00:00 GMT"}); w.Code != 304 {
		t.Errorf("If-Modified-Since after configured Last-Modified: status %d, want 304", w.Code)
	}
}

func TestRespondConditional(t *testing.T) {
	h := mustRespond(t, config.Respond{Body: "payload", Headers: map[string]string{
		"Cache-Control": "max-age=60", "Vary": "Accept", "Content-Type": "text/html"}})
	full := serve(h, "GET", "/", nil)
	etag, lm := full.Header().Get("Etag"), full.Header().Get("Last-Modified")
	mod, _ := http.ParseTime(lm)
	before := mod.Add(-time.Hour).Format(http.TimeFormat)
	after := mod.Add(time.Hour).Format(http.TimeFormat)
	other := `"something-else"`

	tests := []struct {
		name   string
		method string
		hdr    map[string]string
		want   int
	}{
		{"no conditions", "GET", nil, 200},
		{"If-None-Match exact", "GET", map[string]string{"If-None-Match": etag}, 304},
		{"If-None-Match weak form", "GET", map[string]string{"If-None-Match": "W/" + etag}, 304},
		{"If-None-Match list", "GET", map[string]string{"If-None-Match": other + " , " + etag}, 304},
		{"If-None-Match star", "GET", map[string]string{"If-None-Match": "*"}, 304},
		{"If-None-Match other", "GET", map[string]string{"If-None-Match": other}, 200},
		{"If-None-Match malformed", "GET", map[string]string{"If-None-Match": "abc"}, 200},
		{"If-None-Match on HEAD", "HEAD", map[string]string{"If-None-Match": etag}, 304},
		{"If-None-Match on POST", "POST", map[string]string{"If-None-Match": etag}, 412},
		{"If-None-Match beats If-Modified-Since", "GET", map[string]string{"If-None-Match": other, "If-Modified-Since": after}, 200},
		{"If-Modified-Since echo", "GET", map[string]string{"If-Modified-Since": lm}, 304},
		{"If-Modified-Since later", "GET", map[string]string{"If-Modified-Since": after}, 304},
		{"If-Modified-Since earlier", "GET", map[string]string{"If-Modified-Since": before}, 200},
		{"If-Modified-Since garbage", "GET", map[string]string{"If-Modified-Since": "yesterday"}, 200},
		{"If-Modified-Since ignored on POST", "POST", map[string]string{"If-Modified-Since": after}, 200},
		{"If-Match matches", "PUT", map[string]string{"If-Match": etag}, 200},
		{"If-Match star", "PUT", map[string]string{"If-Match": "*"}, 200},
		{"If-Match weak never matches", "PUT", map[string]string{"If-Match": "W/" + etag}, 412},
		{"If-Match other", "GET", map[string]string{"If-Match": other}, 412},
		{"If-Unmodified-Since earlier", "PUT", map[string]string{"If-Unmodified-Since": before}, 412},
		{"If-Unmodified-Since later", "PUT", map[string]string{"If-Unmodified-Since": after}, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := serve(h, tt.method, "/", tt.hdr)
			if w.Code != tt.want {
				t.Fatalf("status = %d, want %d", w.Code, tt.want)
			}
			switch w.Code {
			case 304:
				if w.Body.Len() != 0 {
					t.Errorf("304 with body %q", w.Body)
				}
				for _, k := range []string{"Content-Type", "Content-Length", "Last-Modified"} {
					if v := w.Header().Get(k); v != "" {
						t.Errorf("304 carries %s: %q", k, v)
					}
				}
				for _, k := range []string{"Etag", "Cache-Control", "Vary"} {
					if w.Header().Get(k) != full.Header().Get(k) {
						t.Errorf("304 %s = %q, want %q", k, w.Header().Get(k), full.Header().Get(k))
					}
				}
			case 412:
				if w.Body.Len() != 0 || w.Header().Get("Etag") != etag {
					t.Errorf("412: body %q, ETag %q", w.Body, w.Header().Get("Etag"))
				}
			case 200:
				if tt.method != "HEAD" && w.Body.String() != "payload" {
					t.Errorf("body = %q", w.Body)
				}
			}
		})
	}

	// Non-2xx responses ignore preconditions entirely.
	nf := mustRespond(t, config.Respond{Status: 404, Body: "gone"})
	if w := serve(nf, "GET", "/", map[string]string{"If-None-Match": "*"}); w.Code != 404 || w.Body.String() != "gone" {
		t.Errorf("404 with If-None-Match: %d %q, want 404 gone", w.Code, w.Body)
	}
}

func TestRespondErrors(t *testing.T) {
	tests := []struct {
		name    string
		cfg     config.Respond
		wantErr string
	}{
		{"status too low", config.Respond{Status: 99}, "status: 99"},
		{"informational status", config.Respond{Status: 101}, "status: 101"},
		{"status too high", config.Respond{Status: 600}, "status: 600"},
		{"negative status", config.Respond{Status: -1}, "status: -1"},
		{"body on 204", config.Respond{Status: 204, Body: "x"}, "body: status 204"},
		{"body on 304", config.Respond{Status: 304, Body: "x"}, "body: status 304"},
		{"header name with space", config.Respond{Headers: map[string]string{"Bad Header": "v"}}, "headers.Bad Header: invalid header name"},
		{"empty header name", config.Respond{Headers: map[string]string{"": "v"}}, "headers.: invalid header name"},
		{"header value with newline", config.Respond{Headers: map[string]string{"X-A": "v\r\nSet-Cookie: x"}}, "headers.X-A: invalid header value"},
		{"header value with NUL", config.Respond{Headers: map[string]string{"X-A": "v\x00"}}, "headers.X-A: invalid header value"},
		{"content length", config.Respond{Headers: map[string]string{"content-length": "3"}}, "headers.content-length: computed"},
		{"transfer encoding", config.Respond{Headers: map[string]string{"Transfer-Encoding": "chunked"}}, "headers.Transfer-Encoding: computed"},
		{"duplicate header", config.Respond{Headers: map[string]string{"x-a": "1", "X-A": "2"}}, "given twice"},
		{"bad etag", config.Respond{Headers: map[string]string{"ETag": "v1"}}, "headers.ETag: \"v1\" is not an entity-tag"},
		{"bad last-modified", config.Respond{Headers: map[string]string{"Last-Modified": "today"}}, "headers.Last-Modified: \"today\" is not an HTTP date"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := Respond(tt.cfg)
			if err == nil {
				t.Fatalf("Respond(%+v) = %v, want an error", tt.cfg, h)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %q does not contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestRespondAllocs(t *testing.T) {
	h := mustRespond(t, config.Respond{Body: "Hello, World!", Headers: map[string]string{"Cache-Control": "max-age=60", "X-A": "b"}})
	w := newDiscardWriter()
	cases := map[string]*http.Request{
		"plain": httptest.NewRequest("GET", "/hello", nil),
		"304":   httptest.NewRequest("GET", "/hello", nil),
		"ims":   httptest.NewRequest("GET", "/hello", nil),
	}
	h.ServeHTTP(w, cases["plain"])
	cases["304"].Header.Set("If-None-Match", w.h.Get("Etag"))
	cases["ims"].Header.Set("If-Modified-Since", w.h.Get("Last-Modified"))
	for name, r := range cases {
		allocs := testing.AllocsPerRun(1000, func() {
			w.reset()
			h.ServeHTTP(w, r)
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations per request, want 0", name, allocs)
		}
	}
}

// A downstream Header.Add must not write into the shared value slices.
func TestRespondSharedHeadersNotClobbered(t *testing.T) {
	h := mustRespond(t, config.Respond{Body: "x", Headers: map[string]string{"Vary": "Accept"}})
	w1 := httptest.NewRecorder()
	h.ServeHTTP(w1, httptest.NewRequest("GET", "/", nil))
	w1.Header().Add("Vary", "Accept-Encoding")
	w2 := serve(h, "GET", "/", nil)
	if got := w2.Header().Values("Vary"); len(got) != 1 || got[0] != "Accept" {
		t.Fatalf("second response Vary = %q, want [Accept]", got)
	}
}

func BenchmarkRespond(b *testing.B) {
	h := mustRespond(b, config.Respond{Body: "Hello, World!", Headers: map[string]string{"Cache-Control": "max-age=60"}})
	// The same response written by hand, as a handler usually would.
	body := []byte("Hello, World!")
	byHand := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Cache-Control", "max-age=60")
		h.Set("Content-Type", "text/plain; charset=utf-8")
		h.Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body)
	})
	r := httptest.NewRequest("GET", "/hello", nil)
	b.Run("writer=reused", func(b *testing.B) {
		w := newDiscardWriter()
		b.ReportAllocs()
		for b.Loop() {
			w.reset()
			h.ServeHTTP(w, r)
		}
	})
	b.Run("writer=reused/304", func(b *testing.B) {
		w := newDiscardWriter()
		h.ServeHTTP(w, r)
		rc := r.Clone(r.Context())
		rc.Header.Set("If-None-Match", w.h.Get("Etag"))
		b.ReportAllocs()
		for b.Loop() {
			w.reset()
			h.ServeHTTP(w, rc)
		}
	})
	b.Run("writer=recorder", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			h.ServeHTTP(httptest.NewRecorder(), r)
		}
	})
	b.Run("writer=recorder/by-hand", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			byHand.ServeHTTP(httptest.NewRecorder(), r)
		}
	})
	b.Run("writer=reused/by-hand", func(b *testing.B) {
		w := newDiscardWriter()
		b.ReportAllocs()
		for b.Loop() {
			w.reset()
			byHand.ServeHTTP(w, r)
		}
	})
}
