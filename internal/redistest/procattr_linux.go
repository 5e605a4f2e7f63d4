package redistest

import "syscall"

// sysProcAttr makes the kernel kill the server if the test binary dies
// (for example on a test timeout), so no redis-server outlives its test.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
