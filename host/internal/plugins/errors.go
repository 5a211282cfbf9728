package plugins

import "errors"

var (
	// ErrInvalid is wrapped by Describe and Load for bytes that are not an acceptable plugin;
	// the message names every problem (malformed module, forbidden imports, no function).
	ErrInvalid = errors.New("invalid plugin")
	// ErrClosed is returned by Load and Call after Manager.Close or Plugin.Close.
	ErrClosed = errors.New("plugin closed")
)
