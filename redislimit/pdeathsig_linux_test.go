package redislimit_test

import (
	"os/exec"
	"syscall"
)

// dieWithTest makes redis-server die with the test process, even when that
// is killed (a CI timeout) and t.Cleanup never runs.
func dieWithTest(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
