package postgres

import (
	"fmt"
	"time"

	"github.com/durohost/durohost/store"
)

// Defaults of the options.
const (
	// DefaultSchema is the schema that holds the store's tables.
	DefaultSchema = "durohost"
	// DefaultMaxConns is the size of the pool of connections that commit.
	DefaultMaxConns = 8
	// DefaultFetchConns is the size of the pool of connections that take and renew locks.
	DefaultFetchConns = 4
	// DefaultNotifyInterval is the least time between two notifications this store sends.
	DefaultNotifyInterval = 2 * time.Millisecond
	// DefaultWriteTimeout bounds a write once it was sent (see WithWriteTimeout).
	DefaultWriteTimeout = time.Minute
	// maxSchemaLen keeps the notification channel ("durohost_work." + schema) within
	// PostgreSQL's 63 bytes.
	maxSchemaLen = 48
)

// Option configures Open. Options are applied in order; Open validates the result.
type Option func(*config)

type config struct {
	schema         string
	maxConns       int
	fetchConns     int
	notify         bool
	notifyInterval time.Duration
	writeTimeout   time.Duration
}

func defaultConfig() config {
	return config{
		schema:         DefaultSchema,
		maxConns:       DefaultMaxConns,
		fetchConns:     DefaultFetchConns,
		notify:         true,
		notifyInterval: DefaultNotifyInterval,
		writeTimeout:   DefaultWriteTimeout,
	}
}

// validate checks the configuration; errors wrap store.ErrInvalid.
func (c *config) validate() error {
	switch {
	case !validSchema(c.schema):
		return fmt.Errorf("postgres: schema %q: want 1 to %d lower-case letters, digits or '_', not starting with a digit: %w",
			c.schema, maxSchemaLen, store.ErrInvalid)
	case c.maxConns < 1:
		return fmt.Errorf("postgres: %d connections: %w", c.maxConns, store.ErrInvalid)
	case c.fetchConns < 1:
		return fmt.Errorf("postgres: %d fetch connections: %w", c.fetchConns, store.ErrInvalid)
	case c.notifyInterval < 0:
		return fmt.Errorf("postgres: negative notify interval %v: %w", c.notifyInterval, store.ErrInvalid)
	case c.writeTimeout <= 0:
		return fmt.Errorf("postgres: write timeout %v: %w", c.writeTimeout, store.ErrInvalid)
	}
	return nil
}

// validSchema reports whether name is a schema name the store accepts: one that needs no
// quoting, so that it reads the same in SQL, in search_path and in the channel name.
func validSchema(name string) bool {
	if name == "" || len(name) > maxSchemaLen || (name[0] >= '0' && name[0] <= '9') {
		return false
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
			return false
		}
	}
	return true
}

// WithSchema sets the schema that holds the store's tables (default DefaultSchema). Open
// creates it when it does not exist. Stores in different schemas of one database are
// independent (their notifications too).
func WithSchema(name string) Option { return func(c *config) { c.schema = name } }

// WithMaxConns sets the size of the pool of connections that commit turns and run the other
// calls (default DefaultMaxConns). Commits of concurrent callers share the server's disk
// flushes, so a few connections per CPU of the server are enough.
func WithMaxConns(n int) Option { return func(c *config) { c.maxConns = n } }

// WithFetchConns sets the size of the pool of connections that take and renew locks
// (FetchTurn, FetchActivity, RenewTurn, RenewActivity; default DefaultFetchConns). Those
// commit without waiting for the disk (see RATIONALE.md, "Why do lock transactions not wait
// for the disk?").
func WithFetchConns(n int) Option { return func(c *config) { c.fetchConns = n } }

// WithNotify sets whether the store sends notifications when it makes work visible (default
// true; see Store.Wakeups). A store that no other store on the database listens to
// may save them.
func WithNotify(send bool) Option { return func(c *config) { c.notify = send } }

// WithNotifyInterval sets the least time between two notifications the store sends (default
// DefaultNotifyInterval): work made visible in between is announced by one notification.
func WithNotifyInterval(d time.Duration) Option { return func(c *config) { c.notifyInterval = d } }

// WithWriteTimeout bounds a write once it was sent to the server (default
// DefaultWriteTimeout). A write waits for its outcome even when the caller's context ends,
// so that an error means nothing was written; past this bound it gives up and the outcome is
// unknown.
func WithWriteTimeout(d time.Duration) Option { return func(c *config) { c.writeTimeout = d } }
