package handlers

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/core/config"
)

// FuzzRespondPreconditions checks respond against http.ServeContent: for any
// method and any If-* headers, both choose the same status (200, 304, 412).
func FuzzRespondPreconditions(f *testing.F) {
	h, err := Respond(config.Respond{Body: "payload"})
	if err != nil {
		f.Fatal(err)
	}
	rh := h.(*respondHandler)
	etag, lm := rh.etag, rh.lastMod
	f.Add("GET", etag, "", lm, "")
	f.Add("GET", "W/"+etag+`, "x"`, "", "", "")
	f.Add("HEAD", "*", "", "", "")
	f.Add("POST", etag, "", "", "")
	f.Add("PUT", "", `"x"`, "", "")
	f.Add("PUT", "", "*", "", lm)
	f.Add("GET", `"a", garbage`, "", "", "")
	f.Add("GET", "", "", "Mon, 02 Jan 2006 15:04:05 GMT", "")
	f.Add("DELETE", "", "", "", "Mon, 02 Jan 2006 15:04:05 GMT")
	f.Add("GET", ` ,,`+etag, "", "Sunday, 06-Nov-94 08:49:37 GMT", "")
	f.Fuzz(func(t *testing.T, method, inm, im, ims, ius string) {
		if !validMethod(method) {
			return
		}
		r := httptest.NewRequest("GET", "/", nil)
		r.Method = method
		for k, v := range map[string]string{"If-None-Match": inm, "If-Match": im, "If-Modified-Since": ims, "If-Unmodified-Since": ius} {
			if v != "" {
				r.Header.Set(k, v)
			}
		}
		got := httptest.NewRecorder()
		h.ServeHTTP(got, r)

		want := httptest.NewRecorder()
		want.Header().Set("Etag", etag)
		http.ServeContent(want, r, "", rh.modtime, strings.NewReader("payload"))

		if got.Code != want.Code {
			t.Fatalf("%s INM=%q IM=%q IMS=%q IUS=%q: respond %d, ServeContent %d", method, inm, im, ims, ius, got.Code, want.Code)
		}
		if got.Code == 200 && method != "HEAD" && got.Body.String() != "payload" {
			t.Fatalf("body %q", got.Body)
		}
	})
}

func validMethod(m string) bool {
	return m != "" && validHeaderName(m)
}

// FuzzStaticPath sends arbitrary request targets to a static route and
// checks that no response ever carries a file from outside the root, and
// that every 200 carries a file from inside it.
func FuzzStaticPath(f *testing.F) {
	root, mux := staticFixture(f)
	_ = root
	inside := map[string]bool{"alpha file contents": true, "<h1>home</h1>": true, "<h1>sub</h1>": true, "body{}": true}
	for _, s := range []string{"a.txt", "../secret.txt", "%2e%2e%2fsecret.txt", "..%5csecret.txt", "/etc/passwd",
		"link-out", "dir-out/secret.txt", "sub/", "sub", "sub/../a.txt", "%00", ".%2e/secret.txt", "abs-out"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		u, err := url.Parse("/files/" + p)
		if err != nil || u.Path == "" {
			return
		}
		r := httptest.NewRequest("GET", "/", nil)
		r.URL = u
		r.RequestURI = u.RequestURI()
		w := httptest.NewRecorder()
		done := make(chan struct{})
		go func() {
			defer close(done)
			mux.ServeHTTP(w, r)
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("%q: request hangs", p)
		}
		body := w.Body.String()
		if strings.Contains(body, "SECRET") {
			t.Fatalf("%q served a file outside the root", p)
		}
		if w.Code == 200 && !inside[body] {
			t.Fatalf("%q: 200 with unexpected body %q", p, body)
		}
	})
}
