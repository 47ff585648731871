package client_test

import (
	"os/exec"
	"syscall"
)

// dieWithTest makes the ledger the tests start die with the test binary,
// even when an example ends it with log.Fatal.
func dieWithTest(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
