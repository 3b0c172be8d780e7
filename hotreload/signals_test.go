package hotreload

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"testing"
	"time"
)

func TestSignals(t *testing.T) {
	// Keep SIGHUP from killing the test binary if it arrives before Signals
	// has registered.
	guard := make(chan os.Signal, 1)
	signal.Notify(guard, syscall.SIGHUP)
	defer signal.Stop(guard)

	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan Trigger, 100)
	done := make(chan struct{})
	go func() {
		defer close(done)
		Signals(ctx, func(t Trigger) { got <- t })
	}()

	for i := range 3 {
		deadline := time.After(2 * time.Second)
		tick := time.NewTicker(20 * time.Millisecond)
	wait:
		for {
			if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
				t.Fatal(err)
			}
			select {
			case tr := <-got:
				if tr != TriggerSignal {
					t.Fatalf("trigger %q, want %q", tr, TriggerSignal)
				}
				break wait
			case <-tick.C:
			case <-deadline:
				t.Fatalf("SIGHUP %d: no call", i)
			}
		}
		tick.Stop()
	}
	cancel()
	select {
	case <-done:
	case <-time.After(time.Second):
		t.Fatal("Signals did not return after the context ended")
	}
}
