package sqlite

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/durohost/durohost/abi"
	"github.com/durohost/durohost/history"
	"github.com/durohost/durohost/store"
)

// nanos is the stored form of a time: Unix nanoseconds, 0 for the zero time.
func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// fromNanos is the inverse of nanos (UTC).
func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// newToken returns a fresh random lock token (128 bits, hex).
func newToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return hex.EncodeToString(b[:])
}

// quote formats an instance ID (or any user string) for an error message: quoted, and cut
// short when long.
func quote(s string) string {
	const max = 80
	if len(s) <= max {
		return fmt.Sprintf("%q", s)
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%q...(%d bytes)", s[:cut], len(s))
}

// encodeFailure returns the stored form of a failure (nil for none).
func encodeFailure(f *abi.Failure) ([]byte, error) {
	if f == nil {
		return nil, nil
	}
	return abi.Marshal(f)
}

// decodeFailure parses a stored failure (nil or empty: none).
func decodeFailure(b []byte) (*abi.Failure, error) {
	if len(b) == 0 {
		return nil, nil
	}
	var f abi.Failure
	if err := abi.Unmarshal(b, &f); err != nil {
		return nil, err
	}
	return &f, nil
}

// encodeMessageEvent checks and encodes the event a message carries.
func encodeMessageEvent(m *store.Message) ([]byte, error) {
	if m.InstanceID == "" {
		return nil, fmt.Errorf("message without instance ID: %w", store.ErrInvalid)
	}
	if !m.Event.Kind.Valid() {
		return nil, fmt.Errorf("message to %s: event kind %d: %w", quote(m.InstanceID), m.Event.Kind, store.ErrInvalid)
	}
	ev := m.Event
	ev.ID = 0
	b, err := ev.Encode()
	if err != nil {
		return nil, fmt.Errorf("message to %s: encode event: %v: %w", quote(m.InstanceID), err, store.ErrInvalid)
	}
	return b, nil
}

// isStart reports whether a message is a start message (an execution_started event), whose
// row keeps the namespace of the instance it creates.
func isStart(m *store.Message) bool { return m.Event.Kind == history.KindExecutionStarted }

// checkNamespace rejects a namespace that holds '/' (see store.Key).
func checkNamespace(ns string) error {
	if strings.Contains(ns, "/") {
		return fmt.Errorf("namespace %s holds '/': %w", quote(ns), store.ErrInvalid)
	}
	return nil
}

// checkStartKey rejects a start message from a client whose namespace is not valid or whose
// instance ID is not a key of that namespace (store.Key).
func checkStartKey(m *store.Message) error {
	if !isStart(m) {
		return nil
	}
	if err := checkNamespace(m.Namespace); err != nil {
		return fmt.Errorf("start of %s: %w", quote(m.InstanceID), err)
	}
	if m.Namespace != "" && (!strings.HasPrefix(m.InstanceID, m.Namespace+"/") || len(m.InstanceID) == len(m.Namespace)+1) {
		return fmt.Errorf("start of %s: not a key of namespace %s (store.Key): %w", quote(m.InstanceID), quote(m.Namespace), store.ErrInvalid)
	}
	return nil
}

// startNamespace is the value of messages.namespace for m: its namespace for a start, NULL
// for any other message.
func startNamespace(m *store.Message) any {
	if isStart(m) {
		return m.Namespace
	}
	return nil
}

// decodeEvent parses a stored event, naming where it was found when it is corrupt.
func decodeEvent(data []byte, where func() string) (history.Event, error) {
	ev, err := history.Decode(data)
	if err != nil {
		return history.Event{}, fmt.Errorf("%s: %w: %v", where(), store.ErrCorrupt, err)
	}
	return ev, nil
}

// validStatus reports whether n is a stored Status value.
func validStatus(n int64) bool { return n >= 0 && n <= int64(store.StatusContinuedAsNew) }

// scanFailed returns the error for a failed Scan: the context's error when ctx has ended (a
// query cut short is not corrupt data), else one wrapping store.ErrCorrupt that names the row.
func scanFailed(ctx context.Context, err error, format string, args ...any) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), ctxErr)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), err)
	}
	return corruptf("%s: %v", fmt.Sprintf(format, args...), err)
}

// corruptf returns an error wrapping store.ErrCorrupt.
func corruptf(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), store.ErrCorrupt)
}
