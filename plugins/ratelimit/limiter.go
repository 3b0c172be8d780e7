package ratelimit

import (
	"log/slog"
	"net/http"
	"reflect"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchyard/switchyard/registry"
)

// TypeName is the plugin type name, the `type:` of a ratelimit instance.
const TypeName = "ratelimit"

func init() {
	registry.Register(TypeName, New)
}

// Intervals between two log lines about the same kind of event.
const (
	dryRunLogEvery   = time.Second
	redisErrLogEvery = 10 * time.Second
)

// Limiter is a built ratelimit instance: the middleware, its bucket store
// and its counters. It is safe for concurrent use.
type Limiter struct {
	name  string
	cfg   Config
	pol   policy
	keys  keyer
	now   func() time.Time
	mono  bool      // now is time.Now: read the monotonic clock alone
	epoch time.Time // TATs are nanoseconds since epoch
	log   *slog.Logger

	mem *memStore   // store: memory
	rds *redisStore // store: redis

	policyHdr  []string
	rateLimit  *valueCache // "name";r=R;t=T
	limitHdr   []string    // legacy X-RateLimit-Limit
	remaining  *valueCache // legacy X-RateLimit-Remaining
	resetAfter *valueCache // legacy X-RateLimit-Reset

	allowedC, limitedC, redisErrC prometheus.Counter

	// Decisions of the Redis store and its failures; the memory store
	// counts its decisions in its shards.
	allowed, limited, redisErrors atomic.Uint64
	lastDryLog, lastErrLog        atomic.Int64 // ns since epoch, +1 (0 = never)
}

// New builds a Limiter from a validated config. When ctx.Previous is a
// memory-store Limiter keyed the same way, the state of its keys is carried
// over, rescaled to the new rate, burst and per.
func New(ctx *registry.Context, cfg *Config) (registry.Instance, error) {
	spec, err := parseKey(cfg.Key)
	if err != nil {
		return nil, &registry.FieldError{Key: "key", Msg: err.Error()}
	}
	now := ctx.Clock()
	log := ctx.Logger()
	name := cfg.Name
	if name == "" {
		name = ctx.Name
	}
	if err := checkPolicyName(name); err != nil {
		return nil, &registry.FieldError{Key: "name", Msg: "the instance name cannot serve as the policy name: " + err.Error() + "; set name"}
	}
	l := &Limiter{
		name: name,
		cfg:  *cfg,
		pol:  newPolicy(cfg.Rate, cfg.Per, cfg.capacity()),
		now:  now,
		mono: reflect.ValueOf(now).Pointer() == reflect.ValueOf(time.Now).Pointer(),
		log:  log,
	}
	l.keys = keyer{spec: spec, v6bits: cfg.IPv6Prefix, clientIP: ctx.ClientIP}
	if spec.source == sourceExpr {
		f, err := ctx.CompileExpr("key", spec.expr)
		if err != nil {
			return nil, err
		}
		l.keys.expr = f
	}

	sfName := sfString(name)
	l.policyHdr = []string{policyValue(name, cfg.Rate, cfg.Per)}
	l.rateLimit = newValueCache(sfName+";r=", ";t=", true)
	if cfg.LegacyHeaders {
		q, _ := quotaWindow(cfg.Rate, cfg.Per)
		l.limitHdr = []string{strconv.FormatInt(q, 10)}
		l.remaining = newValueCache("", "", false)
		l.resetAfter = newValueCache("", "", false)
	}

	m := ctx.Metrics()
	reqs := m.Counter("ratelimit_requests_total", "Requests decided by rate limiters, by result (allowed|limited).", "plugin", "result")
	l.allowedC = reqs.WithLabelValues(ctx.Name, "allowed")
	l.limitedC = reqs.WithLabelValues(ctx.Name, "limited")

	prev, _ := ctx.Previous.(*Limiter)
	l.epoch = now()
	if prev != nil {
		l.epoch = prev.epoch
	}
	switch cfg.Store {
	case "redis":
		prefix := cfg.Redis.Prefix
		if prefix == "" {
			prefix = "switchyard:ratelimit:" + ctx.Name
		}
		l.rds = newRedisStore(cfg.Redis, prefix, l.pol, cfg.IPv6Prefix)
		l.redisErrC = m.Counter("ratelimit_redis_errors_total", "Rate-limit decisions that Redis failed to answer in time.", "plugin").WithLabelValues(ctx.Name)
	default:
		l.mem = newMemStore(l.pol, cfg.MaxKeys)
		if prev != nil && prev.mem != nil && prev.keys.sameAs(&l.keys) {
			l.carryFrom(prev)
		}
	}
	return l, nil
}

// carryFrom copies the state of prev's keys, rescaled to l's policy. prev
// keeps serving meanwhile; it is only read.
func (l *Limiter) carryFrom(prev *Limiter) {
	now := l.clock()
	prev.mem.each(now, func(h uint64, tat int64) {
		if t, ok := l.pol.carry(tat, now, prev.pol); ok {
			l.mem.put(h, t)
		}
	})
}

// sameAs reports whether two keyers put every request in the same bucket.
func (kr *keyer) sameAs(o *keyer) bool {
	return kr.spec == o.spec && kr.v6bits == o.v6bits
}

// clock is the current time in nanoseconds since the epoch. On the real
// clock it reads the monotonic clock only (time.Since of an epoch taken
// from time.Now), half the cost of time.Now and immune to wall-clock steps.
func (l *Limiter) clock() int64 {
	if l.mono {
		return int64(time.Since(l.epoch))
	}
	return int64(l.now().Sub(l.epoch))
}

// Wrap returns the limiting middleware around next.
func (l *Limiter) Wrap(next http.Handler) http.Handler {
	return &handler{l: l, next: next}
}

type handler struct {
	l    *Limiter
	next http.Handler
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.l.serve(w, r, h.next)
}

func (l *Limiter) serve(w http.ResponseWriter, r *http.Request, next http.Handler) {
	k := l.keys.key(r)
	var d decision
	if l.mem != nil {
		d = l.mem.take(k.hash(), l.clock())
	} else {
		var err error
		d, err = l.rds.take(r.Context(), &k)
		if err != nil {
			l.redisFailed(w, r, next, err)
			return
		}
		if d.allowed {
			l.allowed.Add(1)
		} else {
			l.limited.Add(1)
		}
	}
	hdr := w.Header()
	t := d.resetSeconds()
	if len(hdr) == 0 {
		// Nothing set yet (the usual case): no earlier item to append to.
		hdr[hdrPolicy] = l.policyHdr
		hdr[hdrRateLimit] = l.rateLimit.get(d.remaining, t)
	} else {
		setHeader(hdr, hdrPolicy, l.policyHdr)
		setHeader(hdr, hdrRateLimit, l.rateLimit.get(d.remaining, t))
	}
	if l.limitHdr != nil {
		setHeader(hdr, hdrLegacyLimit, l.limitHdr)
		setHeader(hdr, hdrLegacyRemain, l.remaining.get(d.remaining, 0))
		setHeader(hdr, hdrLegacyReset, l.resetAfter.get(t, 0))
	}
	if d.allowed {
		l.allowedC.Inc()
		registry.Note(w, "ratelimit", "allowed")
		next.ServeHTTP(w, r)
		return
	}
	l.limitedC.Inc()
	registry.Note(w, "ratelimit", "refused") // a dry run notes it too, and serves
	if l.cfg.DryRun {
		if l.mayLog(&l.lastDryLog, dryRunLogEvery) {
			l.log.Info("rate limit exceeded (dry run: request allowed)", "key", k.render(l.cfg.IPv6Prefix),
				"method", r.Method, "path", r.URL.Path, "retry_after", d.retryAfter())
		}
		next.ServeHTTP(w, r)
		return
	}
	refuse(w, http.StatusTooManyRequests, "rate limit exceeded", d.retryAfter())
}

// redisFailed follows on_error when Redis did not answer in time (dry_run
// lets the request through whatever on_error says). The RateLimit field is
// left out: the key's state is unknown.
func (l *Limiter) redisFailed(w http.ResponseWriter, r *http.Request, next http.Handler, err error) {
	l.redisErrors.Add(1)
	l.redisErrC.Inc()
	if l.mayLog(&l.lastErrLog, redisErrLogEvery) {
		l.log.Warn("rate limiter: Redis unavailable", "addr", l.cfg.Redis.Addr, "err", err,
			"on_error", l.cfg.OnError, "failures", l.redisErrors.Load())
	}
	setHeader(w.Header(), hdrPolicy, l.policyHdr)
	if l.cfg.OnError == "deny" && !l.cfg.DryRun {
		refuse(w, http.StatusServiceUnavailable, "rate limiter unavailable", 1)
		return
	}
	next.ServeHTTP(w, r)
}

// mayLog reports whether a log line is due: at most one per every, by the
// limiter's clock.
func (l *Limiter) mayLog(last *atomic.Int64, every time.Duration) bool {
	now := l.clock() + 1
	prev := last.Load()
	if prev != 0 && now-prev < int64(every) {
		return false
	}
	return last.CompareAndSwap(prev, now)
}

// Shared header values of refusals (capacity 1: an Add copies).
var (
	jsonContentType = []string{contentTypeJSON}
	noSniffValue    = []string{noSniff}
)

// refuse writes a refusal: status, Retry-After and a short JSON body such as
// {"error":"rate limit exceeded","retry_after":2}.
func refuse(w http.ResponseWriter, status int, msg string, retryAfter int64) {
	var buf [96]byte
	body := append(buf[:0], `{"error":"`...)
	body = append(body, msg...)
	body = append(body, `","retry_after":`...)
	body = appendInt(body, retryAfter)
	body = append(body, "}\n"...)
	h := w.Header()
	h[hdrRetryAfter] = []string{strconv.FormatInt(retryAfter, 10)}
	h[hdrContentType] = jsonContentType
	h[hdrNoSniff] = noSniffValue
	h[hdrContentLength] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// Close releases the Redis connections; the memory store needs nothing.
func (l *Limiter) Close() error {
	if l.rds != nil {
		return l.rds.close()
	}
	return nil
}

// Stats reports the store, the keys tracked (memory store) and the
// decisions made by this instance.
func (l *Limiter) Stats() map[string]any {
	st := map[string]any{
		"store":  l.cfg.Store,
		"policy": l.policyHdr[0],
	}
	if l.mem != nil {
		keys, allowed, limited := l.mem.counts()
		st["keys"] = keys
		st["max_keys"] = l.cfg.MaxKeys
		st["allowed"] = allowed
		st["limited"] = limited
	} else {
		st["allowed"] = l.allowed.Load()
		st["limited"] = l.limited.Load()
		st["redis_errors"] = l.redisErrors.Load()
	}
	if l.cfg.DryRun {
		st["dry_run"] = true
	}
	return st
}

var (
	_ registry.Instance      = (*Limiter)(nil)
	_ registry.Closer        = (*Limiter)(nil)
	_ registry.StatsReporter = (*Limiter)(nil)
	_ registry.Validator     = (*Config)(nil)
	_ registry.Defaulter     = (*Config)(nil)
)
