package quota

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/netip"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchyard/switchyard/registry"
)

// TypeName is the plugin type under which this package registers.
const TypeName = "quota"

func init() { registry.Register(TypeName, New) }

// Quota is one quota instance. It is safe for concurrent use.
type Quota struct {
	limit      int
	limitText  string
	limitHdr   []string // X-Quota-Limit, shared by every response: never modified
	header     string
	maxClients int
	now        func() time.Time
	clientIP   func(*http.Request) netip.Addr
	counts     *counts

	allowed, refused prometheus.Counter
	nAllowed         atomic.Int64
	nRefused         atomic.Int64
	closed           atomic.Bool
}

// New builds a quota instance from its validated config. When the instance
// replaces a serving quota instance of the same name (ctx.Previous), it
// shares that instance's counts, so that a reload which changes the limit
// keeps what every client has used today.
func New(ctx *registry.Context, cfg *Config) (registry.Instance, error) {
	q := &Quota{
		limit:      cfg.Limit,
		limitText:  strconv.Itoa(cfg.Limit),
		limitHdr:   []string{strconv.Itoa(cfg.Limit)},
		header:     http.CanonicalHeaderKey(cfg.Header),
		maxClients: cfg.MaxClients,
		now:        ctx.Clock(),
		clientIP:   ctx.ClientIP,
	}
	if prev, ok := ctx.Previous.(*Quota); ok {
		prev.counts.acquire(cfg.StateFile)
		q.counts = prev.counts
	} else {
		c, err := loadCounts(cfg.StateFile, q.now())
		if err != nil {
			return nil, err
		}
		q.counts = c
	}
	metrics := ctx.Metrics()
	requests := metrics.Counter("quota_requests_total",
		"Requests through a quota plugin, by result: allowed or refused.", "plugin", "result")
	q.allowed = requests.WithLabelValues(ctx.Name, "allowed")
	q.refused = requests.WithLabelValues(ctx.Name, "refused")
	return q, nil
}

// Wrap returns the quota middleware around next.
func (q *Quota) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := q.now()
		var buf [80]byte
		left, ok, full := q.counts.take(q.appendKey(buf[:0], r), dayOf(now), q.limit, q.maxClients)
		h := w.Header()
		h["X-Quota-Limit"] = q.limitHdr
		h["X-Quota-Remaining"] = []string{strconv.Itoa(left)}
		if ok {
			q.allowed.Inc()
			q.nAllowed.Add(1)
			next.ServeHTTP(w, r)
			return
		}
		q.refused.Inc()
		q.nRefused.Add(1)
		h.Set("Retry-After", strconv.Itoa(secondsToMidnight(now)))
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", "no-store")
		if full {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"error":"too many clients today"}` + "\n"))
			return
		}
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = w.Write([]byte(`{"error":"daily quota of ` + q.limitText + ` requests used up"}` + "\n"))
	})
}

// appendKey appends the key that identifies the client to b: "key:" and
// the header's value, else "ip:" and the client IP. Values over 64 bytes
// are replaced by their SHA-256, so that a key takes at most 68 bytes.
func (q *Quota) appendKey(b []byte, r *http.Request) []byte {
	if q.header != "" {
		if v := r.Header.Get(q.header); v != "" {
			b = append(b, "key:"...)
			if len(v) > 64 {
				s := sha256.Sum256([]byte(v))
				return hex.AppendEncode(b, s[:])
			}
			return append(b, v...)
		}
	}
	return q.clientIP(r).AppendTo(append(b, "ip:"...))
}

// secondsToMidnight is the Retry-After of a refusal: the seconds until the
// next UTC day, at least 1.
func secondsToMidnight(now time.Time) int {
	now = now.UTC()
	next := time.Date(now.Year(), now.Month(), now.Day()+1, 0, 0, 0, 0, time.UTC)
	return max(1, int((next.Sub(now)+time.Second-1)/time.Second))
}

// Close drops the instance's share of the counts; the last instance to
// close saves them to the state file. The registry calls it once, after the
// instance's last request.
func (q *Quota) Close() error {
	if !q.closed.CompareAndSwap(false, true) {
		return nil
	}
	return q.counts.release()
}

// Stats reports the instance for the admin API and the dashboard.
func (q *Quota) Stats() map[string]any {
	return map[string]any{
		"limit":   q.limit,
		"clients": q.counts.clients(),
		"allowed": q.nAllowed.Load(),
		"refused": q.nRefused.Load(),
	}
}

var (
	_ registry.Instance      = (*Quota)(nil)
	_ registry.Closer        = (*Quota)(nil)
	_ registry.StatsReporter = (*Quota)(nil)
)
