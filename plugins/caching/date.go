package caching

import "time"

// HTTP dates, RFC 9110 §5.6.7. Exactly three forms are accepted:
//
//	IMF-fixdate  Sun, 06 Nov 1994 08:49:37 GMT
//	rfc850-date  Sunday, 06-Nov-94 08:49:37 GMT
//	asctime-date Sun Nov  6 08:49:37 1994
//
// Day and month names are case-sensitive, every number has its fixed width,
// separators are single spaces, the zone is "GMT", and the date must exist
// (no 31 Feb). The day name is not checked against the date (RFC 9110 does not
// ask a recipient to). A two-digit rfc850 year more than 50 years in the future
// is taken as the most recent past year with the same last two digits. Unlike
// http.ParseTime, one-digit hours, doubled spaces, other zones and trailing
// text are refused.

// parseHTTPTime parses v (its optional surrounding whitespace removed) as an
// HTTP date. It allocates nothing.
func parseHTTPTime(v string) (time.Time, bool) {
	v = trimOWS(v)
	switch {
	case len(v) == 29 && v[3] == ',':
		return parseIMFFixdate(v)
	case len(v) == 24 && v[3] == ' ':
		return parseAsctime(v)
	case len(v) >= 30 && len(v) <= 33:
		return parseRFC850(v, time.Now().UTC().Year())
	}
	return time.Time{}, false
}

var shortDays = [7]string{"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"}

var longDays = [7]string{"Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"}

var months = [12]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}

func isShortDay(s string) bool {
	for _, d := range shortDays {
		if s == d {
			return true
		}
	}
	return false
}

func month(s string) (time.Month, bool) {
	for i, m := range months {
		if s == m {
			return time.Month(i + 1), true
		}
	}
	return 0, false
}

// digits parses s, which must be all ASCII digits.
func digits(s string) (int, bool) {
	if s == "" {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// clock parses "HH:MM:SS" (second 60 allowed for a leap second).
func clock(s string) (h, m, sec int, ok bool) {
	if len(s) != 8 || s[2] != ':' || s[5] != ':' {
		return 0, 0, 0, false
	}
	h, ok1 := digits(s[0:2])
	m, ok2 := digits(s[3:5])
	sec, ok3 := digits(s[6:8])
	if !ok1 || !ok2 || !ok3 || h > 23 || m > 59 || sec > 60 {
		return 0, 0, 0, false
	}
	return h, m, sec, true
}

// date builds the UTC time, refusing a day the month does not have. A leap
// second (60) reads as the first second of the next minute.
func date(year int, mon time.Month, day, h, m, s int) (time.Time, bool) {
	if day < 1 || day > time.Date(year, mon+1, 0, 0, 0, 0, 0, time.UTC).Day() {
		return time.Time{}, false
	}
	return time.Date(year, mon, day, h, m, s, 0, time.UTC), true
}

// parseIMFFixdate: "Sun, 06 Nov 1994 08:49:37 GMT".
func parseIMFFixdate(v string) (time.Time, bool) {
	if !isShortDay(v[0:3]) || v[4] != ' ' || v[7] != ' ' || v[11] != ' ' || v[16] != ' ' || v[25:] != " GMT" {
		return time.Time{}, false
	}
	day, ok1 := digits(v[5:7])
	mon, ok2 := month(v[8:11])
	year, ok3 := digits(v[12:16])
	h, m, s, ok4 := clock(v[17:25])
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return time.Time{}, false
	}
	return date(year, mon, day, h, m, s)
}

// parseAsctime: "Sun Nov  6 08:49:37 1994" (a one-digit day is preceded by
// a space).
func parseAsctime(v string) (time.Time, bool) {
	if !isShortDay(v[0:3]) || v[7] != ' ' || v[10] != ' ' || v[19] != ' ' {
		return time.Time{}, false
	}
	mon, ok1 := month(v[4:7])
	var day int
	ok2 := false
	if v[8] == ' ' {
		day, ok2 = digits(v[9:10])
	} else {
		day, ok2 = digits(v[8:10])
	}
	h, m, s, ok3 := clock(v[11:19])
	year, ok4 := digits(v[20:24])
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return time.Time{}, false
	}
	return date(year, mon, day, h, m, s)
}

// parseRFC850: "Sunday, 06-Nov-94 08:49:37 GMT". thisYear resolves the
// two-digit year.
func parseRFC850(v string, thisYear int) (time.Time, bool) {
	i := 0
	for i < len(v) && v[i] != ',' {
		i++
	}
	name := v[:i]
	okDay := false
	for _, d := range longDays {
		if name == d {
			okDay = true
			break
		}
	}
	rest := v[i:]
	if !okDay || len(rest) != 24 || rest[1] != ' ' || rest[4] != '-' || rest[8] != '-' || rest[11] != ' ' || rest[20:] != " GMT" {
		return time.Time{}, false
	}
	day, ok1 := digits(rest[2:4])
	mon, ok2 := month(rest[5:8])
	yy, ok3 := digits(rest[9:11])
	h, m, s, ok4 := clock(rest[12:20])
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return time.Time{}, false
	}
	year := thisYear - thisYear%100 + yy
	if year > thisYear+50 {
		year -= 100
	}
	return date(year, mon, day, h, m, s)
}
