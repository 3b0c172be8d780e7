package handlers

import (
	"bufio"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/wait"
)

// statusRecorder records the status a handler wrote, as the host's metrics
// and access log see it.
type statusRecorder struct {
	http.ResponseWriter
	mu     *sync.Mutex
	status *int
}

func (s statusRecorder) WriteHeader(code int) {
	s.mu.Lock()
	*s.status = code
	s.mu.Unlock()
	s.ResponseWriter.WriteHeader(code)
}

func (s statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// rawExchange sends raw on a new connection to addr and reads one response.
func rawExchange(t *testing.T, addr, raw string) (*http.Response, string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("reading the response: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// TestProxyClientBodyErrors: a request body that cannot be read is the
// client's fault: 400 (413 over the limit), logged as a client error, never
// a 502 "upstream error".
func TestProxyClientBodyErrors(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
	}))
	defer up.Close()
	var logs wait.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	var mu sync.Mutex
	var status int
	proxy := MaxBody(16, mustProxy(t, up.URL, testTransport(t, defaultPool), log))
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proxy.ServeHTTP(statusRecorder{w, &mu, &status}, r)
	}))
	defer front.Close()
	addr := strings.TrimPrefix(front.URL, "http://")

	tests := []struct {
		name, raw string
		code      int
		errPart   string
	}{
		{"chunked with bare LF", "POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\n0\n\n",
			http.StatusBadRequest, "bad request body"},
		{"bad chunk size", "POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
			http.StatusBadRequest, "bad request body"},
		{"chunked over the limit", "POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n20\r\n" + strings.Repeat("a", 32) + "\r\n0\r\n\r\n",
			http.StatusRequestEntityTooLarge, "request body too large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(logs.String())
			resp, body := rawExchange(t, addr, tt.raw)
			if resp.StatusCode != tt.code || !strings.Contains(body, tt.errPart) {
				t.Fatalf("got %d %q, want %d with %q", resp.StatusCode, body, tt.code, tt.errPart)
			}
			mu.Lock()
			got := status
			mu.Unlock()
			if got != tt.code {
				t.Errorf("the handler wrote status %d, want %d (what the client got)", got, tt.code)
			}
			logged := logs.String()[before:]
			if strings.Contains(logged, "upstream error") || strings.Contains(logged, "502") {
				t.Errorf("logged as an upstream error: %s", logged)
			}
			if tt.code == http.StatusBadRequest && !strings.Contains(logged, "client error") {
				t.Errorf("not logged as a client error: %q", logged)
			}
		})
	}
}

// TestProxyWriteTimeout: an upstream slower than the server's write timeout
// gets the client a 504 with its body, before the server's write deadline
// cuts the connection, and the status the handler wrote is that 504.
func TestProxyWriteTimeout(t *testing.T) {
	// The proxy answers a quarter of the write timeout before the deadline
	// (upstreamBudget): 500 ms of room for a busy machine to be late in.
	const writeTimeout = 2 * time.Second
	release := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer up.Close()
	defer close(release)

	for _, tt := range []struct {
		name   string
		header string
	}{
		{"slow response headers", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var logs wait.Buffer
			var mu sync.Mutex
			var status int
			proxy := mustProxy(t, up.URL, testTransport(t, defaultPool), slog.New(slog.NewTextHandler(&logs, nil)), WriteTimeout(writeTimeout))
			front := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				proxy.ServeHTTP(statusRecorder{w, &mu, &status}, r)
			}))
			front.Config.WriteTimeout = writeTimeout
			front.Start()
			defer front.Close()

			resp, err := front.Client().Get(front.URL + "/slow")
			if err != nil {
				t.Fatalf("empty reply instead of a 504: %v", err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatalf("reading the 504's body: %v", err)
			}
			if resp.StatusCode != http.StatusGatewayTimeout || !strings.Contains(string(body), `"error":"gateway timeout"`) {
				t.Fatalf("got %d %q, want 504 gateway timeout", resp.StatusCode, body)
			}
			mu.Lock()
			got := status
			mu.Unlock()
			if got != http.StatusGatewayTimeout {
				t.Errorf("the handler wrote status %d, want 504", got)
			}
			if l := logs.String(); !strings.Contains(l, "status=504") || !strings.Contains(l, "write timeout") {
				t.Errorf("log = %q, want the 504 and its reason", l)
			}
		})
	}
}

func TestUpstreamBudget(t *testing.T) {
	tests := []struct{ write, want time.Duration }{
		{0, 0},
		{-time.Second, 0},
		{30 * time.Second, 29 * time.Second},
		{2 * time.Second, 1500 * time.Millisecond},
		{8 * time.Second, 7 * time.Second},
		{400 * time.Millisecond, 300 * time.Millisecond},
	}
	for _, tt := range tests {
		if got := UpstreamBudget(tt.write); got != tt.want {
			t.Errorf("UpstreamBudget(%v) = %v, want %v", tt.write, got, tt.want)
		}
		if tt.write > 0 && UpstreamBudget(tt.write) >= tt.write {
			t.Errorf("UpstreamBudget(%v) leaves no time for the 504", tt.write)
		}
	}
}
