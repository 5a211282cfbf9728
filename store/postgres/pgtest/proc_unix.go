//go:build unix && !linux

package pgtest

import (
	"os/exec"
	"syscall"
)

// apply runs cmd as the server's user.
func (id identity) apply(cmd *exec.Cmd) {
	if id.switched {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: id.uid, Gid: id.gid}}
	}
}

// stopWithParent does nothing here: only Linux stops a child when its parent dies.
func stopWithParent(*exec.Cmd) {}
