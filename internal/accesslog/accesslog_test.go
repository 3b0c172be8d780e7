package accesslog

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func entry() *Entry {
	return &Entry{Start: time.Date(2026, 12, 7, 13, 0, 0, 0, time.UTC), Duration: 1500 * time.Microsecond,
		ClientIP: netip.MustParseAddr("192.0.2.1"), Route: "/items/{id}", Status: 201, Bytes: 42}
}

func TestFormats(t *testing.T) {
	r := httptest.NewRequest("POST", `/items/7?q="x"`, nil)
	r.Header.Set("User-Agent", "probe/1")
	r.Header.Set("Referer", "https://example.com/")
	cases := []struct {
		format Format
		want   string
	}{
		{JSON, `{"time":"2026-12-07T13:00:00Z","client_ip":"192.0.2.1","method":"POST","path":"/items/7","proto":"HTTP/1.1","status":201,"bytes":42,"duration_ms":1.500,"route":"/items/{id}"}`},
		{Text, `time=2026-12-07T13:00:00Z client_ip=192.0.2.1 method=POST path=/items/7 proto=HTTP/1.1 status=201 bytes=42 duration=1.500ms route=/items/{id}`},
		{Common, `192.0.2.1 - - [07/Dec/2026:13:00:00 +0000] "POST /items/7?q=\x22x\x22 HTTP/1.1" 201 42`},
		{Combined, `192.0.2.1 - - [07/Dec/2026:13:00:00 +0000] "POST /items/7?q=\x22x\x22 HTTP/1.1" 201 42 "https://example.com/" "probe/1"`},
	}
	for _, tc := range cases {
		var buf bytes.Buffer
		l, err := New(Options{Format: tc.format, Writer: &buf})
		if err != nil {
			t.Fatal(err)
		}
		l.Log(r, entry())
		if got := buf.String(); got != tc.want+"\n" {
			t.Errorf("format %d:\n got %s\nwant %s", tc.format, got, tc.want)
		}
	}
}

// A path no client should be able to use to forge or break a line.
func TestHostileValues(t *testing.T) {
	r := httptest.NewRequest("GET", "/x", nil)
	r.URL.Path = "/a\"b\n{\xff}"
	r.RequestURI = "/a\"b\n c"
	for _, f := range []Format{JSON, Text, Common, Combined} {
		var buf bytes.Buffer
		l, _ := New(Options{Format: f, Writer: &buf})
		l.Log(r, entry())
		if strings.Count(buf.String(), "\n") != 1 {
			t.Errorf("format %d: line broken: %q", f, buf.String())
		}
		if f == JSON && !json.Valid(buf.Bytes()) {
			t.Errorf("invalid JSON: %q", buf.String())
		}
	}
}

func TestSkip(t *testing.T) {
	l, _ := New(Options{Writer: io.Discard, SkipPaths: []string{"/health", "/static/*"}})
	for path, want := range map[string]bool{"/health": true, "/static/a.css": true, "/healthz": false, "/x": false} {
		if got := l.Skip(path); got != want {
			t.Errorf("Skip(%s) = %v", path, got)
		}
	}
	half, _ := New(Options{Writer: io.Discard, Sample: 0.5})
	n := 0
	for range 10000 {
		if !half.Skip("/x") {
			n++
		}
	}
	if n < 4000 || n > 6000 {
		t.Errorf("sample 0.5 logged %d of 10000", n)
	}
}

// Two loggers on one path share the file; Reopen follows a move; the last
// Close stops the reopener.
func TestSharedFileReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.log")
	a, err := New(Options{Format: Common, Output: path})
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(Options{Format: Common, Output: path})
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("GET", "/x", nil)
	a.Log(r, entry())
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	b.Log(r, entry())
	Reopen()
	a.Log(r, entry())
	a.Close()
	b.Log(r, entry())
	b.Close()
	old, _ := os.ReadFile(path + ".1")
	cur, _ := os.ReadFile(path)
	if bytes.Count(old, []byte("\n")) != 2 || bytes.Count(cur, []byte("\n")) != 2 {
		t.Errorf("moved file:\n%s\nnew file:\n%s", old, cur)
	}
}

func BenchmarkLog(b *testing.B) {
	r := httptest.NewRequest("GET", "/api/v1/resource7/42", nil)
	r.Header.Set("User-Agent", "Mozilla/5.0")
	e := entry()
	for _, f := range []Format{JSON, Text, Common, Combined} {
		l, _ := New(Options{Format: f, Writer: io.Discard})
		b.Run([]string{"json", "text", "common", "combined"}[f], func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if !l.Skip(r.URL.Path) {
					l.Log(r, e)
				}
			}
		})
	}
}

// Notes keep the first MaxNotes keys in order; a key noted again takes
// the new value; every format writes them.
func TestNotes(t *testing.T) {
	var ns Notes
	ns.Set("cache", "MISS")
	ns.Set("ratelimit", "allowed")
	ns.Set("cache", "HIT")
	ns.Set("encoding", "gzip")
	ns.Set("auth", "user")
	ns.Set("fifth", "dropped")
	var got []string
	for i := range ns.Len() {
		k, v := ns.At(i)
		got = append(got, k+"="+v)
	}
	if want := "cache=HIT ratelimit=allowed encoding=gzip auth=user"; strings.Join(got, " ") != want {
		t.Fatalf("notes %q, want %q", got, want)
	}
	if (*Notes)(nil).Len() != 0 {
		t.Fatal("nil Notes not empty")
	}
	r := httptest.NewRequest("GET", "/x", nil)
	for _, tc := range []struct {
		f    Format
		want string
	}{
		{JSON, `,"cache":"HIT","ratelimit":"allowed","encoding":"gzip","auth":"user"}`},
		{Text, ` cache=HIT ratelimit=allowed encoding=gzip auth=user`},
		{Common, ` cache=HIT ratelimit=allowed encoding=gzip auth=user`},
		{Combined, ` cache=HIT ratelimit=allowed encoding=gzip auth=user`},
	} {
		var buf strings.Builder
		l, err := New(Options{Format: tc.f, Writer: &buf})
		if err != nil {
			t.Fatal(err)
		}
		l.Log(r, &Entry{Status: 200, Notes: &ns})
		if line := strings.TrimSuffix(buf.String(), "\n"); !strings.HasSuffix(line, tc.want) {
			t.Errorf("format %d: line %q does not end with %q", tc.f, line, tc.want)
		}
	}
}
