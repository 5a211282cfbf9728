package sqlite

import (
	"database/sql"
	"errors"
	"strconv"
	"strings"
)

// Turn locks live in one of two places (migration 0003). An instance that has a row is locked
// on it (instances.lock_token, locked_until), so that CommitTurn checks and releases the lock
// in the same UPDATE that writes the instance. An instance without a row (its first turn, or
// messages to an instance that does not exist) is locked in instance_locks. The token of a row
// lock is "r<rowid>.<random>", found by rowid; any other token is looked up in instance_locks.
// Either way the lock row is the truth; tx.lockOwners is only a hint.

const (
	// qNextInstance picks the instance whose oldest visible message became visible first, among
	// those with no live lock (fairness: the longest wait is served first). It also returns
	// the instance's rowid (NULL: no row yet).
	qNextInstance = `SELECT m.instance_id, i.rowid FROM messages m LEFT JOIN instances i ON i.id = m.instance_id
		WHERE m.ready_at <= ?1
		  AND (i.locked_until IS NULL OR i.locked_until <= ?1)
		  AND NOT EXISTS (SELECT 1 FROM instance_locks l WHERE l.instance_id = m.instance_id AND l.locked_until > ?1)
		ORDER BY m.ready_at, m.id LIMIT 1`
	// qAnyInstanceReady is qNextInstance's condition, for the check on a read connection.
	qAnyInstanceReady = `SELECT 1 FROM messages m LEFT JOIN instances i ON i.id = m.instance_id
		WHERE m.ready_at <= ?1
		  AND (i.locked_until IS NULL OR i.locked_until <= ?1)
		  AND NOT EXISTS (SELECT 1 FROM instance_locks l WHERE l.instance_id = m.instance_id AND l.locked_until > ?1)
		LIMIT 1`
	qLockRow     = `UPDATE instances SET lock_token = ?2, locked_until = ?3 WHERE rowid = ?1`
	qLockPending = `INSERT INTO instance_locks (instance_id, token, locked_until) VALUES (?1, ?2, ?3)
		ON CONFLICT (instance_id) DO UPDATE SET token = excluded.token, locked_until = excluded.locked_until`
	qRenewRow       = `UPDATE instances SET locked_until = ?1 WHERE rowid = ?2 AND lock_token = ?3 AND locked_until > ?4`
	qRenewPending   = `UPDATE instance_locks SET locked_until = ?1 WHERE token = ?2 AND locked_until > ?3`
	qReleaseRow     = `UPDATE instances SET lock_token = NULL, locked_until = 0 WHERE rowid = ?1 AND lock_token = ?2 AND locked_until > ?3 RETURNING id`
	qReleasePending = `DELETE FROM instance_locks WHERE token = ?1 AND locked_until > ?2 RETURNING instance_id`
	qReleasePendOf  = `DELETE FROM instance_locks WHERE instance_id = ?2 AND token = ?1 AND locked_until > ?3`
	qRowOwner       = `SELECT id FROM instances WHERE rowid = ?1`
)

// Row-lock tokens: rowTokenPrefix, the rowid, rowTokenSep, random hex.
const (
	rowTokenPrefix = "r"
	rowTokenSep    = "."
	// pendingRowMarker is what rowLockID returns for a token that is not a row lock's.
	pendingRowMarker = 0
	// maxLockOwners bounds tx.lockOwners (tokens of turns that are never committed or
	// abandoned would stay otherwise); past it the hint is dropped.
	maxLockOwners = 1 << 16
)

// rowLockID returns the rowid a row-lock token names (0: not a row-lock token).
func rowLockID(token string) int64 {
	num, _, ok := strings.Cut(strings.TrimPrefix(token, rowTokenPrefix), rowTokenSep)
	if !ok || !strings.HasPrefix(token, rowTokenPrefix) {
		return pendingRowMarker
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 {
		return pendingRowMarker
	}
	return n
}

// rememberLock records the instance a new turn token locks.
func (t *tx) rememberLock(token, id string) {
	if len(t.lockOwners) >= maxLockOwners {
		clear(t.lockOwners)
	}
	t.lockOwners[token] = id
}

// lockTurn locks instance id (whose rowid is valid when it has a row) until the given time
// and returns the new token.
func (t *tx) lockTurn(id string, rowid sql.NullInt64, until int64) (string, error) {
	var token string
	if rowid.Valid {
		token = rowTokenPrefix + strconv.FormatInt(rowid.Int64, 10) + rowTokenSep + newToken()
		if _, err := t.exec(qLockRow, rowid.Int64, token, until); err != nil {
			return "", err
		}
	} else {
		token = newToken()
		if _, err := t.exec(qLockPending, id, token, until); err != nil {
			return "", err
		}
	}
	t.rememberLock(token, id)
	return token, nil
}

// renewTurn extends a live lock; false when token is not one.
func (t *tx) renewTurn(token string, until, now int64) (bool, error) {
	var (
		n   int64
		err error
	)
	if rowid := rowLockID(token); rowid != pendingRowMarker {
		n, err = t.execN(qRenewRow, until, rowid, token, now)
	} else {
		n, err = t.execN(qRenewPending, until, token, now)
	}
	return n == 1, err
}

// releaseTurn deletes a live lock and returns its instance; sql.ErrNoRows when token is not a
// live lock.
func (t *tx) releaseTurn(token string, now int64) (string, error) {
	id, known := t.lockOwners[token]
	delete(t.lockOwners, token)
	if rowid := rowLockID(token); rowid != pendingRowMarker {
		err := t.queryRow(qReleaseRow, []any{rowid, token, now}, &id)
		return id, err
	}
	if !known {
		err := t.queryRow(qReleasePending, []any{token, now}, &id)
		return id, err
	}
	n, err := t.execN(qReleasePendOf, token, id, now)
	switch {
	case err != nil:
		return "", err
	case n == 0:
		return "", sql.ErrNoRows
	}
	return id, nil
}

// rowLockOwner returns the instance a row-lock token names, without checking the lock (the
// caller's UPDATE does); sql.ErrNoRows when there is no such row.
func (t *tx) rowLockOwner(token string, rowid int64) (string, error) {
	if id, ok := t.lockOwners[token]; ok {
		delete(t.lockOwners, token)
		return id, nil
	}
	var id string
	err := t.queryRow(qRowOwner, []any{rowid}, &id)
	return id, err
}

// errNoLock reports whether err means that a token is not a live lock.
func errNoLock(err error) bool { return errors.Is(err, sql.ErrNoRows) }
