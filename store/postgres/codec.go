package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

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

// newSecret returns the random part of a fresh lock token (128 bits, hex).
func newSecret() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return hex.EncodeToString(b[:])
}

// Lock tokens are "<kind><row>.<secret>": the kind, the number of the row that holds the
// lock (turn_locks.lock_id for a turn, work_items.id for an activity) and the secret the row
// keeps. A turn token's kind also says whether the instance had a row when it was locked,
// which picks the form of its commit (a hint only: each form checks what it assumes).
const (
	kindTurnRow     = 'r' // a turn of an instance that has a row
	kindTurnPending = 'p' // a turn of an instance without a row (its first turn)
	kindActivity    = 'a' // an activity work item
)

// token is a parsed lock token.
type token struct {
	kind   byte
	row    int64
	secret string
}

// makeToken formats a token.
func makeToken(kind byte, row int64, secret string) string {
	return string(kind) + strconv.FormatInt(row, 10) + "." + secret
}

// parseToken parses a token of one of kinds; ok is false for anything else (an unknown,
// empty or malformed token, or one of another kind).
func parseToken(s string, kinds string) (token, bool) {
	if s == "" || !strings.ContainsRune(kinds, rune(s[0])) {
		return token{}, false
	}
	num, secret, ok := strings.Cut(s[1:], ".")
	if !ok || secret == "" {
		return token{}, false
	}
	row, err := strconv.ParseInt(num, 10, 64)
	if err != nil || row <= 0 {
		return token{}, false
	}
	return token{kind: s[0], row: row, secret: secret}, true
}

// owners remembers the instance of the rows that hold locks (a lock row's instance never
// changes, nor a work item's), so that a commit or a completion needs no query to find it.
// It is only a cache: a token it does not know is looked up.
type owners struct {
	mu    sync.Mutex
	turns map[int64]string // turn_locks.lock_id → instance
	items map[int64]string // work_items.id → instance
}

// maxOwners bounds each map of owners (tokens never committed or abandoned would stay
// otherwise); past it the map is emptied.
const maxOwners = 1 << 16

func newOwners() *owners {
	return &owners{turns: map[int64]string{}, items: map[int64]string{}}
}

func (o *owners) put(m map[int64]string, row int64, id string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(m) >= maxOwners {
		clear(m)
	}
	m[row] = id
}

func (o *owners) get(m map[int64]string, row int64) (string, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	id, ok := m[row]
	return id, ok
}

func (o *owners) drop(m map[int64]string, row int64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(m, row)
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

// scanFailed returns the error for a failed read: the context's error when ctx has ended (a
// query cut short is not corrupt data), one wrapping store.ErrCorrupt that names the row when
// a stored value could not be decoded, else the error of the server or the connection.
func scanFailed(ctx context.Context, err error, format string, args ...any) error {
	what := fmt.Sprintf(format, args...)
	if ctx.Err() != nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: %w", what, ctxError(ctx, err))
	}
	var scan pgx.ScanArgError
	if errors.As(err, &scan) {
		return corruptf("%s: %v", what, err)
	}
	return fmt.Errorf("%s: %w", what, sqlError(err))
}

// corruptf returns an error wrapping store.ErrCorrupt.
func corruptf(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), store.ErrCorrupt)
}

// advisoryKey is the second key of a transaction-level advisory lock on name: a hash of the
// store's schema and name, so that stores in other schemas of the database rarely share it.
func advisoryKey(schema, name string) int32 {
	h := fnv.New32a()
	h.Write([]byte(schema))
	h.Write([]byte{0})
	h.Write([]byte(name))
	return int32(h.Sum32())
}

// Advisory lock classes (the first key): what the second key names.
const (
	advisoryBase      = 0x64680000       // "dh"
	advisoryInstance  = advisoryBase + 1 // an instance key: starts and deletes of one ID
	advisoryNamespace = advisoryBase + 2 // a namespace: starts under an instance quota
	advisoryModules   = advisoryBase + 3 // the module registry (second key: the schema)
	advisoryMigrate   = advisoryBase + 4 // schema migrations (second key: the schema)
)
