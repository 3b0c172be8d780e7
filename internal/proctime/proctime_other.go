//go:build !unix

// Package proctime reads the CPU time the process has used, for benchmarks
// that report CPU per operation: on a shared machine it is steadier than
// wall time, which counts the neighbours' work too.
package proctime

import "time"

// CPU returns 0: this system does not report it here.
func CPU() time.Duration { return 0 }
