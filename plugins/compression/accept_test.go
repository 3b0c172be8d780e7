package compression

import (
	"strings"
	"testing"
)

var defaultPrefs = []encoding{encZstd, encBr, encGzip}

func TestNegotiate(t *testing.T) {
	tests := []struct {
		name   string
		header []string // nil: no Accept-Encoding at all
		prefs  []encoding
		want   encoding
	}{
		{"absent", nil, defaultPrefs, encIdentity},
		{"empty value", []string{""}, defaultPrefs, encIdentity},
		{"gzip only", []string{"gzip"}, defaultPrefs, encGzip},
		{"upper case token", []string{"GZIP"}, defaultPrefs, encGzip},
		{"x-gzip alias", []string{"x-gzip"}, defaultPrefs, encGzip},
		{"substring is not a match", []string{"bgzip"}, defaultPrefs, encIdentity},
		{"prefix is not a match", []string{"gzipx, brotli"}, defaultPrefs, encIdentity},
		{"q=0 refuses", []string{"gzip;q=0"}, defaultPrefs, encIdentity},
		{"q=0.000 refuses", []string{"gzip;q=0.000"}, defaultPrefs, encIdentity},
		{"higher q wins over preference", []string{"gzip;q=0.5, zstd;q=1"}, defaultPrefs, encZstd},
		{"higher q wins over preference 2", []string{"zstd;q=0.2, gzip;q=0.9"}, defaultPrefs, encGzip},
		{"tie goes to server preference", []string{"gzip, br, zstd"}, defaultPrefs, encZstd},
		{"tie with other preference", []string{"gzip, br, zstd"}, []encoding{encGzip, encBr}, encGzip},
		{"browser header", []string{"gzip, deflate, br, zstd"}, defaultPrefs, encZstd},
		{"browser header without zstd", []string{"gzip, deflate, br"}, defaultPrefs, encBr},
		{"star", []string{"*"}, defaultPrefs, encZstd},
		{"star with refusals", []string{"*, zstd;q=0, br;q=0"}, defaultPrefs, encGzip},
		{"star refused", []string{"*;q=0"}, defaultPrefs, encIdentity},
		{"star low, gzip high", []string{"*;q=0.1, gzip"}, defaultPrefs, encGzip},
		{"identity preferred", []string{"gzip;q=0.5, identity"}, defaultPrefs, encIdentity},
		{"identity tie goes to coding", []string{"gzip, identity"}, defaultPrefs, encGzip},
		{"star covers identity", []string{"*, gzip;q=0.5"}, []encoding{encGzip}, encIdentity},
		{"coding not configured", []string{"br"}, []encoding{encGzip}, encIdentity},
		{"whitespace", []string{" \tgzip \t; \tq=0.8 ,\tbr ; q=0.9 "}, defaultPrefs, encBr},
		{"upper Q", []string{"gzip;Q=0, br"}, defaultPrefs, encBr},
		{"empty elements", []string{",,gzip,,"}, defaultPrefs, encGzip},
		{"several lines", []string{"gzip;q=0.5", "br;q=0.6"}, defaultPrefs, encBr},
		{"duplicate takes lowest", []string{"gzip, gzip;q=0"}, defaultPrefs, encIdentity},
		{"three decimals", []string{"gzip;q=0.001, br;q=0.002"}, defaultPrefs, encBr},
		{"four decimals is invalid", []string{"br;q=0.0001, gzip;q=0.001"}, defaultPrefs, encGzip},
		{"q above 1 is invalid", []string{"br;q=1.5, gzip;q=0.1"}, defaultPrefs, encGzip},
		{"q=1.000 is valid", []string{"br;q=1.000"}, defaultPrefs, encBr},
		{"q=1.001 is invalid", []string{"br;q=1.001"}, defaultPrefs, encIdentity},
		{"q=2 is invalid", []string{"gzip;q=2"}, defaultPrefs, encIdentity},
		{"q without value", []string{"gzip;q="}, defaultPrefs, encIdentity},
		{"trailing dot", []string{"gzip;q=0."}, defaultPrefs, encIdentity},
		{"trailing dot one", []string{"gzip;q=1."}, defaultPrefs, encGzip},
		{"negative q", []string{"gzip;q=-1"}, defaultPrefs, encIdentity},
		{"space before =", []string{"gzip;q =0.5"}, defaultPrefs, encIdentity},
		{"junk after q", []string{"gzip;q=0.5x, br;q=0.1"}, defaultPrefs, encBr},
		{"unknown parameter kept", []string{"gzip;level=1"}, defaultPrefs, encGzip},
		{"quoted parameter with comma", []string{`gzip;x="a,br", zstd;q=0`}, defaultPrefs, encGzip},
		{"unterminated quote", []string{`gzip;x="a, br`}, defaultPrefs, encIdentity},
		{"two tokens without comma", []string{"gzip br"}, defaultPrefs, encIdentity},
		{"non-ascii fold is not a match", []string{"gzıp"}, defaultPrefs, encIdentity},
		{"semicolon only", []string{"gzip;"}, defaultPrefs, encIdentity},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := negotiate(tt.header, tt.prefs); got != tt.want {
				t.Errorf("negotiate(%q) = %v, want %v", tt.header, got, tt.want)
			}
			if tt.header != nil && !strings.Contains(strings.Join(tt.header, ""), `"`) {
				if ref := refNegotiate(tt.header, tt.prefs); ref != tt.want {
					t.Errorf("reference negotiate(%q) = %v, want %v", tt.header, ref, tt.want)
				}
			}
		})
	}
}

func TestNegotiateAllocs(t *testing.T) {
	header := []string{"gzip;q=0.8, deflate, br;q=0.9, zstd;q=0.95, *;q=0.1, identity;q=0.05"}
	if n := testing.AllocsPerRun(100, func() { negotiate(header, defaultPrefs) }); n != 0 {
		t.Fatalf("negotiate allocates %v times per call, want 0", n)
	}
}

func BenchmarkNegotiate(b *testing.B) {
	header := []string{"gzip, deflate, br, zstd"}
	b.ReportAllocs()
	for b.Loop() {
		negotiate(header, defaultPrefs)
	}
}

// refNegotiate is an independent, allocating implementation of the same
// rules for inputs without quoted strings: split on commas and semicolons,
// trim, check each part.
func refNegotiate(lines []string, prefs []encoding) encoding {
	if len(lines) == 0 {
		return encIdentity
	}
	weights := map[string]int{}
	for _, elem := range strings.Split(strings.Join(lines, ","), ",") {
		elem = strings.Trim(elem, " \t")
		if elem == "" {
			continue
		}
		parts := strings.Split(elem, ";")
		tok := strings.Trim(parts[0], " \t")
		if !isToken(tok) {
			continue
		}
		q, ok := 1000, true
		for _, p := range parts[1:] {
			p = strings.Trim(p, " \t")
			name, val, found := strings.Cut(p, "=")
			if !found || !isToken(name) {
				ok = false
				break
			}
			if strings.EqualFold(name, "q") {
				v, good := refQValue(val)
				if !good {
					ok = false
					break
				}
				q = v
			} else if !isToken(val) {
				ok = false
				break
			}
		}
		if !ok {
			continue
		}
		key := strings.ToLower(tok)
		if key == "x-gzip" {
			key = "gzip"
		}
		if old, seen := weights[key]; !seen || q < old {
			weights[key] = q
		}
	}
	weight := func(name string) int {
		if q, ok := weights[name]; ok {
			return q
		}
		if q, ok := weights["*"]; ok {
			return q
		}
		return -1
	}
	best, bestQ := encIdentity, 0
	for _, e := range prefs {
		if q := weight(encNames[e]); q > bestQ {
			best, bestQ = e, q
		}
	}
	if best != encIdentity && weight("identity") > bestQ {
		return encIdentity
	}
	return best
}

func refQValue(v string) (int, bool) {
	if v == "" || (v[0] != '0' && v[0] != '1') {
		return 0, false
	}
	q := int(v[0]-'0') * 1000
	rest := v[1:]
	if rest == "" {
		return q, true
	}
	if rest[0] != '.' || len(rest) > 4 {
		return 0, false
	}
	scale := 100
	for _, c := range rest[1:] {
		if c < '0' || c > '9' || (q == 1000 && c != '0') {
			return 0, false
		}
		q += int(c-'0') * scale
		scale /= 10
	}
	return q, true
}

func FuzzAcceptEncoding(f *testing.F) {
	for _, s := range []string{
		"", "gzip", "GZIP", "bgzip", "x-gzip", "gzip;q=0", "gzip;q=0.5, zstd;q=1",
		"gzip, deflate, br, zstd", "*", "*;q=0", "identity;q=0, *;q=0",
		"br;q=1.000, gzip;q=0.999", "gzip;q=1.001", `gzip;x="a,b";q=0.5`,
		" , ,gzip ; q=0.3 ,br", "gzip;q=", "gzip;;q=1", "zstd;q=0.0001",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := negotiate([]string{s}, defaultPrefs)
		if got != encIdentity {
			// Whatever is chosen must have been asked for by name or by "*".
			low := strings.ToLower(s)
			if !strings.Contains(low, encNames[got]) && !strings.Contains(low, "*") {
				t.Fatalf("negotiate(%q) = %v, which the header does not name", s, got)
			}
		}
		if !strings.Contains(s, `"`) {
			if ref := refNegotiate([]string{s}, defaultPrefs); ref != got {
				t.Fatalf("negotiate(%q) = %v, reference says %v", s, got, ref)
			}
			// Splitting the list across two field lines changes nothing.
			if i := strings.IndexByte(s, ','); i >= 0 {
				if two := negotiate([]string{s[:i], s[i+1:]}, defaultPrefs); two != got {
					t.Fatalf("negotiate(%q) = %v but split in two lines %v", s, got, two)
				}
			}
		}
		// Case never matters.
		if up := negotiate([]string{asciiUpper(s)}, defaultPrefs); up != got {
			t.Fatalf("negotiate(%q) = %v but upper-cased %v", s, got, up)
		}
	})
}

func asciiUpper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}
