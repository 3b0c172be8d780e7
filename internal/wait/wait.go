// Package wait holds the one bounded poll that tests use to wait for a
// condition. Tests assert behaviour, not speed: a busy two-core CI machine
// may take many times longer than a developer's laptop, so the deadline is
// generous and the poll returns as soon as the condition holds.
package wait

import (
	"testing"
	"time"
)

// Deadline is how long For and Check wait before they give up. It is far
// longer than any condition takes on an idle machine: only a real failure
// ever waits this long.
const Deadline = 20 * time.Second

// interval is the pause between two polls.
const interval = 2 * time.Millisecond

// For polls cond until it holds and fails the test with what if it still
// does not hold after Deadline.
func For(t testing.TB, what string, cond func() bool) {
	t.Helper()
	if !Check(Deadline, cond) {
		t.Fatalf("waited %v: %s", Deadline, what)
	}
}

// Within is For with a deadline of its own, for a condition whose upper
// bound is the behaviour under test (a retry after one second, say). Give
// it room: it is still a bound, not a timing claim.
func Within(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	if !Check(d, cond) {
		t.Fatalf("waited %v: %s", d, what)
	}
}

// Check polls cond until it holds or d passes, and reports whether it held.
func Check(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(interval)
	}
}
