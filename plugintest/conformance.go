package plugintest

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard/switchyard/registry"
)

// Conformance runs the checks that every plugin type must pass, each as a
// subtest of t, on instances built from yamlSnippet. The handler behind the
// plugin marks its responses cacheable (public, max-age=60, varying on an
// id header), so that a cache under test stores and serves them too.
//
//   - panic_safety: a panic of the downstream handler reaches the caller as
//     a panic or a 500 and leaves nothing behind: later requests (the same
//     URL among them, concurrent ones too) get their own intact responses,
//     and no pooled buffer stays checked out.
//
//   - unwrap: every response writer the plugin hands downstream has an
//     Unwrap method leading back to the writer it was given, so that
//     http.ResponseController reaches the connection (SetWriteDeadline is
//     tried through it), and keeps http.Flusher and http.Hijacker when the
//     writer it wraps has them.
//
//   - flush: a chunk the handler flushes with http.ResponseController
//     reaches the client while the handler is still running, with and
//     without Accept-Encoding: gzip.
//
//   - hijack: http.ResponseController.Hijack through the plugin works.
//
//   - cancellation: when the client goes away, the handler's request
//     context is cancelled.
//
//   - large_bodies: 1.5 MB request bodies (streamed chunked, and with a
//     length) and response bodies (one write, and many small writes with
//     flushes) arrive intact, with and without Accept-Encoding: gzip.
//
//   - informational: a 103 Early Hints the handler sends reaches the client
//     ahead of the final 200, which keeps its own headers and body.
//
//   - head: HEAD gets the status GET gets, no body on the wire (the same
//     connection serves the next request cleanly), and a Content-Length
//     that agrees with GET's.
//
//   - reuse: rebuilding with the unchanged snippet gives back the same
//     instance.
//
//   - close: a rebuild that replaces the instance lets the request in
//     flight on it finish normally, closes it only after that request, and
//     its Close returns promptly without a panic or an error; the new
//     instance serves before and after. With WithChangedConfig, the same
//     runs once more with the replacement built from the changed config under
//     the same name, so it receives the old instance as ctx.Previous.
//
//   - refusal (with WithRefusal only): a request without WithRequest's
//     changes is refused with a declared status, completely, without
//     reaching the handler, and the connection serves the next request.
//
// The config must let the checks' requests through: Conformance sends at
// most forty requests to one instance, from 127.0.0.1 and 192.0.2.1, so a
// rate limit or quota under test needs a limit above that. A plugin that
// wants credentials gets them from WithRequest. A request the plugin refuses
// (401, 403, 407 or 429 without reaching the handler) ends its check at
// once: as a skip when WithRefusal declares the status, else as a failure
// naming it. Instances run on real time (WithRealTime) unless WithClock is
// given.
//
// With a *testing.T each check is a t.Run subtest; with another TB they run
// one after the other and failures are prefixed with the check's name.
func Conformance(t TB, typ, yamlSnippet string, opts ...Option) {
	t.Helper()
	opts = append([]Option{WithRealTime()}, opts...)
	c := &conformance{typ: typ, snippet: yamlSnippet, opts: opts, o: buildOptions(typ, opts)}
	probe, err := Build(t, typ, yamlSnippet, opts...)
	if err != nil {
		t.Fatalf("plugintest.Conformance: %s does not build from the snippet: %v", typ, err)
		return
	}
	probe.Close()
	for _, check := range []struct {
		name string
		fn   func(TB)
	}{
		{"panic_safety", c.panicSafety},
		{"unwrap", c.unwrap},
		{"flush", c.flush},
		{"hijack", c.hijack},
		{"cancellation", c.cancellation},
		{"large_bodies", c.largeBodies},
		{"informational", c.informational},
		{"head", c.head},
		{"reuse", c.reuse},
		{"close", c.close},
		{"refusal", c.refusal},
	} {
		if check.name == "refusal" && len(c.o.refusals) == 0 {
			continue
		}
		if c.o.only == nil || c.o.only[check.name] {
			runCheck(t, check.name, check.fn)
		}
	}
}

// runCheck runs fn as a subtest: with t.Run when t is a *testing.T, else on
// a goroutine of its own with a TB that prefixes failures with name.
func runCheck(t TB, name string, fn func(TB)) {
	t.Helper()
	if r, ok := t.(interface {
		Run(string, func(*testing.T)) bool
	}); ok {
		r.Run(name, func(st *testing.T) { fn(st) })
		return
	}
	sub := &subTB{parent: t, name: name}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(sub)
	}()
	<-done
}

// subTB reports a check's failures to its parent, prefixed with the check's
// name. Fatalf ends the check's goroutine, as testing.T's does.
type subTB struct {
	parent TB
	name   string
	failed atomic.Bool
}

func (s *subTB) Helper()      {}
func (s *subTB) Name() string { return s.parent.Name() + "/" + s.name }
func (s *subTB) Failed() bool { return s.failed.Load() }
func (s *subTB) Cleanup(f func()) {
	s.parent.Cleanup(f)
}
func (s *subTB) Logf(format string, args ...any) {
	s.parent.Logf("%s: %s", s.name, fmt.Sprintf(format, args...))
}
func (s *subTB) Errorf(format string, args ...any) {
	s.failed.Store(true)
	s.parent.Errorf("%s: %s", s.name, fmt.Sprintf(format, args...))
}
func (s *subTB) Fatalf(format string, args ...any) {
	s.Errorf(format, args...)
	runtime.Goexit()
}

// conformance holds what the checks share.
type conformance struct {
	typ     string
	snippet string
	opts    []Option
	o       options
	ids     atomic.Int64
}

func (c *conformance) instance(t TB, extra ...Option) *Instance {
	t.Helper()
	return New(t, c.typ, c.snippet, append(append([]Option(nil), c.opts...), extra...)...)
}

func (c *conformance) id() string { return strconv.FormatInt(c.ids.Add(1), 10) }

// probe is the downstream handler of the checks, with the channels and
// findings that tie a request to the test that sent it.
type probe struct {
	timeout time.Duration
	mu      sync.Mutex
	gates   map[string]chan struct{} // closed by the test: the handler may go on
	entered map[string]chan struct{} // closed by the handler: it is running
	results map[string]chan string   // the handler's finding ("" = fine)
	refused chan struct{}            // closed when the plugin refused a request
	once    sync.Once
	code    atomic.Int64 // the status of the first refusal
}

func newProbe(timeout time.Duration) *probe {
	return &probe{timeout: timeout, gates: map[string]chan struct{}{},
		entered: map[string]chan struct{}{}, results: map[string]chan string{},
		refused: make(chan struct{})}
}

// refuse records that the plugin answered a request with code without
// passing it to the handler: every wait of the check ends at once.
func (p *probe) refuse(code int) {
	p.once.Do(func() {
		p.code.Store(int64(code))
		close(p.refused)
	})
}

// refusal returns the status of the first refusal, 0 when none.
func (p *probe) refusal() int { return int(p.code.Load()) }

// isRefusal reports whether code is one a guarding plugin refuses with.
func isRefusal(code int) bool {
	switch code {
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusProxyAuthRequired, http.StatusTooManyRequests:
		return true
	}
	return false
}

type reachedKey struct{}

// front is what stands before the plugin in every check: it applies the
// WithRequest changes (when apply is set) to a copy of the request, and
// tells the probe when the plugin answered with a refusal status without
// passing the request on, so that no check waits its timeout for a request
// that will never come.
func (c *conformance) front(p *probe, h http.Handler, apply bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if apply && len(c.o.requests) > 0 {
			r = r.Clone(r.Context())
			for _, fn := range c.o.requests {
				fn(r)
			}
		}
		reached := new(atomic.Bool)
		r = r.WithContext(context.WithValue(r.Context(), reachedKey{}, reached))
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			if !reached.Load() && isRefusal(sw.status) {
				p.refuse(sw.status)
			}
		}()
		h.ServeHTTP(sw, r)
	})
}

// statusWriter notes the final status; it passes Flush, Hijack and the
// ResponseController's methods through.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 && code >= 200 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusWriter) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (s *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(s.ResponseWriter).Hijack()
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// refused ends a check whose request the plugin refused with code: a skip
// when WithRefusal declares it, else a failure that says what to do.
func (c *conformance) refused(t TB, what string, code int) {
	t.Helper()
	for _, d := range c.o.refusals {
		if d == code {
			msg := fmt.Sprintf("%s: the plugin refused the request with %d, which WithRefusal declares: check skipped (supply what the plugin wants with plugintest.WithRequest to run it)", what, code)
			if sk, ok := t.(interface{ Skip(args ...any) }); ok {
				sk.Skip(msg)
			}
			t.Logf("%s", msg)
			runtime.Goexit()
		}
	}
	t.Fatalf("%s: the plugin refused the request with %d instead of passing it to the handler: give Conformance what the plugin wants with plugintest.WithRequest (a header, a client address), or declare the refusal with plugintest.WithRefusal(%d)", what, code, code)
}

func (p *probe) gate(id string) chan struct{} { return p.ch(p.gates, id) }

func (p *probe) enteredCh(id string) chan struct{} { return p.ch(p.entered, id) }

func (p *probe) ch(m map[string]chan struct{}, id string) chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	c, ok := m[id]
	if !ok {
		c = make(chan struct{})
		m[id] = c
	}
	return c
}

func (p *probe) result(id string) chan string {
	p.mu.Lock()
	defer p.mu.Unlock()
	c, ok := p.results[id]
	if !ok {
		c = make(chan string, 1)
		p.results[id] = c
	}
	return c
}

func (p *probe) report(id, finding string) {
	select {
	case p.result(id) <- finding:
	default:
	}
}

// wait returns the handler's finding for id; false when none came within
// twice the timeout (the handler's own waits take at most one).
func (p *probe) wait(id string) (string, bool) {
	select {
	case f := <-p.result(id):
		return f, true
	case <-p.refused:
		return "", false
	case <-time.After(2 * p.timeout):
		return "", false
	}
}

type origKey struct{}

// outer records the writer given to the plugin, for the unwrap check.
func outer(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), origKey{}, w)))
	})
}

const (
	firstChunk  = "plugintest: first chunk, flushed\n"
	secondChunk = "plugintest: second chunk, after the client read the first\n"
	hijackBody  = "hijacked\n"
	headBody    = "plugintest: the body of GET, never sent for HEAD\n"
	largeSize   = 3 << 19 // 1.5 MiB
)

// largeBody is a deterministic 1.5 MiB text body, moderately compressible.
var largeBody = sync.OnceValue(func() []byte {
	rng := rand.New(rand.NewPCG(9, 3))
	var b bytes.Buffer
	b.Grow(largeSize + 128)
	var line [32]byte
	for n := 0; b.Len() < largeSize; n++ {
		for k := range line {
			line[k] = "0123456789abcdef"[rng.IntN(16)]
		}
		fmt.Fprintf(&b, "line %07d %s plugintest body\n", n, line[:])
	}
	return b.Bytes()[:largeSize]
})

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// echoBody is the body of /plugintest/echo for id: a few KB naming id on
// every line, so that a response mixed up with another one shows.
func echoBody(id string) string {
	var b strings.Builder
	for n := range 64 {
		fmt.Fprintf(&b, "plugintest echo %s line %02d: the quick brown fox jumps over the lazy dog\n", id, n)
	}
	return b.String()
}

// ServeHTTP is the downstream handler; the path picks the behaviour.
func (p *probe) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if reached, ok := r.Context().Value(reachedKey{}).(*atomic.Bool); ok {
		reached.Store(true)
	}
	id := r.URL.Query().Get("id")
	if h := r.Header.Get("X-Plugintest-Id"); h != "" {
		id = h // requests for one exact URL
	}
	// Responses may be stored by a cache under test, keyed by the id (hits
	// must then give each request its own body back).
	w.Header().Set("Cache-Control", "public, max-age=60")
	w.Header().Set("Vary", "X-Plugintest-Id")
	rc := http.NewResponseController(w)
	switch r.URL.Path {
	case "/plugintest/echo", "/plugintest/shared":
		switch r.Header.Get("X-Plugintest-Panic") {
		case "before":
			panic("plugintest: deliberate panic before the response")
		case "after":
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(http.StatusOK)
			_, _ = io.WriteString(w, echoBody(id)[:100])
			panic("plugintest: deliberate panic in the middle of the response")
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("X-Plugintest-Id", id)
		_, _ = io.WriteString(w, echoBody(id))

	case "/plugintest/unwrap":
		orig, _ := r.Context().Value(origKey{}).(http.ResponseWriter)
		p.report(id, unwrapFinding(w, orig))
		p.report(id+"/interfaces", interfaceFinding(w, orig))
		if err := rc.SetWriteDeadline(time.Now().Add(p.timeout)); err != nil {
			p.report(id+"/deadline", fmt.Sprintf("http.ResponseController.SetWriteDeadline through the plugin's writer %T: %v", w, err))
		} else {
			p.report(id+"/deadline", "")
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, echoBody(id))

	case "/plugintest/flush":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, firstChunk)
		if err := rc.Flush(); err != nil {
			p.report(id, fmt.Sprintf("http.ResponseController.Flush through the plugin's writer %T: %v", w, err))
		} else {
			p.report(id, "")
		}
		select { // the test opens the gate once it has waited its timeout at most
		case <-p.gate(id):
		case <-time.After(2 * p.timeout):
		case <-r.Context().Done():
			return
		}
		_, _ = io.WriteString(w, secondChunk)

	case "/plugintest/hijack":
		conn, brw, err := rc.Hijack()
		if err != nil {
			p.report(id, fmt.Sprintf("http.ResponseController.Hijack through the plugin's writer %T: %v", w, err))
			http.Error(w, "hijack failed", http.StatusInternalServerError)
			return
		}
		p.report(id, "")
		_, _ = fmt.Fprintf(brw, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", len(hijackBody), hijackBody)
		_ = brw.Flush()
		_ = conn.Close()

	case "/plugintest/cancel":
		close(p.enteredCh(id))
		select {
		case <-r.Context().Done():
			p.report(id, "")
		case <-time.After(p.timeout):
			p.report(id, fmt.Sprintf("the request context the handler got was not cancelled within %v of the client going away: the plugin must pass the request's context (or one derived from it) downstream", p.timeout))
		}

	case "/plugintest/upload":
		h := sha256.New()
		n, err := io.Copy(h, r.Body)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if err != nil {
			http.Error(w, fmt.Sprintf("reading the request body after %d bytes: %v", n, err), http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, "%d %s", n, hex.EncodeToString(h.Sum(nil)))

	case "/plugintest/download":
		body := largeBody()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if r.URL.Query().Get("mode") == "one" {
			_, _ = w.Write(body)
			return
		}
		for off := 0; off < len(body); off += 997 {
			_, _ = w.Write(body[off:min(off+997, len(body))])
			if off%(64<<10) < 997 {
				_ = rc.Flush()
			}
		}

	case "/plugintest/early-hints":
		w.Header().Set("Link", "</plugintest.css>; rel=preload; as=style")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Del("Link")
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("X-Plugintest-Final", "yes")
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, echoBody(id))

	case "/plugintest/head":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, headBody)

	case "/plugintest/block":
		close(p.enteredCh(id))
		select {
		case <-p.gate(id):
		case <-time.After(p.timeout):
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, echoBody(id))

	default:
		http.NotFound(w, r)
	}
}

// unwrapFinding follows Unwrap from the writer the handler got back to the
// writer the plugin was given.
func unwrapFinding(w, orig http.ResponseWriter) string {
	if orig == nil {
		return "the plugin did not pass the request's context downstream (a value set on it is missing)"
	}
	cur := w
	for depth := 0; cur != orig; depth++ {
		if depth > 32 {
			return fmt.Sprintf("following Unwrap from %T does not reach the writer the plugin was given within 32 steps", w)
		}
		u, ok := cur.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return fmt.Sprintf("the response writer %T that the plugin hands downstream has no Unwrap() http.ResponseWriter method, so http.ResponseController cannot reach Flush, Hijack or SetWriteDeadline through it; add Unwrap returning the wrapped writer", cur)
		}
		next := u.Unwrap()
		if next == nil {
			return fmt.Sprintf("Unwrap of the plugin's response writer %T returned nil", cur)
		}
		cur = next
	}
	return ""
}

// interfaceFinding checks that a wrapper keeps the optional interfaces that
// handlers assert directly (SSE code asserts http.Flusher, WebSocket
// libraries http.Hijacker) when the writer it wraps has them.
func interfaceFinding(w, orig http.ResponseWriter) string {
	if orig == nil || w == orig {
		return ""
	}
	var missing []string
	if _, ok := orig.(http.Flusher); ok {
		if _, ok := w.(http.Flusher); !ok {
			missing = append(missing, "http.Flusher (handlers that assert it, as server-sent-event code does, cannot flush)")
		}
	}
	if _, ok := orig.(http.Hijacker); ok {
		if _, ok := w.(http.Hijacker); !ok {
			missing = append(missing, "http.Hijacker (WebSocket libraries that assert it cannot take the connection over)")
		}
	}
	if len(missing) == 0 {
		return ""
	}
	return fmt.Sprintf("the response writer %T that the plugin hands downstream does not implement %s, which the writer it was given does", w, strings.Join(missing, " nor "))
}

// env is a real server with the plugin in front of a probe, and a client
// that neither negotiates nor decodes by itself.
type env struct {
	c      *conformance
	inst   *Instance
	probe  *probe
	srv    *httptest.Server
	client *http.Client
	tr     *http.Transport
}

func (c *conformance) env(t TB) *env {
	t.Helper()
	inst := c.instance(t)
	p := newProbe(c.o.timeout)
	srv := httptest.NewServer(c.front(p, outer(inst.Handler(p)), true))
	tr := &http.Transport{DisableCompression: true}
	return &env{c: c, inst: inst, probe: p, srv: srv, tr: tr,
		client: &http.Client{Transport: tr, Timeout: 3 * c.o.timeout}}
}

func (e *env) close() {
	e.tr.CloseIdleConnections()
	e.srv.Close()
	e.inst.Close()
}

// get builds a GET of path on the test server, asking for acceptEncoding
// when it is not empty.
func (e *env) get(t TB, path, acceptEncoding string) *http.Request {
	req, err := http.NewRequest(http.MethodGet, e.srv.URL+path, nil)
	if err != nil {
		t.Fatalf("%v", err)
	}
	if acceptEncoding != "" {
		req.Header.Set("Accept-Encoding", acceptEncoding)
	}
	return req
}

// decoded returns a reader of the body without its content coding.
func decoded(resp *http.Response) (io.Reader, error) {
	switch ce := resp.Header.Get("Content-Encoding"); ce {
	case "", "identity":
		return resp.Body, nil
	case "gzip":
		return gzip.NewReader(resp.Body)
	default:
		return nil, fmt.Errorf("the response came with Content-Encoding %q, which the request did not accept", ce)
	}
}

// encoding is a way the conformance checks ask for a response.
type encoding struct{ name, accept string }

var encodings = []encoding{{"identity", ""}, {"gzip", "gzip"}}

// reach GETs path for enc, reads the raw body and returns it with the
// probe's finding for id. A request that fails is an error of the check
// (ok false); one that never reached the handler ends it.
func (e *env) reach(t TB, enc encoding, path, id string) (body []byte, finding string, ok bool) {
	resp, err := e.client.Do(e.get(t, path, enc.accept))
	if err != nil {
		t.Errorf("%s: request: %v", enc.name, err)
		return nil, "", false
	}
	body, _ = io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	finding, reached := e.probe.wait(id)
	if !reached {
		if code := e.probe.refusal(); code != 0 {
			e.c.refused(t, enc.name, code)
		}
		t.Fatalf("%s: the request did not reach the handler (status %d): the config must let the checks' requests through", enc.name, resp.StatusCode)
	}
	return body, finding, true
}

func (c *conformance) panicSafety(t TB) {
	inst := c.instance(t)
	p := newProbe(c.o.timeout)
	h := c.front(p, inst.Handler(p), true)
	base := inst.buffers.Stats().InUse

	serve := func(req *http.Request) (*httptest.ResponseRecorder, bool, bool) {
		done := make(chan bool, 1)
		rec := httptest.NewRecorder()
		go func() {
			defer func() { done <- recover() != nil }()
			h.ServeHTTP(rec, req)
		}()
		select {
		case panicked := <-done:
			return rec, panicked, true
		case <-time.After(c.o.timeout):
			return nil, false, false
		}
	}
	newReq := func(path, id, panicWhen, accept string) *http.Request {
		var req *http.Request
		if path == "/plugintest/shared" { // one URL for all: the id goes in a header
			req = httptest.NewRequest(http.MethodGet, path, nil)
			req.Header.Set("X-Plugintest-Id", id)
		} else {
			req = httptest.NewRequest(http.MethodGet, path+"?id="+id, nil)
		}
		if panicWhen != "" {
			req.Header.Set("X-Plugintest-Panic", panicWhen)
		}
		if accept != "" {
			req.Header.Set("Accept-Encoding", accept)
		}
		return req
	}

	for k, when := range []string{"before", "before", "after", "after"} {
		accept := encodings[k%2].accept
		rec, panicked, finished := serve(newReq("/plugintest/shared", "panic", when, accept))
		if !finished {
			t.Fatalf("a request whose handler panics %s writing did not finish within %v: the plugin waits for something the panic skipped", when, c.o.timeout)
		}
		if code := p.refusal(); code != 0 {
			c.refused(t, "a request whose handler panics", code)
		}
		if when == "before" && !panicked && rec.Code != http.StatusInternalServerError {
			t.Errorf("the handler panicked before writing, yet the plugin answered %d without panicking: let the panic propagate (the host turns it into a 500) or answer 500", rec.Code)
		}
	}

	check := func(rec *httptest.ResponseRecorder, id string) string {
		if rec.Code != http.StatusOK {
			return fmt.Sprintf("status %d, want 200", rec.Code)
		}
		resp := rec.Result()
		r, err := decoded(resp)
		if err != nil {
			return err.Error()
		}
		body, err := io.ReadAll(r)
		if err != nil {
			return fmt.Sprintf("reading the body: %v", err)
		}
		if string(body) != echoBody(id) {
			return fmt.Sprintf("the body is not the one the handler wrote (%d bytes, want %d)", len(body), len(echoBody(id)))
		}
		return ""
	}
	// The URL the panics used, with no panic: nothing left locked for it.
	// Each id twice: a cache under test answers the second from store.
	for k, enc := range append(encodings, encodings...) {
		id := "shared" + strconv.Itoa(k%2)
		rec, panicked, finished := serve(newReq("/plugintest/shared", id, "", enc.accept))
		switch {
		case !finished:
			t.Fatalf("after downstream panics, a request for the same URL did not finish within %v: the plugin leaves per-URL state (a lock, an in-flight entry) behind when the handler panics", c.o.timeout)
		case panicked:
			t.Fatalf("after downstream panics, a request for the same URL panicked")
		}
		if f := check(rec, id); f != "" {
			t.Errorf("after downstream panics, a request for the same URL (%s): %s", enc.name, f)
		}
	}
	// Sequential, then concurrent requests, each with its own body.
	for n := range 16 {
		id := c.id()
		rec, panicked, finished := serve(newReq("/plugintest/echo", id, "", encodings[n%2].accept))
		if !finished || panicked {
			t.Fatalf("after downstream panics, request %d hung or panicked", n)
		}
		if f := check(rec, id); f != "" {
			t.Errorf("after downstream panics, request %d (%s): %s: the panic corrupted the plugin's state", n, encodings[n%2].name, f)
		}
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var problems []string
	for n := range 16 {
		wg.Go(func() {
			id := c.id()
			rec, panicked, finished := serve(newReq("/plugintest/echo", id, "", encodings[n%2].accept))
			var f string
			switch {
			case !finished:
				f = "did not finish"
			case panicked:
				f = "panicked"
			default:
				f = check(rec, id)
			}
			if f != "" {
				mu.Lock()
				problems = append(problems, fmt.Sprintf("concurrent request %d (%s): %s", n, encodings[n%2].name, f))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for _, p := range problems {
		t.Errorf("after downstream panics, %s", p)
	}
	if inUse := inst.buffers.Stats().InUse; inUse > base {
		t.Errorf("%d pooled buffers (ctx.Buffers()) are still checked out after every request finished: the plugin does not put its buffers back when the handler panics (release them in a defer)", inUse-base)
	}
}

func (c *conformance) unwrap(t TB) {
	e := c.env(t)
	defer e.close()
	for _, enc := range encodings {
		id := c.id()
		_, f, ok := e.reach(t, enc, "/plugintest/unwrap?id="+id, id)
		if !ok {
			continue
		}
		if f != "" {
			t.Errorf("%s: %s", enc.name, f)
		}
		for _, sub := range []string{"/interfaces", "/deadline"} {
			if f, _ := e.probe.wait(id + sub); f != "" {
				t.Errorf("%s: %s", enc.name, f)
			}
		}
	}
}

func (c *conformance) flush(t TB) {
	e := c.env(t)
	defer e.close()
	for _, enc := range encodings {
		id := c.id()
		req := e.get(t, "/plugintest/flush?id="+id, enc.accept)
		type first struct {
			resp *http.Response
			body io.Reader
			err  error
		}
		got := make(chan first, 1)
		go func() {
			resp, err := e.client.Do(req)
			if err != nil {
				got <- first{err: err}
				return
			}
			r, err := decoded(resp)
			if err == nil {
				buf := make([]byte, len(firstChunk))
				if _, err = io.ReadFull(r, buf); err == nil && string(buf) != firstChunk {
					err = fmt.Errorf("the first chunk reads %q, want %q", buf, firstChunk)
				}
			}
			got <- first{resp: resp, body: r, err: err}
		}()
		var f first
		select {
		case f = <-got:
		case <-time.After(c.o.timeout):
			close(e.probe.gate(id))
			f = <-got
			if f.resp != nil {
				_ = f.resp.Body.Close()
			}
			t.Errorf("%s: a chunk the handler wrote and flushed with http.ResponseController did not reach the client within %v while the handler waited: the plugin swallows Flush (its writer must pass Flush through to the writer it wraps)", enc.name, c.o.timeout)
			continue
		}
		close(e.probe.gate(id))
		if code := e.probe.refusal(); code != 0 {
			if f.resp != nil {
				_ = f.resp.Body.Close()
			}
			c.refused(t, enc.name, code)
		}
		if finding, ok := e.probe.wait(id); ok && finding != "" {
			t.Errorf("%s: %s", enc.name, finding)
		}
		if f.err != nil {
			if f.resp != nil {
				_ = f.resp.Body.Close()
			}
			t.Errorf("%s: reading the first chunk: %v", enc.name, f.err)
			continue
		}
		rest, err := io.ReadAll(f.body)
		_ = f.resp.Body.Close()
		if err != nil || string(rest) != secondChunk {
			t.Errorf("%s: after the first chunk the body reads %q (err %v), want %q", enc.name, rest, err, secondChunk)
		}
	}
}

func (c *conformance) hijack(t TB) {
	e := c.env(t)
	defer e.close()
	for _, enc := range encodings {
		id := c.id()
		body, f, ok := e.reach(t, enc, "/plugintest/hijack?id="+id, id)
		if !ok {
			continue
		}
		if f != "" {
			t.Errorf("%s: %s", enc.name, f)
			continue
		}
		if string(body) != hijackBody {
			t.Errorf("%s: after Hijack the client read %q, want what the handler wrote on the connection, %q", enc.name, body, hijackBody)
		}
	}
}

func (c *conformance) cancellation(t TB) {
	e := c.env(t)
	defer e.close()
	id := c.id()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req := e.get(t, "/plugintest/cancel?id="+id, "")
	errc := make(chan error, 1)
	go func() {
		resp, err := e.client.Do(req.WithContext(ctx))
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		errc <- err
	}()
	select {
	case <-e.probe.enteredCh(id):
	case <-e.probe.refused:
		c.refused(t, "cancellation", e.probe.refusal())
	case err := <-errc:
		t.Fatalf("the request did not reach the handler (%v): the config must let the checks' requests through", err)
	case <-time.After(c.o.timeout):
		t.Fatalf("the request did not reach the handler within %v", c.o.timeout)
	}
	cancel()
	f, ok := e.probe.wait(id)
	if !ok {
		t.Fatalf("the handler did not return within %v of the client going away", 2*c.o.timeout)
	}
	if f != "" {
		t.Errorf("%s", f)
	}
	<-errc
}

func (c *conformance) largeBodies(t TB) {
	e := c.env(t)
	defer e.close()
	body := largeBody()
	want := fmt.Sprintf("%d %s", len(body), sum(body))
	for _, mode := range []string{"streamed", "sized"} {
		var r io.Reader = bytes.NewReader(body)
		if mode == "streamed" {
			pr, pw := io.Pipe()
			go func() {
				for off := 0; off < len(body); off += 7000 {
					if _, err := pw.Write(body[off:min(off+7000, len(body))]); err != nil {
						return
					}
				}
				_ = pw.Close()
			}()
			r = pr
		}
		req, err := http.NewRequest(http.MethodPost, e.srv.URL+"/plugintest/upload", r)
		if err != nil {
			t.Fatalf("%v", err)
		}
		if mode == "sized" {
			req.ContentLength = int64(len(body))
		}
		req.Header.Set("Content-Type", "text/plain")
		resp, err := e.client.Do(req)
		if err != nil {
			t.Errorf("request body, %s: %v", mode, err)
			continue
		}
		if code := e.probe.refusal(); code != 0 {
			_ = resp.Body.Close()
			c.refused(t, "request body, "+mode, code)
		}
		rr, err := decoded(resp)
		var got []byte
		if err == nil {
			got, err = io.ReadAll(rr)
		}
		_ = resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || string(got) != want {
			t.Errorf("request body, %s: the handler read %q (status %d, err %v), want %q: the 1.5 MB request body did not arrive intact", mode, got, resp.StatusCode, err, want)
		}
	}
	for _, mode := range []string{"one", "many"} {
		for _, enc := range encodings {
			req := e.get(t, "/plugintest/download?mode="+mode+"&id="+c.id(), enc.accept)
			resp, err := e.client.Do(req)
			if err != nil {
				t.Errorf("response body, %s write(s), %s: %v", mode, enc.name, err)
				continue
			}
			rr, err := decoded(resp)
			var got []byte
			if err == nil {
				got, err = io.ReadAll(rr)
			}
			_ = resp.Body.Close()
			switch {
			case err != nil:
				t.Errorf("response body, %s write(s), %s: %v", mode, enc.name, err)
			case resp.StatusCode != http.StatusOK:
				t.Errorf("response body, %s write(s), %s: status %d", mode, enc.name, resp.StatusCode)
			case !bytes.Equal(got, body):
				t.Errorf("response body, %s write(s), %s: the client got %d bytes (sha256 %.12s), want the %d bytes the handler wrote (sha256 %.12s)",
					mode, enc.name, len(got), sum(got), len(body), sum(body))
			}
		}
	}
}

func (c *conformance) informational(t TB) {
	e := c.env(t)
	defer e.close()
	for _, enc := range encodings {
		id := c.id()
		req := e.get(t, "/plugintest/early-hints?id="+id, enc.accept)
		var mu sync.Mutex
		var hints []int
		trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, _ textproto.MIMEHeader) error {
			mu.Lock()
			hints = append(hints, code)
			mu.Unlock()
			return nil
		}}
		resp, err := e.client.Do(req.WithContext(httptrace.WithClientTrace(req.Context(), trace)))
		if err != nil {
			t.Errorf("%s: request: %v", enc.name, err)
			continue
		}
		if code := e.probe.refusal(); code != 0 {
			_ = resp.Body.Close()
			c.refused(t, enc.name, code)
		}
		r, err := decoded(resp)
		var body []byte
		if err == nil {
			body, err = io.ReadAll(r)
		}
		_ = resp.Body.Close()
		mu.Lock()
		got := append([]int(nil), hints...)
		mu.Unlock()
		switch {
		case len(got) != 1 || got[0] != http.StatusEarlyHints:
			t.Errorf("%s: the client got informational responses %v, want the one 103 Early Hints the handler sent: the plugin must pass a 1xx WriteHeader straight through", enc.name, got)
		case resp.StatusCode != http.StatusOK || resp.Header.Get("X-Plugintest-Final") != "yes":
			t.Errorf("%s: after a 103 the final response has status %d (X-Plugintest-Final %q), want 200 with the final headers: a 1xx is not the final status", enc.name, resp.StatusCode, resp.Header.Get("X-Plugintest-Final"))
		case err != nil || string(body) != echoBody(id):
			t.Errorf("%s: after a 103 the body did not arrive intact (%d bytes, err %v)", enc.name, len(body), err)
		}
	}
}

func (c *conformance) head(t TB) {
	e := c.env(t)
	defer e.close()
	for _, enc := range encodings {
		conn, err := net.Dial("tcp", e.srv.Listener.Addr().String())
		if err != nil {
			t.Fatalf("%v", err)
		}
		_ = conn.SetDeadline(time.Now().Add(c.o.timeout))
		br := bufio.NewReader(conn)
		roundTrip := func(method string) (*http.Response, []byte, error) {
			req, _ := http.NewRequest(method, "http://"+e.srv.Listener.Addr().String()+"/plugintest/head", nil)
			if enc.accept != "" {
				req.Header.Set("Accept-Encoding", enc.accept)
			}
			if err := req.Write(conn); err != nil {
				return nil, nil, err
			}
			resp, err := http.ReadResponse(br, req)
			if err != nil {
				return nil, nil, err
			}
			defer resp.Body.Close()
			if method == http.MethodHead {
				// ReadResponse reads no body for HEAD: bytes sent anyway
				// would spoil the next response on the connection.
				b, err := io.ReadAll(resp.Body)
				return resp, b, err
			}
			r, err := decoded(resp)
			if err != nil {
				return resp, nil, err
			}
			b, err := io.ReadAll(r)
			return resp, b, err
		}
		hresp, hbody, err := roundTrip(http.MethodHead)
		if err != nil {
			_ = conn.Close()
			t.Errorf("%s: HEAD: %v", enc.name, err)
			continue
		}
		if code := e.probe.refusal(); code != 0 {
			_ = conn.Close()
			c.refused(t, enc.name, code)
		}
		gresp, gbody, err := roundTrip(http.MethodGet)
		_ = conn.Close()
		switch {
		case len(hbody) != 0:
			t.Errorf("%s: HEAD response carried a body of %d bytes", enc.name, len(hbody))
		case err != nil:
			t.Errorf("%s: the GET after a HEAD on the same connection failed (%v): the HEAD response put bytes on the wire", enc.name, err)
		case gresp.StatusCode != http.StatusOK || string(gbody) != headBody:
			t.Errorf("%s: the GET after a HEAD on the same connection got status %d and body %q, want 200 and %q", enc.name, gresp.StatusCode, gbody, headBody)
		case hresp.StatusCode != gresp.StatusCode:
			t.Errorf("%s: HEAD got status %d, GET %d: HEAD must answer as GET does", enc.name, hresp.StatusCode, gresp.StatusCode)
		}
		if err == nil && hresp.ContentLength >= 0 && gresp.ContentLength >= 0 && hresp.ContentLength != gresp.ContentLength {
			t.Errorf("%s: HEAD says Content-Length %d, GET sends %d", enc.name, hresp.ContentLength, gresp.ContentLength)
		}
	}
}

// request is a GET of target with the WithRequest changes applied.
func (c *conformance) request(target string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, target, nil)
	for _, fn := range c.o.requests {
		fn(r)
	}
	return r
}

func (c *conformance) reuse(t TB) {
	inst := c.instance(t)
	rec := inst.Serve(c.request("/plugintest/reuse"))
	if !inst.Rebuild(c.snippet) {
		t.Errorf("rebuilding with the unchanged config built a new instance instead of reusing the serving one, so its state (counters, cache contents, connections) would not survive a reload; the registry reuses an instance when json.Marshal of its decoded config is unchanged: check SetDefaults and the config's fields for values that differ from one decode to the next")
	}
	if rec2 := inst.Serve(c.request("/plugintest/reuse")); rec2.Code != rec.Code {
		t.Errorf("after a rebuild with the unchanged config the status is %d, before it was %d", rec2.Code, rec.Code)
	}
}

func (c *conformance) close(t TB) {
	c.closeOnce(t, "renamed", nil)
	if c.o.changed != nil {
		c.closeOnce(t, "changed config", c.o.changed)
	}
}

// closeOnce replaces the instance while a request is in flight on it: by an
// instance of another name, or by one built from changed under the same name.
func (c *conformance) closeOnce(t TB, how string, changed *string) {
	inst := c.instance(t)
	p := newProbe(c.o.timeout)
	h := c.front(p, inst.Handler(p), true)
	oldName := inst.Name()
	_, isCloser := inst.Plugin().(registry.Closer)

	id := c.id()
	type result struct {
		rec      *httptest.ResponseRecorder
		panicked any
	}
	done := make(chan result, 1)
	go func() {
		rec := httptest.NewRecorder()
		defer func() { done <- result{rec, recover()} }()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/plugintest/block?id="+id, nil))
	}()
	select {
	case <-p.enteredCh(id):
	case r := <-done:
		if code := p.refusal(); code != 0 {
			c.refused(t, how, code)
		}
		t.Fatalf("%s: the request did not reach the handler (status %d, panic %v): the config must let the checks' requests through", how, r.rec.Code, r.panicked)
	case <-time.After(c.o.timeout):
		t.Fatalf("%s: the request did not reach the handler within %v", how, c.o.timeout)
	}

	var err error
	var reused bool
	var old *generation
	if changed != nil {
		old, reused, err = inst.rebuild(oldName, *changed)
	} else {
		old, reused, err = inst.rebuild(oldName+"-renamed", c.snippet)
	}
	if err != nil {
		close(p.gate(id))
		t.Fatalf("%s: rebuilding: %v", how, err)
	}
	if reused {
		close(p.gate(id))
		t.Fatalf("%s: the changed config (WithChangedConfig) decodes to the same config as the first snippet, so the instance was reused; give a config that differs", how)
	}
	entries := 0 // the registry's entries for oldName: the old instance, and the new one when it has the same name
	for _, info := range inst.reg.Instances() {
		if info.Name == oldName && info.Refs > 0 {
			entries++
		}
	}
	if want := map[bool]int{true: 2, false: 1}[changed != nil]; entries < want {
		t.Errorf("%s: the replaced instance was released while a request was still in flight on it", how)
	}
	// A request started now runs on the new instance.
	nid := c.id()
	close(p.gate(nid))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/plugintest/block?id="+nid, nil))
	if rec.Code != http.StatusOK || rec.Body.String() != echoBody(nid) {
		t.Errorf("%s: while the old instance drains, the new one answered %d with %d bytes, want 200 and the handler's body", how, rec.Code, rec.Body.Len())
	}
	select {
	case <-old.done:
		t.Errorf("%s: the replaced instance was closed while a request was still in flight on it", how)
	default:
	}

	close(p.gate(id))
	var r result
	select {
	case r = <-done:
	case <-time.After(c.o.timeout):
		t.Fatalf("%s: the request in flight on the replaced instance did not finish within %v", how, c.o.timeout)
	}
	if r.panicked != nil {
		t.Errorf("%s: the request in flight on the replaced instance panicked: %v", how, r.panicked)
	} else if r.rec.Code != http.StatusOK || r.rec.Body.String() != echoBody(id) {
		t.Errorf("%s: the request in flight on the replaced instance got %d with %d bytes, want 200 and the handler's body", how, r.rec.Code, r.rec.Body.Len())
	}
	select {
	case <-old.done:
	case <-time.After(c.o.timeout):
		t.Fatalf("%s: the replaced instance's Close did not return within %v of its last request", how, c.o.timeout)
	}
	for _, p := range inst.takeCloseProblems() {
		t.Errorf("%s: %s", how, p)
	}
	if !isCloser {
		t.Logf("%s: the instance has no Close method; nothing to close", how)
	}
	// The successor keeps serving once its predecessor is closed.
	for k, enc := range encodings {
		rid := c.id()
		close(p.gate(rid))
		req := httptest.NewRequest(http.MethodGet, "/plugintest/block?id="+rid, nil)
		if enc.accept != "" {
			req.Header.Set("Accept-Encoding", enc.accept)
		}
		rec := httptest.NewRecorder()
		func() {
			defer func() {
				if v := recover(); v != nil {
					t.Errorf("%s: after the replaced instance was closed, request %d on the new one panicked: %v", how, k, v)
				}
			}()
			h.ServeHTTP(rec, req)
		}()
		if rec.Code != http.StatusOK {
			t.Errorf("%s: after the replaced instance was closed, the new one answered %d: it must not depend on state its predecessor's Close released", how, rec.Code)
		}
	}
}

// refusal checks the refusal that WithRefusal declares: a request without
// WithRequest's changes, GET then HEAD then a GET with them, on one
// connection.
func (c *conformance) refusal(t TB) {
	inst := c.instance(t)
	p := newProbe(c.o.timeout)
	srv := httptest.NewServer(c.front(p, inst.Handler(p), false))
	defer func() {
		srv.Close()
		inst.Close()
	}()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatalf("%v", err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(c.o.timeout))
	br := bufio.NewReader(conn)
	declared := func(code int) bool {
		for _, d := range c.o.refusals {
			if d == code {
				return true
			}
		}
		return false
	}
	send := func(method string, creds bool) (*http.Response, []byte, error) {
		id := c.id()
		req, _ := http.NewRequest(method, srv.URL+"/plugintest/echo?id="+id, nil)
		if creds {
			for _, fn := range c.o.requests {
				fn(req)
			}
		}
		if err := req.Write(conn); err != nil {
			return nil, nil, err
		}
		resp, err := http.ReadResponse(br, req)
		if err != nil {
			return nil, nil, err
		}
		defer resp.Body.Close()
		r, err := decoded(resp)
		if err != nil {
			return resp, nil, err
		}
		b, err := io.ReadAll(r)
		return resp, b, err
	}
	for _, method := range []string{http.MethodGet, http.MethodHead} {
		before := p.refusal()
		resp, body, err := send(method, false)
		switch {
		case err != nil:
			t.Fatalf("%s without WithRequest's changes: %v: the refusal must be a complete response", method, err)
		case !declared(resp.StatusCode):
			t.Fatalf("%s without WithRequest's changes got %d, want one of the statuses WithRefusal declares, %v", method, resp.StatusCode, c.o.refusals)
		case before == 0 && p.refusal() == 0:
			t.Errorf("%s without WithRequest's changes got %d, but the request reached the handler: a refusal must not", method, resp.StatusCode)
		case method == http.MethodHead && len(body) != 0:
			t.Errorf("HEAD refusal carried a body of %d bytes", len(body))
		}
	}
	if len(c.o.requests) == 0 {
		return
	}
	resp, body, err := send(http.MethodGet, true)
	switch {
	case err != nil:
		t.Errorf("a GET with WithRequest's changes after two refusals on the same connection failed (%v): a refusal left bytes on the wire", err)
	case resp.StatusCode != http.StatusOK || !strings.HasPrefix(string(body), "plugintest echo"):
		t.Errorf("a GET with WithRequest's changes after two refusals on the same connection got %d, want 200 from the handler", resp.StatusCode)
	}
}
