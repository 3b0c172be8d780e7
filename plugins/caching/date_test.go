package caching

import (
	"net/http"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// referenceDate is an independent reading of RFC 9110 §5.6.7: the grammar
// as regular expressions, then the calendar.
var (
	refIMF     = regexp.MustCompile(`^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), ([0-9]{2}) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) ([0-9]{4}) ([0-9]{2}):([0-9]{2}):([0-9]{2}) GMT$`)
	refRFC850  = regexp.MustCompile(`^(Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), ([0-9]{2})-(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)-([0-9]{2}) ([0-9]{2}):([0-9]{2}):([0-9]{2}) GMT$`)
	refAsctime = regexp.MustCompile(`^(Mon|Tue|Wed|Thu|Fri|Sat|Sun) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) ( [0-9]|[0-9]{2}) ([0-9]{2}):([0-9]{2}):([0-9]{2}) ([0-9]{4})$`)
	refMonths  = map[string]time.Month{"Jan": 1, "Feb": 2, "Mar": 3, "Apr": 4, "May": 5, "Jun": 6, "Jul": 7, "Aug": 8, "Sep": 9, "Oct": 10, "Nov": 11, "Dec": 12}
)

func referenceDate(s string) (time.Time, bool) {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	atoi := func(v string) int {
		if v[0] == ' ' {
			v = v[1:]
		}
		n, _ := strconv.Atoi(v)
		return n
	}
	var year, day, h, m, sec int
	var mon time.Month
	if g := refIMF.FindStringSubmatch(s); g != nil {
		day, mon, year, h, m, sec = atoi(g[2]), refMonths[g[3]], atoi(g[4]), atoi(g[5]), atoi(g[6]), atoi(g[7])
	} else if g := refRFC850.FindStringSubmatch(s); g != nil {
		day, mon, h, m, sec = atoi(g[2]), refMonths[g[3]], atoi(g[5]), atoi(g[6]), atoi(g[7])
		now := time.Now().UTC().Year()
		year = now/100*100 + atoi(g[4])
		if year > now+50 {
			year -= 100
		}
	} else if g := refAsctime.FindStringSubmatch(s); g != nil {
		mon, day, h, m, sec, year = refMonths[g[2]], atoi(g[3]), atoi(g[4]), atoi(g[5]), atoi(g[6]), atoi(g[7])
	} else {
		return time.Time{}, false
	}
	if h > 23 || m > 59 || sec > 60 {
		return time.Time{}, false
	}
	// The day must exist in its month.
	if t := time.Date(year, mon, day, 12, 0, 0, 0, time.UTC); day < 1 || t.Day() != day || t.Month() != mon {
		return time.Time{}, false
	}
	return time.Date(year, mon, day, h, m, sec, 0, time.UTC), true
}

// dateCases is the reference set: valid and invalid strings, with the time
// the valid ones denote.
var dateCases = []struct {
	in   string
	want string // RFC 3339, or "" for invalid
}{
	{"Sun, 06 Nov 1994 08:49:37 GMT", "1994-11-06T08:49:37Z"},
	{"Sunday, 06-Nov-94 08:49:37 GMT", "1994-11-06T08:49:37Z"},
	{"Sun Nov  6 08:49:37 1994", "1994-11-06T08:49:37Z"},
	{"Sun Nov 06 08:49:37 1994", "1994-11-06T08:49:37Z"},
	{" Thu, 18 Aug 2050 02:01:18 GMT\t", "2050-08-18T02:01:18Z"},
	{"Mon, 29 Feb 2016 00:00:00 GMT", "2016-02-29T00:00:00Z"},
	{"Wed, 31 Dec 2036 23:59:60 GMT", "2037-01-01T00:00:00Z"}, // a leap second
	{"Fri, 02 Jan 2026 00:00:00 GMT", "2026-01-02T00:00:00Z"},
	{"Mon, 02 Jan 2026 00:00:00 GMT", "2026-01-02T00:00:00Z"}, // the day name is not checked
	{"Thursday, 18-Aug-50 02:01:18 GMT", "2050-08-18T02:01:18Z"},
	{"Saturday, 01-Jan-00 00:00:00 GMT", "2000-01-01T00:00:00Z"},

	{"Thu, 18 Aug 2050 2:01:18 GMT", ""},    // one-digit hour
	{"Thu, 18  Aug  2050 02:01:18 GMT", ""}, // doubled spaces
	{"Thu, 18 Aug 2050 02:01:18 UTC", ""},
	{"Thu, 18 Aug 2050 02:01:18 gmt", ""},
	{"Thu, 18 Aug 2050 02:01:18 +0000", ""},
	{"thu, 18 Aug 2050 02:01:18 GMT", ""},
	{"Thu, 18 aug 2050 02:01:18 GMT", ""},
	{"Thu, 8 Aug 2050 02:01:18 GMT", ""},
	{"Thu, 18 Aug 50 02:01:18 GMT", ""},
	{"Thu, 18 Aug 2050 02:01:18 GMT x", ""},
	{"Thu, 31 Apr 2050 02:01:18 GMT", ""},
	{"Thu, 29 Feb 2050 02:01:18 GMT", ""},
	{"Thu, 00 Aug 2050 02:01:18 GMT", ""},
	{"Thu, 18 Aug 2050 24:00:00 GMT", ""},
	{"Thu, 18 Aug 2050 02:60:00 GMT", ""},
	{"Thu, 18 Aug 2050 02:01:61 GMT", ""},
	{"Thu, 18 Aug 2050 02-01-18 GMT", ""},
	{"Thu,18 Aug 2050 02:01:18 GMT", ""},
	{"Thursday, 18 Aug 2050 02:01:18 GMT", ""},
	{"Thu, 18-Aug-50 02:01:18 GMT", ""},
	{"Thursday, 18-Aug-2050 02:01:18 GMT", ""},
	{"Thursday, 18-Aug-50 02:01:18 UTC", ""},
	{"Thursdai, 18-Aug-50 02:01:18 GMT", ""},
	{"Thu Aug 18 02:01:18 2050 GMT", ""},
	{"Thu Aug  8 2:01:18 2050", ""},
	{"Thu Aug 8 02:01:18 2050", ""},
	{"Thu Aug 18 02:01:18 50", ""},
	{"Thu, 18 Aug 2050", ""},
	{"0", ""},
	{"-1", ""},
	{"", ""},
	{"2050-08-18T02:01:18Z", ""},
	{"Thu, 1\x008 Aug 2050 02:01:18 GMT", ""},
	{"Thu, １8 Aug 2050 02:01:18 GMT", ""},
}

// TestHTTPDateDifferential checks the parser and the reference against the
// reference set, and against each other.
func TestHTTPDateDifferential(t *testing.T) {
	for _, tc := range dateCases {
		got, ok := parseHTTPTime(tc.in)
		ref, refOK := referenceDate(tc.in)
		if ok != refOK || (ok && !got.Equal(ref)) {
			t.Errorf("%q: parser %v %v, reference %v %v", tc.in, got, ok, ref, refOK)
		}
		if tc.want == "" {
			if ok {
				t.Errorf("%q: accepted as %v, want refused", tc.in, got)
			}
			continue
		}
		want, _ := time.Parse(time.RFC3339, tc.want)
		if !ok || !got.Equal(want) {
			t.Errorf("%q = %v %v, want %v", tc.in, got, ok, want)
		}
	}
	// http.ParseTime accepts some of what RFC 9110 refuses: the reason for
	// the strict parser.
	if _, err := http.ParseTime("Thu, 18 Aug 2050 2:01:18 GMT"); err != nil {
		t.Log("http.ParseTime now refuses a one-digit hour too")
	}
}

func TestHTTPDateAllocs(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() { parseHTTPTime("Sun, 06 Nov 1994 08:49:37 GMT") }); n != 0 {
		t.Errorf("parseHTTPTime allocates %v times", n)
	}
}

// FuzzHTTPDate: the parser and the reference agree on every input, and
// what is accepted as an IMF-fixdate formats back to itself (up to the day
// name, which is not checked).
func FuzzHTTPDate(f *testing.F) {
	for _, tc := range dateCases {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := parseHTTPTime(s)
		ref, refOK := referenceDate(s)
		if ok != refOK || (ok && !got.Equal(ref)) {
			t.Fatalf("%q: parser %v %v, reference %v %v", s, got, ok, ref, refOK)
		}
		if ok && refIMF.MatchString(trimOWS(s)) && got.Second() == int(trimOWS(s)[23]-'0')*10+int(trimOWS(s)[24]-'0') {
			if back := got.Format(http.TimeFormat); back[5:] != trimOWS(s)[5:] {
				t.Fatalf("%q parsed as %v, which formats as %q", s, got, back)
			}
		}
	})
}
