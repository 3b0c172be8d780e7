package handlers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/switchyard/switchyard/core/config"
)

// Transport timeouts that the connection pool settings do not cover.
const (
	// DialTimeout bounds connecting to an upstream: one that is down answers
	// 502 at once (connection refused) or after this long (no answer).
	DialTimeout = 5 * time.Second
	// TLSHandshakeTimeout bounds the TLS handshake with an https upstream.
	TLSHandshakeTimeout = 10 * time.Second
	// ResponseHeaderTimeout bounds the wait for an upstream's response
	// headers once the request is sent; past it the client gets 504. Streams
	// are not affected once their headers arrived.
	ResponseHeaderTimeout = 60 * time.Second
	// DefaultIdleTimeout applies when connection_pool.ttl is 0.
	DefaultIdleTimeout = 90 * time.Second
	// DefaultMaxIdle is the idle connections kept per upstream when
	// connection_pool.max_size is 0 (no limit) and min_size is lower.
	DefaultMaxIdle = 100
)

// NewTransport returns the transport for proxy upstreams, sized from
// performance.memory.connection_pool:
//
//   - MaxConnsPerHost = MaxSize: the most connections open to one upstream
//     (dialing, active and idle); further requests wait for one. 0 = no limit.
//   - MaxIdleConnsPerHost = MaxSize (DefaultMaxIdle when MaxSize is 0), and
//     at least MinSize: as many idle connections are kept per upstream as
//     may be busy at once, so that a steady load reuses its connections
//     instead of closing and dialling them again.
//   - MaxIdleConns = 0 (no transport-wide cap): idle connections are bounded
//     per upstream above, and the upstreams are the ones in the configuration.
//   - IdleConnTimeout = TTL (DefaultIdleTimeout when 0): an idle connection
//     is closed after this long. net/http has no limit on a busy connection's
//     lifetime, so TTL is the idle lifetime.
//
// Dial, TLS handshake and response header waits are bounded by DialTimeout,
// TLSHandshakeTimeout and ResponseHeaderTimeout; HTTP/2 is used with https
// upstreams that offer it. Environment proxy settings (HTTP_PROXY) are not
// used: upstreams are dialed directly.
//
// The caller owns the transport: CloseIdleConnections when it is retired.
func NewTransport(cp config.ConnectionPool) *http.Transport {
	idle := max(cp.MinSize, DefaultMaxIdle)
	if cp.MaxSize > 0 {
		idle = cp.MaxSize
	}
	ttl := cp.TTL
	if ttl <= 0 {
		ttl = DefaultIdleTimeout
	}
	d := &net.Dialer{Timeout: DialTimeout, KeepAlive: 30 * time.Second}
	return &http.Transport{
		DialContext:           d.DialContext,
		MaxConnsPerHost:       max(cp.MaxSize, 0),
		MaxIdleConnsPerHost:   idle,
		MaxIdleConns:          0,
		IdleConnTimeout:       ttl,
		TLSHandshakeTimeout:   TLSHandshakeTimeout,
		ResponseHeaderTimeout: ResponseHeaderTimeout,
		ExpectContinueTimeout: time.Second,
		ForceAttemptHTTP2:     true,
	}
}

// ProxyOption adjusts a [Proxy].
type ProxyOption func(*proxyOptions)

type proxyOptions struct {
	trustForwarded func(*http.Request) bool
	writeTimeout   time.Duration
}

// WriteTimeout tells the proxy the server's write timeout
// (server.write_timeout): the server cuts a response that is still being
// written that long after the request was read, so that a client would get
// an empty reply instead of the proxy's 504. With d > 0 the proxy bounds
// each exchange with the upstream (dial, request, response headers and
// body) by [UpstreamBudget](d), which leaves the 504 time to reach the
// client. Upgrades (WebSocket) are not bounded: a hijacked connection has no
// write deadline. d <= 0 leaves only the transport's own timeouts.
func WriteTimeout(d time.Duration) ProxyOption {
	return func(o *proxyOptions) { o.writeTimeout = d }
}

// UpstreamBudget is how long the proxy gives an upstream exchange under the
// server write timeout writeTimeout: writeTimeout less a quarter of it, at
// most one second (29s for the default 30s). 0 when writeTimeout <= 0.
func UpstreamBudget(writeTimeout time.Duration) time.Duration {
	if writeTimeout <= 0 {
		return 0
	}
	return writeTimeout - min(writeTimeout/4, time.Second)
}

// errUpstreamBudget is the cause of a request context that ran out of the
// [UpstreamBudget].
var errUpstreamBudget = errors.New("proxy: no answer from the upstream within the server's write timeout")

// clientBodyError is an error reading the client's request body while it is
// sent upstream: a client error (400, or 413 over server.max_body_bytes),
// not an upstream one.
type clientBodyError struct{ err error }

func (e *clientBodyError) Error() string { return "reading the request body: " + e.err.Error() }
func (e *clientBodyError) Unwrap() error { return e.err }

// clientBody marks the errors of reading the inbound body as the client's.
type clientBody struct{ io.ReadCloser }

func (b *clientBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF {
		err = &clientBodyError{err: err}
	}
	return n, err
}

// TrustForwarded makes the proxy carry on the X-Forwarded-For,
// X-Forwarded-Host and X-Forwarded-Proto headers of inbound requests for
// which trusted returns true (typically: the peer is one of
// server.trusted_proxies). The peer address is appended to the inbound
// X-Forwarded-For. Without it those headers are replaced by what the
// proxy itself sees, so a client cannot forge them.
func TrustForwarded(trusted func(*http.Request) bool) ProxyOption {
	return func(o *proxyOptions) { o.trustForwarded = trusted }
}

// Proxy returns a handler forwarding to upstream, an http or https URL,
// through transport, with [httputil.ReverseProxy]:
//
//   - The request path is joined to the upstream's path (the route pattern is
//     not stripped: /api/* with upstream http://u/v1 sends /api/x to
//     /v1/api/x), and the upstream's query is merged with the request's.
//   - The inbound Host header is kept (the upstream sees the host the client
//     asked for; TLS still verifies the upstream's own name), and
//     X-Forwarded-For (the peer address), X-Forwarded-Host and
//     X-Forwarded-Proto are set. Client-sent X-Forwarded-* and Forwarded are
//     dropped unless [TrustForwarded] vouches for the peer.
//   - Streaming: text/event-stream responses and responses of unknown length
//     are flushed to the client as each write arrives; others are copied
//     through pooled 32 KiB buffers. Upgrades (WebSocket) pass through.
//   - An upstream that is down or fails answers 502 with Content-Type
//     application/json and {"error":"bad gateway","upstream":"<host>"}; one
//     that times out (dial, TLS, response headers, or the [WriteTimeout]
//     budget) answers 504 with {"error":"gateway timeout",...}. Each is
//     logged through logger (nil: slog.Default()) at warn as an upstream
//     error; a request its client abandoned is logged at debug.
//   - A request body that cannot be read (malformed chunked encoding, a
//     client that stops sending) answers 400 {"error":"bad request body"},
//     and one over server.max_body_bytes 413 {"error":"request body too
//     large"}: both are logged at info as client errors, not upstream ones.
//
// The error names what is wrong with upstream; transport must not be nil.
func Proxy(upstream string, transport http.RoundTripper, logger *slog.Logger, opts ...ProxyOption) (http.Handler, error) {
	target, err := parseUpstream(upstream)
	if err != nil {
		return nil, err
	}
	if transport == nil {
		return nil, errors.New("no transport for the proxy")
	}
	if logger == nil {
		logger = slog.Default()
	}
	var o proxyOptions
	for _, opt := range opts {
		opt(&o)
	}
	host := target.Host
	badGateway := upstreamErrorBody("bad gateway", host)
	gatewayTimeout := upstreamErrorBody("gateway timeout", host)
	badBody := jsonErrorBody("bad request body")
	tooLarge := jsonErrorBody("request body too large")
	logger = logger.With("upstream", host)

	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			trusted := o.trustForwarded != nil && o.trustForwarded(pr.In)
			if trusted {
				pr.Out.Header["X-Forwarded-For"] = pr.In.Header["X-Forwarded-For"]
			}
			pr.SetURL(target)
			pr.SetXForwarded()
			if trusted {
				for _, k := range [...]string{"X-Forwarded-Host", "X-Forwarded-Proto"} {
					if v := pr.In.Header.Get(k); v != "" {
						pr.Out.Header.Set(k, v)
					}
				}
			}
			pr.Out.Host = pr.In.Host
			if pr.Out.Body != nil && pr.Out.Body != http.NoBody {
				pr.Out.Body = &clientBody{pr.Out.Body}
			}
		},
		Transport: transport,
		// 0: flush when the copy ends, except for text/event-stream and
		// unknown-length responses, which ReverseProxy flushes at once (-1).
		FlushInterval: 0,
		BufferPool:    copyBuffers,
		ErrorLog:      slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			status, body := http.StatusBadGateway, badGateway
			var cbe *clientBodyError
			var mbe *http.MaxBytesError
			overBudget := errors.Is(context.Cause(r.Context()), errUpstreamBudget)
			switch {
			case errors.As(err, &cbe):
				status, body = http.StatusBadRequest, badBody
				if errors.As(err, &mbe) {
					status, body = http.StatusRequestEntityTooLarge, tooLarge
				}
				logger.Info("proxy: client error", "method", r.Method, "path", r.URL.Path, "status", status, "err", cbe.err)
			case overBudget:
				status, body = http.StatusGatewayTimeout, gatewayTimeout
				logger.Warn("proxy: upstream error", "method", r.Method, "path", r.URL.Path, "status", status, "err", errUpstreamBudget)
			case r.Context().Err() != nil:
				if isTimeout(err) {
					status, body = http.StatusGatewayTimeout, gatewayTimeout
				}
				logger.Debug("proxy: client went away", "method", r.Method, "path", r.URL.Path, "err", err)
			default:
				if isTimeout(err) {
					status, body = http.StatusGatewayTimeout, gatewayTimeout
				}
				logger.Warn("proxy: upstream error", "method", r.Method, "path", r.URL.Path, "status", status, "err", err)
			}
			h := w.Header()
			h["Content-Type"] = jsonContentType
			h["X-Content-Type-Options"] = nosniff
			h["Content-Length"] = body.length
			w.WriteHeader(status)
			_, _ = w.Write(body.body)
		},
	}
	budget := UpstreamBudget(o.writeTimeout)
	if budget <= 0 {
		return rp, nil
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header["Upgrade"] != nil {
			rp.ServeHTTP(w, r)
			return
		}
		ctx, cancel := context.WithTimeoutCause(r.Context(), budget, errUpstreamBudget)
		defer cancel()
		rp.ServeHTTP(w, r.WithContext(ctx))
	}), nil
}

// parseUpstream checks an upstream URL: http or https, a host, no user
// information or fragment.
func parseUpstream(upstream string) (*url.URL, error) {
	if upstream == "" {
		return nil, errors.New("empty upstream URL (want e.g. http://127.0.0.1:3000)")
	}
	u, err := url.Parse(upstream)
	if err != nil {
		return nil, fmt.Errorf("invalid upstream URL %q: %w", upstream, errors.Unwrap(err))
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("upstream URL %q: scheme must be http or https", upstream)
	case u.Host == "" || u.Hostname() == "":
		return nil, fmt.Errorf("upstream URL %q: no host", upstream)
	case u.User != nil:
		return nil, fmt.Errorf("upstream URL %q: user information is not supported", upstream)
	case u.Fragment != "" || u.RawFragment != "":
		return nil, fmt.Errorf("upstream URL %q: a fragment is not allowed", upstream)
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("upstream URL %q: invalid port %q", upstream, port)
		}
	}
	return u, nil
}

// jsonErrorBody is {"error":msg}.
func jsonErrorBody(msg string) *errorBody {
	b := append([]byte(`{"error":`), appendJSONString(nil, msg)...)
	b = append(b, "}\n"...)
	return &errorBody{body: b, length: []string{strconv.Itoa(len(b))}}
}

// upstreamErrorBody is {"error":msg,"upstream":host}.
func upstreamErrorBody(msg, host string) *errorBody {
	b := append([]byte(`{"error":`), appendJSONString(nil, msg)...)
	b = append(b, `,"upstream":`...)
	b = appendJSONString(b, host)
	b = append(b, "}\n"...)
	return &errorBody{body: b, length: []string{strconv.Itoa(len(b))}}
}

// isTimeout reports whether err is a timeout: the request's deadline, a dial
// or TLS timeout, or the transport's response header timeout.
func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// copyBufferSize is the size of the buffers ReverseProxy copies bodies with.
const copyBufferSize = 32 << 10

// bufferPool implements httputil.BufferPool with pooled arrays, so that a
// proxied response allocates no copy buffer.
type bufferPool struct{ p sync.Pool }

var copyBuffers = &bufferPool{p: sync.Pool{New: func() any { return new([copyBufferSize]byte) }}}

func (b *bufferPool) Get() []byte { return b.p.Get().(*[copyBufferSize]byte)[:] }

func (b *bufferPool) Put(buf []byte) {
	if len(buf) == copyBufferSize {
		b.p.Put((*[copyBufferSize]byte)(buf))
	}
}
