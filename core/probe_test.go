package core

import (
	"bufio"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/wait"
)

// TestMetricLabelsBounded: request-derived labels cannot grow the series.
// 10,000 random methods on matched, method-restricted, unmatched and fast
// paths leave the standard methods plus OTHER (at most 12 values), and the
// route label is a pattern or "unmatched", never a raw path.
func TestMetricLabelsBounded(t *testing.T) {
	h := newHost(t, basicYAML)
	const tokenChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!#$%&'*+-.^_`|~"
	rng := rand.New(rand.NewPCG(1, 17))
	paths := []string{"/items/5", "/hello", "/nope/x", "/health", "/users/not-a-uuid", "/metrics"}
	std := []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"}
	for i := range 10000 {
		var m string
		if i%10 == 0 {
			m = std[rng.IntN(len(std))]
		} else {
			b := make([]byte, 1+rng.IntN(12))
			for j := range b {
				b[j] = tokenChars[rng.IntN(len(tokenChars))]
			}
			m = string(b)
		}
		r := httptest.NewRequest(http.MethodGet, paths[i%len(paths)], nil)
		r.Method = m
		h.ServeHTTP(httptest.NewRecorder(), r)
	}
	body := do(h, "GET", "/metrics").Body.String()
	series := regexp.MustCompile(`(?m)^switchyard_http_requests_total\{(.*)\} \S+$`).FindAllStringSubmatch(body, -1)
	if len(series) == 0 {
		t.Fatalf("no switchyard_http_requests_total series on /metrics:\n%s", body)
	}
	methods, routes := map[string]bool{}, map[string]bool{}
	label := regexp.MustCompile(`(\w+)="((?:[^"\\]|\\.)*)"`)
	for _, s := range series {
		for _, l := range label.FindAllStringSubmatch(s[1], -1) {
			switch l[1] {
			case "method":
				methods[l[2]] = true
			case "route":
				routes[l[2]] = true
			}
		}
	}
	if len(methods) > 12 || !methods["OTHER"] {
		t.Errorf("%d method label values, want at most 12 including OTHER: %v", len(methods), methods)
	}
	for m := range methods {
		if m != "OTHER" && methodLabel(m) != m {
			t.Errorf("method label %q is not a standard method", m)
		}
	}
	for r := range routes {
		if r != "unmatched" && !strings.HasPrefix(r, "/") {
			t.Errorf("route label %q", r)
		}
		if r == "/nope/x" || r == "/items/5" || r == "/users/not-a-uuid" {
			t.Errorf("route label %q is a raw path, not a pattern", r)
		}
	}
	if !routes["/health"] || !routes["unmatched"] || !routes["/items/{n:int}"] {
		t.Errorf("route labels %v: want /health, unmatched and /items/{n:int} among them", routes)
	}
	if n := len(series); n > 200 {
		t.Errorf("%d request series after 10,000 random methods", n)
	}
}

// TestContentLengthWithTransferEncodingCloses: a request carrying both
// Content-Length and Transfer-Encoding is answered, then its connection is
// closed (RFC 9112 §6.1); a plain request keeps its connection.
func TestContentLengthWithTransferEncodingCloses(t *testing.T) {
	_, base := startHost(t, `
routes:
  - path: /echo
    methods: [POST]
    handler: echo
  - path: /hello
    handler: {respond: {body: hi}}
`)
	addr := strings.TrimPrefix(base, "http://")
	tests := []struct {
		name, raw string
		close     bool
	}{
		{"content-length and chunked", "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", true},
		{"chunked only", "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", true},
		{"content-length only", "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello", false},
		{"no body", "GET /hello HTTP/1.1\r\nHost: a\r\n\r\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := io.WriteString(c, tt.raw); err != nil {
				t.Fatal(err)
			}
			br := bufio.NewReader(c)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
			if resp.Close != tt.close {
				t.Fatalf("Connection: close = %v, want %v", resp.Close, tt.close)
			}
			// The server closes its end: the next read sees EOF, not a hang.
			_ = c.SetReadDeadline(time.Now().Add(wait.Deadline))
			if _, err := io.WriteString(c, "GET /hello HTTP/1.1\r\nHost: a\r\n\r\n"); err == nil {
				resp, err = http.ReadResponse(br, nil)
				if tt.close && err == nil {
					resp.Body.Close()
					t.Fatal("the connection served another request")
				}
				if !tt.close {
					if err != nil {
						t.Fatalf("kept-alive connection: %v", err)
					}
					resp.Body.Close()
				}
			}
		})
	}
}
