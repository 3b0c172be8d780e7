package conditions

import (
	"net/url"
	"strings"
	"testing"
)

func TestQueryFirst(t *testing.T) {
	tests := []struct {
		name, raw, key string
		want           string
		found          bool
	}{
		{"simple", "a=1&b=2", "b", "2", true},
		{"first of many", "a=1&a=2", "a", "1", true},
		{"no equals", "debug&a=1", "debug", "", true},
		{"empty value", "a=", "a", "", true},
		{"absent", "a=1", "b", "", false},
		{"empty query", "", "a", "", false},
		{"escaped key", "x%20y=1", "x y", "1", true},
		{"plus key", "x+y=1", "x y", "1", true},
		{"escaped value kept raw", "a=%31", "a", "%31", true},
		{"semicolon pair skipped", "a=1;b=2&a=3", "a", "3", true},
		{"bad escape skipped", "a=%zz&a=4", "a", "4", true},
		{"bad key escape skipped", "a%zz=1&a=5", "a", "5", true},
		{"empty pairs", "&&a=6&", "a", "6", true},
		{"key prefix is not key", "ab=1", "a", "", false},
		{"value with equals", "a=b=c", "a", "b=c", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, found := queryFirst(tt.raw, tt.key)
			if got != tt.want || found != tt.found {
				t.Errorf("queryFirst(%q, %q) = %q, %v; want %q, %v", tt.raw, tt.key, got, found, tt.want, tt.found)
			}
		})
	}
}

// FuzzQuery checks the allocation-free query reader against url.ParseQuery.
func FuzzQuery(f *testing.F) {
	f.Add("a=1&b=2", "a")
	f.Add("a=%31&a=2", "a")
	f.Add("x+y=%20&x y=2", "x y")
	f.Add("a;b=1&a=%zz&a=3", "a")
	f.Add("=1&=2", "")
	f.Fuzz(func(t *testing.T, raw, key string) {
		if strings.Count(raw, "&") >= 10000 {
			return // url.ParseQuery refuses that many parameters
		}
		vals, _ := url.ParseQuery(raw)
		want, wantOK := "", false
		if v, ok := vals[key]; ok {
			want, wantOK = v[0], true
		}
		got, ok := queryFirst(raw, key)
		if ok != wantOK {
			t.Fatalf("queryFirst(%q, %q) found = %v, url.ParseQuery says %v", raw, key, ok, wantOK)
		}
		if ok {
			if dec := unescapeQuery(got); dec != want {
				t.Fatalf("queryFirst(%q, %q) = %q (decoded %q), url.ParseQuery says %q", raw, key, got, dec, want)
			}
			var arr [8]byte
			if dec := string(appendUnescaped(arr[:0], got)); dec != want {
				t.Fatalf("appendUnescaped(%q) = %q, want %q", got, dec, want)
			}
		}
		n := 0
		queryPairs(raw, func(k, v string) { n++ })
		total := 0
		for _, v := range vals {
			total += len(v)
		}
		if n != total {
			t.Fatalf("queryPairs(%q) saw %d pairs, url.ParseQuery %d", raw, n, total)
		}
	})
}
