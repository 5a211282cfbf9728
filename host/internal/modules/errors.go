package modules

import "errors"

var (
	// ErrClosed is returned by acquisitions after Close.
	ErrClosed = errors.New("module manager closed")
	// ErrCorrupt is returned by AcquireHash when the bytes fetched for a hash do not match it.
	ErrCorrupt = errors.New("module bytes do not match their hash")
)
