package abi

import (
	"fmt"
	"unicode/utf8"
)

// MaxNameLen bounds names and instance IDs, in bytes (see ABI.md, "Names").
const MaxNameLen = 1024

// CheckName reports whether s may be a name (of an orchestration, activity, event, queue) or
// an instance ID: 1 to MaxNameLen bytes of valid UTF-8 holding no control character (C0, DEL,
// C1: no NUL, CR, LF, ESC) and no invisible formatting character that could make it display
// as another name (bidirectional controls, zero-width characters, the byte-order mark). The
// error says which rule s breaks and where.
func CheckName(s string) error {
	switch {
	case s == "":
		return fmt.Errorf("is empty")
	case len(s) > MaxNameLen:
		return fmt.Errorf("is %d bytes, more than %d", len(s), MaxNameLen)
	case !utf8.ValidString(s):
		return fmt.Errorf("is not valid UTF-8")
	}
	for i, r := range s {
		if forbiddenRune(r) {
			return fmt.Errorf("holds the invisible or control character %U at byte %d", r, i)
		}
	}
	return nil
}

// forbiddenRune: C0 and C1 controls, DEL, and the format characters that change how text
// displays without being seen (bidirectional embeddings, overrides and isolates, marks,
// zero-width spaces and joiners, word joiner, byte-order mark).
func forbiddenRune(r rune) bool {
	switch {
	case r < 0x20, r >= 0x7f && r <= 0x9f:
		return true
	case r >= 0x200b && r <= 0x200f, r >= 0x202a && r <= 0x202e, r >= 0x2060 && r <= 0x2064,
		r >= 0x2066 && r <= 0x2069, r == 0xfeff, r == 0x061c:
		return true
	}
	return false
}
