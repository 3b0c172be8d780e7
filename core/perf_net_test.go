package core

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/wait"
)

// fakeDB is a database/sql driver that opens connections which do nothing
// but count themselves, so that a test sees what the pool does.
type fakeDB struct {
	opened, closed atomic.Int64
}

type fakeConn struct{ db *fakeDB }

func (d *fakeDB) Open(string) (driver.Conn, error) {
	d.opened.Add(1)
	return &fakeConn{db: d}, nil
}

func (c *fakeConn) Prepare(string) (driver.Stmt, error) {
	return nil, errors.New("fakedb: no statements")
}
func (c *fakeConn) Begin() (driver.Tx, error) { return nil, errors.New("fakedb: no transactions") }
func (c *fakeConn) Close() error {
	c.db.closed.Add(1)
	return nil
}

// fakeConnector lets each test have its own driver without sql.Register.
type fakeConnector struct{ db *fakeDB }

func (c fakeConnector) Connect(context.Context) (driver.Conn, error) { return c.db.Open("") }
func (c fakeConnector) Driver() driver.Driver                        { return c.db }

func dbYAML(minS, maxS int, ttl string) string {
	return fmt.Sprintf("performance: {memory: {connection_pool: {min_size: %d, max_size: %d, ttl: %s}}}\nroutes: []\n", minS, maxS, ttl)
}

// TestPerfConnectionPoolDBReload: a database/sql pool registered with the
// host takes max_size, min_size and ttl, and a reload changes them in place.
func TestPerfConnectionPoolDBReload(t *testing.T) {
	p := newPerfHost(t, dbYAML(2, 4, "1h"), false)
	fake := &fakeDB{}
	db := sql.OpenDB(fakeConnector{fake})
	t.Cleanup(func() { db.Close() })
	p.h.Pools().RegisterDB("main", db)

	if got := db.Stats().MaxOpenConnections; got != 4 {
		t.Fatalf("MaxOpenConnections %d, want max_size 4", got)
	}
	ctx := context.Background()
	conns := make([]*sql.Conn, 4)
	for i := range conns {
		c, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		conns[i] = c
	}
	// A fifth waits (and gives up at its deadline): max_size is the limit.
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	_, err := db.Conn(short)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a fifth connection with max_size 4: %v, want a wait that times out", err)
	}
	if st := db.Stats(); st.WaitCount != 1 || st.InUse != 4 {
		t.Fatalf("stats %+v, want 1 wait and 4 in use", st)
	}
	if v := poolValue(t, p.h, "pool_waits_total", "db:main"); v != 1 {
		t.Fatalf("pool_waits_total{pool=db:main} = %v, want 1", v)
	}
	if v := poolValue(t, p.h, "pool_in_use", "db:main"); v != 4 {
		t.Fatalf("pool_in_use{pool=db:main} = %v, want 4", v)
	}
	for _, c := range conns {
		c.Close()
	}
	// min_size 2: two stay idle, two are closed.
	if st := db.Stats(); st.Idle != 2 || fake.closed.Load() != 2 {
		t.Fatalf("after release: idle %d, closed %d, want 2 and 2", st.Idle, fake.closed.Load())
	}

	p.reload(dbYAML(1, 2, "500ms"))
	st := db.Stats()
	if st.MaxOpenConnections != 2 || st.Idle != 1 {
		t.Fatalf("after reload: MaxOpenConnections %d, idle %d, want 2 and 1", st.MaxOpenConnections, st.Idle)
	}
	if v := poolValue(t, p.h, "pool_idle", "db:main"); v != 1 {
		t.Fatalf("pool_idle{pool=db:main} = %v, want 1", v)
	}
	// ttl 500ms: a connection older than that is closed (by database/sql's
	// cleaner or when it would be reused) and a new one opened.
	reloaded := time.Now()
	wait.For(t, "the idle connection to outlive the 500ms ttl", func() bool { return time.Since(reloaded) > 500*time.Millisecond })
	opened := fake.opened.Load()
	c, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if st := db.Stats(); st.MaxLifetimeClosed == 0 || fake.opened.Load() != opened+1 {
		t.Fatalf("after ttl: MaxLifetimeClosed %d, opened %d more, want the old one closed and a new one", st.MaxLifetimeClosed, fake.opened.Load()-opened)
	}
}

func httpYAML(pipeline bool, maxReqs int, keepalive string) string {
	return fmt.Sprintf(`performance: {network: {http: {pipeline: %v, max_requests: %d, keepalive_timeout: %s}}}
routes:
  - path: /p/{n}
    handler: perf.echo
`, pipeline, maxReqs, keepalive)
}

func perfEcho(h *Host) {
	h.HandleFunc("perf.echo", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.PathValue("n"))
	})
}

// TestPerfPipelineReload: with http.pipeline requests pipelined on one
// connection are answered in order; with pipeline false the server closes
// the connection after the first response.
func TestPerfPipelineReload(t *testing.T) {
	p := newPerfHost(t, httpYAML(true, 0, "5s"), true, perfEcho)
	rc := dialRaw(t, p.addr)
	rc.send("/p/1", "/p/2", "/p/3", "/p/4")
	for i := 1; i <= 4; i++ {
		resp, body, err := rc.read()
		if err != nil {
			t.Fatalf("pipelined response %d: %v", i, err)
		}
		if body != fmt.Sprint(i) || resp.Close {
			t.Fatalf("pipelined response %d: body %q, Connection: close %v", i, body, resp.Close)
		}
	}

	p.reload(httpYAML(false, 0, "5s"))
	rc = dialRaw(t, p.addr)
	rc.send("/p/1", "/p/2", "/p/3")
	resp, body, err := rc.read()
	if err != nil || body != "1" || !resp.Close {
		t.Fatalf("pipeline false: first response %q close=%v err=%v, want 1 with Connection: close", body, resp != nil && resp.Close, err)
	}
	if closed, _ := rc.closedWithin(2 * time.Second); !closed {
		t.Fatal("pipeline false: the connection stayed open after the first response")
	}

	p.reload(httpYAML(true, 0, "5s"))
	rc = dialRaw(t, p.addr)
	rc.send("/p/7", "/p/8")
	for _, want := range []string{"7", "8"} {
		if resp, body, err := rc.read(); err != nil || body != want || resp.Close {
			t.Fatalf("pipeline true again: %q err=%v, want %s on an open connection", body, err, want)
		}
	}
}

// TestPerfMaxRequestsReload: after http.max_requests responses on one
// connection the server says Connection: close and closes it.
func TestPerfMaxRequestsReload(t *testing.T) {
	p := newPerfHost(t, httpYAML(true, 3, "5s"), true, perfEcho)
	closesAfter := func() int {
		t.Helper()
		rc := dialRaw(t, p.addr)
		for i := 1; i <= 10; i++ {
			resp, body := rc.get(fmt.Sprintf("/p/%d", i))
			if body != fmt.Sprint(i) {
				t.Fatalf("request %d: body %q", i, body)
			}
			if resp.Close {
				if closed, _ := rc.closedWithin(2 * time.Second); !closed {
					t.Fatalf("Connection: close after %d requests but the connection stayed open", i)
				}
				return i
			}
		}
		return 0
	}
	if n := closesAfter(); n != 3 {
		t.Fatalf("max_requests 3: closed after %d", n)
	}
	p.reload(httpYAML(true, 5, "5s"))
	if n := closesAfter(); n != 5 {
		t.Fatalf("max_requests 5: closed after %d", n)
	}
	p.reload(httpYAML(true, 0, "5s"))
	if n := closesAfter(); n != 0 {
		t.Fatalf("max_requests 0 (no limit): closed after %d", n)
	}
}

// TestPerfKeepaliveTimeoutReload: an idle keep-alive connection is closed by
// the server after http.keepalive_timeout.
func TestPerfKeepaliveTimeoutReload(t *testing.T) {
	p := newPerfHost(t, httpYAML(true, 0, "200ms"), true, perfEcho)
	rc := dialRaw(t, p.addr)
	rc.get("/p/1")
	closed, took := rc.closedWithin(3 * time.Second)
	if !closed || took < 100*time.Millisecond || took > 2*time.Second {
		t.Fatalf("keepalive_timeout 200ms: closed %v after %v", closed, took)
	}

	p.reload(httpYAML(true, 0, "3s"))
	rc = dialRaw(t, p.addr)
	rc.get("/p/2")
	if closed, took := rc.closedWithin(600 * time.Millisecond); closed {
		t.Fatalf("keepalive_timeout 3s: closed after %v", took)
	}
	if _, body := rc.get("/p/3"); body != "3" {
		t.Fatal("the idle connection did not serve again")
	}
}

// TestPerfKeepaliveDefaultsToIdleTimeout: keepalive_timeout 0 means
// server.idle_timeout.
func TestPerfKeepaliveDefaultsToIdleTimeout(t *testing.T) {
	p := newPerfHost(t, "server: {idle_timeout: 150ms}\n"+httpYAML(true, 0, "0s"), true, perfEcho)
	rc := dialRaw(t, p.addr)
	rc.get("/p/1")
	if closed, took := rc.closedWithin(3 * time.Second); !closed || took > 2*time.Second {
		t.Fatalf("keepalive_timeout 0, idle_timeout 150ms: closed %v after %v", closed, took)
	}
}

// Issue 8, acceptance 3: 64 clients against a proxy route to a 50 ms
// upstream with connection_pool.max_size 10 for 10 s (2 s with -short): the
// upstream never sees more than 10 connections, and the requests that had
// to wait for one are counted.
func TestPerfConnectionPoolUnderLoad(t *testing.T) {
	dur := 10 * time.Second
	if testing.Short() {
		dur = 2 * time.Second
	}
	up := newUpstream(t, 50*time.Millisecond)
	p := newPerfHost(t, connPoolYAML(10, 10, "60s", up.url), true)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()

	var ok, failed atomic.Int64
	var sample atomic.Value
	stop := time.Now().Add(dur)
	var wg sync.WaitGroup
	start := time.Now()
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(stop) {
				code, _, body, err := getWith(client, p.base+"/up/load")
				if err != nil || code != 200 || !strings.HasPrefix(body, "upstream ") {
					failed.Add(1)
					sample.Store(fmt.Sprintf("%d %q %v", code, body, err))
					continue
				}
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	st := p.h.pools.proxies.Stats()
	waits := poolValue(t, p.h, "pool_waits_total", "proxy")
	t.Logf("%v, 64 clients: %d requests (%.0f/s; the bound is 10 connections / 50 ms = 200/s), %d failed; upstream: at most %d connections open, %d requests at once; proxy pool: %d dials, %d reused, %d waits (pool_waits_total %v)",
		took.Round(time.Millisecond), ok.Load(), float64(ok.Load())/took.Seconds(), failed.Load(), up.maxOpen.Load(), up.maxBusy.Load(),
		st.Misses, st.Hits, st.Waits, waits)
	if failed.Load() != 0 {
		t.Fatalf("%d requests failed, e.g. %v", failed.Load(), sample.Load())
	}
	if got := up.maxOpen.Load(); got > 10 {
		t.Fatalf("the upstream saw %d connections open at once, want at most max_size 10", got)
	}
	if got := up.maxBusy.Load(); got > 10 {
		t.Fatalf("the upstream saw %d requests at once, want at most 10", got)
	}
	if st.Waits == 0 || waits != float64(st.Waits) {
		t.Fatalf("waits %d, pool_waits_total %v: 64 clients on 10 connections must wait, and be counted", st.Waits, waits)
	}
	if st.Misses > 10+st.Dropped {
		t.Fatalf("%d connections dialled (%d closed): more than max_size 10 open", st.Misses, st.Dropped)
	}
}
