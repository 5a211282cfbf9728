package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"sync"
)

// The turn gate remembers that no turn was ready, so that the idle dispatchers polling
// FetchTurn do not each scan the message queue again while nothing changed. The check of
// qAnyInstanceReady walks the visible messages in order until one belongs to an instance
// without a live lock: while an instance runs a turn, every message queued for it meanwhile
// (the results of a fan-out) is walked, and found locked, by every poll. See RATIONALE.md,
// "Why does the SQLite store remember that no turn was ready?".
//
// An answer "no turn is ready" holds until the database changes or the clock reaches the
// first moment one could become ready without a change: the earliest ready_at of a message
// not yet visible, or the earliest expiry of a lock that holds back a visible message. Changes
// are seen through PRAGMA data_version on a connection of the gate's own, which changes when
// any other connection commits (the writer, or another process).

// qTurnWake is the first time after ?1 when a turn could become ready without a write (NULL:
// no message at all): a message becoming visible, or an instance with visible messages whose
// locks have all expired.
const qTurnWake = `SELECT MIN(w) FROM (
	SELECT MIN(ready_at) AS w FROM messages WHERE ready_at > ?1
	UNION ALL
	SELECT MIN(MAX(COALESCE(i.locked_until, 0), COALESCE(l.locked_until, 0))) FROM messages m
		LEFT JOIN instances i ON i.id = m.instance_id
		LEFT JOIN instance_locks l ON l.instance_id = m.instance_id
		WHERE m.ready_at <= ?1)`

// turnGate answers "is any turn ready?" and remembers a negative answer. Only the version
// check is serialised (on the gate's connection, which never writes, so that its data_version
// moves with every commit); the scans run on the readers, in parallel, as they did without a
// gate: serialising them made the pollers that wake together (timers coming due) wait for one
// another.
type turnGate struct {
	mu   sync.Mutex
	db   *sql.DB
	conn *sql.Conn
	// version is the data_version statement of the gate's connection.
	version *sql.Stmt

	// cached says that no turn was ready at time from, when the data version was dataVersion;
	// the answer holds until the clock reaches until or the version changes.
	cached            bool
	dataVersion       int64
	from, until       int64
	scans, cachedHits int64 // for tests and benchmarks
}

// openTurnGate opens the gate's connection with the readers' data source name.
func openTurnGate(dsn string) (*turnGate, error) {
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxIdleTime(0)
	db.SetConnMaxLifetime(0)
	g := &turnGate{db: db}
	ctx := context.Background()
	if g.conn, err = db.Conn(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if g.version, err = g.conn.PrepareContext(ctx, "PRAGMA data_version"); err != nil {
		return nil, errors.Join(fmt.Errorf("prepare: %w", err), g.close())
	}
	return g, nil
}

// anyReady reports whether a turn is ready at time now; ready and wake are qAnyInstanceReady
// and qTurnWake prepared on the readers.
func (g *turnGate) anyReady(ctx context.Context, now int64, ready, wake *sql.Stmt) (bool, error) {
	g.mu.Lock()
	var version int64
	if err := g.version.QueryRowContext(ctx).Scan(&version); err != nil {
		g.cached = false
		g.mu.Unlock()
		return false, err
	}
	if g.cached && version == g.dataVersion && now >= g.from && now < g.until {
		g.cachedHits++
		g.mu.Unlock()
		return false, nil
	}
	g.scans++
	g.mu.Unlock()
	// The scans start after the version was read, so they see at least what it stands for:
	// a commit in between makes the version differ at the next check, and the answer is then
	// computed again. Two checks racing may remember an older answer over a newer one; that
	// costs a scan, never a wrong answer.
	var v any
	switch err := ready.QueryRowContext(ctx, now).Scan(&v); {
	case err == nil:
		return true, nil
	case !errors.Is(err, sql.ErrNoRows):
		return false, err
	}
	var next sql.NullInt64
	if err := wake.QueryRowContext(ctx, now).Scan(&next); err != nil {
		return false, nil // the answer stands, it is only not remembered
	}
	g.mu.Lock()
	g.cached, g.dataVersion, g.from, g.until = true, version, now, math.MaxInt64
	if next.Valid {
		g.until = next.Int64
	}
	g.mu.Unlock()
	return false, nil
}

func (g *turnGate) close() error {
	var errs []error
	if g.version != nil {
		errs = append(errs, g.version.Close())
	}
	return errors.Join(append(errs, g.conn.Close(), g.db.Close())...)
}
