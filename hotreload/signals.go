package hotreload

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

// Signals calls onSignal(TriggerSignal) for each SIGHUP the process receives
// until ctx ends, then stops listening and returns. While it runs, SIGHUP no
// longer terminates the process. Run it on its own goroutine; onSignal is
// called on that goroutine, one call at a time (a [Runner.Trigger] fits).
// Signals arriving while onSignal runs coalesce into one more call.
func Signals(ctx context.Context, onSignal func(Trigger)) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGHUP)
	defer signal.Stop(ch)
	for {
		select {
		case <-ctx.Done():
			return
		case <-ch:
			onSignal(TriggerSignal)
		}
	}
}
