package drain

import (
	"sync"
	"sync/atomic"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type gen struct {
	id   int
	gate *Gate
}

func gateOf(g *gen) *Gate { return g.gate }

func TestAcquireSkipsRetiredGeneration(t *testing.T) {
	var cur atomic.Pointer[gen]
	if Acquire(&cur, gateOf) != nil {
		t.Fatal("Acquire on an empty pointer returned a generation")
	}
	old := &gen{id: 1, gate: New()}
	cur.Store(old)
	g := Acquire(&cur, gateOf)
	if g != old || old.gate.InFlight() != 1 {
		t.Fatalf("got %v with %d in flight", g, old.gate.InFlight())
	}
	next := &gen{id: 2, gate: New()}
	cur.Store(next)
	old.gate.Retire()
	if g := Acquire(&cur, gateOf); g != next {
		t.Fatalf("acquired generation %d after the swap, want 2", g.id)
	}
	next.gate.Leave()

	waited := make(chan struct{})
	go func() { old.gate.Wait(); close(waited) }()
	select {
	case <-waited:
		t.Fatal("Wait returned with a request in flight")
	default:
	}
	old.gate.Leave()
	<-waited
}

func TestNoRequestStartsAfterWait(t *testing.T) {
	var cur atomic.Pointer[gen]
	first := &gen{id: 1, gate: New()}
	cur.Store(first)
	var waitDone atomic.Bool
	var late atomic.Int64 // requests that started on first after Wait returned
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 8 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				g := Acquire(&cur, gateOf)
				if g == first && waitDone.Load() {
					late.Add(1)
				}
				g.gate.Leave()
			}
		})
	}
	second := &gen{id: 2, gate: New()}
	cur.Store(second)
	first.gate.Retire()
	first.gate.Wait()
	waitDone.Store(true)
	for range 1000 {
		if g := Acquire(&cur, gateOf); g != second {
			t.Fatal("Acquire returned the retired generation")
		} else {
			g.gate.Leave()
		}
	}
	close(stop)
	wg.Wait()
	if n := late.Load(); n != 0 {
		t.Fatalf("%d requests started on the drained generation", n)
	}
}
