package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/switchyard/switchyard/cmd/bench/internal/loadgen"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func testServer(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Want") == "fail" {
			w.WriteHeader(http.StatusTeapot)
			return
		}
		_, _ = io.WriteString(w, r.Method+" ok")
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestLoadJSON(t *testing.T) {
	srv := testServer(t)
	var out, errb bytes.Buffer
	code := run([]string{"load", "-n", "200", "-c", "4", "-json", srv.URL, "-m", "POST", "-body", "x"}, nil, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d, stderr %s", code, errb.String())
	}
	var s Summary
	if err := json.Unmarshal(out.Bytes(), &s); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out.String())
	}
	if s.Requests != 200 || s.Errors != 0 || s.Status["200"] != 200 || s.Bytes != 200*int64(len("POST ok")) {
		t.Errorf("summary %+v", s)
	}
	if s.Mode != "closed" || s.ServiceMS != nil || s.LatencyMS.P50 <= 0 || s.LatencyMS.Max < s.LatencyMS.P99 {
		t.Errorf("latency %+v, mode %s", s.LatencyMS, s.Mode)
	}
}

func TestLoadTextOpenLoopWithErrors(t *testing.T) {
	srv := testServer(t)
	var out, errb bytes.Buffer
	code := run([]string{"load", "-rate", "400", "-d", "250ms", "-H", "X-Want: fail", srv.URL}, nil, &out, &errb)
	if code != 1 {
		t.Errorf("exit %d with every request failing, want 1 (stderr %s)", code, errb.String())
	}
	for _, want := range []string{"open loop at 400 req/s", "status 418", "service", "coordinated omission"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "\r") {
		t.Error("progress written to a non-terminal")
	}
}

func TestUsageErrors(t *testing.T) {
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no command", nil, 2, "usage"},
		{"unknown command", []string{"nope"}, 2, "unknown command"},
		{"help", []string{"help"}, 0, ""},
		{"load without url", []string{"load"}, 2, "usage: bench load"},
		{"load bad url", []string{"load", "-n", "1", "ftp://x"}, 2, "http://"},
		{"load two urls", []string{"load", "http://a/", "http://b/"}, 2, "one URL"},
		{"load bad header", []string{"load", "-H", "nocolon", "http://a/"}, 2, "Name: value"},
		{"suite bad rounds", []string{"suite", "-short", "-rounds", "1"}, 1, "-rounds"},
		{"suite unknown scenario", []string{"suite", "-scenarios", "fast,nope"}, 1, "unknown scenario"},
		{"suite extra args", []string{"suite", "x"}, 2, "unexpected"},
		{"serve unknown scenario", []string{"serve", "-scenario", "nope"}, 1, "unknown scenario"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			if code := run(tc.args, strings.NewReader(""), &out, &errb); code != tc.code {
				t.Errorf("exit %d, want %d (stderr %s)", code, tc.code, errb.String())
			}
			if !strings.Contains(errb.String()+out.String(), tc.want) {
				t.Errorf("output lacks %q: %s%s", tc.want, out.String(), errb.String())
			}
		})
	}
}

func TestProgressLine(t *testing.T) {
	got := progressLine(loadgen.Progress{Elapsed: 2 * time.Second, Done: 5000, Errors: 3, Fraction: 0.5}, 0)
	for _, want := range []string{"[===============               ]", " 50%", "5000 requests", "2500 req/s", "3 errors"} {
		if !strings.Contains(got, want) {
			t.Errorf("progressLine = %q, lacks %q", got, want)
		}
	}
	if got := progressLine(loadgen.Progress{Fraction: 1}, 1000); !strings.Contains(got, "open loop 1000/s") {
		t.Errorf("open-loop progressLine = %q", got)
	}
	if isTerminal(&bytes.Buffer{}) {
		t.Error("a buffer is not a terminal")
	}
}

func TestCommandLine(t *testing.T) {
	got := commandLine([]string{"suite", "-short"})
	if !strings.HasSuffix(got, "bench suite -short") {
		t.Errorf("commandLine = %q", got)
	}
}

// FuzzHeaderFlag checks that -H accepts exactly 'Name: value' forms and
// never panics.
func FuzzHeaderFlag(f *testing.F) {
	for _, s := range []string{"Accept-Encoding: gzip", "X-A:b", "nocolon", ": empty", "Host:  example.com  "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h := &headerFlag{h: http.Header{}}
		err := h.Set(s)
		name, _, ok := strings.Cut(s, ":")
		if wantOK := ok && strings.TrimSpace(name) != ""; (err == nil) != wantOK {
			t.Fatalf("Set(%q) = %v", s, err)
		}
		if err == nil && len(h.h) != 1 {
			t.Fatalf("Set(%q) stored %v", s, h.h)
		}
	})
}
