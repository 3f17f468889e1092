//go:build !linux

package deepvueaudit_test

import "syscall"

// dieWithTest is Linux-only; elsewhere TestMain stops the server.
func dieWithTest(*syscall.SysProcAttr) {}
