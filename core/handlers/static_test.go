package handlers

import (
	"bufio"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
)

const secret = "TOP SECRET outside the root"

// staticFixture lays out
//
//	dir/secret.txt                 (outside the root)
//	dir/root/a.txt, index.html, sub/index.html, sub/b.css, empty/
//	dir/root/link-in  -> a.txt     (inside)
//	dir/root/link-out -> ../secret.txt
//	dir/root/dir-out  -> ..
//	dir/root/abs-out  -> dir/secret.txt (absolute)
//
// and returns the root and a router with /files/* and /a.txt on it.
func staticFixture(t testing.TB) (string, http.Handler) {
	t.Helper()
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	files := map[string]string{
		"secret.txt":          secret,
		"root/a.txt":          "alpha file contents",
		"root/index.html":     "<h1>home</h1>",
		"root/sub/index.html": "<h1>sub</h1>",
		"root/sub/b.css":      "body{}",
	}
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(root, "empty"), 0o755); err != nil {
		t.Fatal(err)
	}
	links := map[string]string{
		"link-in":  "a.txt",
		"link-out": "../secret.txt",
		"dir-out":  "..",
		"abs-out":  filepath.Join(dir, "secret.txt"),
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(root, name)); err != nil {
			t.Fatal(err)
		}
	}
	h, err := Static(root)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	mux := chi.NewRouter()
	mux.Handle("/files/*", h)
	mux.Handle("/a.txt", h)
	return root, mux
}

// rawRequest parses a request line as the server would, so that the exact
// bytes of the target reach the router (no client-side cleaning).
func rawRequest(t testing.TB, method, target string, hdr map[string]string) *http.Request {
	t.Helper()
	var b strings.Builder
	b.WriteString(method + " " + target + " HTTP/1.1\r\nHost: example.test\r\n")
	for k, v := range hdr {
		b.WriteString(k + ": " + v + "\r\n")
	}
	b.WriteString("\r\n")
	r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(b.String())))
	if err != nil {
		return nil
	}
	r.RemoteAddr = "192.0.2.1:1234"
	return r
}

func TestStatic(t *testing.T) {
	_, mux := staticFixture(t)
	tests := []struct {
		name       string
		method     string
		target     string
		hdr        map[string]string
		wantStatus int
		wantBody   string
		wantHeader map[string]string
	}{
		{name: "file", target: "/files/a.txt", wantStatus: 200, wantBody: "alpha file contents",
			wantHeader: map[string]string{"Content-Type": "text/plain; charset=utf-8", "Content-Length": "19", "Accept-Ranges": "bytes"}},
		{name: "nested file", target: "/files/sub/b.css", wantStatus: 200, wantBody: "body{}",
			wantHeader: map[string]string{"Content-Type": "text/css; charset=utf-8"}},
		{name: "root index", target: "/files/", wantStatus: 200, wantBody: "<h1>home</h1>",
			wantHeader: map[string]string{"Content-Type": "text/html; charset=utf-8"}},
		{name: "dir index", target: "/files/sub/", wantStatus: 200, wantBody: "<h1>sub</h1>"},
		{name: "dir without slash redirects", target: "/files/sub?x=1", wantStatus: 301,
			wantHeader: map[string]string{"Location": "sub/?x=1"}},
		{name: "dir without index", target: "/files/empty/", wantStatus: 404},
		{name: "missing", target: "/files/nope.txt", wantStatus: 404, wantBody: "{\"error\":\"not found\"}\n",
			wantHeader: map[string]string{"Content-Type": "application/json"}},
		{name: "file used as dir", target: "/files/a.txt/x", wantStatus: 404},
		{name: "symlink inside root", target: "/files/link-in", wantStatus: 200, wantBody: "alpha file contents"},
		{name: "route without wildcard uses the path", target: "/a.txt", wantStatus: 200, wantBody: "alpha file contents"},
		{name: "encoded name", target: "/files/%61.txt", wantStatus: 200, wantBody: "alpha file contents"},
		{name: "encoded slash", target: "/files/sub%2fb.css", wantStatus: 200, wantBody: "body{}"},
		{name: "HEAD", method: "HEAD", target: "/files/a.txt", wantStatus: 200,
			wantHeader: map[string]string{"Content-Length": "19"}},
		{name: "POST", method: "POST", target: "/files/a.txt", wantStatus: 405,
			wantHeader: map[string]string{"Allow": "GET, HEAD"}},
		{name: "range", target: "/files/a.txt", hdr: map[string]string{"Range": "bytes=0-4"}, wantStatus: 206, wantBody: "alpha",
			wantHeader: map[string]string{"Content-Range": "bytes 0-4/19"}},
		{name: "suffix range", target: "/files/a.txt", hdr: map[string]string{"Range": "bytes=-8"}, wantStatus: 206, wantBody: "contents"},
		{name: "unsatisfiable range", target: "/files/a.txt", hdr: map[string]string{"Range": "bytes=100-"}, wantStatus: 416},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method := tt.method
			if method == "" {
				method = "GET"
			}
			w := httptest.NewRecorder()
			mux.ServeHTTP(w, rawRequest(t, method, tt.target, tt.hdr))
			if w.Code != tt.wantStatus {
				t.Fatalf("status = %d (%q), want %d", w.Code, w.Body, tt.wantStatus)
			}
			if tt.wantBody != "" && w.Body.String() != tt.wantBody {
				t.Errorf("body = %q, want %q", w.Body, tt.wantBody)
			}
			if method == "HEAD" && w.Body.Len() != 0 {
				t.Errorf("HEAD body = %q", w.Body)
			}
			for k, want := range tt.wantHeader {
				if got := w.Header().Get(k); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
		})
	}
}

func TestStaticValidators(t *testing.T) {
	root, mux := staticFixture(t)
	get := func(hdr map[string]string) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, rawRequest(t, "GET", "/files/a.txt", hdr))
		return w
	}
	full := get(nil)
	etag, lm := full.Header().Get("Etag"), full.Header().Get("Last-Modified")
	if !strings.HasPrefix(etag, `W/"`) || !validETag(etag) {
		t.Fatalf("ETag = %q, want a weak entity-tag", etag)
	}
	if lm == "" {
		t.Fatal("no Last-Modified")
	}
	tests := []struct {
		name string
		hdr  map[string]string
		want int
	}{
		{"If-None-Match", map[string]string{"If-None-Match": etag}, 304},
		{"If-None-Match strong form", map[string]string{"If-None-Match": strings.TrimPrefix(etag, "W/")}, 304},
		{"If-None-Match other", map[string]string{"If-None-Match": `W/"0-0"`}, 200},
		{"If-Modified-Since", map[string]string{"If-Modified-Since": lm}, 304},
		{"If-Range weak etag never matches", map[string]string{"Range": "bytes=0-1", "If-Range": etag}, 200},
		{"If-Range date", map[string]string{"Range": "bytes=0-1", "If-Range": lm}, 206},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if w := get(tt.hdr); w.Code != tt.want {
				t.Fatalf("status = %d, want %d", w.Code, tt.want)
			}
		})
	}

	// A changed file gets a new ETag.
	if err := os.WriteFile(filepath.Join(root, "a.txt"), []byte("changed, longer contents"), 0o644); err != nil {
		t.Fatal(err)
	}
	if w := get(map[string]string{"If-None-Match": etag}); w.Code != 200 || w.Header().Get("Etag") == etag {
		t.Fatalf("after a change: status %d, ETag %q (was %q)", w.Code, w.Header().Get("Etag"), etag)
	}
}

func TestStaticTraversal(t *testing.T) {
	root, mux := staticFixture(t)
	dir := filepath.Dir(root)
	targets := []string{
		"/files/../secret.txt",
		"/files/sub/../../secret.txt",
		"/files/./../secret.txt",
		"/files/%2e%2e/secret.txt",
		"/files/%2e%2e%2fsecret.txt",
		"/files/..%2fsecret.txt",
		"/files/%2E%2E%2Fsecret.txt",
		"/files/sub%2f..%2f..%2fsecret.txt",
		"/files/..%5csecret.txt",
		`/files/..\secret.txt`,
		"/files/..%5c..%5csecret.txt",
		"/files//etc/passwd",
		"/files//" + filepath.ToSlash(dir) + "/secret.txt",
		"/files/" + filepath.ToSlash(dir) + "/secret.txt",
		"/files/%2f" + filepath.ToSlash(dir) + "/secret.txt",
		"/files/a.txt%00.html",
		"/files/%00",
		"/files/link-out",
		"/files/dir-out/secret.txt",
		"/files/abs-out",
		"/files/%252e%252e/secret.txt",
		"/files/....//secret.txt",
		"/files/.%2e/secret.txt",
	}
	for _, target := range targets {
		t.Run(target, func(t *testing.T) {
			r := rawRequest(t, "GET", target, nil)
			if r == nil {
				return // not even a parseable request: the server answers 400 itself
			}
			w := httptest.NewRecorder()
			mux.ServeHTTP(w, r)
			if w.Code != 400 && w.Code != 404 {
				t.Errorf("status = %d, want 400 or 404", w.Code)
			}
			if strings.Contains(w.Body.String(), "SECRET") {
				t.Fatalf("served a file outside the root: %q", w.Body)
			}
		})
	}
}

// The same over a real connection, the way an attacker would send it.
func TestStaticTraversalOverTheWire(t *testing.T) {
	_, mux := staticFixture(t)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	for _, target := range []string{"/files/../secret.txt", "/files/%2e%2e%2fsecret.txt", "/files/..%5csecret.txt", "/files//etc/passwd", "/files/link-out"} {
		req, err := http.NewRequest("GET", srv.URL+target, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body strings.Builder
		_, _ = bufio.NewReader(resp.Body).WriteTo(&body)
		resp.Body.Close()
		if resp.StatusCode != 400 && resp.StatusCode != 404 || strings.Contains(body.String(), "SECRET") {
			t.Errorf("%s: %d %q", target, resp.StatusCode, body.String())
		}
	}
	srv.Client().CloseIdleConnections()
}

func TestStaticErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, root, wantErr string
	}{
		{"empty", "", "empty directory"},
		{"missing", filepath.Join(dir, "nope"), "no such file or directory"},
		{"a file", file, "is not a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := Static(tt.root)
			if err == nil {
				h.Close()
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %q does not contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestStaticClosed(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a.txt"), []byte("a"), 0o644); err != nil {
		t.Fatal(err)
	}
	h, err := Static(dir)
	if err != nil {
		t.Fatal(err)
	}
	if w := serve(h, "GET", "/a.txt", nil); w.Code != 200 {
		t.Fatalf("before Close: %d", w.Code)
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if w := serve(h, "GET", "/a.txt", nil); w.Code != 404 {
		t.Fatalf("after Close: %d, want 404", w.Code)
	}
}

func BenchmarkStatic(b *testing.B) {
	_, mux := staticFixture(b)
	r := rawRequest(b, "GET", "/files/a.txt", nil)
	b.ReportAllocs()
	for b.Loop() {
		mux.ServeHTTP(httptest.NewRecorder(), r)
	}
}
