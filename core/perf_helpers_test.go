package core

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard/switchyard/hotreload"
)

// perfHost is a host loaded from a config file that a test rewrites and
// reloads through Host.Reload, as the admin API's POST /api/reload does.
type perfHost struct {
	t    *testing.T
	h    *Host
	path string
	base string // http://addr once serving
	addr string
	logs *logSink
}

// newPerfHost writes yaml to a temporary config.yaml and loads it with
// LoadFile; serve also starts the host on a loopback port. setup runs
// before the load (to register Go handlers). The host is shut down when the
// test ends.
func newPerfHost(t *testing.T, yaml string, serve bool, setup ...func(*Host)) *perfHost {
	t.Helper()
	p := &perfHost{t: t, path: filepath.Join(t.TempDir(), "config.yaml"), logs: &logSink{}}
	writeFile(t, p.path, yaml)
	p.h = New(Options{Logger: slog.New(slog.NewJSONHandler(p.logs, &slog.HandlerOptions{Level: slog.LevelInfo}))})
	for _, f := range setup {
		f(p.h)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := p.h.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	if err := p.h.LoadFile(p.path); err != nil {
		t.Fatalf("load: %v", err)
	}
	if serve {
		if err := p.h.Start("127.0.0.1:0"); err != nil {
			t.Fatalf("start: %v", err)
		}
		p.addr = p.h.Addr().String()
		p.base = "http://" + p.addr
	}
	return p
}

// reload saves yaml over the config file and reloads it.
func (p *perfHost) reload(yaml string) {
	p.t.Helper()
	renameOver(p.t, p.path, yaml)
	if res := p.h.Reload(hotreload.TriggerAdmin); !res.Success {
		p.t.Fatalf("reload rejected: %s\n%s", res.Error, yaml)
	}
}

// poolValue returns the value of switchyard_<name>{pool="<pool>"} from the
// host's metrics registry, or fails the test.
func poolValue(t *testing.T, h *Host, name, pool string) float64 {
	t.Helper()
	mfs, err := h.Metrics().Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "switchyard_"+name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() != "pool" || lp.GetValue() != pool {
					continue
				}
				if g := m.GetGauge(); g != nil {
					return g.GetValue()
				}
				return m.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("no metric switchyard_%s{pool=%q}", name, pool)
	return 0
}

// rawConn is one client TCP connection speaking HTTP/1.1 by hand, so that a
// test sees exactly what the server does with that connection.
type rawConn struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{t: t, c: c, br: bufio.NewReader(c)}
}

// send writes GET requests for paths in one write (pipelined when several).
func (rc *rawConn) send(paths ...string) {
	rc.t.Helper()
	var b strings.Builder
	for _, p := range paths {
		fmt.Fprintf(&b, "GET %s HTTP/1.1\r\nHost: perf.test\r\n\r\n", p)
	}
	if _, err := io.WriteString(rc.c, b.String()); err != nil {
		rc.t.Fatal(err)
	}
}

// read reads one response and its body.
func (rc *rawConn) read() (*http.Response, string, error) {
	_ = rc.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(rc.br, nil)
	if err != nil {
		return nil, "", err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b), err
}

// get sends one request and reads its response, failing the test on error.
func (rc *rawConn) get(path string) (*http.Response, string) {
	rc.t.Helper()
	rc.send(path)
	resp, body, err := rc.read()
	if err != nil {
		rc.t.Fatalf("GET %s: %v", path, err)
	}
	return resp, body
}

// closedWithin reports whether the server closes the connection within d
// (a read returns EOF), and how long that took.
func (rc *rawConn) closedWithin(d time.Duration) (bool, time.Duration) {
	start := time.Now()
	_ = rc.c.SetReadDeadline(start.Add(d))
	_, err := rc.br.ReadByte()
	took := time.Since(start)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return false, took
	}
	return err != nil, took
}

// upstream is a test upstream that counts its open connections and its
// requests in flight, and can hold requests at a gate.
type upstream struct {
	srv               *http.Server
	url               string
	open, maxOpen     atomic.Int64
	inflight, maxBusy atomic.Int64
	served            atomic.Int64
	gateMu            sync.Mutex
	gate              chan struct{} // nil: requests pass
	delay             time.Duration
}

// newUpstream serves on a loopback port until the test ends; each request
// takes delay, then waits at the gate when one is set.
func newUpstream(t *testing.T, delay time.Duration) *upstream {
	t.Helper()
	u := &upstream{delay: delay}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u.url = "http://" + ln.Addr().String()
	u.srv = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n := u.inflight.Add(1)
			defer u.inflight.Add(-1)
			for {
				m := u.maxBusy.Load()
				if n <= m || u.maxBusy.CompareAndSwap(m, n) {
					break
				}
			}
			if u.delay > 0 {
				select { // a slow upstream
				case <-time.After(u.delay):
				case <-r.Context().Done():
				}
			}
			u.gateMu.Lock()
			g := u.gate
			u.gateMu.Unlock()
			if g != nil {
				<-g
			}
			u.served.Add(1)
			w.Header().Set("Content-Type", "text/plain")
			io.WriteString(w, "upstream "+r.URL.Path)
		}),
		ConnState: func(_ net.Conn, s http.ConnState) {
			switch s {
			case http.StateNew:
				n := u.open.Add(1)
				for {
					m := u.maxOpen.Load()
					if n <= m || u.maxOpen.CompareAndSwap(m, n) {
						break
					}
				}
			case http.StateClosed, http.StateHijacked:
				u.open.Add(-1)
			}
		},
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = u.srv.Serve(ln)
	}()
	t.Cleanup(func() {
		u.release()
		_ = u.srv.Close()
		<-done
	})
	return u
}

// hold makes the following requests wait until release.
func (u *upstream) hold() {
	u.gateMu.Lock()
	u.gate = make(chan struct{})
	u.gateMu.Unlock()
}

func (u *upstream) release() {
	u.gateMu.Lock()
	if u.gate != nil {
		close(u.gate)
		u.gate = nil
	}
	u.gateMu.Unlock()
}

// fetch is a GET through h (no network) returning status and body.
func fetch(h http.Handler, path string, hdr ...string) (int, http.Header, string) {
	rec := do(h, http.MethodGet, path, hdr...)
	return rec.Code, rec.Header(), rec.Body.String()
}
