//go:build !linux

package zktest

import "os/exec"

// setProcAttr does nothing where there is no parent-death signal; Cleanup
// still kills the server when the test ends normally.
func setProcAttr(cmd *exec.Cmd) {}
