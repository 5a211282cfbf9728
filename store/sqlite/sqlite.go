// Package sqlite is the embedded SQLite implementation of store.Store, the default store of
// durohost.
//
// The database runs in WAL mode. All writes go through one writer goroutine that owns one
// connection and commits concurrent requests together (group commit); reads use a separate
// pool of connections, which WAL lets run beside the writer. Commits are durable
// (synchronous=FULL) unless WithSynchronous relaxes them. The schema is created and
// migrated by Open from numbered migrations embedded in the binary. See RATIONALE.md, "Why
// one writer with group commit in the SQLite store?".
//
// Limits: a turn carries at most MaxTurnMessages messages (the oldest visible ones); the
// others stay queued for the next turn.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/durohost/durohost/store"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// MemoryPath is the path that opens a private in-memory database, discarded by Close.
// In-memory databases cannot use WAL: they use SQLite's in-memory journal instead, so a
// reader waits while the writer commits. Meant for tests.
const MemoryPath = ":memory:"

// MaxTurnMessages is the most messages FetchTurn returns in one turn.
const MaxTurnMessages = 1000

// Store is a store.Store kept in one SQLite database. Open it with Open; it is safe for
// concurrent use.
type Store struct {
	cfg config
	w   *writer
	rdb *sql.DB
	// reads holds the read statements prepared once on the readers: the "is anything ready"
	// queries of FetchTurn and FetchActivity (an idle dispatcher runs one at every poll) and
	// ResolveModule's (one at every start of an instance).
	reads map[string]*sql.Stmt
	// schema is the schema version this store migrated the database to.
	schema int

	mu     sync.RWMutex // held for reading by every call, for writing by Close
	closed bool
}

// The store implements the core and every capability but store.Waker (several processes on
// one database find each other's work by polling).
var (
	_ store.Store            = (*Store)(nil)
	_ store.DirectDispatcher = (*Store)(nil)
	_ store.HistorySkipper   = (*Store)(nil)
	_ store.Pinger           = (*Store)(nil)
)

// SkipsKnownHistory reports true: FetchTurn, EnqueueAndFetch, CompleteActivityAndFetch and
// StartInstance honour their known arguments (store.HistorySkipper).
func (s *Store) SkipsKnownHistory() bool { return true }

var memoryDBs atomic.Int64

// Open opens (creating it if needed) the database at path, or a private in-memory database
// for MemoryPath, and brings its schema up to date. A database written by a newer version
// of durohost fails with an error wrapping store.ErrSchemaTooNew; invalid options with one
// wrapping store.ErrInvalid.
func Open(path string, opts ...Option) (*Store, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if path == "" {
		return nil, fmt.Errorf("sqlite: empty path: %w", store.ErrInvalid)
	}
	ms, err := loadMigrations(migrationFS, "migrations")
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	return open(path, cfg, ms)
}

func open(path string, cfg config, ms []migration) (*Store, error) {
	writeDSN, readDSN := dsns(path, cfg)
	wdb, err := sql.Open("sqlite", writeDSN)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	wdb.SetMaxOpenConns(1)
	wdb.SetMaxIdleConns(1)
	wdb.SetConnMaxIdleTime(0)
	wdb.SetConnMaxLifetime(0)
	conn, err := wdb.Conn(context.Background())
	if err != nil {
		wdb.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	if err := migrate(context.Background(), conn, ms); err != nil {
		conn.Close()
		wdb.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	rdb, err := sql.Open("sqlite", readDSN)
	if err != nil {
		conn.Close()
		wdb.Close()
		return nil, fmt.Errorf("sqlite: open %s for reading: %w", path, err)
	}
	rdb.SetMaxOpenConns(cfg.readers)
	rdb.SetMaxIdleConns(cfg.readers)
	rdb.SetConnMaxIdleTime(0)
	rdb.SetConnMaxLifetime(0)
	if err := rdb.Ping(); err != nil {
		rdb.Close()
		conn.Close()
		wdb.Close()
		return nil, fmt.Errorf("sqlite: open %s for reading: %w", path, err)
	}
	reads := map[string]*sql.Stmt{}
	for _, q := range []string{qAnyInstanceReady, qNextWorkItem, qResolveNewest, qResolveVersion} {
		st, err := rdb.Prepare(q)
		if err != nil {
			for _, st := range reads {
				st.Close()
			}
			rdb.Close()
			conn.Close()
			wdb.Close()
			return nil, fmt.Errorf("sqlite: open %s: prepare: %w", path, err)
		}
		reads[q] = st
	}
	// Relaxed lock transactions are safe only in WAL mode (see writer.doRelaxed): ask the
	// database which mode it is in rather than assume the DSN's request was honoured.
	var mode string
	if err := conn.QueryRowContext(context.Background(), "PRAGMA journal_mode").Scan(&mode); err != nil {
		conn.Close()
		wdb.Close()
		rdb.Close()
		return nil, fmt.Errorf("sqlite: open %s: journal mode: %w", path, err)
	}
	w := newWriter(wdb, conn, cfg.batchSize, cfg.clock, cfg.sync, path != MemoryPath && strings.EqualFold(mode, "wal"))
	return &Store{cfg: cfg, w: w, rdb: rdb, reads: reads, schema: len(ms)}, nil
}

// dsns returns the data source names of the writer and of the readers.
func dsns(path string, cfg config) (write, read string) {
	busy := strconv.FormatInt(cfg.busyTimeout.Milliseconds(), 10)
	common := "&_pragma=busy_timeout(" + busy + ")&_pragma=cache_size(-16000)&_pragma=temp_store(MEMORY)"
	var uri string
	if path == MemoryPath {
		// memdb databases whose name starts with "/" are shared by the connections of this
		// process (and live as long as one is open: the writer's).
		uri = "file:/durohost-" + strconv.FormatInt(memoryDBs.Add(1), 10) + "-" + strconv.FormatInt(time.Now().UnixNano(), 36) + "?vfs=memdb"
		write = uri + common + "&_pragma=synchronous(" + cfg.sync.String() + ")"
	} else {
		uri = "file:" + escapePath(path) + "?mode=rwc"
		write = uri + common + "&_pragma=journal_mode(WAL)&_pragma=synchronous(" + cfg.sync.String() + ")&_pragma=journal_size_limit(67108864)"
	}
	read = uri + common + "&_pragma=query_only(1)"
	return write, read
}

// escapePath makes a file path safe inside a SQLite URI filename.
func escapePath(p string) string {
	return strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(p)
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

// Ping checks that the database answers: it reads the schema version from a read
// connection (no write, no lock). store.ErrClosed after Close.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	var v int
	if err := s.rdb.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	if v != s.schema {
		// Another process migrated the database: this one no longer knows its schema.
		return fmt.Errorf("ping: database schema version %d, this store uses %d: %w", v, s.schema, store.ErrSchemaTooNew)
	}
	return nil
}

// Close waits for the calls in progress, then closes the writer and the readers. Further
// calls (Close included) return store.ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return store.ErrClosed
	}
	s.closed = true
	var errs []error
	for _, st := range s.reads {
		errs = append(errs, st.Close())
	}
	return errors.Join(append(errs, s.rdb.Close(), s.w.close())...)
}
