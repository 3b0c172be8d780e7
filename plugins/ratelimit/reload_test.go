package ratelimit

import (
	"net/http"
	"testing"

	"github.com/switchyard/switchyard/internal/instances"
)

// Acceptance 8: a key exhausted before 20 unrelated reloads stays exhausted
// after them, and doubling rate by reload does not refill everyone's bucket.
func TestAcceptance8Reloads(t *testing.T) {
	e := newEnv(t)
	const client = "192.0.2.8:1"
	build := func(limitCfg, otherCfg map[string]any) (*Limiter, *instances.Set) {
		t.Helper()
		set, err := e.reg.Build(e.services(), []instances.Spec{
			{Name: "perip", Type: TypeName, Config: limitCfg},
			{Name: "other", Type: TypeName, Config: otherCfg},
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
		inst, _ := set.Get("perip")
		return inst.(*Limiter), set
	}

	l, set := build(limit5(), map[string]any{"rate": 1})
	for i := 0; i < 5; i++ {
		do(l.Wrap(okHandler), client)
	}
	if w := do(l.Wrap(okHandler), client); w.Code != http.StatusTooManyRequests {
		t.Fatalf("not exhausted: %d", w.Code)
	}
	first := l
	for i := 0; i < 20; i++ {
		next, nextSet := build(limit5(), map[string]any{"rate": 2 + i})
		set.Release()
		set, l = nextSet, next
		if l != first {
			t.Fatalf("reload %d rebuilt the unchanged limiter", i+1)
		}
		if w := do(l.Wrap(okHandler), client); w.Code != http.StatusTooManyRequests {
			t.Fatalf("after unrelated reload %d: %d, want 429", i+1, w.Code)
		}
	}

	// Another client has used 2 of 5 (40%).
	const other = "192.0.2.9:1"
	for i := 0; i < 2; i++ {
		do(l.Wrap(okHandler), other)
	}

	// Double the rate (and so the default burst): a new instance, same state.
	doubled, dset := build(limit5("rate", 10), map[string]any{"rate": 22})
	set.Release()
	defer dset.Release()
	if doubled == l {
		t.Fatalf("changed rate reused the instance")
	}
	h := doubled.Wrap(okHandler)
	w := do(h, client)
	if w.Code != http.StatusTooManyRequests {
		t.Fatalf("exhausted client refilled by the rate change: %d", w.Code)
	}
	if _, r, _ := rl(t, do(h, "192.0.2.250:1")); r != 9 {
		t.Fatalf("fresh client r=%d, want 9 of 10", r)
	}
	// 40% used of 10 is 4 used: 6 remain, the 6th request takes the last one.
	for i := 0; i < 6; i++ {
		if w := do(h, other); w.Code != http.StatusOK {
			t.Fatalf("partly used client request %d: %d", i+1, w.Code)
		}
	}
	if w := do(h, other); w.Code != http.StatusTooManyRequests {
		t.Fatalf("partly used client got a full bucket")
	}
	// The new rate applies from now on: one unit every second.
	e.clock.Advance(1e9)
	if w := do(h, client); w.Code != http.StatusOK {
		t.Fatalf("after one interval of the new rate: %d", w.Code)
	}
}

// A store or key change starts from fresh buckets; only like-for-like state
// is carried.
func TestNoCarryAcrossKeyChange(t *testing.T) {
	e := newEnv(t)
	l1, s1 := e.build("k", limit5())
	for i := 0; i < 5; i++ {
		do(l1.Wrap(okHandler), "192.0.2.1:1")
	}
	l2, s2 := e.build("k", limit5("key", "header:X-User"))
	s1.Release()
	defer s2.Release()
	if keys, _, _ := l2.mem.counts(); keys != 0 {
		t.Fatalf("%d keys carried across a key change", keys)
	}
}
