package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/durohost/durohost/history"
	"github.com/durohost/durohost/store"
)

// Statements of messages and activity work items. A work item's token is "<id>.<random>",
// so that every token operation finds its row by primary key.
const (
	qNextWorkItem = `SELECT id FROM work_items WHERE ready_at <= ?1 ORDER BY ready_at, id LIMIT 1`
	qLockWorkItem = `UPDATE work_items SET attempts = attempts + 1, lock_token = id || '.' || ?1,
		locked_until = ?2, ready_at = ?2
		WHERE id = (SELECT id FROM work_items WHERE ready_at <= ?3 ORDER BY ready_at, id LIMIT 1)
		RETURNING id, instance_id, execution, event_id, name, input, visible_at, attempts, lock_token, namespace`
	qRenewWorkItem = `UPDATE work_items SET locked_until = ?1, ready_at = ?1
		WHERE id = ?2 AND lock_token = ?3 AND locked_until > ?4`
	qDeleteWorkItem  = `DELETE FROM work_items WHERE id = ?1 AND lock_token = ?2 AND locked_until > ?3`
	qAbandonWorkItem = `UPDATE work_items SET lock_token = NULL, locked_until = 0, ready_at = ?1
		WHERE id = ?2 AND lock_token = ?3 AND locked_until > ?4`
)

// Enqueue adds messages to their instances' queues; see store.Store.
func (s *Store) Enqueue(ctx context.Context, msgs ...store.Message) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	enc := make([]encodedMessage, len(msgs))
	starts := make([]any, len(msgs))
	for i := range msgs {
		b, err := encodeMessageEvent(&msgs[i])
		if err == nil {
			err = checkStartKey(&msgs[i])
		}
		if err != nil {
			return fmt.Errorf("enqueue: %w", err)
		}
		enc[i] = encodedMessage{instanceID: msgs[i].InstanceID, data: b, visibleAt: nanos(msgs[i].VisibleAt)}
		starts[i] = startNamespace(&msgs[i])
	}
	if len(enc) == 0 {
		return nil
	}
	// Its only errors are failed statements: no savepoint needed (see modeNoSavepoint).
	return s.w.submit(ctx, func(t *tx) error {
		now := nanos(t.now)
		for i, m := range enc {
			if _, err := t.exec(qInsertMessage, m.instanceID, m.data, m.visibleAt, max(m.visibleAt, now), starts[i]); err != nil {
				return fmt.Errorf("enqueue to %s: %w", quote(m.instanceID), err)
			}
		}
		return nil
	}, modeNoSavepoint)
}

// FetchActivity locks the next visible work item; see store.Store.
func (s *Store) FetchActivity(ctx context.Context, lockFor time.Duration) (*store.WorkItem, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	if lockFor <= 0 {
		return nil, fmt.Errorf("fetch activity: lock duration %v: %w", lockFor, store.ErrInvalid)
	}
	if ok, err := s.readyOnReader(ctx, qNextWorkItem); err != nil {
		return nil, fmt.Errorf("fetch activity: %w", err)
	} else if !ok {
		return nil, store.ErrNoWork
	}
	var (
		w       store.WorkItem
		scanErr error
	)
	// ErrNoWork comes before any write (the UPDATE changed no row): no savepoint needed.
	err := s.w.submit(ctx, func(t *tx) error {
		scanErr = nil
		now := nanos(t.now)
		until := now + int64(lockFor)
		var visibleAt int64
		err := t.queryRow(qLockWorkItem, []any{newToken(), until, now},
			&w.ID, &w.InstanceID, &w.Execution, &w.EventID, &w.Name, &w.Input, &visibleAt, &w.Attempts, &w.Token, &w.Namespace)
		if errors.Is(err, sql.ErrNoRows) {
			return store.ErrNoWork
		}
		if errors.Is(err, errBadRow) {
			// Keep the lock: the item is skipped until it expires, not fetched in a loop.
			scanErr = corruptf("fetch activity: work item %d: %v", w.ID, err)
			return nil
		}
		if err != nil {
			return err // the statement failed: nothing is locked
		}
		w.VisibleAt, w.LockedUntil = fromNanos(visibleAt), fromNanos(until)
		return nil
	}, modeRelaxed|modeNoSavepoint)
	if err != nil {
		if errors.Is(err, store.ErrNoWork) {
			return nil, err
		}
		return nil, fmt.Errorf("fetch activity: %w", err)
	}
	if scanErr != nil {
		return nil, scanErr
	}
	return &w, nil
}

// parseActivityToken returns the work item ID a token names (ok false: not a token of ours).
func parseActivityToken(token string) (int64, bool) {
	num, _, ok := strings.Cut(token, ".")
	if !ok {
		return 0, false
	}
	id, err := strconv.ParseInt(num, 10, 64)
	return id, err == nil
}

// RenewActivity extends a work item's lock; see store.Store.
func (s *Store) RenewActivity(ctx context.Context, token string, lockFor time.Duration) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	if lockFor <= 0 {
		return fmt.Errorf("renew activity: lock duration %v: %w", lockFor, store.ErrInvalid)
	}
	id, ok := parseActivityToken(token)
	if !ok {
		return fmt.Errorf("renew activity: %w", store.ErrLockLost)
	}
	// A lost lock is found before any write: no savepoint needed.
	return s.w.submit(ctx, func(t *tx) error {
		now := nanos(t.now)
		n, err := t.execN(qRenewWorkItem, now+int64(lockFor), id, token, now)
		if err != nil {
			return fmt.Errorf("renew activity %d: %w", id, err)
		}
		if n == 0 {
			return fmt.Errorf("renew activity %d: %w", id, store.ErrLockLost)
		}
		return nil
	}, modeRelaxed|modeNoSavepoint)
}

// CompleteActivity deletes a work item and enqueues its result; see store.Store.
func (s *Store) CompleteActivity(ctx context.Context, token string, result store.Message) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	data, err := encodeMessageEvent(&result)
	if err != nil {
		return fmt.Errorf("complete activity: %w", err)
	}
	id, ok := parseActivityToken(token)
	if !ok {
		return fmt.Errorf("complete activity: %w", store.ErrLockLost)
	}
	vis := nanos(result.VisibleAt)
	// completeItem finds a lost lock before any write: no savepoint needed.
	return s.w.submit(ctx, func(t *tx) error {
		return t.completeItem(id, token, result.InstanceID, data, vis, nanos(t.now))
	}, modeNoSavepoint)
}

// qLockableInstance returns the rowid of an instance that has a row and no live lock.
const qLockableInstance = `SELECT rowid FROM instances WHERE id = ?1 AND locked_until <= ?2`

// qLockableAny returns one row when instance ?1 has no live lock, with its rowid (NULL when
// it has no row yet), and none when it is locked.
const qLockableAny = `SELECT i.rowid FROM (SELECT ?1 AS id) x LEFT JOIN instances i ON i.id = x.id
	WHERE (i.locked_until IS NULL OR i.locked_until <= ?2)
	  AND NOT EXISTS (SELECT 1 FROM instance_locks l WHERE l.instance_id = ?1 AND l.locked_until > ?2)`

// EnqueueAndFetch enqueues a message and locks its instance's turn in the same transaction;
// see store.Store.
func (s *Store) EnqueueAndFetch(ctx context.Context, msg store.Message, lockFor time.Duration, known store.KnownHistory) (*store.Turn, error) {
	if lockFor <= 0 {
		return nil, fmt.Errorf("enqueue: lock duration %v: %w", lockFor, store.ErrInvalid)
	}
	return s.enqueueFetch(ctx, msg, false, store.StartOptions{LockFor: lockFor, Known: known})
}

// StartInstance enqueues the start of a new instance, refusing an existing one and one beyond
// its namespace's quota, and may lock its first turn, in one transaction; see store.Store.
func (s *Store) StartInstance(ctx context.Context, msg store.Message, opts store.StartOptions) (*store.Turn, error) {
	switch {
	case msg.Event.Kind != history.KindExecutionStarted:
		return nil, fmt.Errorf("start: a %s event is not a start: %w", msg.Event.Kind, store.ErrInvalid)
	case opts.LockFor < 0:
		return nil, fmt.Errorf("start: lock duration %v: %w", opts.LockFor, store.ErrInvalid)
	case opts.MaxInstances < 0:
		return nil, fmt.Errorf("start: instance quota %d: %w", opts.MaxInstances, store.ErrInvalid)
	}
	return s.enqueueFetch(ctx, msg, true, opts)
}

// qInstanceExists finds an instance row.
const qInstanceExists = `SELECT 1 FROM instances WHERE id = ?1`

// enqueueFetch enqueues msg (refusing an instance that exists, or one beyond its namespace's
// quota, when start is set) and, when opts.LockFor is positive, locks the turn it makes
// ready.
func (s *Store) enqueueFetch(ctx context.Context, msg store.Message, start bool, opts store.StartOptions) (*store.Turn, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	op := "enqueue"
	if start {
		op = "start"
	}
	data, err := encodeMessageEvent(&msg)
	if err == nil {
		err = checkStartKey(&msg)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	vis := nanos(msg.VisibleAt)
	lockFor := opts.LockFor
	var rt readyTurn
	err = s.w.do(ctx, func(t *tx) error {
		rt.reset()
		now := nanos(t.now)
		if start {
			if err := t.checkNew(msg.InstanceID); err != nil {
				return err
			}
			if err := t.checkQuota(msg.Namespace, opts.MaxInstances); err != nil {
				return err
			}
		}
		if _, err := t.exec(qInsertMessage, msg.InstanceID, data, vis, max(vis, now), startNamespace(&msg)); err != nil {
			return fmt.Errorf("%s %s: %w", op, quote(msg.InstanceID), err)
		}
		if vis > now || lockFor <= 0 {
			return nil
		}
		if err := t.lockReady(&rt, qLockableAny, msg.InstanceID, now, lockFor); err != nil {
			return fmt.Errorf("%s %s: %w", op, quote(msg.InstanceID), err)
		}
		return nil
	})
	return s.readyTurn(ctx, msg.InstanceID, &rt, opts.Known, err)
}

// checkQuota fails with store.ErrQuota when namespace ns has max unfinished instances or more
// (max 0: no bound).
func (t *tx) checkQuota(ns string, max int) error {
	if max <= 0 {
		return nil
	}
	var n int
	if err := t.queryRow(qUnfinished, []any{ns}, &n); err != nil {
		return fmt.Errorf("start: count the instances of namespace %s: %w", quote(ns), err)
	}
	if n >= max {
		return fmt.Errorf("start: namespace %s has %d unfinished instances, its quota is %d: %w", quote(ns), n, max, store.ErrQuota)
	}
	return nil
}

// readyTurn is the turn a write locked for its caller (token empty: none).
type readyTurn struct {
	token   string
	until   int64
	raw     []rawMessage
	scanErr error
}

func (r *readyTurn) reset() { r.token, r.raw, r.scanErr = "", r.raw[:0], nil }

// lockReady locks instance id for lockFor and tags its visible messages into r, when q (given
// the instance ID and now) finds it lockable (a row with its rowid, NULL for an instance
// without one); when q finds no row the instance is left alone.
func (t *tx) lockReady(r *readyTurn, q, id string, now int64, lockFor time.Duration) error {
	var rowid sql.NullInt64
	switch err := t.queryRow(q, []any{id, now}, &rowid); {
	case errors.Is(err, sql.ErrNoRows):
		return nil // locked (or no row where one is needed): the message waits for a turn
	case err != nil:
		return err
	}
	r.until = now + int64(lockFor)
	var err error
	if r.token, err = t.lockTurn(id, rowid, r.until); err != nil {
		return fmt.Errorf("lock: %w", err)
	}
	r.raw, r.scanErr, err = t.tagMessages(id, r.token, now, r.raw)
	return err
}

// readyTurn returns the turn a write locked (nil when none), reading its state; err is the
// write's. Once the write has committed the call succeeds: a turn whose messages or state
// cannot be read (the caller's context ended, a corrupt row) is not returned, and is left to
// the dispatchers (given back at once when the context ended, else when its lock expires, as
// FetchTurn leaves a corrupt one).
func (s *Store) readyTurn(ctx context.Context, id string, r *readyTurn, known store.KnownHistory, err error) (*store.Turn, error) {
	switch {
	case err != nil:
		return nil, err
	case r.scanErr != nil || r.token == "":
		return nil, nil
	}
	turn, err := s.lockedTurn(ctx, id, r.token, r.until, r.raw, known)
	if err != nil {
		return nil, nil
	}
	return turn, nil
}

// checkNew fails with store.ErrExists when instance id has a row or a queued start message.
func (t *tx) checkNew(id string) error {
	var one int
	switch err := t.queryRow(qInstanceExists, []any{id}, &one); {
	case err == nil:
		return fmt.Errorf("start %s: %w", quote(id), store.ErrExists)
	case !errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("start %s: %w", quote(id), err)
	}
	// The writer's connection is inside the transaction: the read sees its writes.
	pending, err := loadPending(context.Background(), t.conn, id)
	switch {
	case err != nil:
		return fmt.Errorf("start %s: %w", quote(id), err)
	case pending != nil:
		return fmt.Errorf("start %s: %w (its start is queued)", quote(id), store.ErrExists)
	}
	return nil
}

// CompleteActivityAndFetch completes a work item and locks its instance's turn in the same
// transaction; see store.Store.
func (s *Store) CompleteActivityAndFetch(ctx context.Context, token string, result store.Message, lockFor time.Duration, known store.KnownHistory) (*store.Turn, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	if lockFor <= 0 {
		return nil, fmt.Errorf("complete activity: lock duration %v: %w", lockFor, store.ErrInvalid)
	}
	data, err := encodeMessageEvent(&result)
	if err != nil {
		return nil, fmt.Errorf("complete activity: %w", err)
	}
	id, ok := parseActivityToken(token)
	if !ok {
		return nil, fmt.Errorf("complete activity: %w", store.ErrLockLost)
	}
	vis := nanos(result.VisibleAt)
	var rt readyTurn
	// completeItem finds a lost lock before any write, and lockReady fails only on a failed
	// statement: no savepoint needed.
	err = s.w.submit(ctx, func(t *tx) error {
		rt.reset()
		now := nanos(t.now)
		if err := t.completeItem(id, token, result.InstanceID, data, vis, now); err != nil {
			return err
		}
		if vis > now {
			return nil
		}
		if err := t.lockReady(&rt, qLockableInstance, result.InstanceID, now, lockFor); err != nil {
			return fmt.Errorf("complete activity %d: %s: %w", id, quote(result.InstanceID), err)
		}
		return nil
	}, modeNoSavepoint)
	return s.readyTurn(ctx, result.InstanceID, &rt, known, err)
}

// Statements of CompleteActivityWithTurn.
const (
	qDeleteWorkItemOf = `DELETE FROM work_items WHERE id = ?1 AND lock_token = ?2 AND locked_until > ?3 RETURNING instance_id`
	qTurnBase         = `SELECT execution, events, created_at, locked_until FROM instances WHERE id = ?1`
)

// CompleteActivityWithTurn completes a work item and commits a turn of its instance computed
// on its result, in one transaction; see store.Store.
func (s *Store) CompleteActivityWithTurn(ctx context.Context, token string, created time.Time, c *store.Commit) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	e, err := encodeCommit(c)
	switch {
	case err != nil:
		return fmt.Errorf("complete activity with turn: %w", err)
	case c.Execution == 0 || len(c.History) == 0 || len(c.Consumed) > 0:
		return fmt.Errorf("complete activity with turn: the turn must append history to an execution and consume no message: %w", store.ErrInvalid)
	}
	id, ok := parseActivityToken(token)
	if !ok {
		return fmt.Errorf("complete activity with turn: %w", store.ErrLockLost)
	}
	return s.w.do(ctx, func(t *tx) error {
		e.resetAttempt()
		now := nanos(t.now)
		var inst string
		switch err := t.queryRow(qDeleteWorkItemOf, []any{id, token, now}, &inst); {
		case errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("complete activity %d: %w", id, store.ErrLockLost)
		case err != nil:
			return fmt.Errorf("complete activity %d: %w", id, err)
		}
		var (
			exec                     uint32
			events, createdAt, until int64
		)
		switch err := t.queryRow(qTurnBase, []any{inst}, &exec, &events, &createdAt, &until); {
		case errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("complete activity %d: instance %s has no row: %w", id, quote(inst), store.ErrConflict)
		case err != nil:
			return fmt.Errorf("complete activity %d: %w", id, err)
		case createdAt != nanos(created) || exec != c.Execution || events != e.firstID-1 || until > now:
			return fmt.Errorf("complete activity %d: instance %s: %w", id, quote(inst), store.ErrConflict)
		}
		if err := writeInstance(t, inst, e, now, ""); err != nil {
			return fmt.Errorf("complete activity %d: turn of %s: %w", id, quote(inst), err)
		}
		return writeEffects(t, inst, "", e, now)
	})
}

// completeItem deletes work item id if token is its live lock (ErrLockLost otherwise) and
// enqueues its result (data, for instance inst, visible at vis).
func (t *tx) completeItem(id int64, token, inst string, data []byte, vis, now int64) error {
	n, err := t.execN(qDeleteWorkItem, id, token, now)
	if err != nil {
		return fmt.Errorf("complete activity %d: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("complete activity %d: %w", id, store.ErrLockLost)
	}
	if _, err := t.exec(qInsertMessage, inst, data, vis, max(vis, now), nil); err != nil {
		return fmt.Errorf("complete activity %d: %w", id, err)
	}
	return nil
}

// AbandonActivity releases a work item's lock; see store.Store.
func (s *Store) AbandonActivity(ctx context.Context, token string, delay time.Duration) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	if delay < 0 {
		return fmt.Errorf("abandon activity: delay %v: %w", delay, store.ErrInvalid)
	}
	id, ok := parseActivityToken(token)
	if !ok {
		return fmt.Errorf("abandon activity: %w", store.ErrLockLost)
	}
	// A lost lock is found before any write: no savepoint needed.
	return s.w.submit(ctx, func(t *tx) error {
		now := nanos(t.now)
		n, err := t.execN(qAbandonWorkItem, now+int64(delay), id, token, now)
		if err != nil {
			return fmt.Errorf("abandon activity %d: %w", id, err)
		}
		if n == 0 {
			return fmt.Errorf("abandon activity %d: %w", id, store.ErrLockLost)
		}
		return nil
	}, modeNoSavepoint)
}
