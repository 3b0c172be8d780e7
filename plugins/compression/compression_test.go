package compression

import (
	"bufio"
	"bytes"
	stdgzip "compress/gzip"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"

	"github.com/switchyard/switchyard/internal/wait"
)

// The black-box cases of the plugin's acceptance, through httptest servers.

func TestRoundTripEachEncoding(t *testing.T) {
	body := jsonBody(20_000)
	srv, _ := testServer(t, nil, bodyHandler(body, map[string]string{"Content-Type": "application/json"}))
	client := rawClient(t)
	for _, enc := range []string{"gzip", "zstd", "br"} {
		t.Run(enc, func(t *testing.T) {
			res := fetch(t, client, "GET", srv.URL, map[string]string{"Accept-Encoding": enc})
			if got := res.Header.Get("Content-Encoding"); got != enc {
				t.Fatalf("Content-Encoding = %q, want %q", got, enc)
			}
			if !bytes.Equal(res.decoded, body) {
				t.Fatalf("decoded body differs from the original (%d vs %d bytes)", len(res.decoded), len(body))
			}
			if len(res.raw) >= len(body)/2 {
				t.Errorf("encoded body is %d bytes for %d of JSON: not compressed", len(res.raw), len(body))
			}
			if !hasVaryAE(res.Header) {
				t.Errorf("Vary = %q, want Accept-Encoding", headerLine(res.Header, "Vary"))
			}
			if res.Header.Get("Content-Length") == strconv.Itoa(len(body)) {
				t.Errorf("Content-Length is the uncompressed length")
			}
		})
	}
}

func TestNegotiationCases(t *testing.T) {
	body := jsonBody(4000)
	srv, _ := testServer(t, nil, bodyHandler(body, map[string]string{"Content-Type": "application/json"}))
	client := rawClient(t)
	tests := []struct {
		name     string
		accept   string // "" sends no Accept-Encoding
		want     string // Content-Encoding, "" for identity
		wantVary bool
	}{
		{"no Accept-Encoding is identity with Vary", "", "", true},
		{"gzip;q=0 is not gzip", "gzip;q=0", "", true},
		{"bgzip is not gzip", "bgzip", "", true},
		{"higher q beats server preference", "gzip;q=0.5, zstd;q=1", "zstd", true},
		{"upper-case token", "GZIP", "gzip", true},
		{"server preference on a tie", "gzip, deflate, br, zstd", "zstd", true},
		{"browser without zstd", "gzip, deflate, br", "br", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hdr := map[string]string{}
			if tt.accept != "" {
				hdr["Accept-Encoding"] = tt.accept
			}
			res := fetch(t, client, "GET", srv.URL, hdr)
			if got := res.Header.Get("Content-Encoding"); got != tt.want {
				t.Fatalf("Content-Encoding = %q, want %q", got, tt.want)
			}
			if !bytes.Equal(res.decoded, body) {
				t.Fatal("body differs from the original")
			}
			if hasVaryAE(res.Header) != tt.wantVary {
				t.Errorf("Vary = %q, want Accept-Encoding: %v", headerLine(res.Header, "Vary"), tt.wantVary)
			}
		})
	}
}

func TestNotEncoded(t *testing.T) {
	big := []byte(strings.Repeat("compressible text ", 500))
	tests := []struct {
		name     string
		handler  http.HandlerFunc
		wantVary bool
	}{
		{"4-byte body", bodyHandler([]byte("tiny"), map[string]string{"Content-Type": "text/plain"}), true},
		{"empty body", bodyHandler(nil, map[string]string{"Content-Type": "text/plain"}), true},
		{"image/png", bodyHandler(big, map[string]string{"Content-Type": "image/png"}), false},
		{"application/zip", bodyHandler(big, map[string]string{"Content-Type": "application/zip"}), false},
		{"no-transform", bodyHandler(big, map[string]string{"Content-Type": "text/plain", "Cache-Control": "public, No-Transform"}), false},
		{"Content-Length below min_size", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			w.Header().Set("Content-Length", "10")
			_, _ = w.Write([]byte("0123456789"))
		}, true},
		{"suppressed Content-Type", func(w http.ResponseWriter, r *http.Request) {
			w.Header()["Content-Type"] = nil
			_, _ = w.Write(big)
		}, false},
	}
	client := rawClient(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, c := testServer(t, nil, tt.handler)
			res := fetch(t, client, "GET", srv.URL, map[string]string{"Accept-Encoding": "gzip, br, zstd"})
			if ce := res.Header.Get("Content-Encoding"); ce != "" {
				t.Fatalf("Content-Encoding = %q, want none", ce)
			}
			if hasVaryAE(res.Header) != tt.wantVary {
				t.Errorf("Vary = %q, want Accept-Encoding: %v", headerLine(res.Header, "Vary"), tt.wantVary)
			}
			if got := c.nResponses[encIdentity].Load(); got != 1 {
				t.Errorf("identity responses = %d, want 1", got)
			}
		})
	}
}

func TestPreEncodedPassesThroughOnce(t *testing.T) {
	var pre bytes.Buffer
	bw := brotli.NewWriter(&pre)
	_, _ = bw.Write([]byte(strings.Repeat("already brotli ", 400)))
	_ = bw.Close()
	srv, _ := testServer(t, nil, bodyHandler(pre.Bytes(), map[string]string{"Content-Type": "text/plain", "Content-Encoding": "br"}))
	res := fetch(t, rawClient(t), "GET", srv.URL, map[string]string{"Accept-Encoding": "gzip, br, zstd"})
	if got := res.Header.Values("Content-Encoding"); len(got) != 1 || got[0] != "br" {
		t.Fatalf("Content-Encoding = %q, want exactly [br]", got)
	}
	if !bytes.Equal(res.raw, pre.Bytes()) {
		t.Fatal("the handler's encoded body was changed")
	}
	if want := strings.Repeat("already brotli ", 400); string(res.decoded) != want {
		t.Fatal("body does not decode to the handler's text")
	}
}

func TestNoContentAndNotModified(t *testing.T) {
	srv, _ := testServer(t, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("ETag", `"v7"`)
		switch r.URL.Path {
		case "/204":
			w.WriteHeader(http.StatusNoContent)
		case "/304":
			w.WriteHeader(http.StatusNotModified)
		}
	}))
	client := rawClient(t)
	for _, path := range []string{"/204", "/304"} {
		res := fetch(t, client, "GET", srv.URL+path, map[string]string{"Accept-Encoding": "gzip"})
		if ce := res.Header.Get("Content-Encoding"); ce != "" {
			t.Errorf("%s: Content-Encoding = %q, want none", path, ce)
		}
		if len(res.raw) != 0 {
			t.Errorf("%s: body of %d bytes", path, len(res.raw))
		}
		if path == "/304" {
			if !hasVaryAE(res.Header) {
				t.Errorf("304: Vary = %q, want Accept-Encoding", headerLine(res.Header, "Vary"))
			}
			if et := res.Header.Get("ETag"); et != `"v7"` {
				t.Errorf("304 without a suffixed If-None-Match: ETag = %s, want \"v7\"", et)
			}
		}
	}
}

// serveDoc serves a text document through http.ServeContent, which handles
// conditional requests, HEAD and ranges itself.
func serveDoc(body []byte, etag string) http.HandlerFunc {
	mod := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if etag != "" {
			w.Header().Set("ETag", etag)
		}
		http.ServeContent(w, r, "", mod, bytes.NewReader(body))
	}
}

func TestHeadHasGetHeaders(t *testing.T) {
	body := []byte(strings.Repeat("head and get agree. ", 300))
	handlers := map[string]http.HandlerFunc{
		"ServeContent":        serveDoc(body, `"h1"`),
		"handler writes body": bodyHandler(body, map[string]string{"Content-Type": "text/plain", "ETag": `"h1"`}),
	}
	client := rawClient(t)
	for name, h := range handlers {
		t.Run(name, func(t *testing.T) {
			srv, _ := testServer(t, nil, h)
			hdr := map[string]string{"Accept-Encoding": "gzip"}
			get := fetch(t, client, "GET", srv.URL, hdr)
			head := fetch(t, client, "HEAD", srv.URL, hdr)
			if len(head.raw) != 0 {
				t.Fatalf("HEAD returned %d body bytes", len(head.raw))
			}
			if get.Header.Get("Content-Encoding") != "gzip" {
				t.Fatalf("GET Content-Encoding = %q, want gzip", get.Header.Get("Content-Encoding"))
			}
			for _, k := range []string{"Content-Encoding", "Vary", "Etag", "Content-Type", "Accept-Ranges", "Last-Modified"} {
				if g, h := headerLine(get.Header, k), headerLine(head.Header, k); g != h {
					t.Errorf("%s: GET %q, HEAD %q", k, g, h)
				}
			}
			if cl := head.Header.Get("Content-Length"); cl == strconv.Itoa(len(body)) {
				t.Errorf("HEAD announces the uncompressed Content-Length %s", cl)
			}
		})
	}
}

func TestRangeAndAcceptRanges(t *testing.T) {
	body := []byte(strings.Repeat("0123456789abcdef", 256))
	srv, _ := testServer(t, nil, serveDoc(body, ""))
	client := rawClient(t)

	part := fetch(t, client, "GET", srv.URL, map[string]string{"Accept-Encoding": "gzip", "Range": "bytes=0-99"})
	if part.StatusCode != http.StatusPartialContent {
		t.Fatalf("status = %d, want 206", part.StatusCode)
	}
	if ce := part.Header.Get("Content-Encoding"); ce != "" {
		t.Errorf("206: Content-Encoding = %q, want none", ce)
	}
	if part.Header.Get("Content-Range") == "" || !bytes.Equal(part.raw, body[:100]) {
		t.Errorf("206: Content-Range %q and body %q, want the first 100 bytes", part.Header.Get("Content-Range"), part.raw)
	}

	full := fetch(t, client, "GET", srv.URL, map[string]string{"Accept-Encoding": "gzip"})
	if full.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("200: Content-Encoding = %q, want gzip", full.Header.Get("Content-Encoding"))
	}
	if ar := full.Header.Get("Accept-Ranges"); ar != "" {
		t.Errorf("encoded 200 carries Accept-Ranges: %s", ar)
	}
	if !bytes.Equal(full.decoded, body) {
		t.Error("encoded 200 does not decode to the document")
	}
}

func TestETagSuffixAndConditionalRequests(t *testing.T) {
	body := []byte(strings.Repeat("etag me. ", 400))
	client := rawClient(t)
	t.Run("strong", func(t *testing.T) {
		srv, _ := testServer(t, nil, serveDoc(body, `"v1"`))
		for _, enc := range []string{"gzip", "zstd", "br"} {
			ae := map[string]string{"Accept-Encoding": enc}
			first := fetch(t, client, "GET", srv.URL, ae)
			want := `"v1-` + enc + `"`
			if et := first.Header.Get("ETag"); et != want {
				t.Fatalf("%s: ETag = %s, want %s", enc, et, want)
			}
			again := fetch(t, client, "GET", srv.URL, map[string]string{"Accept-Encoding": enc, "If-None-Match": want})
			if again.StatusCode != http.StatusNotModified {
				t.Fatalf("%s: If-None-Match %s gave %d, want 304", enc, want, again.StatusCode)
			}
			if et := again.Header.Get("ETag"); et != want {
				t.Errorf("%s: 304 ETag = %s, want %s", enc, et, want)
			}
			if !hasVaryAE(again.Header) || again.Header.Get("Content-Encoding") != "" {
				t.Errorf("%s: 304 Vary %q Content-Encoding %q", enc, headerLine(again.Header, "Vary"), again.Header.Get("Content-Encoding"))
			}
		}
		// A tag from an older representation still misses.
		stale := fetch(t, client, "GET", srv.URL, map[string]string{"Accept-Encoding": "gzip", "If-None-Match": `"v0-gzip"`})
		if stale.StatusCode != http.StatusOK {
			t.Errorf("stale If-None-Match gave %d, want 200", stale.StatusCode)
		}
		// If-Match with the suffixed tag passes the handler's precondition.
		match := fetch(t, client, "GET", srv.URL, map[string]string{"Accept-Encoding": "gzip", "If-Match": `"v1-gzip"`})
		if match.StatusCode != http.StatusOK {
			t.Errorf("If-Match with the served tag gave %d, want 200", match.StatusCode)
		}
	})
	t.Run("weak stays weak and unchanged", func(t *testing.T) {
		srv, _ := testServer(t, nil, serveDoc(body, `W/"v2"`))
		first := fetch(t, client, "GET", srv.URL, map[string]string{"Accept-Encoding": "gzip"})
		if first.Header.Get("Content-Encoding") != "gzip" || first.Header.Get("ETag") != `W/"v2"` {
			t.Fatalf("Content-Encoding %q ETag %s, want gzip and W/\"v2\"", first.Header.Get("Content-Encoding"), first.Header.Get("ETag"))
		}
		again := fetch(t, client, "GET", srv.URL, map[string]string{"Accept-Encoding": "gzip", "If-None-Match": `W/"v2"`})
		if again.StatusCode != http.StatusNotModified {
			t.Errorf("weak If-None-Match gave %d, want 304", again.StatusCode)
		}
	})
	t.Run("identity keeps the tag", func(t *testing.T) {
		srv, _ := testServer(t, nil, serveDoc(body, `"v3"`))
		res := fetch(t, client, "GET", srv.URL, nil)
		if res.Header.Get("ETag") != `"v3"` {
			t.Errorf("identity ETag = %s, want \"v3\"", res.Header.Get("ETag"))
		}
	})
}

// TestFlushStreamsAtOnce: a Flush pushes the bytes written so far, encoded
// and decodable, to the client while the handler is still running: the
// handler holds the rest of the response until the client has decoded the
// flushed bytes, and fails the test if that never happens.
func TestFlushStreamsAtOnce(t *testing.T) {
	var gate atomic.Pointer[chan struct{}]
	srv, _ := testServer(t, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("Hello, world!")) // 13 bytes, far below min_size
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Errorf("Flush through ResponseController: %v", err)
		}
		select {
		case <-*gate.Load():
		case <-time.After(wait.Deadline):
			t.Errorf("%s: the client never decoded the flushed bytes while the handler waited", r.Header.Get("Accept-Encoding"))
		}
		_, _ = w.Write([]byte(" Bye."))
	}))
	client := rawClient(t)
	for _, enc := range []string{"gzip", "zstd", "br"} {
		t.Run(enc, func(t *testing.T) {
			read := make(chan struct{})
			gate.Store(&read)
			req, _ := http.NewRequest("GET", srv.URL, nil)
			req.Header.Set("Accept-Encoding", enc)
			resp, err := client.Do(req)
			if err != nil {
				close(read)
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if ce := resp.Header.Get("Content-Encoding"); ce != enc {
				close(read)
				t.Fatalf("Content-Encoding = %q, want %q", ce, enc)
			}
			dec := streamDecoder(t, enc, resp.Body)
			got := make([]byte, 13)
			_, err = io.ReadFull(dec, got)
			close(read) // the handler may finish now
			if err != nil {
				t.Fatalf("reading the flushed bytes: %v", err)
			}
			if string(got) != "Hello, world!" {
				t.Fatalf("first bytes %q", got)
			}
			rest, err := io.ReadAll(dec)
			if err != nil || string(rest) != " Bye." {
				t.Errorf("rest %q, %v", rest, err)
			}
		})
	}
}

func streamDecoder(t *testing.T, enc string, r io.Reader) io.Reader {
	t.Helper()
	switch enc {
	case "gzip":
		zr, err := stdgzip.NewReader(r)
		if err != nil {
			t.Fatalf("gzip header: %v", err)
		}
		return zr
	case "zstd":
		zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(zr.Close)
		return zr
	case "br":
		return brotli.NewReader(r)
	}
	t.Fatalf("no decoder for %q", enc)
	return nil
}

func TestWebSocketUpgrade(t *testing.T) {
	// Two ways WebSocket libraries switch protocols: WriteHeader(101) then
	// Hijack (coder/websocket), or Hijack then write the 101 themselves
	// (gorilla/websocket, asserting http.Hijacker directly).
	styles := map[string]func(w http.ResponseWriter) (net.Conn, *bufio.ReadWriter, error){
		"WriteHeader then ResponseController.Hijack": func(w http.ResponseWriter) (net.Conn, *bufio.ReadWriter, error) {
			w.Header().Set("Upgrade", "websocket")
			w.Header().Set("Connection", "Upgrade")
			w.WriteHeader(http.StatusSwitchingProtocols)
			return http.NewResponseController(w).Hijack()
		},
		"Hijacker then raw 101": func(w http.ResponseWriter) (net.Conn, *bufio.ReadWriter, error) {
			conn, brw, err := w.(http.Hijacker).Hijack()
			if err == nil {
				_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
				err = brw.Flush()
			}
			return conn, brw, err
		},
	}
	for name, upgrade := range styles {
		t.Run(name, func(t *testing.T) {
			srv, c := testServer(t, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/plain")
				conn, brw, err := upgrade(w)
				if err != nil {
					t.Errorf("hijack: %v", err)
					return
				}
				defer conn.Close()
				line, _ := brw.ReadString('\n')
				_, _ = brw.WriteString("echo: " + line)
				_ = brw.Flush()
			}))
			conn, err := net.Dial("tcp", srv.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
			_, _ = io.WriteString(conn, "GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
				"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nAccept-Encoding: gzip, br, zstd\r\n\r\n")
			br := bufio.NewReader(conn)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusSwitchingProtocols {
				t.Fatalf("status = %d, want 101", resp.StatusCode)
			}
			if ce := resp.Header.Get("Content-Encoding"); ce != "" {
				t.Fatalf("101 carries Content-Encoding %q", ce)
			}
			_, _ = io.WriteString(conn, "ping\n")
			line, err := br.ReadString('\n')
			if err != nil || line != "echo: ping\n" {
				t.Fatalf("over the hijacked connection: %q, %v", line, err)
			}
			if got := c.nResponses[encIdentity].Load(); got != 1 {
				t.Errorf("identity responses = %d, want 1", got)
			}
		})
	}
}

// A handler may hijack an ordinary request too: the pooled writer passes
// Hijack through and then stays out of the way.
func TestHijackThroughWriter(t *testing.T) {
	srv, c := testServer(t, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("held, then dropped by the hijack"))
		conn, brw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Errorf("Hijack: %v", err)
			return
		}
		defer conn.Close()
		if _, err := w.Write([]byte("x")); err != http.ErrHijacked {
			t.Errorf("Write after Hijack = %v, want ErrHijacked", err)
		}
		_, _ = brw.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nraw")
		_ = brw.Flush()
	}))
	res := fetch(t, rawClient(t), "GET", srv.URL, map[string]string{"Accept-Encoding": "gzip"})
	if string(res.raw) != "raw" || res.Header.Get("Content-Encoding") != "" {
		t.Fatalf("got %q with Content-Encoding %q, want the raw answer", res.raw, res.Header.Get("Content-Encoding"))
	}
	if got := c.Stats()["encoders_in_use"].(int64); got != 0 {
		t.Errorf("encoders in use after hijack = %d", got)
	}
}

func TestInformationalPassesThrough(t *testing.T) {
	body := []byte(strings.Repeat("early hints. ", 200))
	srv, _ := testServer(t, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</style.css>; rel=preload; as=style")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body)
	}))
	var got1xx []int
	trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, _ textproto.MIMEHeader) error {
		got1xx = append(got1xx, code)
		return nil
	}}
	req, _ := http.NewRequest("GET", srv.URL, nil)
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), trace))
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := rawClient(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if len(got1xx) != 1 || got1xx[0] != http.StatusEarlyHints {
		t.Errorf("1xx responses seen: %v, want [103]", got1xx)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("final %d %q, want 200 gzip", resp.StatusCode, resp.Header.Get("Content-Encoding"))
	}
	if !bytes.Equal(decode(t, "gzip", raw), body) {
		t.Error("body differs")
	}
}
