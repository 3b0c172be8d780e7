package requestid_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5/middleware"

	_ "github.com/switchyard/switchyard/examples/plugins/requestid"
	"github.com/switchyard/switchyard/plugintest"
)

// echoID answers with the request ID that handlers see.
var echoID = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	_, _ = w.Write([]byte(middleware.GetReqID(r.Context())))
})

func TestRequestID(t *testing.T) {
	tests := []struct {
		name     string
		snippet  string
		incoming map[string]string
		header   string // response header carrying the ID
		want     string // exact ID; empty: a generated one
	}{
		{"default header, generated", "", nil, "X-Request-Id", ""},
		{"default header, incoming", "", map[string]string{"X-Request-Id": "abc-1"}, "X-Request-Id", "abc-1"},
		{"custom header, generated", "header: x-trace-id", nil, "X-Trace-Id", ""},
		{"custom header, incoming", "header: X-Trace-Id", map[string]string{"X-Trace-Id": "t-9"}, "X-Trace-Id", "t-9"},
		{"custom header wins over chi's", "header: X-Trace-Id", map[string]string{"X-Trace-Id": "t-9", "X-Request-Id": "r-1"}, "X-Trace-Id", "t-9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inst := plugintest.New(t, "requestid", tt.snippet, plugintest.WithNext(echoID))
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			for k, v := range tt.incoming {
				req.Header.Set(k, v)
			}
			rec := inst.Serve(req)
			got := rec.Header().Get(tt.header)
			if got == "" || got != rec.Body.String() {
				t.Fatalf("response header %s = %q, handler saw %q", tt.header, got, rec.Body.String())
			}
			if tt.want != "" && got != tt.want {
				t.Fatalf("ID = %q, want %q", got, tt.want)
			}
			if tt.want == "" && !strings.Contains(got, "/") {
				t.Fatalf("generated ID %q is not chi's host/random-N form", got)
			}
		})
	}
}

func TestGeneratedIDsDiffer(t *testing.T) {
	inst := plugintest.New(t, "requestid", "")
	seen := map[string]bool{}
	for range 100 {
		id := inst.Serve(httptest.NewRequest(http.MethodGet, "/", nil)).Header().Get("X-Request-Id")
		if seen[id] {
			t.Fatalf("ID %q given twice", id)
		}
		seen[id] = true
	}
}

func TestConfigErrors(t *testing.T) {
	for snippet, want := range map[string]string{
		`header: ""`:          "plugins.requestid.header: must be a header name",
		`header: "X Bad"`:     "plugins.requestid.header: must be a header name",
		`header: [X-A]`:       "plugins.requestid.header: expected string",
		`headers: X-Trace-Id`: "plugins.requestid.headers: unknown key",
	} {
		_, err := plugintest.Build(t, "requestid", snippet)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want %q", snippet, err, want)
		}
	}
}

func TestConformance(t *testing.T) {
	plugintest.Conformance(t, "requestid", "header: X-Request-Id",
		plugintest.WithChangedConfig("header: X-Trace-Id"))
}
