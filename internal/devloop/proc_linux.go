package devloop

import "syscall"

// sysProcAttr makes the kernel send a child SIGTERM when the devserver
// dies, even by SIGKILL, so that no child outlives it.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
