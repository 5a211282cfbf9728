//go:build !unix

package pgtest

import "os/exec"

// apply does nothing: only Unix systems run the server as another user (and initdb refuses
// only Unix's root).
func (identity) apply(*exec.Cmd) {}

// stopWithParent does nothing here: only Linux stops a child when its parent dies.
func stopWithParent(*exec.Cmd) {}
