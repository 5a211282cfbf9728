package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/durohost/durohost/history"
	"github.com/durohost/durohost/store"
)

// Queries of the turn lifecycle.
const (
	qTagMessages = `UPDATE messages SET lock_token = ?2, attempts = attempts + 1
		WHERE id IN (SELECT id FROM messages WHERE instance_id = ?1 AND ready_at <= ?3 ORDER BY id LIMIT ?4)
		RETURNING id, data, visible_at, attempts, namespace`
	qAbandonMsgs = `UPDATE messages SET lock_token = NULL,
		ready_at = CASE WHEN ?3 > 0 THEN ?3 ELSE ready_at END,
		attempts = CASE WHEN ?4 AND attempts > 0 THEN attempts - 1 ELSE attempts END
		WHERE instance_id = ?1 AND lock_token = ?2`
	qInstanceExecution = `SELECT execution FROM instances WHERE id = ?1`
	qHistory           = `SELECT event_id, data FROM history WHERE instance_id = ?1 AND execution = ?2 ORDER BY event_id`
	// qTurnInstance reads a turn's instance with the length of its current history.
	qTurnInstance = `SELECT ` + instanceCols + `, events FROM instances WHERE id = ?1`
)

// rawMessage is a message row not yet decoded.
type rawMessage struct {
	id, visibleAt, attempts int64
	data                    []byte
	namespace               sql.NullString // a start's namespace (NULL: not a start)
}

// FetchTurn locks the next ready instance; see store.Store. The instance row and history are
// read after the lock is committed, on a read connection (the lock keeps them stable, so
// what is read there is the state under the new lock). The instance row carries the current
// execution and history length, so comparing them with known costs no extra query; only
// the history read is skipped. A corrupt message or history row fails the call with
// store.ErrCorrupt and leaves the instance locked until lockFor passes, so that one bad
// instance does not stop the others.
func (s *Store) FetchTurn(ctx context.Context, lockFor time.Duration, known store.KnownHistory) (*store.Turn, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	if lockFor <= 0 {
		return nil, fmt.Errorf("fetch turn: lock duration %v: %w", lockFor, store.ErrInvalid)
	}
	if ok, err := s.readyOnReader(ctx, qAnyInstanceReady); err != nil {
		return nil, fmt.Errorf("fetch turn: %w", err)
	} else if !ok {
		return nil, store.ErrNoWork
	}
	var (
		id, token string
		until     int64
		raw       []rawMessage
		scanErr   error
	)
	// ErrNoWork comes before any write (the SELECT found no row), the other errors are failed
	// statements: no savepoint needed (see modeNoSavepoint).
	err := s.w.submit(ctx, func(t *tx) error {
		raw, scanErr = raw[:0], nil
		if t.noTurn {
			return store.ErrNoWork
		}
		now := nanos(t.now)
		var rowid sql.NullInt64
		if err := t.queryRow(qNextInstance, []any{now}, &id, &rowid); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				t.noTurn = true
				return store.ErrNoWork
			}
			return err
		}
		until = now + int64(lockFor)
		var err error
		if token, err = t.lockTurn(id, rowid, until); err != nil {
			return err
		}
		raw, scanErr, err = t.tagMessages(id, token, now, raw)
		return err
	}, modeRelaxed|modeNoSavepoint|modeFetchTurn)
	if err != nil {
		if errors.Is(err, store.ErrNoWork) {
			return nil, err
		}
		return nil, fmt.Errorf("fetch turn: %w", err)
	}
	if scanErr != nil {
		return nil, scanErr
	}
	return s.lockedTurn(ctx, id, token, until, raw, known)
}

// lockedTurn builds the turn of instance id, locked with token until the given time, from its
// tagged messages, and reads its state. A failed read gives a caller that is gone the turn
// back (see FetchTurn).
func (s *Store) lockedTurn(ctx context.Context, id, token string, until int64, raw []rawMessage, known store.KnownHistory) (*store.Turn, error) {
	turn := &store.Turn{InstanceID: id, Token: token, LockedUntil: fromNanos(until)}
	slices.SortFunc(raw, func(a, b rawMessage) int { return cmp.Compare(a.id, b.id) })
	turn.Messages = make([]store.Message, 0, len(raw))
	for _, m := range raw {
		ev, err := decodeEvent(m.data, func() string {
			return fmt.Sprintf("fetch turn: instance %s message %d", quote(id), m.id)
		})
		if err != nil {
			return nil, err
		}
		turn.Messages = append(turn.Messages, store.Message{
			ID: m.id, InstanceID: id, Namespace: m.namespace.String, Event: ev, VisibleAt: fromNanos(m.visibleAt), Attempts: int(m.attempts),
		})
	}
	if err := s.readTurnState(ctx, turn, known); err != nil {
		if ctx.Err() != nil {
			// The caller is gone: give the turn back as if it had not been fetched. (A
			// corrupt row keeps the lock instead, see above.)
			_ = s.w.do(context.Background(), func(t *tx) error {
				return abandonTurn(t, token, store.AbandonOptions{IgnoreAttempt: true})
			})
		}
		return nil, fmt.Errorf("fetch turn: %w", err)
	}
	return turn, nil
}

// tagMessages tags the visible messages of a locked instance with the lock's token and
// returns them, appended to raw. scanErr reports a corrupt row: the caller keeps the lock
// (see FetchTurn's doc).
func (t *tx) tagMessages(id, token string, now int64, raw []rawMessage) (_ []rawMessage, scanErr, err error) {
	rows, err := t.query(qTagMessages, id, token, now, MaxTurnMessages)
	if err != nil {
		return raw, nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var m rawMessage
		if err := rows.Scan(&m.id, &m.data, &m.visibleAt, &m.attempts, &m.namespace); err != nil {
			return raw, corruptf("fetch turn: message of instance %s: %v", quote(id), err), nil
		}
		raw = append(raw, m)
	}
	return raw, nil, rows.Err()
}

// readTurnState fills the instance and current history of a locked turn; the history is
// skipped when known holds it (see store.Store.FetchTurn).
func (s *Store) readTurnState(ctx context.Context, turn *store.Turn, known store.KnownHistory) error {
	rtx, err := s.rdb.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer rtx.Rollback()
	id := turn.InstanceID
	var events any
	inst, err := scanInstance(ctx, rtx.QueryRowContext(ctx, qTurnInstance, id), id, &events)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	n, ok := events.(int64)
	if !ok || n < 0 {
		return corruptf("instance %s: events column holds %v", quote(id), events)
	}
	turn.Instance, turn.Execution, turn.Events = inst, inst.Execution, int(n)
	if known != nil {
		if exec, held, ok := known(id); ok && exec == inst.Execution && int64(held) == n {
			turn.HistoryOmitted = true
			return nil
		}
	}
	if turn.History, err = loadHistory(ctx, rtx, id, inst.Execution); err != nil {
		return err
	}
	if int64(len(turn.History)) != n {
		return corruptf("history of instance %s execution %d: %d events stored, the instance row counts %d",
			quote(id), inst.Execution, len(turn.History), n)
	}
	return nil
}

// loadHistory reads and decodes the events of one execution.
func loadHistory(ctx context.Context, q querier, id string, execution uint32) ([]history.Event, error) {
	rows, err := q.QueryContext(ctx, qHistory, id, execution)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var evs []history.Event
	for rows.Next() {
		var (
			eventID int64
			data    []byte
		)
		if err := rows.Scan(&eventID, &data); err != nil {
			return nil, scanFailed(ctx, err, "history of instance %s execution %d", quote(id), execution)
		}
		where := func() string {
			return fmt.Sprintf("history of instance %s execution %d event %d", quote(id), execution, eventID)
		}
		ev, err := decodeEvent(data, where)
		if err != nil {
			return nil, err
		}
		if ev.ID != eventID || eventID != int64(len(evs))+1 {
			return nil, corruptf("%s: stored with ID %d after %d events", where(), ev.ID, len(evs))
		}
		evs = append(evs, ev)
	}
	return evs, rows.Err()
}

// RenewTurn extends a turn's lock; see store.Store.
func (s *Store) RenewTurn(ctx context.Context, token string, lockFor time.Duration) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	if lockFor <= 0 {
		return fmt.Errorf("renew turn: lock duration %v: %w", lockFor, store.ErrInvalid)
	}
	// A lost lock is found before any write: no savepoint needed.
	return s.w.submit(ctx, func(t *tx) error {
		now := nanos(t.now)
		ok, err := t.renewTurn(token, now+int64(lockFor), now)
		if err != nil {
			return fmt.Errorf("renew turn: %w", err)
		}
		if !ok {
			return fmt.Errorf("renew turn: %w", store.ErrLockLost)
		}
		return nil
	}, modeRelaxed|modeNoSavepoint)
}

// AbandonTurn releases a turn's lock; see store.Store.
func (s *Store) AbandonTurn(ctx context.Context, token string, opts store.AbandonOptions) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	if opts.Delay < 0 {
		return fmt.Errorf("abandon turn: delay %v: %w", opts.Delay, store.ErrInvalid)
	}
	return s.w.do(ctx, func(t *tx) error { return abandonTurn(t, token, opts) })
}

// abandonTurn runs in the writer: it releases the lock and its messages.
func abandonTurn(t *tx, token string, opts store.AbandonOptions) error {
	now := nanos(t.now)
	id, err := t.releaseTurn(token, now)
	if err != nil {
		if errNoLock(err) {
			return fmt.Errorf("abandon turn: %w", store.ErrLockLost)
		}
		return fmt.Errorf("abandon turn: %w", err)
	}
	var readyAt int64
	if opts.Delay > 0 {
		readyAt = now + int64(opts.Delay)
	}
	if _, err := t.exec(qAbandonMsgs, id, token, readyAt, opts.IgnoreAttempt); err != nil {
		return fmt.Errorf("abandon turn %s: %w", quote(id), err)
	}
	return nil
}

// readyOnReader runs a "next item" query on a read connection: when it finds nothing, a
// fetch can answer ErrNoWork without queueing a write.
func (s *Store) readyOnReader(ctx context.Context, q string) (bool, error) {
	var v any
	err := s.reads[q].QueryRowContext(ctx, nanos(s.cfg.clock())).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// querier is what read helpers need: a *sql.DB, *sql.Tx or *sql.Conn.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}
