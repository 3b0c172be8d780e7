package quota

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzStateFile feeds arbitrary state files to the loader: it either
// refuses the file or loads counts that are never negative, and only for
// the current day.
func FuzzStateFile(f *testing.F) {
	for _, s := range []string{
		`{"day":"2026-01-01","counts":{"ip:10.0.0.1":3,"key:k":1}}`,
		`{"day":"2025-12-31","counts":{"ip:10.0.0.1":3}}`,
		`{"day":"2026-01-01","counts":{"k":-1}}`,
		`{"day":"2026-01-01","counts":null}`,
		`{}`, `[]`, `null`, `not json`, ``,
	} {
		f.Add([]byte(s))
	}
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, data []byte) {
		file := filepath.Join(t.TempDir(), "q.json")
		if err := os.WriteFile(file, data, 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := loadCounts(file, now)
		if err != nil {
			return
		}
		if c.day != dayOf(now) || c.refs != 1 {
			t.Fatalf("day %d refs %d", c.day, c.refs)
		}
		for k, n := range c.used {
			if n == nil || *n < 0 {
				t.Fatalf("count for %q: %v", k, n)
			}
		}
	})
}

func TestDayOf(t *testing.T) {
	for in, want := range map[string]int64{
		"1970-01-01T00:00:00Z":      0,
		"1970-01-01T23:59:59Z":      0,
		"1970-01-02T00:00:00Z":      1,
		"1969-12-31T23:59:59Z":      -1,
		"1969-12-31T00:00:00Z":      -1,
		"2026-01-01T12:00:00Z":      20454,
		"2026-01-01T01:00:00+02:00": 20453, // 2025-12-31 23:00 UTC
	} {
		tm, err := time.Parse(time.RFC3339, in)
		if err != nil {
			t.Fatal(err)
		}
		if got := dayOf(tm); got != want {
			t.Errorf("dayOf(%s) = %d, want %d", in, got, want)
		}
		if got := dateOf(dayOf(tm)); got != tm.UTC().Format(time.DateOnly) {
			t.Errorf("dateOf(dayOf(%s)) = %s", in, got)
		}
	}
}
