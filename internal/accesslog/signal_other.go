//go:build !unix

package accesslog

import "os"

// reopenSignals is empty where there is no SIGUSR1: moved files are still
// reopened at the next check.
var reopenSignals []os.Signal
