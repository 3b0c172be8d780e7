package core

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"sync"
	"sync/atomic"

	"github.com/switchyard/switchyard/core/config"
	"github.com/switchyard/switchyard/core/handlers"
	"github.com/switchyard/switchyard/pool"
)

// proxyStats accounts for the connections of every proxy transport the host
// has built, exported as the pool "proxy": InUse requests in flight to an
// upstream (each holds a connection), Idle connections open and not in use,
// Capacity connection_pool.max_size (per upstream), Gets round trips, Hits
// round trips on a reused connection, Misses connections dialled, Waits
// round trips that started while max_size requests to the same upstream were
// in flight (net/http queues them until a connection is free), QueueDepth
// such requests waiting now, Dropped connections closed.
//
// An https upstream speaking HTTP/2 multiplexes requests on one connection;
// for it InUse counts requests, and Waits counts only what the per-upstream
// request count suggests.
type proxyStats struct {
	cur                        *atomic.Pointer[Snapshot] // the host's serving snapshot, for Capacity
	open, inUse                atomic.Int64
	gets, hits, misses, closed atomic.Int64
	waits                      atomic.Int64
	upstreams                  sync.Map // host:port -> *upstreamLoad
	gotConn                    func(httptrace.GotConnInfo)
}

// newProxyStats returns the accounting of the proxy transports of the host
// whose serving snapshot cur holds.
func newProxyStats(cur *atomic.Pointer[Snapshot]) *proxyStats {
	p := &proxyStats{cur: cur}
	p.gotConn = func(info httptrace.GotConnInfo) {
		if info.Reused {
			p.hits.Add(1)
		}
	}
	return p
}

// upstreamLoad is the in-flight count of one upstream and the max_size it
// was last asked under.
type upstreamLoad struct {
	inflight atomic.Int64
	max      atomic.Int64
}

// Stats implements pool.StatsSource.
func (p *proxyStats) Stats() pool.Stats {
	open, inUse := p.open.Load(), p.inUse.Load()
	var queued int64
	p.upstreams.Range(func(_, v any) bool {
		u := v.(*upstreamLoad)
		if m := u.max.Load(); m > 0 {
			queued += max(u.inflight.Load()-m, 0)
		}
		return true
	})
	var capacity int64
	if s := p.cur.Load(); s != nil {
		capacity = int64(max(s.Loaded.Config.Performance.Memory.ConnectionPool.MaxSize, 0))
	}
	return pool.Stats{
		InUse:      inUse,
		Idle:       max(open-inUse, 0),
		Capacity:   capacity,
		Gets:       p.gets.Load(),
		Hits:       p.hits.Load(),
		Misses:     p.misses.Load(),
		Waits:      p.waits.Load(),
		QueueDepth: queued,
		Dropped:    p.closed.Load(),
	}
}

func (p *proxyStats) upstream(host string) *upstreamLoad {
	if v, ok := p.upstreams.Load(host); ok {
		return v.(*upstreamLoad)
	}
	v, _ := p.upstreams.LoadOrStore(host, new(upstreamLoad))
	return v.(*upstreamLoad)
}

// newProxyTransport builds the proxy transport for cp (handlers.NewTransport)
// with its dials counted in p.
func (p *proxyStats) newProxyTransport(cp config.ConnectionPool) *http.Transport {
	t := handlers.NewTransport(cp)
	dial := t.DialContext
	t.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		p.misses.Add(1)
		p.open.Add(1)
		return &countedConn{Conn: c, p: p}, nil
	}
	return t
}

// roundTripper returns t with its round trips counted in p; maxSize is the
// connection_pool.max_size t was built with.
func (p *proxyStats) roundTripper(t *http.Transport, maxSize int) http.RoundTripper {
	return &countedTransport{t: t, p: p, max: int64(max(maxSize, 0))}
}

// countedConn is an upstream connection counted open until closed.
type countedConn struct {
	net.Conn
	p    *proxyStats
	once atomic.Bool
}

func (c *countedConn) Close() error {
	if c.once.CompareAndSwap(false, true) {
		c.p.open.Add(-1)
		c.p.closed.Add(1)
	}
	return c.Conn.Close()
}

// countedTransport counts a round trip in flight from its start until its
// response body is read to the end or closed (when net/http releases the
// connection), or until it fails.
type countedTransport struct {
	t   *http.Transport
	p   *proxyStats
	max int64
}

func (ct *countedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	p := ct.p
	u := p.upstream(r.URL.Host)
	u.max.Store(ct.max)
	p.gets.Add(1)
	p.inUse.Add(1)
	if n := u.inflight.Add(1); ct.max > 0 && n > ct.max {
		p.waits.Add(1)
	}
	// A trace per request: WithClientTrace composes it with the one
	// httputil.ReverseProxy has put in the context, writing into it.
	trace := &httptrace.ClientTrace{GotConn: p.gotConn}
	resp, err := ct.t.RoundTrip(r.WithContext(httptrace.WithClientTrace(r.Context(), trace)))
	if err != nil {
		u.inflight.Add(-1)
		p.inUse.Add(-1)
		return resp, err
	}
	b := &countedBody{ReadCloser: resp.Body, u: u, p: p}
	if rwc, ok := resp.Body.(io.ReadWriteCloser); ok {
		// A 101 Switching Protocols body is the connection itself, which
		// httputil.ReverseProxy writes to: keep it writable.
		resp.Body = &countedUpgrade{countedBody: b, w: rwc}
	} else {
		resp.Body = b
	}
	return resp, nil
}

// countedBody ends its round trip's count at EOF, on an error, or on Close.
type countedBody struct {
	io.ReadCloser
	u    *upstreamLoad
	p    *proxyStats
	done atomic.Bool
}

func (b *countedBody) finish() {
	if b.done.CompareAndSwap(false, true) {
		b.u.inflight.Add(-1)
		b.p.inUse.Add(-1)
	}
}

func (b *countedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil {
		b.finish()
	}
	return n, err
}

func (b *countedBody) Close() error {
	err := b.ReadCloser.Close()
	b.finish()
	return err
}

type countedUpgrade struct {
	*countedBody
	w io.Writer
}

func (u *countedUpgrade) Write(p []byte) (int, error) { return u.w.Write(p) }
