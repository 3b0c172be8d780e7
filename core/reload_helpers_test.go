package core

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/switchyard/switchyard/core/config"
	"github.com/switchyard/switchyard/hotreload"
	"github.com/switchyard/switchyard/internal/wait"
)

// logSink collects a host's JSON log lines.
type logSink struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *logSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

// records returns the decoded log records whose msg is msg ("" for all).
func (s *logSink) records(msg string) []map[string]any {
	s.mu.Lock()
	data := bytes.Clone(s.buf.Bytes())
	s.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for sc.Scan() {
		var rec map[string]any
		if json.Unmarshal(sc.Bytes(), &rec) != nil {
			continue
		}
		if msg == "" || rec["msg"] == msg {
			out = append(out, rec)
		}
	}
	return out
}

// fileHost is a host loaded from a real file in a temporary directory,
// watching it and serving on a loopback port.
type fileHost struct {
	t      *testing.T
	h      *Host
	dir    string
	path   string
	base   string
	logs   *logSink
	client *http.Client
}

// startFileHost writes content to <tmp>/config.yaml, loads it with LoadFile,
// starts watching and serving on 127.0.0.1:0. setup runs before the load
// (to register Go handlers). The host is shut down when the test ends, after
// which every test plugin instance it built must have been closed exactly once.
func startFileHost(t *testing.T, content string, setup ...func(*Host)) *fileHost {
	t.Helper()
	return newFileHost(t, "127.0.0.1:0", nil, content, setup...)
}

// newFileHost is startFileHost listening on addr ("" for server.addr), with
// the first content written by prepare (nil: writeFile).
func newFileHost(t *testing.T, addr string, prepare func(testing.TB, string, string), content string, setup ...func(*Host)) *fileHost {
	t.Helper()
	return newFileHostIn(t, t.TempDir(), addr, prepare, content, setup...)
}

// newFileHostIn is newFileHost with config.yaml in dir.
func newFileHostIn(t *testing.T, dir, addr string, prepare func(testing.TB, string, string), content string, setup ...func(*Host)) *fileHost {
	t.Helper()
	fh := &fileHost{t: t, dir: dir, path: filepath.Join(dir, "config.yaml"), logs: &logSink{}}
	if prepare == nil {
		prepare = writeFile
	}
	prepare(t, fh.path, content)
	fh.h = New(Options{Logger: slog.New(slog.NewJSONHandler(fh.logs, &slog.HandlerOptions{Level: slog.LevelInfo}))})
	for _, f := range setup {
		f(fh.h)
	}
	checkLifecycles(t, fh.h)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := fh.h.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	if err := fh.h.LoadFile(fh.path); err != nil {
		t.Fatalf("load: %v", err)
	}
	if err := fh.h.Watch(); err != nil {
		t.Fatalf("watch: %v", err)
	}
	if err := fh.h.Start(addr); err != nil {
		t.Fatalf("start: %v", err)
	}
	fh.base = "http://" + fh.h.Addr().String()
	fh.client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4, DisableCompression: true}, Timeout: 10 * time.Second}
	t.Cleanup(fh.client.CloseIdleConnections)
	return fh
}

// writeFile writes data in place (truncate and write), as os.WriteFile does.
func writeFile(t testing.TB, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// renameOver writes data to a temporary file in path's directory and renames
// it over path, as editors and deploy tools save.
func renameOver(t testing.TB, path, data string) {
	t.Helper()
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(data); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		t.Fatal(err)
	}
}

// versionOf is the config version that content gives when it is the main
// file of fh (includes resolve in fh's directory).
func (fh *fileHost) versionOf(content string) string {
	fh.t.Helper()
	l, err := config.LoadBytes("config.yaml", []byte(content), fh.dir, nil)
	if err != nil {
		fh.t.Fatalf("test config does not load: %v\n%s", err, content)
	}
	return l.Version
}

// get does a GET on the host and returns status, headers and body.
func (fh *fileHost) get(path string) (int, http.Header, string, error) {
	return getWith(fh.client, fh.base+path)
}

// churn GETs a URL over a new connection each time, from several
// goroutines, until stopped, counting the connections and the failures.
type churn struct {
	stop          chan struct{}
	wg            sync.WaitGroup
	conns, failed atomic.Int64
	sample        atomic.Value // a failure, described
}

// startChurn starts n goroutines GETting url; ok says whether a response
// is the right one.
func startChurn(n int, url string, timeout time.Duration, ok func(code int, body string) bool) *churn {
	c := &churn{stop: make(chan struct{})}
	for range n {
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: timeout}
			for {
				select {
				case <-c.stop:
					return
				default:
				}
				code, _, body, err := getWith(client, url)
				c.conns.Add(1)
				if err != nil || !ok(code, body) {
					c.failed.Add(1)
					c.sample.Store(fmt.Sprintf("%d %q %v (refused: %v)", code, body, err, errors.Is(err, syscall.ECONNREFUSED)))
				}
			}
		}()
	}
	return c
}

// finish stops the goroutines and returns the connections made, the
// failures and one failure described.
func (c *churn) finish() (conns, failed int64, sample any) {
	close(c.stop)
	c.wg.Wait()
	return c.conns.Load(), c.failed.Load(), c.sample.Load()
}

func getWith(c *http.Client, url string) (int, http.Header, string, error) {
	resp, err := c.Get(url)
	if err != nil {
		return 0, nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b), err
}

// served returns the config version that /health reports.
func (fh *fileHost) served() (string, error) {
	return healthVersion(fh.client, fh.base)
}

func healthVersion(c *http.Client, base string) (string, error) {
	code, _, body, err := getWith(c, base+"/health")
	if err != nil {
		return "", err
	}
	if code != http.StatusOK {
		return "", fmt.Errorf("/health = %d %s", code, body)
	}
	var h struct {
		Version string `json:"config_version"`
	}
	if err := json.Unmarshal([]byte(body), &h); err != nil {
		return "", err
	}
	return h.Version, nil
}

// waitVersion waits until /health reports version and returns how long
// that took, or fails the test after within or the shared deadline,
// whichever is longer (a wait, not a timing claim). The snapshot pointer
// (what /health reads) is polled in process, one atomic load per poll, and
// /health is asked once it shows the version: the wait costs the machine
// next to nothing, so it does not slow down what it measures.
func (fh *fileHost) waitVersion(version string, within time.Duration) time.Duration {
	fh.t.Helper()
	within = max(within, wait.Deadline)
	start := time.Now()
	var last string
	var err error
	if wait.Check(within, func() bool {
		if s := fh.h.Snapshot(); s != nil && s.Version == version {
			last, err = fh.served()
			return err == nil && last == version
		}
		return false
	}) {
		return time.Since(start)
	}
	fh.t.Fatalf("version %s not served within %v (/health: %s, err %v); history: %s",
		version, within, last, err, historyString(fh.h.History()))
	return 0
}

// apply writes content with save and waits until its version is served.
func (fh *fileHost) apply(content string, save func(testing.TB, string, string)) {
	fh.t.Helper()
	v := fh.versionOf(content)
	save(fh.t, fh.path, content)
	fh.waitVersion(v, 5*time.Second)
}

// reloadsSince returns the reloads recorded since t that were not skipped
// (those that parsed and built, successful or not), oldest first.
func reloadsSince(h *Host, t time.Time) []hotreload.Result {
	var out []hotreload.Result
	for _, r := range h.History() {
		if !r.Skipped && !r.Time.Before(t) && r.Trigger != hotreload.TriggerStart {
			out = append(out, r)
		}
	}
	slices.Reverse(out)
	return out
}

func historyString(rs []hotreload.Result) string {
	var b strings.Builder
	for i := len(rs) - 1; i >= 0; i-- {
		r := rs[i]
		fmt.Fprintf(&b, "\n  %s %s ok=%v skipped=%v(x%d) v=%s %s", r.Time.Format("15:04:05.000"), r.Trigger, r.Success, r.Skipped, r.Repeats, r.Version, r.Error)
	}
	return b.String()
}

// reloadMetrics reads the reload metrics in process, cheaply enough to poll:
// config_reloads_total by result, config_last_reload_successful and its
// timestamp.
func (fh *fileHost) reloadMetrics() (success, failure, lastOK, lastTS float64) {
	m := fh.h.metrics
	return testutil.ToFloat64(m.reloads.WithLabelValues("success")), testutil.ToFloat64(m.reloads.WithLabelValues("failure")),
		testutil.ToFloat64(m.lastOK), testutil.ToFloat64(m.lastOKTS)
}

// metric returns the value of one series from the host's /metrics, such as
// `switchyard_config_reloads_total{result="failure"}`.
func (fh *fileHost) metric(series string) float64 {
	fh.t.Helper()
	code, _, body, err := fh.get("/metrics")
	if err != nil || code != http.StatusOK {
		fh.t.Fatalf("/metrics = %d %v", code, err)
	}
	for _, line := range strings.Split(body, "\n") {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			v, err := strconv.ParseFloat(strings.Fields(rest)[0], 64)
			if err != nil {
				fh.t.Fatalf("metric %s: %v", series, err)
			}
			return v
		}
	}
	fh.t.Fatalf("metric %s not found", series)
	return 0
}

// freePort returns a loopback address with a port that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
