package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/durohost/durohost/store"
)

// A commit is one pipeline of statements (one round trip, one transaction): a guard, then
// the effects (work items, messages, cancelled work items). The guard releases the turn's
// lock, writes the instance row and the execution rows, appends the history and deletes the
// consumed messages, in one statement, and raises an error (durohost_fail) when the lock is
// not live or the instance is not in the state the commit assumes; the error rolls back the
// transaction, so the statements queued after it change nothing. Four guards:
//
//   - qCommitRow: a turn of an instance that has a row (the token's kind says it had one
//     when it was locked), at its current execution and history length;
//   - qCommitNew: the first turn, which creates the row;
//   - qRelease: a consume-only commit (Commit.Execution 0);
//   - qCompleteWithTurn: a turn committed with an activity's completion, without a lock.
//
// When the fast form's assumption is wrong (codeSlow), the commit runs on the slow path: a
// transaction that reads the lock and the row first, answers the right error, or sends the
// guard that fits. A guard returns the committing instance's namespace, the creation time of
// a row it created (0: none) and whether visible messages of the instance remain (which its
// lock kept from the other hosts until now).

// setInstance is the assignment of a commit's state to instance row i. $6-$17 are laid out
// by stateArgs.
const setInstance = `name = $6, version = $7, module_hash = $8, parent_id = $9, status = $10, output = $11,
		failure = $12, custom_status = $13, execution = $14,
		events = CASE WHEN $15::boolean THEN 0 ELSE i.events + $16::bigint END,
		updated_at = durohost_now(),
		completed_at = CASE WHEN $17::boolean THEN (CASE WHEN i.completed_at = 0 THEN durohost_now() ELSE i.completed_at END) ELSE 0 END`

// afterUpdate writes, once u (the instance's update) succeeded, the ended execution's row
// ($18-$21, when $20), the next execution's on continue-as-new ($15), and the history: the
// events $23 numbered from $22, in execution $4.
const afterUpdate = `x AS (
		UPDATE executions e SET status = $18, events = $19,
			completed_at = CASE WHEN $21::boolean THEN (CASE WHEN e.completed_at = 0 THEN durohost_now() ELSE e.completed_at END) ELSE 0 END
		FROM u WHERE $20::boolean AND e.instance_id = $3 AND e.id = $4),
	n AS (
		INSERT INTO executions (instance_id, id, status, events, created_at, completed_at)
		SELECT $3::text, $4::bigint + 1, 1::smallint, 0::bigint, durohost_now(), 0::bigint FROM u WHERE $15::boolean),
	h AS (
		INSERT INTO history (instance_id, execution, event_id, data)
		SELECT $3::text, $4::bigint, $22::bigint + x.o - 1, x.d FROM u, unnest($23::bytea[]) WITH ORDINALITY AS x(d, o))`

// leftover tells whether instance $3 has visible messages besides the consumed ones (the
// bigint array in parameter c).
func leftover(c string) string {
	return `EXISTS (SELECT 1 FROM messages WHERE instance_id = $3 AND ready_at <= (SELECT durohost_now()) AND NOT (id = ANY(` + c + `::bigint[])))`
}

// Guards of CommitTurn. $1 the lock's row, $2 its secret, $3 the instance, $4 the commit's
// execution, $5 the history length the commit continues (-1: any); $24 (qCommitRow) the
// consumed messages.
var (
	qCommitRow = `WITH l AS (
		UPDATE turn_locks SET token = '', locked_until = 0
		WHERE lock_id = $1 AND token = $2 AND locked_until > durohost_now() AND instance_id = $3
		RETURNING instance_id),
	u AS (
		UPDATE instances i SET ` + setInstance + `
		FROM l WHERE i.id = l.instance_id AND i.execution = $4 AND ($5::bigint < 0 OR i.events = $5)
		RETURNING i.namespace),
	` + afterUpdate + `,
	c AS (DELETE FROM messages WHERE instance_id = $3 AND id = ANY($24::bigint[]) AND lock_token = $2 AND EXISTS (SELECT 1 FROM u))
	SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM l) THEN durohost_fail('DH001', 'the token is not the live lock of its instance')
		WHEN NOT EXISTS (SELECT 1 FROM u) THEN durohost_fail('DH008', 'the instance is not at the execution and length of the commit')
		ELSE (SELECT namespace FROM u) END, 0::bigint, ` + leftover("$24")

	// qCommitNew creates the instance row: $4 namespace, $5-$12 state, $13 the current
	// execution, $14 the current history length, $15 finished, $16-$18 the first execution's
	// status, events and end, $19 continue-as-new, $20 the events (from ID 1), $21 the
	// consumed messages. It returns the row's creation time.
	qCommitNew = `WITH l AS (
		UPDATE turn_locks SET token = '', locked_until = 0
		WHERE lock_id = $1 AND token = $2 AND locked_until > durohost_now() AND instance_id = $3
		RETURNING instance_id),
	i AS (
		INSERT INTO instances (id, namespace, name, version, module_hash, parent_id, status, output, failure,
			custom_status, execution, events, created_at, updated_at, completed_at)
		SELECT $3::text, $4::text, $5::text, $6::text, $7::text, $8::text, $9::smallint, $10::bytea, $11::bytea,
			$12::bytea, $13::bigint, $14::bigint, durohost_now(), durohost_now(),
			CASE WHEN $15::boolean THEN durohost_now() ELSE 0 END
		FROM l
		ON CONFLICT (id) DO NOTHING
		RETURNING created_at),
	x AS (
		INSERT INTO executions (instance_id, id, status, events, created_at, completed_at)
		SELECT $3::text, 1::bigint, $16::smallint, $17::bigint, durohost_now(), CASE WHEN $18::boolean THEN durohost_now() ELSE 0 END FROM i
		UNION ALL
		SELECT $3::text, 2::bigint, 1::smallint, 0::bigint, durohost_now(), 0::bigint FROM i WHERE $19::boolean),
	h AS (
		INSERT INTO history (instance_id, execution, event_id, data)
		SELECT $3::text, 1::bigint, x.o, x.d FROM i, unnest($20::bytea[]) WITH ORDINALITY AS x(d, o)),
	c AS (DELETE FROM messages WHERE instance_id = $3 AND id = ANY($21::bigint[]) AND lock_token = $2 AND EXISTS (SELECT 1 FROM i))
	SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM l) THEN durohost_fail('DH001', 'the token is not the live lock of its instance')
		WHEN NOT EXISTS (SELECT 1 FROM i) THEN durohost_fail('DH008', 'the instance has a row')
		ELSE $4::text END, coalesce((SELECT created_at FROM i), 0), ` + leftover("$21")

	// qRelease releases the lock of a consume-only commit and deletes its consumed messages
	// ($4).
	qRelease = `WITH l AS (
		UPDATE turn_locks SET token = '', locked_until = 0
		WHERE lock_id = $1 AND token = $2 AND locked_until > durohost_now() AND instance_id = $3
		RETURNING instance_id),
	c AS (DELETE FROM messages WHERE instance_id = $3 AND id = ANY($4::bigint[]) AND lock_token = $2 AND EXISTS (SELECT 1 FROM l))
	SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM l) THEN durohost_fail('DH001', 'the token is not the live lock of its instance')
		ELSE coalesce((SELECT namespace FROM instances WHERE id = $3), '') END, 0::bigint, ` + leftover("$4")

	// qCompleteWithTurn is the guard of CompleteActivityWithTurn: it deletes work item $1 if
	// $2 is its live lock and $3 its instance, then writes the instance if it has no live turn
	// lock (the lock row is locked for the transaction, so that no fetch takes the instance
	// meanwhile), was created at $24 and is at execution $4 with $5 events.
	qCompleteWithTurn = `WITH d AS (
		DELETE FROM work_items WHERE id = $1 AND lock_token = $2 AND locked_until > durohost_now() AND instance_id = $3
		RETURNING instance_id),
	l AS (
		SELECT t.instance_id FROM turn_locks t
		WHERE t.instance_id = (SELECT instance_id FROM d) AND t.locked_until <= durohost_now()
		FOR NO KEY UPDATE),
	u AS (
		UPDATE instances i SET ` + setInstance + `
		FROM l WHERE i.id = l.instance_id AND i.created_at = $24 AND i.execution = $4 AND i.events = $5
		RETURNING i.namespace),
	` + afterUpdate + `
	SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM d) THEN durohost_fail('DH001', 'the token is not the live lock of its work item')
		WHEN NOT EXISTS (SELECT 1 FROM u) THEN durohost_fail('DH002', 'the instance is locked, or not at the creation time, execution and length of the turn')
		ELSE (SELECT namespace FROM u) END, 0::bigint, false`
)

// Statements of a commit's effects. $1 is the committing instance.
const (
	// qInsertWork enqueues work items of the committing instance's namespace; those with a
	// secret ($9) are claimed, locked for $2 nanoseconds.
	qInsertWork = `INSERT INTO work_items (instance_id, execution, event_id, namespace, name, input, visible_at, ready_at,
			attempts, lock_token, locked_until)
		SELECT x.inst, x.exec, x.ev, coalesce((SELECT namespace FROM instances WHERE id = $1), ''), x.name, x.input, x.vis,
			CASE WHEN x.tok = '' THEN greatest(x.vis, durohost_now()) ELSE durohost_lock_until($2::bigint) END,
			CASE WHEN x.tok = '' THEN 0 ELSE 1 END,
			nullif(x.tok, ''),
			CASE WHEN x.tok = '' THEN 0 ELSE durohost_lock_until($2::bigint) END
		FROM unnest($3::text[], $4::bigint[], $5::bigint[], $6::text[], $7::bytea[], $8::bigint[], $9::text[])
			WITH ORDINALITY AS x(inst, exec, ev, name, input, vis, tok, o)
		ORDER BY x.o
		RETURNING id, coalesce(lock_token, ''), locked_until`

	qCancelWork = `DELETE FROM work_items w USING unnest($1::text[], $2::bigint[], $3::bigint[]) AS x(inst, exec, ev)
		WHERE w.instance_id = x.inst AND w.execution = x.exec AND w.event_id = x.ev`
)

var (
	// qInsertCommitMessages enqueues a commit's messages (see withLocks; $6 their distinct
	// instances); a start message creates an instance of the committing instance's namespace,
	// whose key must be of it.
	qInsertCommitMessages = withLocks("$6") + `
	INSERT INTO messages (instance_id, data, visible_at, ready_at, namespace)
		SELECT x.inst, x.data, x.vis, greatest(x.vis, durohost_now()),
			CASE WHEN x.start THEN (CASE WHEN n.ns = '' OR starts_with(x.inst, n.ns || '/') THEN n.ns
				ELSE durohost_fail('DH003', format('start of %s: not a key of the committing instance''s namespace %s (store.Key)',
					quote_literal(left(x.inst, 80)), quote_literal(n.ns))) END) END
		FROM ok, (SELECT coalesce((SELECT namespace FROM instances WHERE id = $1), '') AS ns) n,
			unnest($2::text[], $3::bytea[], $4::bigint[], $5::boolean[]) WITH ORDINALITY AS x(inst, data, vis, start, o)
		WHERE ok.ok
		ORDER BY x.o`
)

// withLocks returns the CTEs that keep a lock row for every instance of the text array in
// parameter p (distinct keys in order, so that concurrent statements insert them in one
// order), which every statement that enqueues messages starts with (see migration 0001): a
// creates the missing rows; k locks the others against deletion until the transaction ends
// (FOR KEY SHARE, which does not conflict with locking a turn); ok raises codeRetry when a
// row is neither, deleted since the statement's snapshot (or inserted by a transaction that
// committed since: the retry sees it). The statement's insert reads ok, so that it runs
// after the check.
func withLocks(p string) string {
	return `WITH a AS (INSERT INTO turn_locks (instance_id) SELECT unnest(` + p + `::text[]) ON CONFLICT DO NOTHING RETURNING instance_id),
	k AS (SELECT instance_id FROM turn_locks WHERE instance_id = ANY(` + p + `::text[]) FOR KEY SHARE),
	ok AS (SELECT CASE WHEN (SELECT count(*) FROM (SELECT instance_id FROM a UNION SELECT instance_id FROM k) u) = cardinality(` + p + `::text[])
		THEN true ELSE durohost_fail('DH009', 'an instance was deleted while a message was sent to it')::boolean END AS ok)`
}

// Statements that find the slow path's facts, queued with its BEGIN.
const (
	qLockForCommit = `SELECT instance_id, token = $2 AND locked_until > durohost_now() FROM turn_locks WHERE lock_id = $1 FOR UPDATE`
	qRowForCommit  = `SELECT execution, events FROM instances
		WHERE id = (SELECT instance_id FROM turn_locks WHERE lock_id = $1) FOR UPDATE`
	qTurnOwner = `SELECT instance_id FROM turn_locks WHERE lock_id = $1`
	qItemOwner = `SELECT instance_id FROM work_items WHERE id = $1`
)

// encodedCommit is a Commit checked and encoded before anything is sent.
type encodedCommit struct {
	*store.Commit
	events    [][]byte
	firstID   int64
	failure   []byte
	msgs      messageBatch
	status    store.Status // the instance's status after the commit
	execution uint32       // the current execution after the commit
	finished  bool
	// endsExec: the commit writes the execution's row (it ends the execution, or leaves it
	// in a state other than running).
	endsExec bool
}

// encodeCommit validates c and encodes its events, failure and messages.
func encodeCommit(c *store.Commit) (*encodedCommit, error) {
	if c == nil {
		return nil, fmt.Errorf("nil commit: %w", store.ErrInvalid)
	}
	if c.Execution == 0 && (len(c.History) > 0 || c.ContinueAsNew) {
		return nil, fmt.Errorf("consume-only commit (execution 0) with history or continue-as-new: %w", store.ErrInvalid)
	}
	e := &encodedCommit{Commit: c, execution: c.Execution, status: c.State.Status}
	switch st := c.State.Status; {
	case c.Execution == 0:
		// Consume-only: State is ignored.
	case !validStatus(int64(st)):
		return nil, fmt.Errorf("status %d: %w", st, store.ErrInvalid)
	case c.ContinueAsNew && st.Finished():
		return nil, fmt.Errorf("continue-as-new with status %s: %w", st, store.ErrInvalid)
	case c.ContinueAsNew:
		e.status, e.execution = store.StatusRunning, c.Execution+1
	case st == store.StatusContinuedAsNew:
		return nil, fmt.Errorf("status %s without ContinueAsNew: %w", st, store.ErrInvalid)
	}
	e.finished = e.status.Finished()
	e.endsExec = e.ContinueAsNew || e.status != store.StatusRunning
	if len(c.History) > 0 {
		e.firstID = c.History[0].ID
		if e.firstID < 1 {
			return nil, fmt.Errorf("event ID %d: %w", e.firstID, store.ErrDuplicateEvent)
		}
	}
	e.events = make([][]byte, len(c.History))
	for i := range c.History {
		ev := &c.History[i]
		if ev.ID != e.firstID+int64(i) {
			return nil, fmt.Errorf("event ID %d follows %d: %w", ev.ID, c.History[i-1].ID, store.ErrDuplicateEvent)
		}
		if !ev.Kind.Valid() {
			return nil, fmt.Errorf("event %d: kind %d: %w", ev.ID, ev.Kind, store.ErrInvalid)
		}
		b, err := ev.Encode()
		if err != nil {
			return nil, fmt.Errorf("event %d: %v: %w", ev.ID, err, store.ErrInvalid)
		}
		e.events[i] = b
	}
	if err := checkNamespace(c.State.Namespace); err != nil {
		return nil, err
	}
	var err error
	if e.failure, err = encodeFailure(c.State.Failure); err != nil {
		return nil, fmt.Errorf("failure: %v: %w", err, store.ErrInvalid)
	}
	for i := range c.Messages {
		if err := e.msgs.add(&c.Messages[i], ""); err != nil {
			return nil, err
		}
	}
	for i := range c.Activities {
		a := &c.Activities[i]
		switch {
		case a.Name == "":
			return nil, fmt.Errorf("activity %d without name: %w", i, store.ErrInvalid)
		case a.Claim && c.ClaimFor <= 0:
			return nil, fmt.Errorf("activity %d (%s) claimed with lock duration %v: %w", i, a.Name, c.ClaimFor, store.ErrInvalid)
		case a.Claim && !a.VisibleAt.IsZero():
			return nil, fmt.Errorf("activity %d (%s) claimed but delayed until %v: %w", i, a.Name, a.VisibleAt, store.ErrInvalid)
		}
	}
	return e, nil
}

// expect is the history length the commit continues, -1 when it appends no event.
func (e *encodedCommit) expect() int64 {
	if len(e.events) == 0 {
		return -1
	}
	return e.firstID - 1
}

// stateArgs returns the arguments $6-$23 of qCommitRow and qCompleteWithTurn; before is the
// history length before the commit (used only when the commit ends the execution).
func (e *encodedCommit) stateArgs(before int64) []any {
	st := &e.State
	execStatus := e.status
	if e.ContinueAsNew {
		execStatus = store.StatusContinuedAsNew
	}
	return []any{st.Name, st.Version, st.ModuleHash, st.ParentID, int16(e.status), st.Output, e.failure,
		st.CustomStatus, int64(e.execution), e.ContinueAsNew, int64(len(e.events)), e.finished,
		int16(execStatus), before + int64(len(e.events)), e.endsExec, e.finished || e.ContinueAsNew,
		e.firstID, e.events}
}

// consumed returns the IDs of the consumed messages, never nil (NULL would make leftover
// NULL).
func (e *encodedCommit) consumed() []int64 {
	if e.Consumed == nil {
		return []int64{}
	}
	return e.Consumed
}

// newArgs returns the arguments $4-$21 of qCommitNew.
func (e *encodedCommit) newArgs() []any {
	st := &e.State
	events := int64(len(e.events))
	current, execStatus, ended := events, e.status, e.finished
	if e.ContinueAsNew {
		current, execStatus, ended = 0, store.StatusContinuedAsNew, true
	}
	return []any{st.Namespace, st.Name, st.Version, st.ModuleHash, st.ParentID, int16(e.status), st.Output, e.failure,
		st.CustomStatus, int64(e.execution), current, e.finished, int16(execStatus), events, ended, e.ContinueAsNew,
		e.events, e.consumed()}
}

// checkNew returns the error of a first commit of instance id that can never succeed.
func (e *encodedCommit) checkNew(id string) error {
	if e.Execution != 1 {
		return fmt.Errorf("first commit to execution %d, not 1: %w", e.Execution, store.ErrInvalid)
	}
	if ns := e.State.Namespace; ns != "" && !strings.HasPrefix(id, ns+"/") {
		return fmt.Errorf("instance %s is not a key of its namespace %s (store.Key): %w", quote(id), quote(ns), store.ErrInvalid)
	}
	if len(e.events) > 0 && e.firstID != 1 {
		return fmt.Errorf("first event of a new instance has ID %d: %w", e.firstID, store.ErrDuplicateEvent)
	}
	return nil
}

// messageBatch is messages ready to insert, as columns.
type messageBatch struct {
	inst  []string
	data  [][]byte
	vis   []int64
	start []bool
	ns    []string // a start's namespace (Enqueue; a commit's starts take the committer's)
	// visible: a message is visible at once.
	visible bool
}

// add checks and appends m; ns is the namespace of a start (ignored for other messages).
func (mb *messageBatch) add(m *store.Message, ns string) error {
	b, err := encodeMessageEvent(m)
	if err != nil {
		return err
	}
	mb.inst = append(mb.inst, m.InstanceID)
	mb.data = append(mb.data, b)
	mb.vis = append(mb.vis, nanos(m.VisibleAt))
	mb.start = append(mb.start, isStart(m))
	mb.ns = append(mb.ns, ns)
	mb.visible = mb.visible || !m.VisibleAt.After(time.Now())
	return nil
}

// targets returns the distinct instances of the batch, in order.
func (mb *messageBatch) targets() []string {
	t := slices.Clone(mb.inst)
	slices.Sort(t)
	return slices.Compact(t)
}

// guard is the first statement of a commit's pipeline and its arguments.
type guard struct {
	sql  string
	args []any
}

// commitOut is what a successful commit reports: the committing instance's namespace, the
// creation time of a row it created, the claimed work items' rows, and whether visible
// messages of the instance remain.
type commitOut struct {
	ns       string
	created  int64
	claims   map[string]claimRow // by secret
	leftover bool
}

// claimRow is a claimed work item as inserted.
type claimRow struct {
	id    int64
	until int64
}

// batchSender is a connection or a transaction.
type batchSender interface {
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// sendCommit sends the pipeline of a commit of instance id: g, then the work items (secrets
// holds the claimed ones' secrets, "" for the others), the messages and the cancelled work
// items.
func sendCommit(ctx context.Context, q batchSender, g guard, id string, e *encodedCommit, secrets []string) (commitOut, error) {
	out := commitOut{claims: map[string]claimRow{}}
	b := &pgx.Batch{}
	b.Queue(g.sql, g.args...).QueryRow(func(row pgx.Row) error {
		return row.Scan(&out.ns, &out.created, &out.leftover)
	})
	if n := len(e.Activities); n > 0 {
		inst, exec, ev, name := make([]string, n), make([]int64, n), make([]int64, n), make([]string, n)
		input, vis := make([][]byte, n), make([]int64, n)
		for i := range e.Activities {
			a := &e.Activities[i]
			ref := a.ActivityRef
			if ref.InstanceID == "" {
				ref.InstanceID = id
			}
			if ref.Execution == 0 {
				ref.Execution = e.Execution
			}
			inst[i], exec[i], ev[i], name[i], input[i], vis[i] = ref.InstanceID, int64(ref.Execution), ref.EventID, a.Name, a.Input, nanos(a.VisibleAt)
		}
		b.Queue(qInsertWork, id, int64(e.ClaimFor), inst, exec, ev, name, input, vis, secrets).Query(func(rows pgx.Rows) error {
			for rows.Next() {
				var (
					r   claimRow
					tok string
				)
				if err := rows.Scan(&r.id, &tok, &r.until); err != nil {
					return err
				}
				if tok != "" {
					out.claims[tok] = r
				}
			}
			return rows.Err()
		})
	}
	if len(e.msgs.inst) > 0 {
		b.Queue(qInsertCommitMessages, id, e.msgs.inst, e.msgs.data, e.msgs.vis, e.msgs.start, e.msgs.targets())
	}
	if n := len(e.CancelledActivities); n > 0 {
		inst, exec, ev := make([]string, n), make([]int64, n), make([]int64, n)
		for i, r := range e.CancelledActivities {
			inst[i], exec[i], ev[i] = r.InstanceID, int64(r.Execution), r.EventID
		}
		b.Queue(qCancelWork, inst, exec, ev)
	}
	err := q.SendBatch(ctx, b).Close()
	return out, err
}

// claimSecrets returns a fresh secret for each claimed activity of c ("" for the others).
func claimSecrets(c *store.Commit) []string {
	secrets := make([]string, len(c.Activities))
	for i := range c.Activities {
		if c.Activities[i].Claim {
			secrets[i] = newSecret()
		}
	}
	return secrets
}

// applyOut reports a successful commit of instance id in c: the namespace of its work items,
// the claimed items' locks, the creation time of a row it created. It remembers the claimed
// items' instance and tells the other stores what became visible.
func (s *Store) applyOut(id string, c *store.Commit, secrets []string, out commitOut) {
	if out.created != 0 {
		c.Created = fromNanos(out.created)
	}
	var wake store.Wake
	for i := range c.Activities {
		a := &c.Activities[i]
		a.Namespace = out.ns
		if !a.Claim {
			if !a.VisibleAt.After(time.Now()) {
				wake |= store.WakeActivities
			}
			continue
		}
		r := out.claims[secrets[i]]
		if a.ActivityRef.InstanceID == "" {
			a.ActivityRef.InstanceID = id
		}
		if a.ActivityRef.Execution == 0 {
			a.ActivityRef.Execution = c.Execution
		}
		a.ID, a.Token, a.LockedUntil, a.Attempts = r.id, makeToken(kindActivity, r.id, secrets[i]), fromNanos(r.until), 1
		s.owners.put(s.owners.items, r.id, a.ActivityRef.InstanceID)
	}
	for i := range c.Messages {
		if !c.Messages[i].VisibleAt.After(time.Now()) {
			wake |= store.WakeTurns
			break
		}
	}
	if out.leftover {
		wake |= store.WakeTurns
	}
	s.notes.wake(wake)
}

// CommitTurn applies a turn atomically; see store.Store.
func (s *Store) CommitTurn(ctx context.Context, tokenText string, c *store.Commit) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	e, err := encodeCommit(c)
	if err != nil {
		return fmt.Errorf("commit turn: %w", err)
	}
	tok, ok := parseToken(tokenText, string([]byte{kindTurnRow, kindTurnPending}))
	if !ok {
		return fmt.Errorf("commit turn: %w", store.ErrLockLost)
	}
	id, err := s.turnOwner(ctx, tok.row)
	if err != nil {
		return fmt.Errorf("commit turn: %w", err)
	}
	secrets := claimSecrets(c)
	var out commitOut
	// The fast path: one pipeline whose guard fits what the token says of the instance.
	var g *guard
	switch expect := e.expect(); {
	case e.Execution == 0:
		g = &guard{qRelease, []any{tok.row, tok.secret, id, e.consumed()}}
	case tok.kind == kindTurnRow && (expect >= 0 || !e.endsExec):
		g = &guard{qCommitRow, append(append([]any{tok.row, tok.secret, id, int64(e.Execution), expect}, e.stateArgs(expect)...), e.consumed())}
	case tok.kind == kindTurnPending && e.checkNew(id) == nil:
		g = &guard{qCommitNew, append([]any{tok.row, tok.secret, id}, e.newArgs()...)}
	}
	err = errSlowPath
	if g != nil {
		err = s.write(ctx, s.pool, func(ctx context.Context, conn *pgx.Conn) error {
			var err error
			out, err = sendCommit(ctx, conn, *g, id, e, secrets)
			return err
		})
	}
	if errors.Is(err, errSlowPath) {
		out, err = s.commitSlow(ctx, tok, id, e, secrets)
	}
	if err != nil {
		return fmt.Errorf("commit turn %s: %w", quote(id), err)
	}
	s.owners.drop(s.owners.turns, tok.row)
	s.applyOut(id, c, secrets, out)
	return nil
}

// commitSlow runs a commit in a transaction that first reads the lock and the instance row
// (locking both), so that it answers the error that fits, or sends the guard that fits.
func (s *Store) commitSlow(ctx context.Context, tok token, id string, e *encodedCommit, secrets []string) (commitOut, error) {
	var (
		out               commitOut
		lockOwner         string
		live, hasRow      bool
		execution, events int64
	)
	err := s.inTx(ctx,
		func(b *pgx.Batch) {
			b.Queue(qLockForCommit, tok.row, tok.secret)
			b.Queue(qRowForCommit, tok.row)
		},
		func(br pgx.BatchResults) error {
			lockOwner, live, hasRow = "", false, false
			if err := br.QueryRow().Scan(&lockOwner, &live); err != nil && !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
			err := br.QueryRow().Scan(&execution, &events)
			if err != nil && !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
			hasRow = err == nil
			return nil
		},
		func(ctx context.Context, tx pgx.Tx) error {
			if !live || lockOwner != id {
				return store.ErrLockLost
			}
			var g guard
			switch {
			case e.Execution == 0:
				g = guard{qRelease, []any{tok.row, tok.secret, id, e.consumed()}}
			case hasRow:
				if uint32(execution) != e.Execution {
					return fmt.Errorf("execution %d is not the current one (%d): %w", e.Execution, execution, store.ErrInvalid)
				}
				if expect := e.expect(); expect >= 0 && events != expect {
					return fmt.Errorf("execution %d: event ID %d does not follow its %d events: %w", e.Execution, e.firstID, events, store.ErrDuplicateEvent)
				}
				g = guard{qCommitRow, append(append([]any{tok.row, tok.secret, id, int64(e.Execution), events}, e.stateArgs(events)...), e.consumed())}
			default:
				if err := e.checkNew(id); err != nil {
					return err
				}
				g = guard{qCommitNew, append([]any{tok.row, tok.secret, id}, e.newArgs()...)}
			}
			var err error
			out, err = sendCommit(ctx, tx, g, id, e, secrets)
			if errors.Is(sqlError(err), errSlowPath) {
				return fmt.Errorf("the instance changed under its lock: %w", store.ErrCorrupt)
			}
			return err
		})
	return out, err
}

// turnOwner returns the instance whose lock row is row: remembered, or read. ErrLockLost
// when there is no such row.
func (s *Store) turnOwner(ctx context.Context, row int64) (string, error) {
	if id, ok := s.owners.get(s.owners.turns, row); ok {
		return id, nil
	}
	var id string
	err := s.pool.QueryRow(ctx, qTurnOwner, row).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", store.ErrLockLost
	}
	if err != nil {
		return "", ctxError(ctx, sqlError(err))
	}
	return id, nil
}

// itemOwner returns the instance of work item row: remembered, or read. ErrLockLost when
// there is no such item.
func (s *Store) itemOwner(ctx context.Context, row int64) (string, error) {
	if id, ok := s.owners.get(s.owners.items, row); ok {
		return id, nil
	}
	var id string
	err := s.pool.QueryRow(ctx, qItemOwner, row).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", store.ErrLockLost
	}
	if err != nil {
		return "", ctxError(ctx, sqlError(err))
	}
	return id, nil
}

// CompleteActivityWithTurn completes a work item and commits a turn of its instance computed
// on its result, in one transaction; see store.Store.
func (s *Store) CompleteActivityWithTurn(ctx context.Context, tokenText string, created time.Time, c *store.Commit) error {
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
	tok, ok := parseToken(tokenText, string(kindActivity))
	if !ok {
		return fmt.Errorf("complete activity with turn: %w", store.ErrLockLost)
	}
	id, err := s.itemOwner(ctx, tok.row)
	if err != nil {
		return fmt.Errorf("complete activity %d: %w", tok.row, err)
	}
	secrets := claimSecrets(c)
	expect := e.expect()
	g := guard{qCompleteWithTurn, append(append([]any{tok.row, tok.secret, id, int64(e.Execution), expect}, e.stateArgs(expect)...), nanos(created))}
	var out commitOut
	err = s.write(ctx, s.pool, func(ctx context.Context, conn *pgx.Conn) error {
		var err error
		out, err = sendCommit(ctx, conn, g, id, e, secrets)
		return err
	})
	if err != nil {
		return fmt.Errorf("complete activity %d: turn of %s: %w", tok.row, quote(id), err)
	}
	s.owners.drop(s.owners.items, tok.row)
	s.applyOut(id, c, secrets, out)
	return nil
}
