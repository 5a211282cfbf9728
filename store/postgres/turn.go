package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/durohost/durohost/history"
	"github.com/durohost/durohost/store"
)

// Statements of the turn lifecycle.
const (
	// qFetchTurn locks the instance whose oldest visible message became visible first, among
	// those with no live lock, skipping the lock rows other transactions hold (competing
	// fetches never wait for each other), and tags its visible messages with the secret $1.
	// $2 is the lock's duration, $3 the most messages a turn takes.
	qFetchTurn = `WITH c AS (
		SELECT t.instance_id FROM messages m JOIN turn_locks t ON t.instance_id = m.instance_id
		WHERE m.ready_at <= (SELECT durohost_now()) AND t.locked_until <= (SELECT durohost_now())
		ORDER BY m.ready_at, m.id LIMIT 1
		FOR NO KEY UPDATE OF t SKIP LOCKED),
	l AS (
		UPDATE turn_locks t SET token = $1, locked_until = durohost_lock_until($2::bigint)
		FROM c WHERE t.instance_id = c.instance_id
		RETURNING t.instance_id, t.lock_id, t.locked_until),
	g AS (
		UPDATE messages m SET lock_token = $1, attempts = m.attempts + 1
		WHERE m.id IN (SELECT id FROM messages WHERE instance_id = (SELECT instance_id FROM l) AND ready_at <= (SELECT durohost_now())
			ORDER BY id LIMIT $3)
		RETURNING m.id, m.data, m.visible_at, m.attempts, m.namespace)
	SELECT l.instance_id, l.lock_id, l.locked_until, g.id, g.data, g.visible_at, g.attempts, g.namespace
	FROM l LEFT JOIN g ON true ORDER BY g.id`

	// qLockTurn locks instance $1's turn for $3 nanoseconds with secret $2, when the message
	// its transaction enqueued (visible at $6) is visible, the instance has no live lock, no
	// other transaction holds its lock row and (unless $4) it has a row, and tags its visible
	// messages (the one enqueued among them). $5 is the most messages a turn takes.
	qLockTurn = `WITH l AS (
		UPDATE turn_locks t SET token = $2, locked_until = durohost_lock_until($3::bigint)
		WHERE t.instance_id = (SELECT instance_id FROM turn_locks WHERE instance_id = $1 AND locked_until <= durohost_now()
			AND $6::bigint <= durohost_now() AND ($4::boolean OR EXISTS (SELECT 1 FROM instances WHERE id = $1))
			FOR NO KEY UPDATE SKIP LOCKED)
		RETURNING t.instance_id, t.lock_id, t.locked_until),
	g AS (
		UPDATE messages m SET lock_token = $2, attempts = m.attempts + 1
		WHERE m.id IN (SELECT id FROM messages WHERE instance_id = $1 AND ready_at <= (SELECT durohost_now()) AND EXISTS (SELECT 1 FROM l)
			ORDER BY id LIMIT $5)
		RETURNING m.id, m.data, m.visible_at, m.attempts, m.namespace)
	SELECT l.instance_id, l.lock_id, l.locked_until, g.id, g.data, g.visible_at, g.attempts, g.namespace
	FROM l LEFT JOIN g ON true ORDER BY g.id`

	// qTurnState reads a locked turn's instance with its current history, unless the history
	// is of execution $2 with $3 events (the one the caller holds).
	qTurnState = `SELECT ` + instanceCols + `, i.events,
		CASE WHEN i.execution = $2 AND i.events = $3 THEN NULL
			ELSE ARRAY(SELECT h.data FROM history h WHERE h.instance_id = i.id AND h.execution = i.execution ORDER BY h.event_id) END
	FROM instances i WHERE i.id = $1`

	// qReleaseEmpty releases a lock that took no message.
	qReleaseEmpty = `UPDATE turn_locks SET token = '', locked_until = 0 WHERE lock_id = $1 AND token = $2`
	qRenewTurn    = `UPDATE turn_locks SET locked_until = durohost_lock_until($3::bigint) WHERE lock_id = $1 AND token = $2 AND locked_until > durohost_now()`
	qAbandonTurn  = `WITH l AS (
		UPDATE turn_locks SET token = '', locked_until = 0
		WHERE lock_id = $1 AND token = $2 AND locked_until > durohost_now()
		RETURNING instance_id),
	m AS (
		UPDATE messages m SET lock_token = NULL,
			ready_at = CASE WHEN $3::bigint > 0 THEN durohost_now() + $3::bigint ELSE m.ready_at END,
			attempts = CASE WHEN $4::boolean AND m.attempts > 0 THEN m.attempts - 1 ELSE m.attempts END
		FROM l WHERE m.instance_id = l.instance_id AND m.lock_token = $2
		RETURNING 1)
	SELECT (SELECT count(*) FROM l), (SELECT count(*) FROM m)`
)

// lockedTurn is a turn as its lock statement returns it: the instance, the lock's row and
// end, and the tagged messages, not yet decoded.
type lockedTurn struct {
	id      string
	row     int64
	secret  string
	until   int64
	raw     []rawMessage
	scanErr error // a message could not be read: the lock is kept (see FetchTurn)
}

// rawMessage is a message row not yet decoded.
type rawMessage struct {
	id, visibleAt int64
	attempts      int32
	data          []byte
	namespace     *string // a start's namespace (nil: not a start)
}

// scanLocked reads the rows of qFetchTurn or qLockTurn into lt; found is false when nothing
// was locked. A row that cannot be read sets lt.scanErr (the lock is taken all the same).
func scanLocked(rows pgx.Rows, lt *lockedTurn) (found bool, err error) {
	defer rows.Close()
	for rows.Next() {
		var (
			id         string
			row, until int64
			mid, vis   *int64
			attempts   *int32
			data       []byte
			namespace  *string
		)
		if err := rows.Scan(&id, &row, &until, &mid, &data, &vis, &attempts, &namespace); err != nil {
			if lt.scanErr == nil {
				lt.scanErr = corruptf("fetch turn: message of instance %s: %v", quote(lt.id), err)
			}
			found = true
			continue
		}
		if lt.id == "" {
			found, lt.id, lt.row, lt.until = true, id, row, until
		}
		if mid != nil {
			lt.raw = append(lt.raw, rawMessage{id: *mid, visibleAt: *vis, attempts: *attempts, data: data, namespace: namespace})
		}
	}
	return found, rows.Err()
}

// FetchTurn locks the next ready instance; see store.Store. The lock commits first (on the
// fetch pool: without waiting for the disk); the instance row and history are read after it,
// so that they are the state under the new lock, and known is called in between. A corrupt
// message or history row fails the call with store.ErrCorrupt and leaves the instance locked
// until lockFor passes, so that one bad instance does not stop the others.
func (s *Store) FetchTurn(ctx context.Context, lockFor time.Duration, known store.KnownHistory) (*store.Turn, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	if lockFor <= 0 {
		return nil, fmt.Errorf("fetch turn: lock duration %v: %w", lockFor, store.ErrInvalid)
	}
	for range maxAttempts {
		lt := lockedTurn{secret: newSecret()}
		var found bool
		err := s.write(ctx, s.fetch, func(ctx context.Context, conn *pgx.Conn) error {
			lt = lockedTurn{secret: lt.secret}
			rows, err := conn.Query(ctx, qFetchTurn, lt.secret, int64(lockFor), int64(MaxTurnMessages))
			if err != nil {
				return err
			}
			found, err = scanLocked(rows, &lt)
			return err
		})
		switch {
		case err != nil:
			return nil, fmt.Errorf("fetch turn: %w", err)
		case !found:
			return nil, store.ErrNoWork
		case lt.scanErr != nil:
			return nil, lt.scanErr
		case len(lt.raw) == 0:
			// The instance's last messages were consumed by a commit that released it while
			// the fetch ran (the fetch saw the messages, then the lock released): give the
			// lock back and look again.
			if err := s.write(ctx, s.fetch, func(ctx context.Context, conn *pgx.Conn) error {
				_, err := conn.Exec(ctx, qReleaseEmpty, lt.row, lt.secret)
				return err
			}); err != nil {
				return nil, fmt.Errorf("fetch turn: %w", err)
			}
			continue
		}
		return s.turnState(ctx, &lt, known)
	}
	return nil, store.ErrNoWork
}

// turnState builds the turn of a lock just taken, from its tagged messages, and reads its
// state. A caller that is gone gets no turn: the lock is given back as if it had not been
// taken. (A corrupt row keeps the lock instead, see FetchTurn.)
func (s *Store) turnState(ctx context.Context, lt *lockedTurn, known store.KnownHistory) (*store.Turn, error) {
	turn, err := s.readTurn(ctx, lt, known)
	if err != nil {
		if ctx.Err() != nil {
			_ = s.abandonTurn(context.WithoutCancel(ctx), token{kind: kindTurnRow, row: lt.row, secret: lt.secret},
				store.AbandonOptions{IgnoreAttempt: true})
		}
		return nil, fmt.Errorf("fetch turn: %w", err)
	}
	return turn, nil
}

// readTurn decodes lt's messages and reads the instance row and (unless known holds it) the
// history of the current execution.
func (s *Store) readTurn(ctx context.Context, lt *lockedTurn, known store.KnownHistory) (*store.Turn, error) {
	id := lt.id
	turn := &store.Turn{InstanceID: id, LockedUntil: fromNanos(lt.until), Messages: make([]store.Message, 0, len(lt.raw))}
	for _, m := range lt.raw {
		ev, err := decodeEvent(m.data, func() string {
			return fmt.Sprintf("fetch turn: instance %s message %d", quote(id), m.id)
		})
		if err != nil {
			return nil, err
		}
		msg := store.Message{ID: m.id, InstanceID: id, Event: ev, VisibleAt: fromNanos(m.visibleAt), Attempts: int(m.attempts)}
		if m.namespace != nil {
			msg.Namespace = *m.namespace
		}
		turn.Messages = append(turn.Messages, msg)
	}
	heldExec, heldEvents := int64(-1), int64(-1)
	if known != nil {
		if exec, events, ok := known(id); ok {
			heldExec, heldEvents = int64(exec), int64(events)
		}
	}
	var (
		events int64
		data   [][]byte
	)
	inst, err := scanInstance(ctx, s.pool.QueryRow(ctx, qTurnState, id, heldExec, heldEvents), id, &events, &data)
	kind := byte(kindTurnRow)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		kind = kindTurnPending
	case err != nil:
		return nil, err
	default:
		if events < 0 {
			return nil, corruptf("instance %s: %d events", quote(id), events)
		}
		turn.Instance, turn.Execution, turn.Events = inst, inst.Execution, int(events)
		if data == nil {
			turn.HistoryOmitted = true
		} else if turn.History, err = decodeHistory(id, inst.Execution, data); err != nil {
			return nil, err
		} else if int64(len(turn.History)) != events {
			return nil, corruptf("history of instance %s execution %d: %d events stored, the instance row counts %d",
				quote(id), inst.Execution, len(turn.History), events)
		}
	}
	turn.Token = makeToken(kind, lt.row, lt.secret)
	s.owners.put(s.owners.turns, lt.row, id)
	return turn, nil
}

// decodeHistory decodes the events of one execution, checking that their IDs are 1, 2, 3...
func decodeHistory(id string, execution uint32, data [][]byte) ([]history.Event, error) {
	evs := make([]history.Event, 0, len(data))
	for i, d := range data {
		where := func() string {
			return fmt.Sprintf("history of instance %s execution %d event %d", quote(id), execution, i+1)
		}
		ev, err := decodeEvent(d, where)
		if err != nil {
			return nil, err
		}
		if ev.ID != int64(i+1) {
			return nil, corruptf("%s: stored with ID %d", where(), ev.ID)
		}
		evs = append(evs, ev)
	}
	return evs, nil
}

// RenewTurn extends a turn's lock; see store.Store.
func (s *Store) RenewTurn(ctx context.Context, tokenText string, lockFor time.Duration) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	if lockFor <= 0 {
		return fmt.Errorf("renew turn: lock duration %v: %w", lockFor, store.ErrInvalid)
	}
	tok, ok := parseToken(tokenText, string([]byte{kindTurnRow, kindTurnPending}))
	if !ok {
		return fmt.Errorf("renew turn: %w", store.ErrLockLost)
	}
	var n int64
	err := s.write(ctx, s.fetch, func(ctx context.Context, conn *pgx.Conn) error {
		tag, err := conn.Exec(ctx, qRenewTurn, tok.row, tok.secret, int64(lockFor))
		n = tag.RowsAffected()
		return err
	})
	switch {
	case err != nil:
		return fmt.Errorf("renew turn: %w", err)
	case n == 0:
		return fmt.Errorf("renew turn: %w", store.ErrLockLost)
	}
	return nil
}

// AbandonTurn releases a turn's lock; see store.Store.
func (s *Store) AbandonTurn(ctx context.Context, tokenText string, opts store.AbandonOptions) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	if opts.Delay < 0 {
		return fmt.Errorf("abandon turn: delay %v: %w", opts.Delay, store.ErrInvalid)
	}
	tok, ok := parseToken(tokenText, string([]byte{kindTurnRow, kindTurnPending}))
	if !ok {
		return fmt.Errorf("abandon turn: %w", store.ErrLockLost)
	}
	return s.abandonTurn(ctx, tok, opts)
}

func (s *Store) abandonTurn(ctx context.Context, tok token, opts store.AbandonOptions) error {
	var locks, msgs int64
	err := s.write(ctx, s.pool, func(ctx context.Context, conn *pgx.Conn) error {
		return conn.QueryRow(ctx, qAbandonTurn, tok.row, tok.secret, int64(opts.Delay), opts.IgnoreAttempt).Scan(&locks, &msgs)
	})
	switch {
	case err != nil:
		return fmt.Errorf("abandon turn: %w", err)
	case locks == 0:
		return fmt.Errorf("abandon turn: %w", store.ErrLockLost)
	}
	s.owners.drop(s.owners.turns, tok.row)
	if msgs > 0 && opts.Delay == 0 {
		s.notes.wake(store.WakeTurns)
	}
	return nil
}
