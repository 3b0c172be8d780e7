// Package loadgen is an HTTP/1.1 load generator with two models of load.
//
// # Closed loop
//
// Concurrency workers each keep one keep-alive connection busy: send a
// request, read the whole response, send the next. Throughput is whatever
// the server sustains; latency is measured from the moment each request is
// sent. This is the model for comparing the throughput of two servers.
//
// # Open loop
//
// Requests are due on a fixed schedule, Rate per second, whatever the
// server does: request i is due at start + i/Rate. Concurrency workers (one
// connection each) take the next due slot as soon as they are free. When the
// server stalls, slots fall due while every worker waits; they are sent late,
// and their latency is measured from when they were due, not from when they
// were sent. This corrects the coordinated omission of a naive closed-loop
// measurement, which sends nothing during a stall and so records a single
// slow request where a real user population would have seen hundreds. The
// latency from the actual send (the service time) is reported beside it.
package loadgen

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/switchyard/switchyard/cmd/bench/internal/hist"
)

// Defaults of Config.
const (
	DefaultConcurrency = 32
	DefaultTimeout     = 10 * time.Second
	DefaultProgress    = 250 * time.Millisecond
)

// Config describes one load run. Duration or Requests (or both: whichever
// ends first) must be set.
type Config struct {
	// URL is the target of every request when Target is nil.
	URL string
	// Target, when set, returns the URL of request number i (counting from
	// 0), for request mixes over many paths. It is called concurrently.
	Target func(i uint64) string
	// Method is the request method; default GET.
	Method string
	// Header is sent with every request.
	Header http.Header
	// Body is sent with every request.
	Body []byte
	// Concurrency is the number of workers, each holding one connection.
	// Default DefaultConcurrency.
	Concurrency int
	// Duration ends the run: the closed loop stops sending at Duration; the
	// open loop schedules no request due at or after Duration.
	Duration time.Duration
	// Requests ends the run after this many requests.
	Requests int64
	// Rate, when > 0, selects the open loop at Rate requests per second.
	Rate float64
	// Timeout bounds the wait for each response's headers. Default
	// DefaultTimeout.
	Timeout time.Duration
	// IsError decides which statuses count as errors; nil counts 4xx and 5xx.
	IsError func(status int) bool
	// Transport, when set, is used instead of a transport built for the run
	// (one with Concurrency connections, HTTP/1.1 only, no compression).
	Transport http.RoundTripper
	// Progress, when set, is called every ProgressInterval from a goroutine
	// of its own while the run lasts.
	Progress func(Progress)
	// ProgressInterval defaults to DefaultProgress.
	ProgressInterval time.Duration
}

// Progress is a snapshot of a run in progress.
type Progress struct {
	// Elapsed is the time since the run started.
	Elapsed time.Duration
	// Done counts the requests completed so far; Errors those that failed.
	Done, Errors int64
	// Fraction is how far the run is, in [0, 1], from Duration or Requests.
	Fraction float64
}

// Result is what a run measured.
type Result struct {
	// Mode is "closed" or "open".
	Mode string
	// Concurrency is the number of workers used; Rate the open-loop rate.
	Concurrency int
	Rate        float64
	// Requests counts completed requests, failed ones included.
	Requests int64
	// Errors counts failed requests; ErrorKinds splits them by kind
	// ("status 503", "timeout", "connection refused", ...).
	Errors     int64
	ErrorKinds map[string]int64
	// ErrorSample is one message per error kind, for diagnosis.
	ErrorSample map[string]string
	// Status counts responses by status code.
	Status map[int]int64
	// Bytes is the total of response body bytes read.
	Bytes int64
	// Elapsed runs from the start to the last completed request.
	Elapsed time.Duration
	// Latency is in nanoseconds: from the due time in the open loop
	// (corrected for coordinated omission), from the send in the closed loop.
	Latency *hist.Histogram
	// Service is the latency from the actual send, in nanoseconds (the same
	// as Latency in the closed loop).
	Service *hist.Histogram
}

// Throughput is completed requests per second.
func (r *Result) Throughput() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Elapsed.Seconds()
}

// NewTransport returns the transport a run uses by default: HTTP/1.1 with
// keep-alive, at most conns connections to a host (all of them kept idle
// between requests), TCP_NODELAY (Go's default), no transparent
// decompression (bodies are read as sent) and no proxy.
func NewTransport(conns int, timeout time.Duration) *http.Transport {
	return &http.Transport{
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          conns,
		MaxIdleConnsPerHost:   conns,
		MaxConnsPerHost:       conns,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: timeout,
		DisableCompression:    true,
		ForceAttemptHTTP2:     false,
		// A non-nil empty map turns HTTP/2 off for TLS targets too.
		TLSNextProto:    map[string]func(string, *tls.Conn) http.RoundTripper{},
		WriteBufferSize: 8 << 10,
		ReadBufferSize:  16 << 10,
	}
}

// Validate checks c and reports the first problem, naming the flag.
func (c *Config) Validate() error {
	if c.Target == nil {
		u, err := url.Parse(c.URL)
		if err != nil {
			return fmt.Errorf("url: %v", err)
		}
		if u.Scheme != "http" && u.Scheme != "https" {
			return fmt.Errorf("url: %q: want an http:// or https:// URL", c.URL)
		}
	}
	switch {
	case c.Duration <= 0 && c.Requests <= 0:
		return errors.New("either -d (duration) or -n (requests) must be > 0")
	case c.Duration < 0:
		return errors.New("-d: must not be negative")
	case c.Requests < 0:
		return errors.New("-n: must not be negative")
	case c.Rate < 0:
		return errors.New("-rate: must not be negative")
	case c.Concurrency < 0:
		return errors.New("-c: must not be negative")
	case c.Timeout < 0:
		return errors.New("-timeout: must not be negative")
	}
	return nil
}

// run is the shared state of one run.
type run struct {
	cfg      Config
	rt       http.RoundTripper
	method   string
	start    time.Time
	interval float64 // open loop: nanoseconds between due times
	next     atomic.Uint64
	stop     atomic.Bool
	done     atomic.Int64
	errs     atomic.Int64
	isErr    func(int) bool
	ctx      context.Context
	baseReq  *http.Request // the request when Target is nil
}

// worker is what one worker accumulates; merged at the end.
type worker struct {
	lat, svc *hist.Histogram
	status   map[int]int64
	kinds    map[string]int64
	sample   map[string]string
	bytes    int64
	last     time.Time
}

// Run performs the load described by cfg and returns what it measured. A
// cancelled ctx ends the run early; the result covers what was done.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Concurrency == 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.ProgressInterval <= 0 {
		cfg.ProgressInterval = DefaultProgress
	}
	r := &run{cfg: cfg, method: cfg.Method, isErr: cfg.IsError, ctx: ctx}
	if r.method == "" {
		r.method = http.MethodGet
	}
	if r.isErr == nil {
		r.isErr = func(s int) bool { return s >= 400 }
	}
	r.rt = cfg.Transport
	if r.rt == nil {
		tr := NewTransport(cfg.Concurrency, cfg.Timeout)
		defer tr.CloseIdleConnections()
		r.rt = tr
	}
	if cfg.Target == nil {
		req, err := r.newRequest(cfg.URL)
		if err != nil {
			return nil, err
		}
		r.baseReq = req
	}
	if cfg.Rate > 0 {
		r.interval = 1e9 / cfg.Rate
	}

	workers := make([]*worker, cfg.Concurrency)
	var wg sync.WaitGroup
	r.start = time.Now()
	if cfg.Duration > 0 && cfg.Rate == 0 {
		t := time.AfterFunc(cfg.Duration, func() { r.stop.Store(true) })
		defer t.Stop()
	}
	stopProgress := r.progress()
	for i := range workers {
		w := &worker{lat: hist.New(), svc: hist.New(), status: map[int]int64{}, kinds: map[string]int64{}, sample: map[string]string{}}
		workers[i] = w
		wg.Go(func() { r.work(w) })
	}
	wg.Wait()
	stopProgress()

	res := &Result{Mode: "closed", Concurrency: cfg.Concurrency, Rate: cfg.Rate,
		ErrorKinds: map[string]int64{}, ErrorSample: map[string]string{}, Status: map[int]int64{},
		Latency: hist.New(), Service: hist.New()}
	if cfg.Rate > 0 {
		res.Mode = "open"
	}
	last := r.start
	for _, w := range workers {
		res.Latency.Merge(w.lat)
		res.Service.Merge(w.svc)
		for k, v := range w.status {
			res.Status[k] += v
		}
		for k, v := range w.kinds {
			res.ErrorKinds[k] += v
			res.Errors += v
		}
		for k, v := range w.sample {
			res.ErrorSample[k] = v
		}
		res.Bytes += w.bytes
		if w.last.After(last) {
			last = w.last
		}
	}
	res.Requests = int64(res.Latency.Count())
	res.Elapsed = last.Sub(r.start)
	return res, nil
}

func (r *run) newRequest(target string) (*http.Request, error) {
	var body io.Reader
	if len(r.cfg.Body) > 0 {
		body = strings.NewReader(string(r.cfg.Body))
	}
	req, err := http.NewRequestWithContext(r.ctx, r.method, target, body)
	if err != nil {
		return nil, fmt.Errorf("url: %v", err)
	}
	for k, vs := range r.cfg.Header {
		req.Header[k] = vs
	}
	if h := r.cfg.Header.Get("Host"); h != "" {
		req.Host = h
	}
	return req, nil
}

// progress starts the progress reporter and returns its stop function.
func (r *run) progress() func() {
	if r.cfg.Progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(r.cfg.ProgressInterval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				r.cfg.Progress(r.snapshot())
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
		r.cfg.Progress(r.snapshot())
	}
}

func (r *run) snapshot() Progress {
	p := Progress{Elapsed: time.Since(r.start), Done: r.done.Load(), Errors: r.errs.Load()}
	var f float64
	if r.cfg.Duration > 0 {
		f = p.Elapsed.Seconds() / r.cfg.Duration.Seconds()
	}
	if r.cfg.Requests > 0 {
		f = max(f, float64(p.Done)/float64(r.cfg.Requests))
	}
	p.Fraction = min(f, 1)
	return p
}

// work is one worker's loop.
func (r *run) work(w *worker) {
	open := r.cfg.Rate > 0
	var timer *time.Timer
	if open {
		timer = time.NewTimer(time.Hour)
		timer.Stop()
		defer timer.Stop()
	}
	var own *http.Request // this worker's copy of the request, reused
	if r.baseReq != nil {
		own = r.baseReq.Clone(r.ctx)
	}
	for r.ctx.Err() == nil {
		i := r.next.Add(1) - 1
		if r.cfg.Requests > 0 && int64(i) >= r.cfg.Requests {
			return
		}
		var due time.Time
		if open {
			off := time.Duration(float64(i) * r.interval)
			if r.cfg.Duration > 0 && off >= r.cfg.Duration {
				return
			}
			due = r.start.Add(off)
			if d := time.Until(due); d > 0 {
				timer.Reset(d)
				select {
				case <-timer.C:
				case <-r.ctx.Done():
					return
				}
			}
		} else if r.stop.Load() {
			return
		}
		if r.cfg.Target != nil {
			// Reuse the worker's request with the new URL: the previous
			// response has been read and closed, so the transport is done
			// with it.
			u, err := url.Parse(r.cfg.Target(i))
			if err == nil && own == nil {
				own, err = r.newRequest(u.String())
			}
			if err != nil {
				w.fail("bad target", err)
				continue
			}
			own.URL = u
			if r.cfg.Header.Get("Host") == "" {
				own.Host = u.Host
			}
		}
		req := own
		sent := time.Now()
		if !open {
			due = sent
		}
		status, n, err := r.do(req)
		end := time.Now()
		if err != nil && r.ctx.Err() != nil {
			return // cancelled: not a server error
		}
		w.last = end
		w.lat.Record(int64(end.Sub(due)))
		w.svc.Record(int64(end.Sub(sent)))
		w.bytes += n
		r.done.Add(1)
		switch {
		case err != nil:
			w.fail(Classify(err), err)
			r.errs.Add(1)
		default:
			w.status[status]++
			if r.isErr(status) {
				w.fail(fmt.Sprintf("status %d", status), nil)
				r.errs.Add(1)
			}
		}
	}
}

func (w *worker) fail(kind string, err error) {
	w.kinds[kind]++
	if _, ok := w.sample[kind]; !ok && err != nil {
		w.sample[kind] = err.Error()
	}
}

// do sends req and reads the whole body.
func (r *run) do(req *http.Request) (int, int64, error) {
	if len(r.cfg.Body) > 0 {
		req.Body = io.NopCloser(strings.NewReader(string(r.cfg.Body)))
		req.ContentLength = int64(len(r.cfg.Body))
	}
	resp, err := r.rt.RoundTrip(req)
	if err != nil {
		return 0, 0, err
	}
	n, err := io.Copy(io.Discard, resp.Body)
	cerr := resp.Body.Close()
	if err == nil {
		err = cerr
	}
	return resp.StatusCode, n, err
}

// Classify names the kind of a transport error.
func Classify(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, syscall.EPIPE):
		return "broken pipe"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed"
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return "no local port"
	case errors.Is(err, context.Canceled):
		return "cancelled"
	}
	return "other"
}
