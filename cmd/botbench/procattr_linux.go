package main

import "syscall"

// sysProcAttr makes the kernel kill a server botbench started if botbench
// dies (Ctrl-C twice, a crash, a test timeout), so none outlives its run.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
