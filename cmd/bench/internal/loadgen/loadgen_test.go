package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/wait"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func ms(ns int64) float64 { return float64(ns) / 1e6 }

// TestOpenLoopKnownServer is acceptance 3: -rate 1000 for 5 s against a
// handler that sleeps 10 ms reports about 5,000 requests and P50 about 10 ms.
// knownServer answers "ok" after a fixed service time.
func knownServer(service time.Duration) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select { // the server's service time, not a wait of the test
		case <-time.After(service):
		case <-r.Context().Done():
		}
		_, _ = io.WriteString(w, "ok")
	}))
}

// TestOpenLoopKnownServer: an open-loop run against a server with a 10 ms
// service time sends rate x duration requests, all answered, and measures
// at least the service time. The load is small (100 requests) so a busy
// machine passes; how close P50 and throughput come to 10 ms and the rate
// is a claim of BenchmarkOpenLoopKnownServer.
func TestOpenLoopKnownServer(t *testing.T) {
	srv := knownServer(10 * time.Millisecond)
	defer srv.Close()
	res, err := Run(context.Background(), Config{URL: srv.URL, Rate: 100, Duration: time.Second, Concurrency: 16})
	if err != nil {
		t.Fatal(err)
	}
	if res.Mode != "open" {
		t.Errorf("Mode = %q, want open", res.Mode)
	}
	if res.Requests < 99 || res.Requests > 100 {
		t.Errorf("Requests = %d, want 100 (100/s for 1 s)", res.Requests)
	}
	if res.Errors != 0 {
		t.Errorf("Errors = %d (%v), want 0", res.Errors, res.ErrorKinds)
	}
	if p50 := ms(res.Latency.Quantile(0.5)); p50 < 9.9 {
		t.Errorf("P50 = %.2f ms, want at least the 10 ms service time", p50)
	}
	if tput := res.Throughput(); tput <= 0 || tput > 105 {
		t.Errorf("throughput = %.0f req/s, want at most the 100/s offered", tput)
	}
	if res.Status[200] != res.Requests || res.Bytes != 2*res.Requests {
		t.Errorf("status 200 = %d, bytes = %d for %d requests", res.Status[200], res.Bytes, res.Requests)
	}
}

// BenchmarkOpenLoopKnownServer is the timing claim of the open loop: 1000
// req/s for 5 s against a 10 ms server gives P50 about 10 ms (p50-ms) and
// about 1000 req/s (req/s). Run it on an idle machine:
//
//	go test -run XXX -bench OpenLoopKnownServer -benchtime 1x ./cmd/bench/internal/loadgen
func BenchmarkOpenLoopKnownServer(b *testing.B) {
	srv := knownServer(10 * time.Millisecond)
	defer srv.Close()
	for b.Loop() {
		res, err := Run(context.Background(), Config{URL: srv.URL, Rate: 1000, Duration: 5 * time.Second, Concurrency: 64})
		if err != nil {
			b.Fatal(err)
		}
		if res.Errors != 0 {
			b.Fatalf("Errors = %d (%v)", res.Errors, res.ErrorKinds)
		}
		b.ReportMetric(ms(res.Latency.Quantile(0.5)), "p50-ms")
		b.ReportMetric(res.Throughput(), "req/s")
	}
}

// stallServer serves fast, except that the request number stallAt holds the
// server's lock for a second, stalling every request behind it: a pause of
// the whole server, as a long GC or a lock would cause.
func stallServer(stallAt int64) *httptest.Server {
	var mu sync.Mutex
	var n atomic.Int64
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		if n.Add(1) == stallAt {
			select { // the stall under test
			case <-time.After(time.Second):
			case <-r.Context().Done():
			}
		}
		mu.Unlock()
		_, _ = io.WriteString(w, "ok")
	}))
}

// TestCoordinatedOmission is acceptance 3: with a server that stalls for a
// second once, the open-loop P99 shows the stall, because every request due
// during the stall is measured from its due time; the service time of the
// same run and a closed-loop run against the same kind of server record
// only the few requests in flight and hide it.
func TestCoordinatedOmission(t *testing.T) {
	const conc = 10
	open := stallServer(500)
	defer open.Close()
	res, err := Run(context.Background(), Config{URL: open.URL, Rate: 1000, Duration: 3 * time.Second, Concurrency: conc})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 3000 || res.Errors != 0 {
		t.Fatalf("open loop: %d requests, %d errors; want 3000 and 0", res.Requests, res.Errors)
	}
	p99, svc99 := ms(res.Latency.Quantile(0.99)), ms(res.Service.Quantile(0.99))
	t.Logf("open loop: P50 %.2f ms, P99 %.1f ms, max %.0f ms; service time P99 %.2f ms",
		ms(res.Latency.Quantile(0.5)), p99, ms(res.Latency.Max()), svc99)
	if p99 < 900 {
		t.Errorf("open-loop P99 = %.1f ms: the 1 s stall is missing (coordinated omission not corrected)", p99)
	}
	// About a third of the requests were due during or just after the stall.
	if p75 := ms(res.Latency.Quantile(0.75)); p75 < 100 {
		t.Errorf("open-loop P75 = %.1f ms, want the stall to reach the 75th percentile", p75)
	}
	// Only the requests in flight when the stall began saw it in their
	// service time: beyond those conc samples, the uncorrected view shows
	// no stall. (A count, not a speed: a busy machine slows every request
	// but does not stall them for a second.)
	if svc := ms(res.Service.Quantile(1 - float64(conc+1)/float64(res.Requests))); svc >= 900 {
		t.Errorf("service time beyond the %d requests in flight = %.1f ms, want the uncorrected view to hide the stall", conc, svc)
	}

	closed := stallServer(500)
	defer closed.Close()
	cres, err := Run(context.Background(), Config{URL: closed.URL, Duration: 3 * time.Second, Concurrency: conc})
	if err != nil {
		t.Fatal(err)
	}
	cp99 := ms(cres.Latency.Quantile(0.99))
	t.Logf("closed loop: %d requests, P99 %.2f ms, max %.0f ms", cres.Requests, cp99, ms(cres.Latency.Max()))
	if cres.Mode != "closed" || ms(cres.Latency.Max()) < 900 {
		t.Errorf("closed loop: mode %s, max %.0f ms; want the stalled request recorded", cres.Mode, ms(cres.Latency.Max()))
	}
	if c := ms(cres.Latency.Quantile(1 - float64(conc+1)/float64(cres.Requests))); c >= 900 {
		t.Errorf("closed loop beyond the %d requests in flight = %.1f ms; a naive closed loop should hide the stall", conc, c)
	}
}

func TestClosedLoopRequestsAndTargets(t *testing.T) {
	var mu sync.Mutex
	paths := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths[r.URL.Path]++
		mu.Unlock()
		if r.Header.Get("X-Test") != "yes" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		if r.URL.Path == "/fail" {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "hello")
	}))
	defer srv.Close()
	res, err := Run(context.Background(), Config{
		Target: func(i uint64) string {
			if i%10 == 9 {
				return srv.URL + "/fail"
			}
			return fmt.Sprintf("%s/p%d", srv.URL, i%3)
		},
		Header:      http.Header{"X-Test": {"yes"}},
		Requests:    1000,
		Concurrency: 8,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 1000 {
		t.Errorf("Requests = %d, want 1000", res.Requests)
	}
	if res.Errors != 100 || res.ErrorKinds["status 503"] != 100 || res.Status[503] != 100 {
		t.Errorf("errors = %d %v, status %v; want 100 status 503", res.Errors, res.ErrorKinds, res.Status)
	}
	if paths["/fail"] != 100 || paths["/p0"]+paths["/p1"]+paths["/p2"] != 900 {
		t.Errorf("server saw %v", paths)
	}
	if res.Bytes != 900*5 {
		t.Errorf("Bytes = %d, want %d", res.Bytes, 900*5)
	}
}

func TestConnectionErrorsAreClassified(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	res, err := Run(context.Background(), Config{URL: "http://" + addr + "/", Requests: 20, Concurrency: 2})
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors != 20 || res.ErrorKinds["connection refused"] != 20 {
		t.Errorf("errors %d %v, want 20 connection refused", res.Errors, res.ErrorKinds)
	}
	if res.ErrorSample["connection refused"] == "" {
		t.Error("no sample message for connection refused")
	}
}

func TestProgressAndCancel(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select { // a service time
		case <-time.After(time.Millisecond):
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	// The run is cancelled after its third progress report; it must then
	// return, long before its minute is up.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	var seen []Progress
	type result struct {
		res *Result
		err error
	}
	done := make(chan result, 1)
	go func() {
		res, err := Run(ctx, Config{URL: srv.URL, Duration: time.Minute, Concurrency: 4, ProgressInterval: 50 * time.Millisecond,
			Progress: func(p Progress) {
				mu.Lock()
				seen = append(seen, p)
				if len(seen) == 3 {
					cancel()
				}
				mu.Unlock()
			}})
		done <- result{res, err}
	}()
	wait.For(t, "the cancelled run to return", func() bool { return len(done) > 0 })
	r := <-done
	res, err := r.res, r.err
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors != 0 || res.Requests == 0 {
		t.Errorf("cancelled run: %d requests, %d errors %v; want some requests and no errors", res.Requests, res.Errors, res.ErrorKinds)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) < 3 {
		t.Fatalf("%d progress reports, want >= 3", len(seen))
	}
	last := seen[len(seen)-1]
	if last.Done != res.Requests || last.Fraction <= 0 || last.Fraction > 0.1 {
		t.Errorf("last progress %+v, result %d requests", last, res.Requests)
	}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no end", Config{URL: "http://x/"}, "-d"},
		{"bad scheme", Config{URL: "ftp://x/", Requests: 1}, "http://"},
		{"negative rate", Config{URL: "http://x/", Requests: 1, Rate: -1}, "-rate"},
		{"negative concurrency", Config{URL: "http://x/", Requests: 1, Concurrency: -1}, "-c"},
		{"ok", Config{URL: "http://x/", Duration: time.Second}, ""},
		{"target without url", Config{Target: func(uint64) string { return "http://x/" }, Requests: 1}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("Validate() = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestClassify(t *testing.T) {
	cases := []struct {
		err  error
		want string
	}{
		{fmt.Errorf("dial: %w", syscall.ECONNREFUSED), "connection refused"},
		{fmt.Errorf("read: %w", syscall.ECONNRESET), "connection reset"},
		{fmt.Errorf("write: %w", syscall.EPIPE), "broken pipe"},
		{io.ErrUnexpectedEOF, "connection closed"},
		{fmt.Errorf("x: %w", os.ErrDeadlineExceeded), "timeout"},
		{context.DeadlineExceeded, "timeout"},
		{context.Canceled, "cancelled"},
		{errors.New("something else"), "other"},
	}
	for _, tc := range cases {
		if got := Classify(tc.err); got != tc.want {
			t.Errorf("Classify(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}
