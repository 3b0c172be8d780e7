package caching

import (
	"strconv"
	"strings"
	"testing"
)

func TestParseCacheControl(t *testing.T) {
	type want struct {
		flags                                         uint32
		maxAge, sMaxAge, maxStale, minFresh, swr, sie int64
		privateFields, noCacheFields                  string
	}
	def := func(w want) want {
		for _, p := range []*int64{&w.maxAge, &w.sMaxAge, &w.maxStale, &w.minFresh, &w.swr, &w.sie} {
			if *p == 0 {
				*p = unset
			}
		}
		return w
	}
	zero := int64(-2) // stands for an explicit 0 in the table below
	cases := []struct {
		name  string
		lines []string
		want  want
	}{
		{"empty", nil, want{}},
		{"max-age", []string{"max-age=60"}, want{maxAge: 60}},
		{"case-insensitive names", []string{"MAX-AGE=60, Public"}, want{maxAge: 60, flags: ccPublic}},
		{"quoted value", []string{`max-age="60"`}, want{maxAge: 60}},
		{"first occurrence wins", []string{"max-age=60, max-age=10"}, want{maxAge: 60}},
		{"first across lines", []string{"max-age=5", "max-age=10"}, want{maxAge: 5}},
		{"invalid max-age is stale", []string{"max-age=abc"}, want{maxAge: zero, flags: ccMaxAgeInvalid}},
		{"negative max-age is stale", []string{"max-age=-1"}, want{maxAge: zero, flags: ccMaxAgeInvalid}},
		{"empty max-age is stale", []string{"max-age="}, want{maxAge: zero, flags: ccMaxAgeInvalid}},
		{"max-age without value", []string{"max-age"}, want{maxAge: zero, flags: ccMaxAgeInvalid}},
		{"huge value saturates", []string{"max-age=99999999999999999999"}, want{maxAge: deltaMax}},
		{"leading zeros", []string{"max-age=007"}, want{maxAge: 7}},
		{"s-maxage", []string{"s-maxage=1, max-age=60"}, want{maxAge: 60, sMaxAge: 1}},
		{"all flags", []string{"no-store, no-cache, private, public, must-revalidate, proxy-revalidate, must-understand, immutable, no-transform, only-if-cached"},
			want{flags: ccNoStore | ccNoCache | ccPrivate | ccPublic | ccMustRevalidate | ccProxyRevalidate | ccMustUnderstand | ccImmutable | ccNoTransform | ccOnlyIfCached}},
		{"qualified private", []string{`private="Set-Cookie, X-Foo", max-age=5`}, want{flags: ccPrivate, privateFields: "Set-Cookie, X-Foo", maxAge: 5}},
		{"qualified no-cache", []string{`no-cache="Set-Cookie"`}, want{flags: ccNoCache, noCacheFields: "Set-Cookie"}},
		{"comma inside quotes", []string{`private="a,b", max-age=3`}, want{flags: ccPrivate, privateFields: "a,b", maxAge: 3}},
		{"request directives", []string{"max-stale=30, min-fresh=5, stale-if-error=60"}, want{maxStale: 30, minFresh: 5, sie: 60}},
		{"max-stale without value", []string{"max-stale"}, want{flags: ccMaxStaleAny}},
		{"stale-while-revalidate", []string{"max-age=1, stale-while-revalidate=10"}, want{maxAge: 1, swr: 10}},
		{"whitespace and empty members", []string{" ,  max-age = 60 ,, public , "}, want{maxAge: 60, flags: ccPublic}},
		{"garbage skipped to the next comma", []string{`max-age=60 junk "x,y", public`}, want{flags: ccPublic}},
		{"unknown directives ignored", []string{"foo=bar, max-age=1, baz"}, want{maxAge: 1}},
		{"unterminated quote", []string{`max-age=5, private="abc`}, want{maxAge: 5}},
		{"invalid swr ignored", []string{"stale-while-revalidate=x"}, want{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := def(tc.want)
			if w.maxAge == zero {
				w.maxAge = 0
			}
			got := parseCacheControl(tc.lines)
			g := want{got.flags, got.maxAge, got.sMaxAge, got.maxStale, got.minFresh, got.staleWhileRevalidate, got.staleIfError, got.privateFields, got.noCacheFields}
			if g != w {
				t.Errorf("parse %q\n got %+v\nwant %+v", tc.lines, g, w)
			}
		})
	}
}

func TestParseCacheControlAllocs(t *testing.T) {
	lines := []string{`public, max-age=60, s-maxage=30, stale-while-revalidate=10, private="Set-Cookie"`}
	if n := testing.AllocsPerRun(100, func() { _ = parseCacheControl(lines) }); n != 0 {
		t.Errorf("parseCacheControl allocates %v times", n)
	}
}

func TestFieldListContains(t *testing.T) {
	cases := []struct {
		list, field string
		want        bool
	}{
		{"Set-Cookie", "set-cookie", true},
		{"X-A, set-cookie", "set-cookie", true},
		{"X-A,Set-Cookie2", "set-cookie", false},
		{"", "set-cookie", false},
		{"no-cache", "no-cache", true},
	}
	for _, tc := range cases {
		if got := fieldListContains(tc.list, tc.field); got != tc.want {
			t.Errorf("fieldListContains(%q, %q) = %v", tc.list, tc.field, got)
		}
	}
}

// render writes cc back as a Cache-Control value.
func render(cc cacheControl) string {
	var parts []string
	names := []struct {
		f uint32
		n string
	}{{ccNoStore, "no-store"}, {ccPublic, "public"}, {ccMustRevalidate, "must-revalidate"},
		{ccProxyRevalidate, "proxy-revalidate"}, {ccMustUnderstand, "must-understand"}, {ccImmutable, "immutable"},
		{ccNoTransform, "no-transform"}, {ccOnlyIfCached, "only-if-cached"}, {ccMaxStaleAny, "max-stale"}}
	for _, n := range names {
		if cc.has(n.f) {
			parts = append(parts, n.n)
		}
	}
	quoted := func(name, v string) string { return name + `="` + v + `"` }
	if cc.has(ccPrivate) {
		if cc.privateFields != "" {
			parts = append(parts, quoted("private", cc.privateFields))
		} else {
			parts = append(parts, "private")
		}
	}
	if cc.has(ccNoCache) {
		if cc.noCacheFields != "" {
			parts = append(parts, quoted("no-cache", cc.noCacheFields))
		} else {
			parts = append(parts, "no-cache")
		}
	}
	num := func(name string, v int64, invalid bool) {
		switch {
		case invalid:
			parts = append(parts, name+"=x")
		case v != unset:
			parts = append(parts, name+"="+strconv.FormatInt(v, 10))
		}
	}
	num("max-age", cc.maxAge, cc.has(ccMaxAgeInvalid))
	num("s-maxage", cc.sMaxAge, cc.has(ccSMaxAgeInvalid))
	if !cc.has(ccMaxStaleAny) {
		num("max-stale", cc.maxStale, false)
	}
	num("min-fresh", cc.minFresh, false)
	num("stale-while-revalidate", cc.staleWhileRevalidate, false)
	num("stale-if-error", cc.staleIfError, false)
	return strings.Join(parts, ", ")
}

// FuzzCacheControl checks that the parser never panics, never yields a
// negative value other than unset, keeps its substrings inside the input, and
// that rendering what it parsed and parsing again gives the same result.
func FuzzCacheControl(f *testing.F) {
	for _, s := range []string{
		"max-age=60", "no-store", `private="Set-Cookie", max-age=5`, "s-maxage=1, max-age=60",
		"max-stale", "max-stale=10, min-fresh=3, only-if-cached", `max-age="3600"`, "max-age=-1",
		"MAX-AGE=99999999999999999999", ` ,, public ,`, `no-cache="a\"b", x=y`, `max-age=1 junk, public`,
		"stale-while-revalidate=10, stale-if-error=20", `private="unterminated`, "=5, max-age=2",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		cc := parseCacheControl([]string{s})
		for _, v := range []int64{cc.maxAge, cc.sMaxAge, cc.maxStale, cc.minFresh, cc.staleWhileRevalidate, cc.staleIfError} {
			if v < unset || v > deltaMax {
				t.Fatalf("value %d out of range for %q", v, s)
			}
		}
		for _, sub := range []string{cc.privateFields, cc.noCacheFields} {
			if !strings.Contains(s, sub) {
				t.Fatalf("field list %q is not part of %q", sub, s)
			}
		}
		if strings.ContainsAny(cc.privateFields+cc.noCacheFields, `"`) {
			return // a list with escaped quotes does not re-render as written
		}
		again := parseCacheControl([]string{render(cc)})
		if again != cc {
			t.Fatalf("round trip of %q:\n first %+v\nsecond %+v\nrendered %q", s, cc, again, render(cc))
		}
	})
}
