//go:build !linux

package devloop

import "syscall"

// sysProcAttr: outside Linux a child is stopped by the devserver's own
// shutdown only.
func sysProcAttr() *syscall.SysProcAttr { return nil }
