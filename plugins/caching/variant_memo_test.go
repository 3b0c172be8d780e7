package caching

import (
	"fmt"
	"net/http"
	"testing"
)

// The variants a Vary record remembers are served only while the memory
// tier holds them: a purge, a new response for the same variant, and expiry
// each end what the record remembers.
func TestVariantMemo(t *testing.T) {
	e := newEnv(t, map[string]any{"ttl": "60s"})
	up := &counter{fn: func(n int64, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=30")
		w.Header().Set("Vary", "Accept-Language")
		fmt.Fprintf(w, "%s v%d", r.Header.Get("Accept-Language"), n)
	}}
	srv := e.server(up)
	en := map[string]string{"Accept-Language": "en"}
	de := map[string]string{"Accept-Language": "de"}
	hits := func(hdr map[string]string, want string, n int) {
		t.Helper()
		for range n {
			r := get(t, srv, "GET", "/doc", hdr)
			if r.header.Get("X-Cache") != "HIT" || r.body != want {
				t.Fatalf("want a hit with %q, got X-Cache %q, body %q", want, r.header.Get("X-Cache"), r.body)
			}
		}
	}
	if r := get(t, srv, "GET", "/doc", en); r.body != "en v1" {
		t.Fatalf("first en: %q", r.body)
	}
	if r := get(t, srv, "GET", "/doc", de); r.body != "de v2" {
		t.Fatalf("first de: %q", r.body)
	}
	hits(en, "en v1", 20) // many, so that most go through the remembered variant
	hits(de, "de v2", 20)

	// A purge drops the variants: the record must not serve them.
	if _, err := e.cache.Purge("http://"+srv.Listener.Addr().String()+"/doc", ""); err != nil {
		t.Fatal(err)
	}
	if r := get(t, srv, "GET", "/doc", en); r.header.Get("X-Cache") == "HIT" || r.body != "en v3" {
		t.Fatalf("after purge: X-Cache %q, body %q, want a miss answered by v3", r.header.Get("X-Cache"), r.body)
	}
	hits(en, "en v3", 20)

	// A refetch (the request says no-cache) replaces the en variant.
	r := get(t, srv, "GET", "/doc", map[string]string{"Accept-Language": "en", "Cache-Control": "no-cache"})
	if r.body != "en v4" {
		t.Fatalf("no-cache: %q", r.body)
	}
	hits(en, "en v4", 20)

	// Past the freshness lifetime, nothing is served fresh from memory.
	e.clock.Advance(31e9)
	if r := get(t, srv, "GET", "/doc", en); r.header.Get("X-Cache") == "HIT" {
		t.Fatalf("after expiry: X-Cache %q, body %q", r.header.Get("X-Cache"), r.body)
	}
}
