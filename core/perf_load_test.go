package core

import (
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard/switchyard/pool"
)

// Issue 8, acceptance 4: a thread pool of 2 workers and a queue of 4 under
// 20 concurrent heavy requests runs 2, queues 4 and answers the other 14
// with 503 and Retry-After within 10 ms each; when the load stops it serves
// as before.
func TestPerfWorkerPoolShedsLoad(t *testing.T) {
	const heavy = 400 * time.Millisecond
	var served atomic.Int64
	var shedMu sync.Mutex
	var shed []time.Duration // server-side time of each 503
	p := newPerfHost(t, `performance: {cpu: {thread_pool: {min_workers: 2, max_workers: 2, queue_size: 4}}}
routes:
  - path: /heavy
    handler: perf.heavy
  - path: /ok
    handler: {respond: {body: ok}}
`, true, func(h *Host) {
		work := pool.Handler(h.Pools().Threads, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			time.Sleep(heavy) // blocking work: a slow disk, a database
			served.Add(1)
			io.WriteString(w, "done")
		}))
		h.HandleFunc("perf.heavy", func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			sw := &statusCapture{ResponseWriter: w}
			work.ServeHTTP(sw, r)
			if sw.code == http.StatusServiceUnavailable {
				shedMu.Lock()
				shed = append(shed, time.Since(start))
				shedMu.Unlock()
			}
		})
	})
	tp := p.h.Pools().Threads
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 20}, Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()

	type result struct {
		code       int
		retryAfter string
		took       time.Duration
	}
	// wave sends 20 concurrent requests on warm connections.
	wave := func() []result {
		t.Helper()
		var ready, wg sync.WaitGroup
		go_ := make(chan struct{})
		res := make([]result, 20)
		for i := range res {
			ready.Add(1)
			wg.Add(1)
			go func() {
				defer wg.Done()
				ready.Done()
				<-go_
				start := time.Now()
				resp, err := client.Get(p.base + "/heavy")
				if err != nil {
					t.Errorf("GET /heavy: %v", err)
					return
				}
				took := time.Since(start)
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				res[i] = result{resp.StatusCode, resp.Header.Get("Retry-After"), took}
			}()
		}
		ready.Wait()
		close(go_)
		wg.Wait()
		return res
	}
	// Open 20 keep-alive connections first, so that the wave measures the
	// host and not connection set-up.
	var warm sync.WaitGroup
	for range 20 {
		warm.Add(1)
		go func() {
			defer warm.Done()
			if code, _, _, err := getWith(client, p.base+"/ok"); err != nil || code != 200 {
				t.Errorf("warm-up: %d %v", code, err)
			}
		}()
	}
	warm.Wait()

	check := func(step string, res []result) {
		t.Helper()
		var ok, busy int
		var busyTook []time.Duration
		for _, r := range res {
			switch r.code {
			case http.StatusOK:
				ok++
			case http.StatusServiceUnavailable:
				busy++
				busyTook = append(busyTook, r.took)
				if r.retryAfter != "1" {
					t.Errorf("%s: 503 with Retry-After %q", step, r.retryAfter)
				}
			default:
				t.Errorf("%s: status %d", step, r.code)
			}
		}
		slices.Sort(busyTook)
		shedMu.Lock()
		server := slices.Clone(shed)
		shed = shed[:0]
		shedMu.Unlock()
		slices.Sort(server)
		t.Logf("%s: %d served, %d refused; 503 round trip median %v max %v; 503 in the host max %v",
			step, ok, busy, busyTook[len(busyTook)/2].Round(time.Microsecond), busyTook[len(busyTook)-1].Round(time.Microsecond),
			server[len(server)-1].Round(time.Microsecond))
		if ok != 6 || busy != 14 {
			t.Fatalf("%s: %d served and %d refused, want 2 running + 4 queued = 6 and 14", step, ok, busy)
		}
		if server[len(server)-1] > 10*time.Millisecond {
			t.Fatalf("%s: a 503 took %v in the host, want within 10ms", step, server[len(server)-1])
		}
		// The round trip adds the client and loopback; under the race
		// detector on a shared machine it is only reported.
		if !raceEnabled && busyTook[len(busyTook)-1] > 10*time.Millisecond {
			t.Fatalf("%s: a 503 took %v to reach the client, want within 10ms", step, busyTook[len(busyTook)-1])
		}
	}
	check("first wave", wave())
	within(t, 3*time.Second, "the pool drained", func() bool {
		st := tp.Stats()
		return st.QueueDepth == 0 && st.InUse == 0
	})
	if st := tp.Stats(); st.Rejected != 14 || st.Workers > 2 {
		t.Fatalf("after the first wave: %+v, want 14 rejected and at most 2 workers", st)
	}
	// Recovered: one request is served at once, and a second wave behaves
	// exactly like the first.
	start := time.Now()
	if code, _, body, err := getWith(client, p.base+"/heavy"); err != nil || code != 200 || body != "done" {
		t.Fatalf("after the load: %d %q %v", code, body, err)
	}
	if took := time.Since(start); took > heavy+500*time.Millisecond {
		t.Fatalf("after the load a request took %v", took)
	}
	check("second wave", wave())
	if got := served.Load(); got != 13 {
		t.Fatalf("%d heavy requests ran, want 6 + 1 + 6", got)
	}
}

// statusCapture records the status code a handler wrote.
type statusCapture struct {
	http.ResponseWriter
	code int
}

func (s *statusCapture) WriteHeader(code int) {
	if s.code == 0 {
		s.code = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusCapture) Write(b []byte) (int, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusCapture) Unwrap() http.ResponseWriter { return s.ResponseWriter }
