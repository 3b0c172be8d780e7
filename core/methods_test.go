package core

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// A route without methods: takes every method token, extension methods
// included, and runs its chain for them; a route with methods: still answers
// 405 to the others.
func TestExtensionMethodsReachTheRoute(t *testing.T) {
	var got []string
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.Method)
		_, _ = io.WriteString(w, r.Method)
	}))
	defer origin.Close()
	h := newHost(t, `
routes:
  - path: /any/*
    handler:
      proxy: {upstream: "`+origin.URL+`"}
  - path: /get-only
    methods: [GET]
    handler:
      respond: {body: ok}
`)
	for _, m := range []string{"M-SEARCH", "PROPFIND", "MKCOL", "GET", "X_CUSTOM"} {
		rec := do(h, m, "/any/x")
		if rec.Code != 200 || rec.Body.String() != m {
			t.Errorf("%s /any/x = %d %q, want 200 and the upstream's answer", m, rec.Code, rec.Body)
		}
	}
	if len(got) != 5 || got[0] != "M-SEARCH" || got[1] != "PROPFIND" {
		t.Errorf("upstream saw %v", got)
	}
	if rec := do(h, "M-SEARCH", "/get-only"); rec.Code != 405 {
		t.Errorf("M-SEARCH /get-only = %d, want 405", rec.Code)
	}
	if rec := do(h, "M-SEARCH", "/nowhere"); rec.Code != 404 {
		t.Errorf("M-SEARCH /nowhere = %d, want 404", rec.Code)
	}
}
