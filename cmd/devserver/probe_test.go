package main

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/wait"
)

// TestProbeAgainstBinary builds the devserver, starts the binary and sends
// the raw requests of an outside probe: malformed and over-limit request
// bodies on a proxy route, DNS rebinding and unparseable forwarded
// addresses against the admin API, and Content-Length with
// Transfer-Encoding.
func TestProbeAgainstBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts the devserver binary")
	}
	bin := filepath.Join(t.TempDir(), "devserver")
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command to build the binary: %v", err)
	}
	if out, err := exec.Command(gobin, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, "upstream")
	}))
	defer up.Close()
	path := writeConfig(t, t.TempDir(), `
server:
  max_body_bytes: 64B
  trusted_proxies: [127.0.0.1]
routes:
  - path: /up
    handler: {proxy: {upstream: "`+up.URL+`"}}
  - path: /hello
    handler: {respond: {body: hi}}
`)
	stderr := &wait.Buffer{}
	cmd := exec.Command(bin, "-config", path, "-addr", "127.0.0.1:0", "-log-format", "text")
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	var base string
	wait.For(t, "the devserver says where it listens", func() bool {
		if m := listening.FindStringSubmatch(stderr.String()); m != nil {
			base = m[1]
			return true
		}
		return false
	})
	addr := strings.TrimPrefix(base, "http://")
	_, port, _ := net.SplitHostPort(addr)

	tests := []struct {
		name, raw  string
		code       int
		wantClose  bool
		bodyPart   string
		logAbsence string
	}{
		{name: "4 bare LF chunked body on a proxy route",
			raw:  "POST /up HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\n0\n\n",
			code: 400, bodyPart: "bad request body"},
		{name: "4 over-limit chunked body on a proxy route",
			raw:  "POST /up HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n80\r\n" + strings.Repeat("a", 128) + "\r\n0\r\n\r\n",
			code: 413, bodyPart: "too large"},
		{name: "5 DNS rebinding reload",
			raw:  "POST /_switchyard/api/reload HTTP/1.1\r\nHost: evil.example:" + port + "\r\nOrigin: http://evil.example:" + port + "\r\nSec-Fetch-Site: same-origin\r\nContent-Length: 0\r\n\r\n",
			code: 421, bodyPart: "server.admin.hosts"},
		{name: "5 IP literal Host still served",
			raw:  "GET /_switchyard/api/config HTTP/1.1\r\nHost: 127.0.0.1:" + port + "\r\n\r\n",
			code: 200},
		{name: "6 X-Forwarded-For unknown",
			raw:  "GET /_switchyard/api/config HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Forwarded-For: unknown\r\n\r\n",
			code: 403},
		{name: "6 X-Forwarded-For with unknown right-most",
			raw:  "GET /_switchyard/api/config HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Forwarded-For: 8.8.8.8, unknown\r\n\r\n",
			code: 403},
		{name: "6 Forwarded for=unknown",
			raw:  "GET /_switchyard/api/config HTTP/1.1\r\nHost: 127.0.0.1\r\nForwarded: for=unknown\r\n\r\n",
			code: 403},
		{name: "6 Forwarded for=_hidden",
			raw:  "GET /_switchyard/api/config HTTP/1.1\r\nHost: 127.0.0.1\r\nForwarded: for=_hidden\r\n\r\n",
			code: 403},
		{name: "7 Content-Length with Transfer-Encoding",
			raw:  "POST /hello HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
			code: 200, wantClose: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(stderr.String())
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(wait.Deadline))
			if _, err := io.WriteString(c, tt.raw); err != nil {
				t.Fatal(err)
			}
			br := bufio.NewReader(c)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("no response: %v", err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.code || !strings.Contains(string(body), tt.bodyPart) {
				t.Fatalf("got %d %q, want %d with %q", resp.StatusCode, body, tt.code, tt.bodyPart)
			}
			if tt.wantClose {
				if !resp.Close {
					t.Error("no Connection: close")
				}
				if _, err := br.ReadByte(); err != io.EOF {
					t.Errorf("the connection stayed open (read: %v)", err)
				}
			}
			if l := stderr.String()[before:]; strings.Contains(l, "upstream error") {
				t.Errorf("logged as an upstream error:\n%s", l)
			}
		})
	}
}
