package sqlite

import (
	"fmt"
	"time"

	"github.com/durohost/durohost/store"
)

// Synchronous is SQLite's synchronous setting for the database: how hard a commit waits for
// the disk. See RATIONALE.md, "Why one writer with group commit in the SQLite store?".
type Synchronous uint8

// Synchronous modes.
const (
	// SyncFull (the default) makes every commit durable before it returns: a turn reported as
	// committed survives a power loss.
	SyncFull Synchronous = iota
	// SyncNormal is the relaxed mode: in WAL mode a commit survives a crash of the process but
	// the last commits may be lost on a power loss or OS crash. It is several times faster
	// for one caller at a time.
	SyncNormal
	// SyncOff hands writes to the OS without ever waiting for the disk. For tests and
	// throwaway data only.
	SyncOff
)

// String returns the SQLite name of the mode.
func (s Synchronous) String() string {
	switch s {
	case SyncFull:
		return "FULL"
	case SyncNormal:
		return "NORMAL"
	case SyncOff:
		return "OFF"
	}
	return fmt.Sprintf("Synchronous(%d)", uint8(s))
}

// Defaults of the options.
const (
	// DefaultBusyTimeout is how long a connection waits for a lock held by another
	// connection (another process on the same file) before failing.
	DefaultBusyTimeout = 10 * time.Second
	// DefaultBatchSize is the most write requests the writer applies in one transaction.
	DefaultBatchSize = 128
	// DefaultReaders is the size of the read connection pool.
	DefaultReaders = 4
	// MaxBatchSize bounds WithBatchSize.
	MaxBatchSize = 4096
)

// Option configures Open. Options are applied in order; Open validates the result.
type Option func(*config)

type config struct {
	sync        Synchronous
	busyTimeout time.Duration
	batchSize   int
	readers     int
	clock       func() time.Time
}

func defaultConfig() config {
	return config{
		sync:        SyncFull,
		busyTimeout: DefaultBusyTimeout,
		batchSize:   DefaultBatchSize,
		readers:     DefaultReaders,
		clock:       time.Now,
	}
}

// validate checks the configuration; errors wrap store.ErrInvalid.
func (c *config) validate() error {
	switch {
	case c.sync > SyncOff:
		return fmt.Errorf("sqlite: unknown synchronous mode %d: %w", c.sync, store.ErrInvalid)
	case c.busyTimeout < 0:
		return fmt.Errorf("sqlite: negative busy timeout %v: %w", c.busyTimeout, store.ErrInvalid)
	case c.batchSize < 1 || c.batchSize > MaxBatchSize:
		return fmt.Errorf("sqlite: batch size %d not in [1, %d]: %w", c.batchSize, MaxBatchSize, store.ErrInvalid)
	case c.readers < 1:
		return fmt.Errorf("sqlite: %d readers: %w", c.readers, store.ErrInvalid)
	case c.clock == nil:
		return fmt.Errorf("sqlite: nil clock: %w", store.ErrInvalid)
	}
	return nil
}

// WithSynchronous sets the durability of commits (default SyncFull).
func WithSynchronous(s Synchronous) Option { return func(c *config) { c.sync = s } }

// WithBusyTimeout sets how long a connection waits for a lock held by another connection
// (default DefaultBusyTimeout).
func WithBusyTimeout(d time.Duration) Option { return func(c *config) { c.busyTimeout = d } }

// WithBatchSize sets the most write requests committed in one transaction by group commit
// (default DefaultBatchSize; 1 disables batching).
func WithBatchSize(n int) Option { return func(c *config) { c.batchSize = n } }

// WithReaders sets the number of read connections (default DefaultReaders).
func WithReaders(n int) Option { return func(c *config) { c.readers = n } }

// WithClock sets the clock used for lock expiry, message visibility and timestamps
// (default time.Now).
func WithClock(now func() time.Time) Option { return func(c *config) { c.clock = now } }
