package wait

import (
	"bytes"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// Buffer is a log sink that a server's goroutines write while the test
// reads it: a bytes.Buffer behind a mutex.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns what was written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Count counts the occurrences of substr written so far.
func (b *Buffer) Count(substr string) int { return strings.Count(b.String(), substr) }

// Match polls the buffer until re matches it, with the shared deadline, and
// returns the submatches; the test fails with the output otherwise.
func (b *Buffer) Match(t testing.TB, re *regexp.Regexp) []string {
	t.Helper()
	var m []string
	if !Check(Deadline, func() bool { m = re.FindStringSubmatch(b.String()); return m != nil }) {
		t.Fatalf("output never matched %s:\n%s", re, b.String())
	}
	return m
}
