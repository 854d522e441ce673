package zktest

import (
	"os/exec"
	"syscall"
)

// setProcAttr makes the kernel kill the JVM when the test binary dies (a
// panic, or go test's -timeout), so no orphaned ZooKeeper outlives a test run.
// Pdeathsig fires when the forking OS thread exits; the Go runtime keeps its
// threads alive unless a goroutine exits while locked to one, which tests
// starting ZooKeeper do not do.
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
