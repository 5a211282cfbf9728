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

// turnGate answers "is any turn ready?" and remembers a negative answer.
type turnGate struct {
	mu   sync.Mutex
	db   *sql.DB
	conn *sql.Conn
	// version, ready, wake are the statements of the gate's connection.
	version, ready, wake *sql.Stmt

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
	for _, p := range []struct {
		q  string
		st **sql.Stmt
	}{{"PRAGMA data_version", &g.version}, {qAnyInstanceReady, &g.ready}, {qTurnWake, &g.wake}} {
		if *p.st, err = g.conn.PrepareContext(ctx, p.q); err != nil {
			return nil, errors.Join(fmt.Errorf("prepare: %w", err), g.close())
		}
	}
	return g, nil
}

// anyReady reports whether a turn is ready at time now.
func (g *turnGate) anyReady(ctx context.Context, now int64) (bool, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	var version int64
	if err := g.version.QueryRowContext(ctx).Scan(&version); err != nil {
		g.cached = false
		return false, err
	}
	if g.cached && version == g.dataVersion && now >= g.from && now < g.until {
		g.cachedHits++
		return false, nil
	}
	g.cached = false
	g.scans++
	var v any
	switch err := g.ready.QueryRowContext(ctx, now).Scan(&v); {
	case err == nil:
		return true, nil
	case !errors.Is(err, sql.ErrNoRows):
		return false, err
	}
	// A commit between the version read and the scans makes the version differ next time:
	// the answer is then computed again.
	var wake sql.NullInt64
	if err := g.wake.QueryRowContext(ctx, now).Scan(&wake); err != nil {
		return false, nil // the answer stands, it is only not remembered
	}
	g.cached, g.dataVersion, g.from, g.until = true, version, now, math.MaxInt64
	if wake.Valid {
		g.until = wake.Int64
	}
	return false, nil
}

func (g *turnGate) close() error {
	var errs []error
	for _, st := range []*sql.Stmt{g.version, g.ready, g.wake} {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	return errors.Join(append(errs, g.conn.Close(), g.db.Close())...)
}
