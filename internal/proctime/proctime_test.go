//go:build unix

package proctime

import "testing"

func TestCPUMoves(t *testing.T) {
	before := CPU()
	x := 0
	for i := range 50_000_000 {
		x += i % 7
	}
	if after := CPU(); after <= before || x == 0 {
		t.Errorf("CPU %v then %v after a busy loop", before, after)
	}
}
