package mapcache

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestCache(t *testing.T) {
	calls := 0
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		if r.URL.Path == "/private" {
			w.Header().Set("Cache-Control", "private")
		}
		_, _ = w.Write([]byte("body"))
	})
	h := New(10, time.Minute).Handler(next)
	tests := []struct {
		method, path, xcache string
		calls                int
	}{
		{"GET", "/a", "MISS", 1},
		{"GET", "/a", "HIT", 1},
		{"HEAD", "/a", "MISS", 2}, // HEAD has an entry of its own
		{"GET", "/private", "MISS", 3},
		{"GET", "/private", "MISS", 4}, // private responses are not stored
		{"POST", "/a", "", 5},          // passed through
	}
	for _, tc := range tests {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, nil))
		if got := rec.Header().Get("X-Cache"); got != tc.xcache || calls != tc.calls {
			t.Errorf("%s %s: X-Cache %q after %d calls, want %q after %d", tc.method, tc.path, got, calls, tc.xcache, tc.calls)
		}
		if tc.method == "GET" && rec.Body.String() != "body" {
			t.Errorf("%s %s: body %q", tc.method, tc.path, rec.Body.String())
		}
	}
}
