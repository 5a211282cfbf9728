// Package postgres is the PostgreSQL implementation of store.Store, for several hosts
// sharing one database (scale-out) and for servers that already run PostgreSQL.
//
// Every host that opens the same database (and schema, WithSchema) shares its work: hosts
// are competing consumers of the queues. FetchTurn and FetchActivity lock the oldest ready
// instance or work item with FOR NO KEY UPDATE SKIP LOCKED, so concurrent fetches of
// several hosts never wait for each other; a lock carries a token and an expiry read from the
// database's clock, and an expired lock is taken over (the first holder's token then fails
// with store.ErrLockLost). A turn commits in one transaction, sent as one pipeline of
// statements (one round trip) whose first statement checks the lock and the history and
// raises an error when a check fails, which rolls the whole transaction back. Locks and
// renewals commit without waiting for the disk; everything else waits for it. Idle hosts need
// not poll: a store notifies the others (LISTEN/NOTIFY) when it makes work visible, see
// Store.Wakeups.
//
// The store implements the core contract and every capability of package store
// (DirectDispatcher, HistorySkipper, Waker, Pinger).
//
// The schema is created and migrated by Open from numbered migrations embedded in the
// binary, in the schema DefaultSchema ("durohost") unless WithSchema names another. See
// RATIONALE.md, "Why a PostgreSQL store, and how does it share work?".
//
// Limits: a turn carries at most MaxTurnMessages messages (the oldest visible ones); the
// others stay queued for the next turn. Text (instance IDs, names, namespaces) must be valid
// UTF-8 without NUL bytes, and an instance ID must fit in an index entry (about 2.7 KB after
// compression): other values are refused with store.ErrInvalid.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/durohost/durohost/store"
)

// MaxTurnMessages is the most messages FetchTurn returns in one turn.
const MaxTurnMessages = 1000

// maxAttempts bounds the runs of a transaction that fails transiently (see transient).
const maxAttempts = 8

// Store is a store.Store kept in a PostgreSQL database. Open it with Open; it is safe for
// concurrent use, and any number of Stores, in any number of processes, may share a database.
type Store struct {
	cfg config
	// pool commits; fetch takes and renews locks, with synchronous_commit off.
	pool, fetch *pgxpool.Pool
	// channel is the notification channel of the store's schema.
	channel string
	// connCfg configures the connection that listens for notifications.
	connCfg *pgx.ConnConfig
	owners  *owners
	notes   *notifier

	mu     sync.RWMutex // held for reading by every call, for writing by Close
	closed bool
}

// The store has every capability.
var (
	_ store.Store            = (*Store)(nil)
	_ store.DirectDispatcher = (*Store)(nil)
	_ store.HistorySkipper   = (*Store)(nil)
	_ store.Waker            = (*Store)(nil)
	_ store.Pinger           = (*Store)(nil)
)

// Open connects to the database at url (a PostgreSQL URL or key=value connection string,
// as pgx reads them; pool settings in it are overridden by the options) and brings the
// store's schema up to date, creating it if needed. A database written by a newer version of
// durohost fails with an error wrapping store.ErrSchemaTooNew; invalid options or a malformed
// url with one wrapping store.ErrInvalid. The database must use the UTF8 encoding.
func Open(ctx context.Context, url string, opts ...Option) (*Store, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	poolCfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: connection string: %v: %w", err, store.ErrInvalid)
	}
	params := poolCfg.ConnConfig.RuntimeParams
	params["search_path"] = cfg.schema
	if params["application_name"] == "" {
		params["application_name"] = "durohost"
	}
	poolCfg.MaxConns = int32(cfg.maxConns)
	poolCfg.MinConns = 0
	if err := setUp(ctx, poolCfg.ConnConfig, cfg.schema); err != nil {
		return nil, err
	}
	pool, err := pgxpool.NewWithConfig(ctx, poolCfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	fetchCfg := poolCfg.Copy()
	fetchCfg.MaxConns = int32(cfg.fetchConns)
	fetchCfg.ConnConfig.RuntimeParams["synchronous_commit"] = "off"
	fetch, err := pgxpool.NewWithConfig(ctx, fetchCfg)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: %w", err)
	}
	s := &Store{
		cfg:     cfg,
		pool:    pool,
		fetch:   fetch,
		channel: "durohost_work." + cfg.schema,
		connCfg: poolCfg.ConnConfig.Copy(),
		owners:  newOwners(),
	}
	s.notes = newNotifier(s)
	return s, nil
}

// setUp checks the server and migrates the schema (creating it when it does not exist).
func setUp(ctx context.Context, connCfg *pgx.ConnConfig, schema string) error {
	conn, err := pgx.ConnectConfig(ctx, connCfg)
	if err != nil {
		return fmt.Errorf("postgres: connect: %w", err)
	}
	defer conn.Close(context.Background())
	var encoding string
	if err := conn.QueryRow(ctx, "SHOW server_encoding").Scan(&encoding); err != nil {
		return fmt.Errorf("postgres: server encoding: %w", err)
	}
	if encoding != "UTF8" {
		return fmt.Errorf("postgres: the database's encoding is %s, the store needs UTF8: %w", encoding, store.ErrInvalid)
	}
	ms, err := loadMigrations(migrationFS, "migrations")
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	if err := migrate(ctx, conn, schema, ms); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	return nil
}

// enter starts a call: it fails with ErrClosed after Close, and otherwise keeps Close
// waiting until leave.
func (s *Store) enter() error {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return store.ErrClosed
	}
	return nil
}

func (s *Store) leave() { s.mu.RUnlock() }

// write runs fn on a connection of p: a transaction (or a pipeline, which is one) that fn
// sends. The connection is acquired with ctx, so a caller whose context ends while it waits
// for one withdraws; fn then runs with a context that ignores the end of ctx (bounded by the
// write timeout), so that a write that was sent is always waited for and an error means that
// nothing was written. A transaction that fails transiently (a deadlock, a serialization
// failure, a message sent to an instance being deleted) runs again, up to maxAttempts times.
// Errors are translated by sqlError.
func (s *Store) write(ctx context.Context, p *pgxpool.Pool, fn func(ctx context.Context, conn *pgx.Conn) error) error {
	for attempt := 1; ; attempt++ {
		conn, err := p.Acquire(ctx)
		if err != nil {
			return ctxError(ctx, err)
		}
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.writeTimeout)
		err = sqlError(fn(wctx, conn.Conn()))
		cancel()
		conn.Release()
		if err == nil || !transient(err) || attempt == maxAttempts || ctx.Err() != nil {
			if errors.Is(err, errRetry) {
				return fmt.Errorf("%d attempts: %w", attempt, errRetry)
			}
			return err
		}
		time.Sleep(time.Duration(rand.Int64N(int64(attempt) * int64(time.Millisecond))))
	}
}

// inTx runs a transaction on a connection of the main pool, as write does. begin queues
// statements that are sent with the BEGIN (in its round trip); read reads their results,
// in order; fn then runs the rest of the transaction on tx. An error of read or fn rolls the
// transaction back; otherwise it commits.
func (s *Store) inTx(ctx context.Context, begin func(b *pgx.Batch), read func(br pgx.BatchResults) error, fn func(ctx context.Context, tx pgx.Tx) error) error {
	return s.write(ctx, s.pool, func(ctx context.Context, conn *pgx.Conn) error {
		b := &pgx.Batch{}
		b.BeginTx(pgx.TxOptions{})
		if begin != nil {
			begin(b)
		}
		br := conn.SendBatch(ctx, b)
		tx := br.Tx()
		_, err := br.Exec() // the BEGIN's result first
		if err == nil && read != nil {
			err = read(br)
		}
		if closeErr := br.Close(); err == nil {
			err = closeErr
		}
		if err == nil && fn != nil {
			err = fn(ctx, tx)
		}
		if err != nil {
			_ = tx.Rollback(ctx)
			return err
		}
		return tx.Commit(ctx)
	})
}

// Ping checks that the database answers and that its schema is the one this store knows.
// store.ErrClosed after Close.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	var v int
	if err := s.pool.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM schema_version").Scan(&v); err != nil {
		return fmt.Errorf("ping: %w", ctxError(ctx, err))
	}
	if want := schemaVersion(); v != want {
		// Another process migrated the database: this one no longer knows its schema.
		return fmt.Errorf("ping: database schema version %d, this store uses %d: %w", v, want, store.ErrSchemaTooNew)
	}
	return nil
}

// Close waits for the calls in progress, stops the notifications and closes the
// connections. Further calls (Close included) return store.ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return store.ErrClosed
	}
	s.closed = true
	s.notes.close()
	s.fetch.Close()
	s.pool.Close()
	return nil
}
