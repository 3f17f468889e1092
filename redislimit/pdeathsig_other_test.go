//go:build !linux

package redislimit_test

import "os/exec"

// dieWithTest is Linux-only; elsewhere t.Cleanup stops the server.
func dieWithTest(*exec.Cmd) {}
