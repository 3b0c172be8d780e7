package core

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/wait"
)

// loadYAML is generation n of two alternating configs. Shape A (even n) and
// shape B (odd n) differ in routes (/only-a or /only-b), in a plugin's
// config (lim), in every pool setting and in the server timeouts, so that
// each reload also starts a new server generation. Every response carries
// the generation in X-Stamp (a plugin) and, on /gen, in X-Gen and the body
// (the handler).
func loadYAML(n int) string {
	shape := "A"
	if n%2 == 1 {
		shape = "B"
	}
	gen := fmt.Sprintf("%s-%d", shape, n)
	pools := `    buffer_pool: {size: 1MB, count: 100}
    object_pool: {size: 10000, ttl: 60s}
    connection_pool: {min_size: 10, max_size: 100, ttl: 300s}
  cpu:
    thread_pool: {min_workers: 4, max_workers: 16, queue_size: 1000}
    process_pool: {workers: 2}`
	timeouts := "read_timeout: 30s, write_timeout: 30s"
	route := "/only-a"
	if shape == "B" {
		pools = `    buffer_pool: {size: 512KB, count: 50}
    object_pool: {size: 5000, ttl: 30s}
    connection_pool: {min_size: 5, max_size: 50, ttl: 120s}
  cpu:
    thread_pool: {min_workers: 2, max_workers: 8, queue_size: 500}
    process_pool: {workers: 1}`
		timeouts = "read_timeout: 31s, write_timeout: 31s"
		route = "/only-b"
	}
	return fmt.Sprintf(`reload: {debounce: 10ms}
server: {%[4]s}
performance:
  memory:
%[3]s
  network:
    http: {max_requests: 1000000}
  middleware:
    registry: {ttl: 0s}
plugins:
  stamp: {type: stamp, tag: %[1]q}
  lim: {type: tally, tag: %[2]s}
middleware:
  - use: stamp
routes:
  - path: /gen
    middleware: [{use: lim}]
    handler: {respond: {body: %[1]q, headers: {X-Gen: %[1]q}}}
  - path: %[5]s
    handler: {respond: {body: %[1]q}}
`, gen, shape, pools, timeouts, route)
}

// loadStats counts what the load clients saw.
type loadStats struct {
	requests, transport, status, mixed, fresh atomic.Int64
	// clientDrops counts connections that Go's client transport declined to
	// pool with no sign from the server (no EOF, no reset, no Connection:
	// close): it does so when its own write loop has not reported the
	// request written within 50 ms of the response (maxWriteWaitBeforeConnReuse
	// in net/http), which happens when the machine is starved of CPU.
	clientDrops atomic.Int64
	mu          sync.Mutex
	samples     []string
}

func (s *loadStats) fail(counter *atomic.Int64, format string, args ...any) {
	counter.Add(1)
	s.mu.Lock()
	if len(s.samples) < 10 {
		s.samples = append(s.samples, fmt.Sprintf(format, args...))
	}
	s.mu.Unlock()
}

// check classifies one response: /gen is always 200 and wholly from one
// generation; /only-a and /only-b are 200 from a generation of their shape
// or 404 from a generation of the other shape.
func (s *loadStats) check(path string, code int, hdr http.Header, body string) {
	stamp := hdr.Get("X-Stamp")
	switch path {
	case "/gen":
		if code != 200 {
			s.fail(&s.status, "%s = %d %q", path, code, body)
		} else if stamp == "" || body != stamp || hdr.Get("X-Gen") != stamp {
			s.fail(&s.mixed, "%s mixes generations: body %q X-Gen %q X-Stamp %q", path, body, hdr.Get("X-Gen"), stamp)
		}
	case "/only-a", "/only-b":
		mine := strings.ToUpper(path[len(path)-1:]) + "-"
		switch {
		case code == 200 && strings.HasPrefix(stamp, mine) && body == stamp:
		case code == 404 && stamp != "" && !strings.HasPrefix(stamp, mine):
		case code == 200 || code == 404:
			s.fail(&s.mixed, "%s = %d body %q from generation %q", path, code, body, stamp)
		default:
			s.fail(&s.status, "%s = %d %q", path, code, body)
		}
	default:
		if code != 200 {
			s.fail(&s.status, "%s = %d", path, code)
		}
	}
}

// Acceptance 3: 32 keep-alive clients load the server while the config is
// rewritten 200 times: no transport error, no unexpected status, no
// response mixing two generations, and every connection reused throughout.
func TestReloadUnderLoad(t *testing.T) {
	const clients, rewrites = 32, 200
	duration := 20 * time.Second
	if testing.Short() {
		duration = 10 * time.Second
	}
	fh := startFileHost(t, loadYAML(0))
	successes0 := fh.metric(`switchyard_config_reloads_total{result="success"}`)
	var st loadStats
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	transports := make([]*http.Transport, clients)
	paths := []string{"/gen", "/only-a", "/gen", "/only-b", "/gen", "/health"}
	for i := range clients {
		tr := &http.Transport{MaxIdleConnsPerHost: 1, MaxConnsPerHost: 1, DisableCompression: true,
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
				if err != nil {
					return nil, err
				}
				return &watchedConn{Conn: c}, nil
			}}
		transports[i] = tr
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
			var prev *watchedConn // the connection of the previous request
			var prevPooled bool   // whether the transport pooled it afterwards
			for n := 0; ctx.Err() == nil; n++ {
				path := paths[(i+n)%len(paths)]
				var conn *watchedConn
				var reused, pooled atomic.Bool
				trace := &httptrace.ClientTrace{
					GotConn: func(ci httptrace.GotConnInfo) {
						conn, _ = ci.Conn.(*watchedConn)
						reused.Store(ci.Reused)
					},
					PutIdleConn: func(err error) { pooled.Store(err == nil) },
				}
				req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), "GET", fh.base+path, nil)
				code, hdr, body, closed, err := doReq(c, req)
				st.requests.Add(1)
				if n > 0 && !reused.Load() {
					// A new connection: only the server may not be the cause.
					switch {
					case prev != nil && prev.closedByServer.Load():
						st.fail(&st.fresh, "client %d request %d: the server closed the keep-alive connection", i, n)
					case !prevPooled:
						st.clientDrops.Add(1)
					default:
						st.fail(&st.fresh, "client %d request %d: a new connection, the pooled one lost", i, n)
					}
				}
				if err != nil {
					st.fail(&st.transport, "client %d %s: %v", i, path, err)
					prev, prevPooled = nil, false
					continue
				}
				if closed && conn != nil {
					conn.closedByServer.Store(true) // Connection: close
				}
				st.check(path, code, hdr, body)
				prev, prevPooled = conn, pooled.Load()
			}
		}()
	}

	// The writer: 200 rewrites spread over the run, alternating shapes.
	pace := time.NewTicker(duration / rewrites) // the writer's schedule: the input under test
	defer pace.Stop()
	start := time.Now()
	for n := 1; n <= rewrites; n++ {
		renameOver(t, fh.path, loadYAML(n))
		<-pace.C
	}
	fh.waitVersion(fh.versionOf(loadYAML(rewrites)), 2*time.Second)
	// The clients go on a while on the last version.
	n := st.requests.Load()
	wait.For(t, "requests on the last version", func() bool { return st.requests.Load() >= n+int64(clients) })
	cancel()
	wg.Wait()
	elapsed := time.Since(start)
	applied := fh.metric(`switchyard_config_reloads_total{result="success"}`) - successes0
	failed := fh.metric(`switchyard_config_reloads_total{result="failure"}`)

	liveGens := fh.h.srv.Generations()
	t.Logf("%d clients, %v: %d requests (%.0f/s), %d rewrites, %d reloads applied, %v failed; %d server generations alive (client connections stay on theirs)",
		clients, elapsed.Round(time.Millisecond), st.requests.Load(), float64(st.requests.Load())/elapsed.Seconds(), rewrites, int(applied), failed, liveGens)
	t.Logf("transport errors %d, unexpected statuses %d, mixed generations %d, keep-alive connections closed by the server %d (dropped by the client transport under CPU starvation, server not involved: %d)",
		st.transport.Load(), st.status.Load(), st.mixed.Load(), st.fresh.Load(), st.clientDrops.Load())
	if st.transport.Load()+st.status.Load()+st.mixed.Load()+st.fresh.Load() != 0 || failed != 0 {
		t.Fatalf("failures under reload: %q", st.samples)
	}
	if applied < rewrites/4 {
		t.Fatalf("only %v of %d rewrites were applied: the test did not exercise reloads", applied, rewrites)
	}
	if liveGens > clients+2 {
		t.Fatalf("%d server generations alive for %d connections: finished generations are kept", liveGens, clients)
	}

	// Once the clients' connections close, the old generations go.
	for _, tr := range transports {
		tr.CloseIdleConnections()
	}
	fh.client.CloseIdleConnections()
	if !wait.Check(wait.Deadline, func() bool { return fh.h.srv.DrainingConns() == 0 }) {
		t.Fatal("old generations kept connections after the clients closed theirs")
	}
	fh.apply(loadYAML(rewrites+1), renameOver)
	left := fh.h.srv.Generations() - 1
	if left > 1 {
		t.Fatalf("%d finished generations kept after a reload", left)
	}
}

// doReq does req and reads the whole body; closed reports a response that
// asked for the connection to be closed.
func doReq(c *http.Client, req *http.Request) (code int, hdr http.Header, body string, closed bool, err error) {
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, "", false, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b), resp.Close, err
}

// watchedConn is a client connection that records whether the server ended
// it: a read error (EOF or reset) or a response with Connection: close.
type watchedConn struct {
	net.Conn
	closedByServer atomic.Bool
}

func (c *watchedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if err != nil {
		c.closedByServer.Store(true)
	}
	return n, err
}
