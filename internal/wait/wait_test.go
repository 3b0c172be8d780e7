package wait

import (
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
