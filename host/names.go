package host

import (
	"fmt"

	"github.com/durohost/durohost/abi"
)

// checkName validates a name or ID given to the host (abi.CheckName: printable UTF-8, 1 to
// 1024 bytes); what names it in the error.
func checkName(what, s string) error {
	if err := abi.CheckName(s); err != nil {
		if s == "" {
			return fmt.Errorf("%w: %s %v", ErrInvalidName, what, err)
		}
		return fmt.Errorf("%w: %s %q %v", ErrInvalidName, what, truncate(s, 64), err)
	}
	return nil
}

// truncate shortens s to about n bytes for an error message.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
