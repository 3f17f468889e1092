package deepvueaudit_test

import "syscall"

// dieWithTest makes the server die with the test process, even when that is
// killed (a CI timeout) and TestMain's cleanup never runs.
func dieWithTest(a *syscall.SysProcAttr) { a.Pdeathsig = syscall.SIGKILL }
