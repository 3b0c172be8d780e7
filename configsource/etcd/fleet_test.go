package etcd_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/goleak"
	"go.uber.org/zap"

	"github.com/switchyard/switchyard/configsource/etcd"
	"github.com/switchyard/switchyard/core"
	"github.com/switchyard/switchyard/core/admin"
	"github.com/switchyard/switchyard/internal/etcdtest"
	"github.com/switchyard/switchyard/internal/wait"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const key = "/switchyard/fleet.yaml"

// doc is a config serving body at /v, with the admin API on.
func doc(body string) string {
	return fmt.Sprintf(`server:
  admin: {enabled: true, prefix: /_sy, allow: [127.0.0.0/8]}
routes:
  - path: /v
    handler: {respond: {body: %q}}
`, body)
}

// fleet is one etcd server and the hosts that follow one key of it.
type fleet struct {
	t     *testing.T
	etcd  *etcdtest.Server
	cli   *clientv3.Client
	hosts []*member
}

type member struct {
	h   *core.Host
	src *etcd.Source
	url string // http://addr
}

var httpClient = &http.Client{Timeout: 5 * time.Second,
	Transport: &http.Transport{MaxIdleConnsPerHost: 64, MaxIdleConns: 256}}

func newFleet(t *testing.T, n int, first string) *fleet {
	t.Helper()
	f := &fleet{t: t, etcd: etcdtest.Start(t)}
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{f.etcd.Endpoint()}, DialTimeout: 2 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	f.cli = cli
	t.Cleanup(func() { cli.Close() })
	f.put(doc(first))
	for range n {
		f.hosts = append(f.hosts, f.start(filepath.Join(t.TempDir(), "cache.yaml")))
	}
	return f
}

func quiet() *slog.Logger {
	if os.Getenv("FLEET_DEBUG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.DiscardHandler)
}

// start runs one host on the key, with its cache file at cache.
func (f *fleet) start(cache string) *member {
	f.t.Helper()
	m, err := f.open(cache)
	if err != nil {
		f.t.Fatal(err)
	}
	return m
}

func (f *fleet) open(cache string) (*member, error) {
	src, err := etcd.Open(etcd.Scheme+f.etcd.Addr()+key, etcd.Options{Logger: quiet(), CacheFile: cache,
		CheckInterval: 100 * time.Millisecond, RequestTimeout: 500 * time.Millisecond})
	if err != nil {
		return nil, err
	}
	h := core.New(core.Options{Logger: quiet(), Admin: admin.Handler})
	if err := h.LoadSource(src); err != nil {
		h.Close()
		src.Close()
		return nil, err
	}
	if err := h.Start("127.0.0.1:0"); err != nil {
		f.t.Fatal(err)
	}
	if err := h.Watch(); err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { h.Close(); src.Close() })
	return &member{h: h, src: src, url: "http://" + h.Addr().String()}, nil
}

func (f *fleet) put(v string) {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := f.cli.Put(ctx, key, v); err != nil {
		f.t.Fatal(err)
	}
}

func get(url string) (int, string, error) {
	resp, err := httpClient.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

func (m *member) body() string {
	_, b, _ := get(m.url + "/v")
	return b
}

// allServe waits up to d for every host to serve body at /v and returns
// how long it took.
func (f *fleet) allServe(d time.Duration, body string) time.Duration {
	f.t.Helper()
	start := time.Now()
	wait.Within(f.t, d, "every host serves "+body, func() bool {
		for _, m := range f.hosts {
			if m.body() != body {
				return false
			}
		}
		return true
	})
	return time.Since(start)
}

// sourceUp reads switchyard_config_source_up of m.
func (m *member) sourceUp() float64 {
	mfs, _ := m.h.Metrics().Gather()
	for _, mf := range mfs {
		if mf.GetName() == "switchyard_config_source_up" {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	return -1
}

// load sends GET /v to every host at rate requests per second each, until
// stop is closed or limit passes, and counts the failures (a transport
// error or a status other than 200).
type load struct {
	sent, failed atomic.Int64
	stop         chan struct{}
	wg           sync.WaitGroup
	started      time.Time
	firstErr     atomic.Value
}

func startLoad(f *fleet, rate int, limit time.Duration) *load {
	l := &load{stop: make(chan struct{}), started: time.Now()}
	deadline := time.After(limit)
	done := make(chan struct{})
	l.wg.Go(func() {
		select {
		case <-l.stop:
		case <-deadline:
		}
		close(done)
	})
	for _, m := range f.hosts {
		const workers = 16 // per host, each at rate/workers
		for range workers {
			l.wg.Go(func() {
				tick := time.NewTicker(time.Second * workers / time.Duration(rate))
				defer tick.Stop()
				for {
					select {
					case <-done:
						return
					case <-tick.C:
					}
					l.sent.Add(1)
					code, b, err := get(m.url + "/v")
					if err != nil || code != http.StatusOK {
						l.failed.Add(1)
						l.firstErr.CompareAndSwap(nil, fmt.Sprintf("%d %q %v", code, b, err))
					}
				}
			})
		}
	}
	return l
}

// finish stops the load and returns the requests sent per second per host.
func (l *load) finish(hosts int) float64 {
	close(l.stop)
	l.wg.Wait()
	return float64(l.sent.Load()) / time.Since(l.started).Seconds() / float64(hosts)
}

func TestFleetWrite(t *testing.T) {
	f := newFleet(t, 3, "one")
	f.allServe(wait.Deadline, "one")
	f.put(doc("two"))
	took := f.allServe(time.Second, "two")
	t.Logf("a write was served by all 3 hosts after %v", took)
	for _, m := range f.hosts {
		// The generation is recorded just after the swap that serves it.
		wait.For(t, "the write's generation to be recorded", func() bool {
			return m.h.ConfigStore().Generations()[0].Trigger == "etcd"
		})
		g := m.h.ConfigStore().Generations()[0]
		if g.Source != "etcd" || g.Revision == "" || g.Trigger != "etcd" {
			t.Errorf("newest generation %+v, want source etcd with a revision", g)
		}
	}
}

func TestFleetInvalidWriteRejected(t *testing.T) {
	f := newFleet(t, 3, "one")
	f.put(doc("two") + "bogus: 1\n")
	for i, m := range f.hosts {
		wait.For(t, fmt.Sprintf("host %d records the rejection", i), func() bool {
			h := m.h.History()
			return len(h) > 0 && !h[0].Success && strings.Contains(h[0].Error, "bogus")
		})
		if got := m.body(); got != "one" {
			t.Errorf("host %d serves %q after an invalid write, want one", i, got)
		}
	}
	f.put(doc("three"))
	f.allServe(time.Second, "three")
}

func TestFleetWritesUnderLoad(t *testing.T) {
	f := newFleet(t, 3, "w0")
	l := startLoad(f, 500, 60*time.Second)
	const writes = 200
	pace := time.NewTicker(10 * time.Millisecond) // the writer's pace: up to 100 writes/s
	defer pace.Stop()
	for i := 1; i <= writes; i++ {
		<-pace.C
		f.put(doc(fmt.Sprintf("w%d", i)))
	}
	f.allServe(wait.Deadline, fmt.Sprintf("w%d", writes))
	rps := l.finish(len(f.hosts))
	t.Logf("%d writes; %d requests (%.0f/s per host), %d failed", writes, l.sent.Load(), rps, l.failed.Load())
	if n := l.failed.Load(); n != 0 {
		t.Errorf("%d requests failed; first: %v", n, l.firstErr.Load())
	}
	if rps < 300 && !raceEnabled {
		t.Errorf("load was %.0f requests/s per host, want at least 300", rps)
	}
}

func TestFleetEtcdKilledUnderLoad(t *testing.T) {
	f := newFleet(t, 3, "before")
	for _, m := range f.hosts {
		wait.For(t, "source up", func() bool { return m.sourceUp() == 1 })
	}
	l := startLoad(f, 500, 60*time.Second)
	f.etcd.Stop()
	for i, m := range f.hosts {
		wait.For(t, fmt.Sprintf("host %d: config_source_up 0", i), func() bool { return m.sourceUp() == 0 })
	}
	f.etcd.Restart()
	f.put(doc("after")) // through another client, right after etcd is back
	for i, m := range f.hosts {
		wait.For(t, fmt.Sprintf("host %d: config_source_up 1", i), func() bool { return m.sourceUp() == 1 })
	}
	took := f.allServe(wait.Deadline, "after")
	rps := l.finish(len(f.hosts))
	t.Logf("etcd killed and restarted: %d requests (%.0f/s per host), %d failed; the write made on restart served everywhere %v after it", l.sent.Load(), rps, l.failed.Load(), took)
	if n := l.failed.Load(); n != 0 {
		t.Errorf("%d requests failed; first: %v", n, l.firstErr.Load())
	}
	if rps < 300 && !raceEnabled {
		t.Errorf("load was %.0f requests/s per host, want at least 300", rps)
	}
}

func TestStartWhileEtcdDown(t *testing.T) {
	f := newFleet(t, 1, "cached")
	cache := f.hosts[0].src.CacheFile()
	wait.For(t, "the cache file written", func() bool {
		return strings.Contains(readFile(cache), "cached")
	})
	f.etcd.Stop()

	m, err := f.open(cache)
	if err != nil {
		t.Fatalf("a host with a cache did not start while etcd is down: %v", err)
	}
	if got := m.body(); got != "cached" {
		t.Errorf("serves %q, want the cached config", got)
	}

	_, err = f.open(filepath.Join(t.TempDir(), "none.yaml"))
	if err == nil || !strings.Contains(err.Error(), "no cached config") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("without a cache: error %q, want one line that says there is no cached config", err)
	}

	// Once etcd is back, the host started from its cache follows etcd.
	f.etcd.Restart()
	f.put(doc("live"))
	wait.For(t, "the host started from its cache follows etcd", func() bool { return m.body() == "live" })
}

func adminDo(method, url, body string, hdr ...string) (int, map[string]any) {
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, map[string]any{"error": err.Error()}
	}
	defer resp.Body.Close()
	var v map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&v)
	return resp.StatusCode, v
}

func TestPutConfigConcurrentEtcd(t *testing.T) {
	f := newFleet(t, 3, "one")
	for round := range 10 {
		var v string
		wait.For(t, "every host on one version", func() bool {
			v = f.hosts[0].h.Snapshot().Version
			for _, m := range f.hosts {
				if m.h.Snapshot().Version != v {
					return false
				}
			}
			return true
		})
		codes := make([]int, 2)
		var wg sync.WaitGroup
		for i := range codes {
			// Round by round: two writers on one host, then on two hosts.
			m := f.hosts[(i*round)%len(f.hosts)]
			wg.Go(func() {
				codes[i], _ = adminDo("PUT", m.url+"/_sy/api/config", doc(fmt.Sprintf("r%d-w%d", round, i)), "If-Match", `"`+v+`"`)
			})
		}
		wg.Wait()
		if !(codes[0] == 200 && codes[1] == 412 || codes[0] == 412 && codes[1] == 200) {
			t.Fatalf("round %d: codes %v, want one 200 and one 412", round, codes)
		}
	}
}

func TestRollbackFleet(t *testing.T) {
	f := newFleet(t, 3, "g0")
	a := f.hosts[0]
	var versions []string
	for i := 1; i <= 4; i++ {
		v := a.h.Snapshot().Version
		code, res := adminDo("PUT", a.url+"/_sy/api/config", doc(fmt.Sprintf("g%d", i)), "If-Match", `"`+v+`"`)
		if code != 200 {
			t.Fatalf("PUT %d: %d %v", i, code, res)
		}
		versions = append(versions, res["version"].(string))
		f.allServe(wait.Deadline, fmt.Sprintf("g%d", i))
	}
	// Three writes back from g4 is g1.
	target := versions[0]
	code, res := adminDo("POST", a.url+"/_sy/api/rollback", `{"version":"`+target+`"}`)
	if code != 200 || res["version"] != target {
		t.Fatalf("rollback: %d %v", code, res)
	}
	took := f.allServe(time.Second, "g1")
	t.Logf("a rollback was served by all 3 hosts after %v", took)
	for i, m := range f.hosts {
		wait.For(t, fmt.Sprintf("host %d: the rollback is a new generation", i), func() bool {
			g := m.h.ConfigStore().Generations()
			return len(g) >= 2 && g[0].Version == target && g[0].Number > g[1].Number
		})
	}
	if g := a.h.ConfigStore().Generations()[0]; g.Trigger != core.TriggerRollback {
		t.Errorf("the writing host's newest generation has trigger %q, want rollback", g.Trigger)
	}
}

func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}
