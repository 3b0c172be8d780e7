package ratelimit

import (
	"math/rand/v2"
	"testing"
	"time"
)

func TestPolicyTakeSequence(t *testing.T) {
	p := newPolicy(5, 10*time.Second, 5) // one unit every 2s, bucket of 5
	sec := int64(time.Second)
	type step struct {
		at        int64 // seconds
		allowed   bool
		remaining int64
		tSeconds  int64
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"burst then refusal", []step{
			{0, true, 4, 2}, {0, true, 3, 4}, {0, true, 2, 6}, {0, true, 1, 8},
			{0, true, 0, 2}, // last unit used: t is the wait for the next one
			{0, false, 0, 2},
			{1, false, 0, 1},
			{2, true, 0, 2},
		}},
		{"steady at the rate never refuses", []step{
			{0, true, 4, 2}, {2, true, 4, 2}, {4, true, 4, 2}, {6, true, 4, 2},
		}},
		{"idle key refills fully", []step{
			{0, true, 4, 2}, {0, true, 3, 4}, {100, true, 4, 2},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var tat int64
			for i, s := range tc.steps {
				var d decision
				tat, d = p.take(tat, s.at*sec)
				if d.allowed != s.allowed || d.remaining != s.remaining || d.resetSeconds() != s.tSeconds {
					t.Fatalf("step %d at %ds: got allowed=%v r=%d t=%d, want allowed=%v r=%d t=%d",
						i, s.at, d.allowed, d.remaining, d.resetSeconds(), s.allowed, s.remaining, s.tSeconds)
				}
				if !d.allowed && d.retryAfter() < d.resetSeconds() {
					t.Fatalf("step %d: Retry-After %d earlier than t=%d", i, d.retryAfter(), d.resetSeconds())
				}
			}
		})
	}
}

// TestPolicyWaitIsExact checks on random histories that a refused request's
// wait is exactly the time until a retry succeeds, that a refusal leaves the
// state unchanged, and that remaining is never negative.
func TestPolicyWaitIsExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := 0; trial < 200; trial++ {
		rate := 1 + rng.IntN(50)
		per := time.Duration(1+rng.IntN(60_000)) * time.Millisecond
		if int64(per)/int64(rate) < 1 {
			continue
		}
		p := newPolicy(rate, per, 1+rng.IntN(20))
		var tat, now int64
		for i := 0; i < 200; i++ {
			now += rng.Int64N(p.interval)
			next, d := p.take(tat, now)
			if d.remaining < 0 {
				t.Fatalf("negative remaining %d", d.remaining)
			}
			if d.allowed {
				tat = next
				continue
			}
			if next != max(tat, now) {
				t.Fatalf("refusal changed the TAT")
			}
			if _, d2 := p.take(tat, now+d.wait-1); d2.allowed {
				t.Fatalf("allowed 1ns before the wait of %d", d.wait)
			}
			if _, d2 := p.take(tat, now+d.wait); !d2.allowed {
				t.Fatalf("refused at the end of the wait of %d", d.wait)
			}
			if d.retryAfter() < 1 || d.retryAfter() < d.resetSeconds() {
				t.Fatalf("Retry-After %d, t %d", d.retryAfter(), d.resetSeconds())
			}
		}
	}
}

func TestPolicyCarry(t *testing.T) {
	sec := int64(time.Second)
	old := newPolicy(5, 10*time.Second, 5) // tau 10s
	tests := []struct {
		name    string
		to      policy
		debt    int64 // old TAT - now
		want    int64 // new TAT - now
		carried bool
	}{
		{"full bucket is not carried", newPolicy(10, 10*time.Second, 10), 0, 0, false},
		{"exhausted stays exhausted when rate doubles", newPolicy(10, 10*time.Second, 10), 10 * sec, 10 * sec, true},
		{"exhausted stays exhausted when burst doubles", newPolicy(5, 10*time.Second, 10), 10 * sec, 20 * sec, true},
		{"40 percent used stays 40 percent", newPolicy(5, 10*time.Second, 10), 4 * sec, 8 * sec, true},
		{"window halves", newPolicy(5, 5*time.Second, 5), 6 * sec, 3 * sec, true},
		{"same policy copies exactly", old, 7 * sec, 7 * sec, true},
	}
	now := 1000 * sec
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := tc.to.carry(now+tc.debt, now, old)
			if ok != tc.carried || (ok && got-now != tc.want) {
				t.Fatalf("carry = %d, %v; want %d, %v", got-now, ok, tc.want, tc.carried)
			}
			if ok {
				// The fraction of the bucket in use is the same on both sides.
				_, dOld := old.take(now+tc.debt, now)
				_, dNew := tc.to.take(got, now)
				if dOld.allowed != dNew.allowed {
					t.Fatalf("allowed before %v, after %v", dOld.allowed, dNew.allowed)
				}
			}
		})
	}
}

func TestQuotaWindow(t *testing.T) {
	tests := []struct {
		rate int
		per  time.Duration
		q, w int64
	}{
		{100, time.Minute, 100, 60},
		{5, 10 * time.Second, 5, 10},
		{10, 500 * time.Millisecond, 20, 1},
		{3, 1500 * time.Millisecond, 2, 1},
		{2, 1500 * time.Millisecond, 2, 2},
		{1, 3 * time.Millisecond, 333, 1},
		{1, 7 * time.Second, 1, 7},
	}
	for _, tc := range tests {
		q, w := quotaWindow(tc.rate, tc.per)
		if q != tc.q || w != tc.w {
			t.Errorf("quotaWindow(%d, %s) = q=%d w=%d, want q=%d w=%d", tc.rate, tc.per, q, w, tc.q, tc.w)
		}
	}
}

func TestPolicyValue(t *testing.T) {
	tests := []struct {
		name string
		want string
	}{
		{"perip", `"perip";q=5;w=10`},
		{`we"ird\name`, `"we\"ird\\name";q=5;w=10`},
	}
	for _, tc := range tests {
		if got := policyValue(tc.name, 5, 10*time.Second); got != tc.want {
			t.Errorf("policyValue(%q) = %s, want %s", tc.name, got, tc.want)
		}
	}
}
