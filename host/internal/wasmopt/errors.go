package wasmopt

import (
	"errors"
	"fmt"
)

// ErrMalformed is returned (wrapped, with the byte offset and what is wrong) for input that
// is not a well-formed WebAssembly 1.0/2.0 binary in the parts a transformation reads.
var ErrMalformed = errors.New("malformed WebAssembly module")

var (
	// errLEBEnd is an LEB128 integer cut short by the end of its section or module.
	errLEBEnd = errors.New("unexpected end in LEB128 integer")
	// errLEBRange is an LEB128 integer too long or too large for 32 bits.
	errLEBRange = errors.New("LEB128 integer too large for 32 bits")
	// errExprEnd is a constant expression cut short by the end of its section.
	errExprEnd = errors.New("unexpected end in constant expression")
)

// malformed returns an error wrapping ErrMalformed about the byte at offset off.
func malformed(off int, format string, args ...any) error {
	return fmt.Errorf("%w: at offset %d: %s", ErrMalformed, off, fmt.Sprintf(format, args...))
}
