package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/durohost/durohost/history"
	"github.com/durohost/durohost/store"
)

// Statements of messages and activity work items.
const (
	// qFetchActivity locks the oldest visible work item with secret $1 for $2 nanoseconds,
	// skipping the items other transactions are locking.
	qFetchActivity = `UPDATE work_items SET attempts = attempts + 1, lock_token = $1,
			locked_until = durohost_lock_until($2::bigint), ready_at = durohost_lock_until($2::bigint)
		WHERE id = (SELECT id FROM work_items WHERE ready_at <= (SELECT durohost_now()) ORDER BY ready_at, id LIMIT 1 FOR UPDATE SKIP LOCKED)
		RETURNING id, instance_id, execution, event_id, namespace, name, input, visible_at, attempts, locked_until`
	qRenewActivity = `UPDATE work_items SET locked_until = durohost_lock_until($3::bigint), ready_at = durohost_lock_until($3::bigint)
		WHERE id = $1 AND lock_token = $2 AND locked_until > durohost_now()`
	qAbandonActivity = `UPDATE work_items SET lock_token = NULL, locked_until = 0, ready_at = durohost_now() + $3::bigint
		WHERE id = $1 AND lock_token = $2 AND locked_until > durohost_now()`
	// qCompleteItem deletes work item $1 if $2 is its live lock, and raises codeLockLost
	// otherwise (rolling back the result the pipeline enqueues after it).
	qCompleteItem = `WITH d AS (
		DELETE FROM work_items WHERE id = $1 AND lock_token = $2 AND locked_until > durohost_now() RETURNING 1)
	SELECT CASE WHEN EXISTS (SELECT 1 FROM d) THEN '' ELSE durohost_fail('DH001', 'the token is not the live lock of its work item') END`

	qAdvisoryLock = `SELECT pg_advisory_xact_lock($1::integer, $2::integer)`
)

var (
	// qStartCheck raises codeExists when instance $1 has a row or a queued start, and
	// codeQuota when namespace $2 has $3 (when positive) unfinished instances or more.
	qStartCheck = `SELECT CASE
		WHEN EXISTS (SELECT 1 FROM instances WHERE id = $1) THEN durohost_fail('DH004', 'the instance exists')
		WHEN EXISTS (SELECT 1 FROM messages WHERE instance_id = $1 AND namespace IS NOT NULL) THEN durohost_fail('DH004', 'its start is queued')
		WHEN $3::integer > 0 AND ` + qUnfinished + ` >= $3::integer THEN
			durohost_fail('DH005', format('namespace %s has %s unfinished instances, its quota is %s', quote_literal($2), ` + qUnfinished + `, $3))
		ELSE '' END`
)

// qInsertMessages enqueues messages (see withLocks; $6 their distinct instances); a start
// ($4) keeps its namespace ($5).
var qInsertMessages = withLocks("$6") + `
	INSERT INTO messages (instance_id, data, visible_at, ready_at, namespace)
		SELECT x.inst, x.data, x.vis, greatest(x.vis, durohost_now()), CASE WHEN x.start THEN x.ns END
		FROM ok, unnest($1::text[], $2::bytea[], $3::bigint[], $4::boolean[], $5::text[]) WITH ORDINALITY AS x(inst, data, vis, start, ns, o)
		WHERE ok.ok
		ORDER BY x.o`

// Enqueue adds messages to their instances' queues; see store.Store.
func (s *Store) Enqueue(ctx context.Context, msgs ...store.Message) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	var mb messageBatch
	for i := range msgs {
		err := checkStartKey(&msgs[i])
		if err == nil {
			err = mb.add(&msgs[i], msgs[i].Namespace)
		}
		if err != nil {
			return fmt.Errorf("enqueue: %w", err)
		}
	}
	if len(msgs) == 0 {
		return nil
	}
	err := s.write(ctx, s.pool, func(ctx context.Context, conn *pgx.Conn) error {
		b := &pgx.Batch{}
		mb.queueInsert(b)
		return conn.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return fmt.Errorf("enqueue: %w", err)
	}
	if mb.visible {
		s.notes.wake(store.WakeTurns)
	}
	return nil
}

// queueInsert queues the insert of mb's messages.
func (mb *messageBatch) queueInsert(b *pgx.Batch) {
	b.Queue(qInsertMessages, mb.inst, mb.data, mb.vis, mb.start, mb.ns, mb.targets())
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
	secret := newSecret()
	var (
		w                store.WorkItem
		found            bool
		exec             int64
		visibleAt, until int64
		attempts         int32
		scanErr          error
	)
	err := s.write(ctx, s.fetch, func(ctx context.Context, conn *pgx.Conn) error {
		found, scanErr = false, nil
		rows, err := conn.Query(ctx, qFetchActivity, secret, int64(lockFor))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			found = true
			if err := rows.Scan(&w.ID, &w.InstanceID, &exec, &w.EventID, &w.Namespace, &w.Name, &w.Input, &visibleAt, &attempts, &until); err != nil {
				// The item stays locked: it is skipped until the lock expires, not fetched in a loop.
				scanErr = corruptf("fetch activity: work item %d: %v", w.ID, err)
			}
		}
		return rows.Err()
	})
	switch {
	case err != nil:
		return nil, fmt.Errorf("fetch activity: %w", err)
	case !found:
		return nil, store.ErrNoWork
	case scanErr != nil:
		return nil, scanErr
	case exec < 1 || exec > 1<<32-1:
		return nil, corruptf("fetch activity: work item %d: execution %d", w.ID, exec)
	}
	w.Execution, w.VisibleAt, w.LockedUntil, w.Attempts = uint32(exec), fromNanos(visibleAt), fromNanos(until), int(attempts)
	w.Token = makeToken(kindActivity, w.ID, secret)
	s.owners.put(s.owners.items, w.ID, w.InstanceID)
	return &w, nil
}

// RenewActivity extends a work item's lock; see store.Store.
func (s *Store) RenewActivity(ctx context.Context, tokenText string, lockFor time.Duration) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	if lockFor <= 0 {
		return fmt.Errorf("renew activity: lock duration %v: %w", lockFor, store.ErrInvalid)
	}
	return s.itemUpdate(ctx, s.fetch, "renew activity", qRenewActivity, tokenText, lockFor)
}

// AbandonActivity releases a work item's lock; see store.Store.
func (s *Store) AbandonActivity(ctx context.Context, tokenText string, delay time.Duration) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	if delay < 0 {
		return fmt.Errorf("abandon activity: delay %v: %w", delay, store.ErrInvalid)
	}
	if err := s.itemUpdate(ctx, s.pool, "abandon activity", qAbandonActivity, tokenText, delay); err != nil {
		return err
	}
	if tok, ok := parseToken(tokenText, string(kindActivity)); ok {
		s.owners.drop(s.owners.items, tok.row)
	}
	if delay == 0 {
		s.notes.wake(store.WakeActivities)
	}
	return nil
}

// itemUpdate runs q (qRenewActivity or qAbandonActivity) on the work item of a token;
// ErrLockLost when the token is not the item's live lock.
func (s *Store) itemUpdate(ctx context.Context, p *pgxpool.Pool, op, q, tokenText string, d time.Duration) error {
	tok, ok := parseToken(tokenText, string(kindActivity))
	if !ok {
		return fmt.Errorf("%s: %w", op, store.ErrLockLost)
	}
	var n int64
	err := s.write(ctx, p, func(ctx context.Context, conn *pgx.Conn) error {
		tag, err := conn.Exec(ctx, q, tok.row, tok.secret, int64(d))
		n = tag.RowsAffected()
		return err
	})
	switch {
	case err != nil:
		return fmt.Errorf("%s %d: %w", op, tok.row, err)
	case n == 0:
		return fmt.Errorf("%s %d: %w", op, tok.row, store.ErrLockLost)
	}
	return nil
}

// CompleteActivity deletes a work item and enqueues its result; see store.Store.
func (s *Store) CompleteActivity(ctx context.Context, tokenText string, result store.Message) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	_, err := s.complete(ctx, "complete activity", tokenText, result, 0, nil)
	return err
}

// CompleteActivityAndFetch completes a work item and locks its instance's turn in the same
// transaction; see store.Store.
func (s *Store) CompleteActivityAndFetch(ctx context.Context, tokenText string, result store.Message, lockFor time.Duration, known store.KnownHistory) (*store.Turn, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	if lockFor <= 0 {
		return nil, fmt.Errorf("complete activity: lock duration %v: %w", lockFor, store.ErrInvalid)
	}
	return s.complete(ctx, "complete activity", tokenText, result, lockFor, known)
}

// complete deletes the work item of a token and enqueues its result, in one transaction;
// with lockFor positive it also locks the turn of the result's instance when it has a row
// and no live lock (see lockAfter).
func (s *Store) complete(ctx context.Context, op, tokenText string, result store.Message, lockFor time.Duration, known store.KnownHistory) (*store.Turn, error) {
	var mb messageBatch
	if err := mb.add(&result, ""); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	mb.start[0] = false // a result never starts an instance
	tok, ok := parseToken(tokenText, string(kindActivity))
	if !ok {
		return nil, fmt.Errorf("%s: %w", op, store.ErrLockLost)
	}
	lock := lockAfter{lockFor: lockFor, rowNeeded: true}
	err := s.write(ctx, s.pool, func(ctx context.Context, conn *pgx.Conn) error {
		b := &pgx.Batch{}
		b.Queue(qCompleteItem, tok.row, tok.secret)
		mb.queueInsert(b)
		lock.queue(b, result.InstanceID, nanos(result.VisibleAt))
		return conn.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return nil, fmt.Errorf("%s %d: %w", op, tok.row, err)
	}
	s.owners.drop(s.owners.items, tok.row)
	if !lock.found && mb.visible {
		s.notes.wake(store.WakeTurns)
	}
	return s.lockedTurnOf(ctx, &lock, known), nil
}

// lockAfter is the lock of a turn that a write takes after enqueueing a message (qLockTurn).
type lockAfter struct {
	lockFor time.Duration // 0: take none
	// rowNeeded: lock only an instance that has a row.
	rowNeeded bool
	lt        lockedTurn
	found     bool
}

// queue queues the lock of instance id's turn, taken if the message enqueued (visible at
// vis) is visible.
func (l *lockAfter) queue(b *pgx.Batch, id string, vis int64) {
	if l.lockFor <= 0 {
		return
	}
	l.lt, l.found = lockedTurn{secret: newSecret()}, false
	b.Queue(qLockTurn, id, l.lt.secret, int64(l.lockFor), !l.rowNeeded, int64(MaxTurnMessages), vis).Query(func(rows pgx.Rows) error {
		var err error
		l.found, err = scanLocked(rows, &l.lt)
		return err
	})
}

// lockedTurnOf returns the turn a write locked (nil when none), reading its state. Once the
// write has committed the call succeeds: a turn whose messages or state cannot be read (the
// caller's context ended, a corrupt row) is not returned, and is left to the dispatchers
// (given back at once when the context ended, else when its lock expires).
func (s *Store) lockedTurnOf(ctx context.Context, l *lockAfter, known store.KnownHistory) *store.Turn {
	if !l.found || l.lt.scanErr != nil {
		return nil
	}
	turn, err := s.turnState(ctx, &l.lt, known)
	if err != nil {
		return nil
	}
	return turn
}

// EnqueueAndFetch enqueues a message and locks its instance's turn in the same transaction;
// see store.Store.
func (s *Store) EnqueueAndFetch(ctx context.Context, msg store.Message, lockFor time.Duration, known store.KnownHistory) (*store.Turn, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	if lockFor <= 0 {
		return nil, fmt.Errorf("enqueue: lock duration %v: %w", lockFor, store.ErrInvalid)
	}
	return s.enqueueFetch(ctx, msg, false, store.StartOptions{LockFor: lockFor, Known: known})
}

// StartInstance enqueues the start of a new instance, refusing an existing one and one beyond
// its namespace's quota, and may lock its first turn, in one transaction; see store.Store.
// Starts of one ID, and starts under an instance quota in one namespace, take an advisory
// lock in their transaction, so that their checks see each other.
func (s *Store) StartInstance(ctx context.Context, msg store.Message, opts store.StartOptions) (*store.Turn, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
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

// enqueueFetch enqueues msg (refusing an instance that exists, or one beyond its namespace's
// quota, when start is set) and, when opts.LockFor is positive, locks the turn it makes
// ready.
func (s *Store) enqueueFetch(ctx context.Context, msg store.Message, start bool, opts store.StartOptions) (*store.Turn, error) {
	op := "enqueue"
	if start {
		op = "start"
	}
	var mb messageBatch
	err := checkStartKey(&msg)
	if err == nil {
		err = mb.add(&msg, msg.Namespace)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	lock := lockAfter{lockFor: opts.LockFor}
	err = s.write(ctx, s.pool, func(ctx context.Context, conn *pgx.Conn) error {
		b := &pgx.Batch{}
		if start {
			if opts.MaxInstances > 0 {
				b.Queue(qAdvisoryLock, int32(advisoryNamespace), advisoryKey(s.cfg.schema, msg.Namespace))
			}
			b.Queue(qAdvisoryLock, int32(advisoryInstance), advisoryKey(s.cfg.schema, msg.InstanceID))
			b.Queue(qStartCheck, msg.InstanceID, msg.Namespace, int32(opts.MaxInstances))
		}
		mb.queueInsert(b)
		lock.lockFor = opts.LockFor
		lock.queue(b, msg.InstanceID, nanos(msg.VisibleAt))
		return conn.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", op, quote(msg.InstanceID), err)
	}
	if !lock.found && mb.visible {
		s.notes.wake(store.WakeTurns)
	}
	return s.lockedTurnOf(ctx, &lock, opts.Known), nil
}
