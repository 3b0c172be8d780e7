package conditions

import (
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestGlob(t *testing.T) {
	tests := []struct {
		name    string
		pattern string
		fold    bool
		in      string
		want    bool
	}{
		{"exact", "/api", false, "/api", true},
		{"exact differs", "/api", false, "/api/", false},
		{"star alone", "*", false, "", true},
		{"double star alone", "**", false, "/x/y", true},
		{"prefix", "/api/*", false, "/api/users/1", true},
		{"prefix empty rest", "/api/*", false, "/api/", true},
		{"prefix missing slash", "/api/*", false, "/api", false},
		{"prefix case", "/api/*", false, "/API/x", false},
		{"suffix", "*.css", false, "/static/site.css", true},
		{"suffix no", "*.css", false, "/static/site.css.map", false},
		{"contains", "*bot*", false, "Googlebot/2.1", true},
		{"contains no", "*bot*", false, "Mozilla", false},
		{"middle", "/api/*/users", false, "/api/v1/users", true},
		{"middle crosses slash", "/api/*/users", false, "/api/v1/x/users", true},
		{"middle no", "/api/*/users", false, "/api/v1/groups", false},
		{"two stars", "/a*b*c", false, "/axxbyyc", true},
		{"two stars backtrack", "/a*b*c", false, "/abcbc", true},
		{"two stars no", "/a*b*c", false, "/axxbyy", false},
		{"trailing literal after star", "*a", false, "aaa", true},
		{"empty pattern", "", false, "", true},
		{"empty pattern no", "", false, "x", false},
		{"fold exact", "Example.COM", true, "example.com", true},
		{"fold prefix", "api.*", true, "API.example.com", true},
		{"fold suffix", "*.example.com", true, "WWW.Example.Com", true},
		{"fold suffix no", "*.example.com", true, "example.com", false},
		{"fold general", "a*.example.*", true, "Api.EXAMPLE.org", true},
		{"fold contains", "*EXAMPLE*", true, "www.example.org", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := compileGlob(tt.pattern, tt.fold)
			if got := g.match(tt.in); got != tt.want {
				t.Errorf("glob %q match %q = %v, want %v", tt.pattern, tt.in, got, tt.want)
			}
			if got := g.matchBytes([]byte(tt.in)); got != tt.want {
				t.Errorf("glob %q matchBytes %q = %v, want %v", tt.pattern, tt.in, got, tt.want)
			}
		})
	}
}

// globRegexp is the reference semantics of a glob: '*' is any run of bytes.
func globRegexp(pattern string, fold bool) *regexp.Regexp {
	parts := strings.Split(pattern, "*")
	for i, p := range parts {
		parts[i] = regexp.QuoteMeta(p)
	}
	expr := "^" + strings.Join(parts, "(?s:.*)") + "$"
	if fold {
		expr = "(?i)" + expr
	}
	return regexp.MustCompile(expr)
}

func FuzzGlob(f *testing.F) {
	f.Add("/api/*", "/api/users", false)
	f.Add("*.example.com", "WWW.EXAMPLE.COM", true)
	f.Add("*a*b*", "xxaxxbxx", false)
	f.Add("a**b", "ab", false)
	f.Add("", "", false)
	f.Fuzz(func(t *testing.T, pattern, s string, fold bool) {
		if len(pattern) > 64 || len(s) > 256 {
			return
		}
		// The reference works on UTF-8 and folds Unicode; the glob works on
		// bytes and folds ASCII only.
		if !utf8.ValidString(pattern) || !utf8.ValidString(s) || fold && (!isASCII(pattern) || !isASCII(s)) {
			return
		}
		g := compileGlob(pattern, fold)
		want := globRegexp(g.pattern, fold).MatchString(s)
		if got := g.match(s); got != want {
			t.Fatalf("glob %q (fold %v) match %q = %v, want %v", pattern, fold, s, got, want)
		}
		if got := g.matchBytes([]byte(s)); got != want {
			t.Fatalf("glob %q (fold %v) matchBytes %q = %v, want %v", pattern, fold, s, got, want)
		}
	})
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
