package ratelimit

import (
	"math/bits"
	"time"
)

// policy holds the GCRA parameters of a limiter in nanoseconds. GCRA keeps
// one number per key, the theoretical arrival time (TAT): the time at which
// the key's bucket would be full again. A request at now is allowed when,
// after adding one interval to max(TAT, now), the debt TAT-now does not
// exceed tau, the time a whole bucket takes to refill. A refused request
// leaves the TAT alone, so it uses no quota.
type policy struct {
	interval int64 // one unit of quota: per / rate
	tau      int64 // a whole bucket: interval * capacity
}

func newPolicy(rate int, per time.Duration, capacity int) policy {
	iv := int64(per) / int64(rate)
	return policy{interval: iv, tau: iv * int64(capacity)}
}

// decision is the outcome of one request against one key.
type decision struct {
	allowed bool
	// remaining is the number of further requests the key may make now.
	remaining int64
	// reset is how long, in nanoseconds, until the bucket is full again.
	reset int64
	// wait is how long until one more request would be allowed: for a
	// refused request, until a retry succeeds; for an allowed one that used
	// the last unit, until the next unit returns; zero otherwise.
	wait int64
}

// take decides a request at now against a key whose TAT is tat (zero, or
// anything not after now, for a fresh key) and returns the TAT to store.
func (p policy) take(tat, now int64) (int64, decision) {
	if tat < now {
		tat = now
	}
	debt := tat - now + p.interval
	if debt > p.tau {
		return tat, decision{reset: tat - now, wait: debt - p.tau}
	}
	d := decision{allowed: true, remaining: (p.tau - debt) / p.interval, reset: debt}
	if d.remaining == 0 {
		d.wait = debt - (p.tau - p.interval)
	}
	return tat + p.interval, d
}

// resetSeconds is the `t` of the RateLimit field: whole seconds until the
// quota is full again, or, when nothing remains, until the next request
// will be allowed (so that a client waiting t seconds never waits in vain).
func (d decision) resetSeconds() int64 {
	if d.remaining > 0 {
		return ceilSeconds(d.reset)
	}
	return ceilSeconds(d.wait)
}

// retryAfter is the Retry-After of a refusal: whole seconds until a retry
// succeeds, at least 1.
func (d decision) retryAfter() int64 {
	return max(1, ceilSeconds(d.wait))
}

func ceilSeconds(ns int64) int64 {
	if ns <= 0 {
		return 0
	}
	return (ns + int64(time.Second) - 1) / int64(time.Second)
}

// carry converts a key's TAT kept under policy from into one under p so that
// the fraction of the bucket in use stays the same: a key that had used 40%
// of its quota has used 40% of the new one, an exhausted key stays exhausted.
// It reports false for a key whose bucket is full (nothing to carry).
func (p policy) carry(tat, now int64, from policy) (int64, bool) {
	debt := tat - now
	if debt <= 0 {
		return 0, false
	}
	debt = min(debt, from.tau)
	if p.tau != from.tau {
		hi, lo := bits.Mul64(uint64(debt), uint64(p.tau))
		q, _ := bits.Div64(hi, lo, uint64(from.tau)) // hi < from.tau since debt <= from.tau
		debt = int64(q)
	}
	if debt <= 0 {
		return 0, false
	}
	return now + debt, true
}
