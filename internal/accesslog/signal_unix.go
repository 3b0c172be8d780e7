//go:build unix

package accesslog

import (
	"os"
	"syscall"
)

// reopenSignals make the open log files reopen.
var reopenSignals = []os.Signal{syscall.SIGUSR1}
