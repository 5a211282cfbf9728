//go:build !unix

package builtin

import "os/exec"

// killGroupOnCancel keeps exec's default on systems without process groups: the
// cancellation of cmd's context kills the process itself (not its children).
func killGroupOnCancel(cmd *exec.Cmd) {}
