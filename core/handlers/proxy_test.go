package handlers

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard/switchyard/core/config"
)

// testTransport is a pool-sized transport whose idle connections are
// closed when the test ends.
func testTransport(t testing.TB, cp config.ConnectionPool) *http.Transport {
	t.Helper()
	tr := NewTransport(cp)
	t.Cleanup(tr.CloseIdleConnections)
	return tr
}

func mustProxy(t testing.TB, upstream string, tr http.RoundTripper, log *slog.Logger, opts ...ProxyOption) http.Handler {
	t.Helper()
	h, err := Proxy(upstream, tr, log, opts...)
	if err != nil {
		t.Fatalf("Proxy(%q): %v", upstream, err)
	}
	return h
}

var defaultPool = config.ConnectionPool{MinSize: 10, MaxSize: 100, TTL: 300 * time.Second}

// seen is what an upstream received.
type seen struct {
	Method, Path, RawQuery, Host, Body string
	Header                             http.Header
}

func recordingUpstream(t *testing.T) (*httptest.Server, <-chan seen) {
	t.Helper()
	ch := make(chan seen, 1)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ch <- seen{r.Method, r.URL.Path, r.URL.RawQuery, r.Host, string(body), r.Header.Clone()}
		w.Header().Set("X-Upstream", "yes")
		w.WriteHeader(http.StatusTeapot)
		_, _ = io.WriteString(w, "from upstream")
	}))
	t.Cleanup(up.Close)
	return up, ch
}

func TestProxyForwards(t *testing.T) {
	up, got := recordingUpstream(t)
	tr := testTransport(t, defaultPool)
	tests := []struct {
		name      string
		upstream  string
		opts      []ProxyOption
		target    string
		reqHeader map[string]string
		tls       bool
		want      seen
		wantXFF   string
		wantXFP   string
		wantXFH   string
	}{
		{
			name: "path joined, queries merged, host kept, forged forwarding dropped", upstream: up.URL + "/base?k=v",
			target:    "/api/x?q=1",
			reqHeader: map[string]string{"X-Custom": "c", "X-Forwarded-For": "6.6.6.6", "X-Forwarded-Proto": "https", "Forwarded": "for=6.6.6.6"},
			want:      seen{Method: "POST", Path: "/base/api/x", RawQuery: "k=v&q=1", Host: "example.test", Body: "payload"},
			wantXFF:   "192.0.2.1", wantXFP: "http", wantXFH: "example.test",
		},
		{
			name: "tls inbound", upstream: up.URL, target: "/p", tls: true,
			want:    seen{Method: "POST", Path: "/p", Host: "example.test", Body: "payload"},
			wantXFF: "192.0.2.1", wantXFP: "https", wantXFH: "example.test",
		},
		{
			name: "trusted peer keeps the chain", upstream: up.URL,
			opts:      []ProxyOption{TrustForwarded(func(r *http.Request) bool { return strings.HasPrefix(r.RemoteAddr, "192.0.2.") })},
			target:    "/p",
			reqHeader: map[string]string{"X-Forwarded-For": "6.6.6.6", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "public.test"},
			want:      seen{Method: "POST", Path: "/p", Host: "example.test", Body: "payload"},
			wantXFF:   "6.6.6.6, 192.0.2.1", wantXFP: "https", wantXFH: "public.test",
		},
		{
			name: "untrusted peer does not", upstream: up.URL,
			opts:      []ProxyOption{TrustForwarded(func(*http.Request) bool { return false })},
			target:    "/p",
			reqHeader: map[string]string{"X-Forwarded-For": "6.6.6.6", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "public.test"},
			want:      seen{Method: "POST", Path: "/p", Host: "example.test", Body: "payload"},
			wantXFF:   "192.0.2.1", wantXFP: "http", wantXFH: "example.test",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := mustProxy(t, tt.upstream, tr, nil, tt.opts...)
			r := httptest.NewRequest("POST", "http://example.test"+tt.target, strings.NewReader("payload"))
			if tt.tls {
				r = httptest.NewRequest("POST", "https://example.test"+tt.target, strings.NewReader("payload"))
			}
			for k, v := range tt.reqHeader {
				r.Header.Set(k, v)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != http.StatusTeapot || w.Body.String() != "from upstream" || w.Header().Get("X-Upstream") != "yes" {
				t.Fatalf("response %d %q %v", w.Code, w.Body, w.Header())
			}
			s := <-got
			if s.Method != tt.want.Method || s.Path != tt.want.Path || s.RawQuery != tt.want.RawQuery || s.Host != tt.want.Host || s.Body != tt.want.Body {
				t.Errorf("upstream saw %+v, want %+v", s, tt.want)
			}
			for k, want := range map[string]string{"X-Forwarded-For": tt.wantXFF, "X-Forwarded-Proto": tt.wantXFP, "X-Forwarded-Host": tt.wantXFH} {
				if v := strings.Join(s.Header.Values(k), ", "); v != want {
					t.Errorf("upstream %s = %q, want %q", k, v, want)
				}
			}
			if v := s.Header.Get("Forwarded"); v != "" {
				t.Errorf("client Forwarded reached the upstream: %q", v)
			}
			if v := tt.reqHeader["X-Custom"]; v != "" && s.Header.Get("X-Custom") != v {
				t.Errorf("X-Custom = %q, want %q", s.Header.Get("X-Custom"), v)
			}
		})
	}
}

// Server-sent events reach the client as the upstream flushes them, before
// the upstream response ends.
func TestProxyStreams(t *testing.T) {
	release := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range 3 {
			fmt.Fprintf(w, "data: %d\n\n", i)
			w.(http.Flusher).Flush()
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
		io.WriteString(w, "data: end\n\n")
	}))
	defer up.Close()
	tr := testTransport(t, defaultPool)
	front := httptest.NewServer(mustProxy(t, up.URL, tr, nil))
	defer front.Close()
	defer front.Client().CloseIdleConnections()

	resp, err := front.Client().Get(front.URL + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if sc.Text() != "" {
				lines <- sc.Text()
			}
		}
		close(lines)
	}()
	for i := range 3 {
		select {
		case l := <-lines:
			if want := fmt.Sprintf("data: %d", i); l != want {
				t.Fatalf("event %d = %q, want %q", i, l, want)
			}
		case <-time.After(3 * time.Second):
			t.Fatalf("event %d did not arrive while the upstream kept the stream open", i)
		}
	}
	close(release)
	if l := <-lines; l != "data: end" {
		t.Fatalf("last event = %q", l)
	}
	for range lines {
	}
}

func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestProxyUpstreamDown(t *testing.T) {
	addr := closedPort(t)
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	h := mustProxy(t, "http://"+addr, testTransport(t, defaultPool), log)

	start := time.Now()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/x", nil))
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("took %v, want an answer at once", d)
	}
	if w.Code != http.StatusBadGateway {
		t.Fatalf("status = %d, want 502", w.Code)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	var body map[string]string
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatalf("body %q: %v", w.Body, err)
	}
	if body["error"] != "bad gateway" || body["upstream"] != addr || len(body) != 2 {
		t.Errorf("body = %v", body)
	}
	if w.Header().Get("Content-Length") != fmt.Sprint(w.Body.Len()) {
		t.Errorf("Content-Length %q for %d bytes", w.Header().Get("Content-Length"), w.Body.Len())
	}
	if !strings.Contains(logs.String(), "upstream="+addr) || !strings.Contains(logs.String(), "level=WARN") {
		t.Errorf("log = %q", logs.String())
	}
}

// An upstream that never answers gets 504 after the response header timeout;
// its handler is released when the transport gives up.
func TestProxyUpstreamTimeout(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	defer up.Close()
	tr := testTransport(t, defaultPool)
	tr.ResponseHeaderTimeout = 150 * time.Millisecond
	h := mustProxy(t, up.URL, tr, slog.New(slog.DiscardHandler))

	tests := []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
	}{
		{"transport response header timeout", func() (context.Context, context.CancelFunc) {
			return context.WithCancel(context.Background())
		}},
		{"request deadline", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 100*time.Millisecond)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := tt.ctx()
			defer cancel()
			start := time.Now()
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequestWithContext(ctx, "GET", "/slow", nil))
			if d := time.Since(start); d > 2*time.Second {
				t.Fatalf("took %v", d)
			}
			if w.Code != http.StatusGatewayTimeout {
				t.Fatalf("status = %d (%q), want 504", w.Code, w.Body)
			}
			if !strings.Contains(w.Body.String(), `"error":"gateway timeout"`) {
				t.Errorf("body = %q", w.Body)
			}
		})
	}
}

func TestProxyErrors(t *testing.T) {
	tr := testTransport(t, defaultPool)
	tests := []struct {
		upstream string
		wantErr  string
	}{
		{"", "empty upstream URL"},
		{"ftp://host", "scheme must be http or https"},
		{"localhost:3000", "scheme must be http or https"},
		{"127.0.0.1:3000", "invalid upstream URL"},
		{"http://", "no host"},
		{"http://:8080", "no host"},
		{"http://user:pw@host", "user information"},
		{"http://host/#frag", "fragment"},
		{"http://host:99999", "invalid port"},
		{"http://host:0", "invalid port"},
		{"http://[::1", "invalid upstream URL"},
	}
	for _, tt := range tests {
		t.Run(tt.upstream, func(t *testing.T) {
			_, err := Proxy(tt.upstream, tr, nil)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
	if _, err := Proxy("http://host", nil, nil); err == nil {
		t.Error("nil transport accepted")
	}
	for _, ok := range []string{"http://127.0.0.1:3000", "https://api.example.com/v1", "http://[::1]:80/x?y=1", "HTTP://host"} {
		if _, err := Proxy(ok, tr, nil); err != nil {
			t.Errorf("Proxy(%q): %v", ok, err)
		}
	}
}

func TestNewTransport(t *testing.T) {
	tests := []struct {
		name                     string
		cp                       config.ConnectionPool
		maxConns, maxIdlePerHost int
		idleTimeout              time.Duration
	}{
		{"spec defaults: as many idle as may be busy", config.ConnectionPool{MinSize: 10, MaxSize: 100, TTL: 300 * time.Second}, 100, 100, 300 * time.Second},
		{"zero values", config.ConnectionPool{}, 0, DefaultMaxIdle, DefaultIdleTimeout},
		{"no limit, min_size above the default", config.ConnectionPool{MinSize: 500}, 0, 500, DefaultIdleTimeout},
		{"min above max is clamped", config.ConnectionPool{MinSize: 20, MaxSize: 5, TTL: time.Second}, 5, 5, time.Second},
		{"small", config.ConnectionPool{MinSize: 1, MaxSize: 2, TTL: 2 * time.Minute}, 2, 2, 2 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := testTransport(t, tt.cp)
			if tr.MaxConnsPerHost != tt.maxConns || tr.MaxIdleConnsPerHost != tt.maxIdlePerHost || tr.IdleConnTimeout != tt.idleTimeout {
				t.Errorf("MaxConnsPerHost %d, MaxIdleConnsPerHost %d, IdleConnTimeout %v; want %d, %d, %v",
					tr.MaxConnsPerHost, tr.MaxIdleConnsPerHost, tr.IdleConnTimeout, tt.maxConns, tt.maxIdlePerHost, tt.idleTimeout)
			}
			if tr.MaxIdleConns != 0 || !tr.ForceAttemptHTTP2 || tr.Proxy != nil || tr.DialContext == nil ||
				tr.TLSHandshakeTimeout != TLSHandshakeTimeout || tr.ResponseHeaderTimeout != ResponseHeaderTimeout {
				t.Errorf("fixed settings differ: %+v", tr)
			}
		})
	}
}

// connCounter is an upstream that tracks open connections and concurrent
// requests, and their peaks.
type connCounter struct {
	srv                            *httptest.Server
	open, peakOpen, busy, peakBusy atomic.Int64
	total                          atomic.Int64
}

func newConnCounter(t *testing.T, delay time.Duration) *connCounter {
	t.Helper()
	c := &connCounter{}
	c.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raise(&c.peakBusy, c.busy.Add(1))
		select { // a slow upstream
		case <-time.After(delay):
		case <-r.Context().Done():
		}
		c.busy.Add(-1)
		io.WriteString(w, "ok")
	}))
	c.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			c.total.Add(1)
			raise(&c.peakOpen, c.open.Add(1))
		case http.StateClosed, http.StateHijacked:
			c.open.Add(-1)
		}
	}
	c.srv.Start()
	t.Cleanup(c.srv.Close)
	return c
}

func raise(peak *atomic.Int64, v int64) {
	for {
		p := peak.Load()
		if v <= p || peak.CompareAndSwap(p, v) {
			return
		}
	}
}

func TestProxyMaxConnsPerHost(t *testing.T) {
	tests := []struct {
		name    string
		cp      config.ConnectionPool
		wantMax int64 // 0: no bound expected, but more than 4 reached
	}{
		{"max_size 4", config.ConnectionPool{MinSize: 2, MaxSize: 4, TTL: time.Minute}, 4},
		{"max_size 1", config.ConnectionPool{MinSize: 1, MaxSize: 1, TTL: time.Minute}, 1},
		{"unbounded control", config.ConnectionPool{MinSize: 32, MaxSize: 0, TTL: time.Minute}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := newConnCounter(t, 30*time.Millisecond)
			h := mustProxy(t, up.srv.URL, testTransport(t, tt.cp), nil)
			const clients = 32
			var wg sync.WaitGroup
			var failed atomic.Int64
			for range clients {
				wg.Go(func() {
					w := httptest.NewRecorder()
					h.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
					if w.Code != 200 || w.Body.String() != "ok" {
						failed.Add(1)
					}
				})
			}
			wg.Wait()
			if n := failed.Load(); n != 0 {
				t.Fatalf("%d of %d requests failed", n, clients)
			}
			peakOpen, peakBusy := up.peakOpen.Load(), up.peakBusy.Load()
			t.Logf("peak open connections %d, peak concurrent requests %d, connections made %d", peakOpen, peakBusy, up.total.Load())
			if tt.wantMax == 0 {
				if peakOpen <= 4 {
					t.Fatalf("unbounded transport peaked at %d connections: the load does not exercise the limit", peakOpen)
				}
				return
			}
			if peakOpen > tt.wantMax || peakBusy > tt.wantMax {
				t.Fatalf("upstream saw %d connections / %d concurrent requests, want at most %d", peakOpen, peakBusy, tt.wantMax)
			}
			if peakBusy < tt.wantMax {
				t.Errorf("only %d concurrent requests reached the upstream, want %d", peakBusy, tt.wantMax)
			}
		})
	}
}

func BenchmarkProxy(b *testing.B) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer up.Close()
	tr := NewTransport(defaultPool)
	defer tr.CloseIdleConnections()
	for _, bc := range []struct {
		name string
		opts []ProxyOption
	}{
		{"plain", nil},
		{"write_timeout", []ProxyOption{WriteTimeout(30 * time.Second)}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			h, err := Proxy(up.URL, tr, nil, bc.opts...)
			if err != nil {
				b.Fatal(err)
			}
			r := httptest.NewRequest("GET", "/", nil)
			b.ReportAllocs()
			for b.Loop() {
				h.ServeHTTP(httptest.NewRecorder(), r)
			}
		})
	}
}
