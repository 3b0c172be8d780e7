//go:build unix

// Package proctime reads the CPU time the process has used, for benchmarks
// that report CPU per operation: on a shared machine it is steadier than
// wall time, which counts the neighbours' work too.
package proctime

import (
	"syscall"
	"time"
)

// CPU returns the user and system CPU time of the process, all threads;
// 0 when the system cannot tell.
func CPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
