package pgtest

import (
	"os/exec"
	"syscall"
)

// apply runs cmd as the server's user.
func (id identity) apply(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	if id.switched {
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: id.uid, Gid: id.gid}
	}
}

// stopWithParent makes the kernel stop postgres (an immediate shutdown) when the test binary
// dies without stopping it, so that a killed test run leaves no server behind.
func stopWithParent(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGQUIT
}
