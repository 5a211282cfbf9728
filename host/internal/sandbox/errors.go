package sandbox

import "errors"

var (
	// ErrInvalidModule is returned by Load for bytes that are not an acceptable orchestration
	// module; the message names every problem (forbidden imports, missing exports, ...).
	ErrInvalidModule = errors.New("invalid orchestration module")
	// ErrClosed is returned after the runtime or the instance was closed.
	ErrClosed = errors.New("sandbox closed")
	// errKilled unwinds a parked guest when its instance is discarded.
	errKilled = errors.New("instance discarded")
)
