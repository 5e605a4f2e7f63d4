//go:build !linux

package main

import "syscall"

// sysProcAttr: only Linux can tie a child's life to botbench's; elsewhere
// botbench stops its servers itself (and cannot measure them: no /proc).
func sysProcAttr() *syscall.SysProcAttr { return nil }
