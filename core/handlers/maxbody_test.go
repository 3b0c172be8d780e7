package handlers

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// chunked hides the length of a body, so that a client sends it chunked and
// httptest leaves ContentLength at -1.
type chunked struct{ io.Reader }

// bodyHandler reads the request body in the way its mode says.
func bodyHandler(mode string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if mode == "write-first" {
			w.WriteHeader(http.StatusAccepted)
		}
		b, err := io.ReadAll(r.Body)
		switch {
		case err != nil && mode == "report":
			http.Error(w, "bad body: "+err.Error(), http.StatusBadRequest)
		case err != nil && mode == "silent":
		case err != nil:
			io.WriteString(w, "error after write")
		default:
			io.WriteString(w, "read "+string(b))
		}
	})
}

func TestMaxBody(t *testing.T) {
	const limit = 10
	tests := []struct {
		name       string
		body       string
		hideLength bool
		mode       string
		wantStatus int
		wantBody   string
		wantNext   bool
	}{
		{name: "no body", wantStatus: 200, wantBody: "read ", wantNext: true},
		{name: "under the limit", body: "0123456789", wantStatus: 200, wantBody: "read 0123456789", wantNext: true},
		{name: "content length over the limit", body: "0123456789A", mode: "report", wantStatus: 413, wantBody: "{\"error\":\"request body too large\"}\n"},
		{name: "chunked under the limit", body: "0123456789", hideLength: true, wantStatus: 200, wantBody: "read 0123456789", wantNext: true},
		{name: "chunked over, handler reports", body: strings.Repeat("x", 100), hideLength: true, mode: "report", wantStatus: 413, wantBody: "{\"error\":\"request body too large\"}\n", wantNext: true},
		{name: "chunked over, handler silent", body: strings.Repeat("x", 100), hideLength: true, mode: "silent", wantStatus: 413, wantBody: "{\"error\":\"request body too large\"}\n", wantNext: true},
		{name: "chunked over after the response started", body: strings.Repeat("x", 100), hideLength: true, mode: "write-first", wantStatus: 202, wantBody: "error after write", wantNext: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ran := false
			next := bodyHandler(tt.mode)
			h := MaxBody(limit, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				ran = true
				next.ServeHTTP(w, r)
			}))
			var body io.Reader
			if tt.body != "" {
				body = strings.NewReader(tt.body)
				if tt.hideLength {
					body = chunked{body}
				}
			}
			r := httptest.NewRequest("POST", "/", body)
			if tt.hideLength {
				r.ContentLength = -1
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if ran != tt.wantNext {
				t.Errorf("next ran = %v, want %v", ran, tt.wantNext)
			}
			if w.Code != tt.wantStatus || w.Body.String() != tt.wantBody {
				t.Fatalf("got %d %q, want %d %q", w.Code, w.Body, tt.wantStatus, tt.wantBody)
			}
			if w.Code == 413 && w.Header().Get("Content-Type") != "application/json" {
				t.Errorf("413 Content-Type = %q", w.Header().Get("Content-Type"))
			}
		})
	}
}

// okHandler is comparable, so a test can tell whether it was wrapped.
type okHandler struct{}

func (*okHandler) ServeHTTP(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }

func TestMaxBodyDisabled(t *testing.T) {
	next := &okHandler{}
	for _, limit := range []int64{0, -1} {
		if h := MaxBody(limit, next); h != http.Handler(next) {
			t.Errorf("MaxBody(%d, next) = %T, want next itself", limit, h)
		}
	}
	if h := MaxBody(1, next); h == http.Handler(next) {
		t.Error("MaxBody(1, next) did not wrap next")
	}
}

// Over a real connection: announced and chunked bodies, and a proxy whose
// upstream read fails on the limit (its 502 becomes 413).
func TestMaxBodyOverTheWire(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		io.WriteString(w, "upstream read "+strings.Repeat("#", int(min(n, 3))))
	}))
	defer up.Close()
	tr := testTransport(t, defaultPool)
	mux := http.NewServeMux()
	mux.Handle("/echo", MaxBody(1024, bodyHandler("report")))
	mux.Handle("/proxy", MaxBody(1024, mustProxy(t, up.URL, tr, nil)))
	front := httptest.NewServer(mux)
	defer front.Close()
	client := front.Client()
	defer client.CloseIdleConnections()

	big := strings.Repeat("z", 64<<10)
	tests := []struct {
		name, path string
		body       io.Reader
		want       int
	}{
		{"announced, small", "/echo", strings.NewReader("hi"), 200},
		{"announced, large", "/echo", strings.NewReader(big), 413},
		{"chunked, small", "/echo", chunked{strings.NewReader("hi")}, 200},
		{"chunked, large", "/echo", chunked{strings.NewReader(big)}, 413},
		{"proxy, chunked, small", "/proxy", chunked{strings.NewReader("hi")}, 200},
		{"proxy, chunked, large", "/proxy", chunked{strings.NewReader(big)}, 413},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", front.URL+tt.path, tt.body)
			resp, err := client.Do(req)
			if err != nil {
				t.Fatalf("request: %v", err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d (%q), want %d", resp.StatusCode, b, tt.want)
			}
			if tt.want == 413 && !strings.Contains(string(b), "request body too large") {
				t.Errorf("body %q", b)
			}
		})
	}
}

func TestMaxBodyNoBodyAllocs(t *testing.T) {
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) })
	h := MaxBody(1<<20, next)
	r := httptest.NewRequest("GET", "/", nil)
	w := newDiscardWriter()
	if allocs := testing.AllocsPerRun(1000, func() { w.reset(); h.ServeHTTP(w, r) }); allocs != 0 {
		t.Fatalf("%v allocations for a request without a body, want 0", allocs)
	}
}

// The wrapper passes Flush and the ResponseController through.
func TestMaxBodyWriterUnwrap(t *testing.T) {
	h := MaxBody(10, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := w.(*limitWriter); !ok {
			t.Errorf("writer %T is not the limit wrapper", w)
		}
		io.WriteString(w, "a")
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Errorf("Flush through ResponseController: %v", err)
		}
	}))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("POST", "/", strings.NewReader("x")))
	if !w.Flushed || w.Body.String() != "a" {
		t.Fatalf("flushed %v, body %q", w.Flushed, w.Body)
	}
}
