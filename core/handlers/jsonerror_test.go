package handlers

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

func TestJSONError(t *testing.T) {
	tests := []struct {
		status int
		msg    string
		want   string
	}{
		{404, "not found", "{\"error\":\"not found\"}\n"},
		{405, "method not allowed", "{\"error\":\"method not allowed\"}\n"},
		{500, `quote " and \ backslash`, "{\"error\":\"quote \\\" and \\\\ backslash\"}\n"},
		{400, "line\nbreak\t<tag>&", "{\"error\":\"line\\nbreak\\t\\u003ctag\\u003e\\u0026\"}\n"},
		{431, "bad \xff utf8 \u2028", "{\"error\":\"bad \\ufffd utf8 \\u2028\"}\n"},
		{503, "", "{\"error\":\"\"}\n"},
	}
	for _, tt := range tests {
		t.Run(tt.msg, func(t *testing.T) {
			w := httptest.NewRecorder()
			w.Header().Set("Allow", "GET")
			JSONError(w, tt.status, tt.msg)
			if w.Code != tt.status || w.Body.String() != tt.want {
				t.Fatalf("got %d %q, want %d %q", w.Code, w.Body, tt.status, tt.want)
			}
			h := w.Header()
			if h.Get("Content-Type") != "application/json" || h.Get("X-Content-Type-Options") != "nosniff" ||
				h.Get("Content-Length") != strconv.Itoa(len(tt.want)) || h.Get("Allow") != "GET" {
				t.Errorf("headers %v", h)
			}
			var v map[string]string
			if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil || v["error"] != strings.ToValidUTF8(tt.msg, "\uFFFD") {
				t.Errorf("decoded %v, %v", v, err)
			}
		})
	}
}

func TestJSONErrorAllocs(t *testing.T) {
	w := newDiscardWriter()
	JSONError(w, 404, "not found")
	if allocs := testing.AllocsPerRun(1000, func() { w.reset(); JSONError(w, 404, "not found") }); allocs != 0 {
		t.Fatalf("%v allocations, want 0", allocs)
	}
}

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "plain", `"\`, "\x00\x1f\x7f", "<>&", "\u2028\u2029", "\xff\xfe", "héllo 世界"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := appendJSONString(nil, s)
		var got string
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("%q encodes to invalid JSON %q: %v", s, b, err)
		}
		if want := decodeLikeJSON(s); got != want {
			t.Fatalf("round trip of %q = %q, want %q", s, got, want)
		}
		if std, _ := json.Marshal(s); string(std) != string(b) {
			t.Fatalf("%q: encoded %s, encoding/json %s", s, b, std)
		}
	})
}

// decodeLikeJSON replaces each invalid byte with U+FFFD, as encoding/json
// does (strings.ToValidUTF8 replaces runs of them with one).
func decodeLikeJSON(s string) string {
	var b strings.Builder
	for _, r := range s {
		b.WriteRune(r)
	}
	return b.String()
}

func BenchmarkJSONError(b *testing.B) {
	w := newDiscardWriter()
	b.ReportAllocs()
	for b.Loop() {
		w.reset()
		JSONError(w, http.StatusNotFound, "not found")
	}
}
