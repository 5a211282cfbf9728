package wasmopt

import (
	"errors"
	"fmt"
)

// ErrMalformed is returned (wrapped, with the byte offset, the section, the function if any
// and what is wrong) for input that is not a well-formed WebAssembly 2.0 binary.
var ErrMalformed = errors.New("malformed WebAssembly module")

// ErrLimit is returned by Check (wrapped, naming the limit, the value and where) for a module
// that exceeds one of its Limits.
var ErrLimit = errors.New("module exceeds a limit")

var (
	// errLEBEnd is an LEB128 integer cut short by the end of its section or module.
	errLEBEnd = errors.New("unexpected end in LEB128 integer")
	// errLEBRange is an LEB128 integer too long or too large for its type.
	errLEBRange = errors.New("LEB128 integer too long or too large")
)

// malformed returns an error wrapping ErrMalformed about the byte at offset off.
func malformed(off int, format string, args ...any) error {
	return fmt.Errorf("%w: at offset %d: %s", ErrMalformed, off, fmt.Sprintf(format, args...))
}
