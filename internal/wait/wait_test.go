package wait

import (
	"regexp"
	"sync/atomic"
	"testing"
	"time"
)

func TestCheck(t *testing.T) {
	tests := []struct {
		name  string
		after int32 // the poll on which cond first holds; 0 = never
		want  bool
	}{
		{name: "holds at once", after: 1, want: true},
		{name: "holds later", after: 5, want: true},
		{name: "never holds", after: 0, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var n atomic.Int32
			got := Check(50*time.Millisecond, func() bool {
				return n.Add(1) == tt.after || (tt.after > 0 && n.Load() > tt.after)
			})
			if got != tt.want {
				t.Fatalf("Check = %v, want %v (after %d polls)", got, tt.want, n.Load())
			}
		})
	}
}

func TestForPasses(t *testing.T) {
	var n atomic.Int32
	For(t, "counter reaches 3", func() bool { return n.Add(1) >= 3 })
}

func TestBufferMatch(t *testing.T) {
	var b Buffer
	go func() { _, _ = b.Write([]byte("listening on 127.0.0.1:8080\n")) }()
	m := b.Match(t, regexp.MustCompile(`listening on (\S+)`))
	if m[1] != "127.0.0.1:8080" || b.Count("listening") != 1 {
		t.Fatalf("Match = %q, output %q", m, b.String())
	}
}
