package caching

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestURLKey(t *testing.T) {
	cases := []struct {
		name   string
		target string
		host   string
		tls    bool
		want   string
	}{
		{"plain", "/a/b", "example.com", false, "GET http://example.com/a/b"},
		{"host lower-cased, default port dropped", "/", "EXAMPLE.com:80", false, "GET http://example.com/"},
		{"https default port", "/x", "example.com:443", true, "GET https://example.com/x"},
		{"other port kept", "/x", "example.com:8080", false, "GET http://example.com:8080/x"},
		{"IPv6 default port dropped", "/x", "[::1]:80", false, "GET http://[::1]/x"},
		{"malformed host kept", "/x", ":80:80", false, "GET http://:80:80/x"},
		{"query sorted by name", "/q?b=2&a=1&c=3", "h", false, "GET http://h/q?a=1&b=2&c=3"},
		{"repeated names keep their order", "/q?b=2&a=9&a=1", "h", false, "GET http://h/q?a=9&a=1&b=2"},
		{"empty parameters dropped", "/q?&a=1&&", "h", false, "GET http://h/q?a=1"},
		{"empty query", "/q?", "h", false, "GET http://h/q"},
		{"escaped path normalised", "/%61%2fb", "h", false, "GET http://h/a%2Fb"},
		{"escaped query normalised", "/q?x=%7e%2f", "h", false, "GET http://h/q?x=~%2F"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", tc.target, nil)
			r.Host = tc.host
			if tc.tls {
				r.TLS = &tls.ConnectionState{}
			}
			if got := string(appendURLKey(nil, r)); got != tc.want {
				t.Errorf("key = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestURLKeyEscapesRawBytes(t *testing.T) {
	r := httptest.NewRequest("GET", "/q", nil)
	r.Host = "h"
	r.URL.RawQuery = "a=b c&z=\xc3\xa9"
	if got, want := string(appendURLKey(nil, r)), "GET http://h/q?a=b%20c&z=%C3%A9"; got != want {
		t.Errorf("key = %q, want %q", got, want)
	}
}

func TestURLKeyTooManyParams(t *testing.T) {
	var parts []string
	for i := range maxSortedParams + 2 {
		parts = append(parts, string(rune('z'-i%26))+"=1")
	}
	q := strings.Join(parts, "&")
	r := httptest.NewRequest("GET", "/q?"+q, nil)
	r.Host = "h"
	if got := string(appendURLKey(nil, r)); got != "GET http://h/q?"+q {
		t.Errorf("a long query is kept as received; got %q", got)
	}
}

func TestURLKeyAllocs(t *testing.T) {
	r := httptest.NewRequest("GET", "/api/users/42?b=2&a=1", nil)
	buf := make([]byte, 0, 256)
	if n := testing.AllocsPerRun(100, func() { buf = appendURLKey(buf[:0], r) }); n != 0 {
		t.Errorf("appendURLKey allocates %v times", n)
	}
}

func TestKeyParts(t *testing.T) {
	k := "GET https://h/a/b?x=1\x00v1f\x00en"
	if got := keyPath(k); got != "/a/b" {
		t.Errorf("keyPath = %q", got)
	}
	if got := keyURL(k); got != "GET https://h/a/b?x=1" {
		t.Errorf("keyURL = %q", got)
	}
}

func TestNormalizeKey(t *testing.T) {
	cases := map[string]string{
		"https://Example.com:443/a?b=2&a=1": "GET https://example.com/a?a=1&b=2",
		"GET http://h/x":                    "GET http://h/x",
		"head http://h/x":                   "GET http://h/x",
		"GET not a url":                     "GET not a url",
	}
	for in, want := range cases {
		if got := normalizeKey(in); got != want {
			t.Errorf("normalizeKey(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSameOriginKey(t *testing.T) {
	r := httptest.NewRequest("POST", "/items/1", nil)
	r.Host = "h"
	rk := appendURLKey(nil, r)
	cases := []struct {
		ref  string
		want string
		ok   bool
	}{
		{"/items", "GET http://h/items", true},
		{"other?x=1", "GET http://h/items/other?x=1", true},
		{"http://h/z", "GET http://h/z", true},
		{"http://evil/z", "", false},
		{"https://h/z", "", false},
	}
	for _, tc := range cases {
		got, ok := sameOriginKey(r, rk, tc.ref)
		if got != tc.want || ok != tc.ok {
			t.Errorf("sameOriginKey(%q) = %q, %v; want %q, %v", tc.ref, got, ok, tc.want, tc.ok)
		}
	}
}

func TestVaryValues(t *testing.T) {
	r := httptest.NewRequest("GET", "/", nil)
	r.Header["Accept-Language"] = []string{" en ,  fr", "de"}
	got := string(appendVaryValues(nil, r, []string{"Accept-Encoding", "Accept-Language"}))
	if want := "\x00\x01\x00en,fr,de"; got != want {
		t.Errorf("vary values = %q, want %q", got, want)
	}
	if v := parseVary([]string{"accept-language, Accept-Encoding", "ACCEPT-LANGUAGE"}); strings.Join(v, ",") != "Accept-Encoding,Accept-Language" {
		t.Errorf("parseVary = %v", v)
	}
	if v := parseVary([]string{"Accept, *"}); len(v) != 1 || v[0] != "*" {
		t.Errorf("parseVary with * = %v", v)
	}
	_ = http.MethodGet
}
