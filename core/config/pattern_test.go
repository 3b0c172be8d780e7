package config

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
)

func TestExpandPattern(t *testing.T) {
	tests := []struct {
		in, want, err string
	}{
		{in: "/", want: "/"},
		{in: "/hello", want: "/hello"},
		{in: "/users/{id}", want: "/users/{id}"},
		{in: "/users/{id:uuid}", want: "/users/{id:" + PresetUUID + "}"},
		{in: "/n/{n:int}/s/{s:slug}", want: "/n/{n:" + PresetInt + "}/s/{s:" + PresetSlug + "}"},
		{in: "/y/{year:[0-9]{4}}", want: "/y/{year:[0-9]{4}}"},
		{in: "/files/*", want: "/files/*"},
		{in: "/f/{name}.{ext:[a-z]+}", want: "/f/{name}.{ext:[a-z]+}"},
		{in: "", err: "empty"},
		{in: "users", err: "must start with /"},
		{in: "/a/{id", err: "no closing '}'"},
		{in: "/a/id}", err: "no opening '{'"},
		{in: "/a/{}", err: "has no name"},
		{in: "/a/{:int}", err: "has no name"},
		{in: "/a/{x:}", err: "empty regexp"},
		{in: "/a/{x:(}", err: "invalid regexp in {x}: missing closing )"},
		{in: "/a/{x:[z-a]}", err: "invalid character class range"},
		{in: "/a/{x:a**}", err: "invalid nested repetition operator"},
		{in: "/a/*/b", err: "'*' may only end"},
		{in: "/a*b", err: "'*' may only end"},
		{in: "/a/{x}/{x}", err: "appears twice"},
		{in: "/a/{x:int}/{x:slug}", err: "appears twice"},
	}
	for _, tc := range tests {
		got, err := ExpandPattern(tc.in)
		switch {
		case tc.err != "":
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ExpandPattern(%q) = %q, %v; want error containing %q", tc.in, got, err, tc.err)
			}
		case err != nil || got != tc.want:
			t.Errorf("ExpandPattern(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

// TestPresetsOnChi serves each preset through a real chi router and checks
// which paths match.
func TestPresetsOnChi(t *testing.T) {
	tests := []struct {
		pattern string
		match   []string
		reject  []string
	}{
		{
			pattern: "/u/{id:uuid}",
			match:   []string{"/u/0b6a3f2e-1c9d-4e8f-9a7b-5c4d3e2f1a0b", "/u/00000000-0000-4000-8000-000000000000", "/u/ffffffff-ffff-4fff-bfff-ffffffffffff"},
			reject: []string{
				"/u/0b6a3f2e-1c9d-1e8f-9a7b-5c4d3e2f1a0b",  // version 1
				"/u/0b6a3f2e-1c9d-5e8f-9a7b-5c4d3e2f1a0b",  // version 5
				"/u/0b6a3f2e-1c9d-4e8f-ca7b-5c4d3e2f1a0b",  // variant c
				"/u/0B6A3F2E-1C9D-4E8F-9A7B-5C4D3E2F1A0B",  // upper case
				"/u/0b6a3f2e1c9d4e8f9a7b5c4d3e2f1a0b",      // no hyphens
				"/u/0b6a3f2e-1c9d-4e8f-9a7b-5c4d3e2f1a0",   // short
				"/u/0b6a3f2e-1c9d-4e8f-9a7b-5c4d3e2f1a0b0", // long
				"/u/",
			},
		},
		{
			pattern: "/n/{n:int}",
			match:   []string{"/n/0", "/n/42", "/n/0012", "/n/18446744073709551616"},
			reject:  []string{"/n/-1", "/n/+1", "/n/1.5", "/n/1e3", "/n/abc", "/n/١٢", "/n/", "/n/12a"},
		},
		{
			pattern: "/s/{s:slug}",
			match:   []string{"/s/hello", "/s/hello-world", "/s/a1-b2-c3", "/s/2024"},
			reject:  []string{"/s/Hello", "/s/hello_world", "/s/-hello", "/s/hello-", "/s/hello--world", "/s/héllo", "/s/", "/s/a.b"},
		},
		{
			pattern: "/y/{y:[0-9]{4}}/{rest}",
			match:   []string{"/y/2024/x"},
			reject:  []string{"/y/24/x", "/y/20245/x"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.pattern, func(t *testing.T) {
			p, err := ExpandPattern(tc.pattern)
			if err != nil {
				t.Fatal(err)
			}
			r := chi.NewRouter()
			r.Get(p, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) })
			serve := func(path string) int {
				rec := httptest.NewRecorder()
				r.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "http://x"+path, nil))
				return rec.Code
			}
			for _, path := range tc.match {
				if code := serve(path); code != http.StatusTeapot {
					t.Errorf("%s: %d, want a match", path, code)
				}
			}
			for _, path := range tc.reject {
				if code := serve(path); code != http.StatusNotFound {
					t.Errorf("%s: %d, want 404", path, code)
				}
			}
		})
	}
}

func TestRouteKey(t *testing.T) {
	same := [][2]string{
		{"/a/{id}", "/a/{name}"},
		{"/a/{id:[0-9]+}", "/a/{n:[0-9]+}"},
	}
	for _, p := range same {
		if routeKey(p[0]) != routeKey(p[1]) {
			t.Errorf("%s and %s should be the same route", p[0], p[1])
		}
	}
	if routeKey("/a/{id}") == routeKey("/a/{id:[0-9]+}") {
		t.Error("a plain and a regexp parameter are different routes")
	}
}
