package history

import "errors"

// ErrCorrupt is returned when stored or transmitted event bytes cannot be decoded.
var ErrCorrupt = errors.New("corrupt history event")
