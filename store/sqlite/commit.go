package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/durohost/durohost/store"
)

// Statements of CommitTurn.
const (
	// qUpdateInstanceFast is the common case: the instance exists at this execution with this
	// module and parent, the events continue its history and (?17, when not empty) the row
	// holds the turn's live lock, which it releases. It leaves the indexed columns alone
	// (SQLite rewrites an index entry whenever its column is assigned, even to the same value),
	// so a turn rewrites one table page of its instance.
	qUpdateInstanceFast = `UPDATE instances SET name = ?1, version = ?2, status = ?3, output = ?4, failure = ?5,
		custom_status = ?6, execution = ?7, events = CASE WHEN ?8 THEN 0 ELSE events + ?9 END, updated_at = ?10,
		completed_at = CASE WHEN ?11 THEN (CASE WHEN completed_at = 0 THEN ?10 ELSE completed_at END) ELSE 0 END,
		lock_token = NULL, locked_until = 0
		WHERE id = ?12 AND execution = ?13 AND (?14 < 0 OR events = ?14) AND module_hash = ?15 AND parent_id = ?16
		  AND (?17 = '' OR (lock_token = ?17 AND locked_until > ?10))`
	// qUpdateInstanceRunning is qUpdateInstanceFast for a turn that leaves a running instance
	// running (most turns): it does not assign status or completed_at, so that it leaves the
	// index of running instances (instances_running, whose condition reads status) alone. A
	// row that is not running falls to the slow path.
	qUpdateInstanceRunning = `UPDATE instances SET name = ?1, version = ?2, output = ?4, failure = ?5,
		custom_status = ?6, execution = ?7, events = CASE WHEN ?8 THEN 0 ELSE events + ?9 END, updated_at = ?10,
		lock_token = NULL, locked_until = 0
		WHERE id = ?12 AND execution = ?13 AND (?14 < 0 OR events = ?14) AND module_hash = ?15 AND parent_id = ?16
		  AND (?17 = '' OR (lock_token = ?17 AND locked_until > ?10))
		  AND status = ?3 AND completed_at = 0 AND NOT ?11`
	// qUpdateInstance is the slow path, once checked: it also rewrites the module and parent.
	qUpdateInstance = `UPDATE instances SET name = ?1, version = ?2, status = ?3, output = ?4, failure = ?5,
		custom_status = ?6, execution = ?7, events = CASE WHEN ?8 THEN 0 ELSE events + ?9 END, updated_at = ?10,
		completed_at = CASE WHEN ?11 THEN (CASE WHEN completed_at = 0 THEN ?10 ELSE completed_at END) ELSE 0 END,
		lock_token = NULL, locked_until = 0, module_hash = ?15, parent_id = ?16
		WHERE id = ?12 AND execution = ?13 AND ?14 = ?14 AND ?17 = ?17`
	qInsertInstance = `INSERT INTO instances (name, version, status, output, failure, custom_status, execution,
		events, created_at, updated_at, completed_at, id, module_hash, parent_id, namespace)
		VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9, CASE WHEN ?10 THEN ?9 ELSE 0 END, ?11, ?12, ?13, ?14)`
	qInstanceNamespace = `SELECT namespace FROM instances WHERE id = ?1`
	qInstanceCursor    = `SELECT execution, events, coalesce(lock_token, ''), locked_until FROM instances WHERE id = ?1`
	qUpdateExecution   = `UPDATE executions SET status = ?1, events = ?2,
		completed_at = CASE WHEN ?3 THEN (CASE WHEN completed_at = 0 THEN ?4 ELSE completed_at END) ELSE 0 END
		WHERE instance_id = ?5 AND id = ?6`
	qInsertExecution = `INSERT INTO executions (instance_id, id, status, events, created_at, completed_at)
		VALUES (?1, ?2, ?3, ?4, ?5, ?6)`
	qInsertWorkItem = `INSERT INTO work_items (instance_id, execution, event_id, name, input, visible_at, ready_at, namespace)
		VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)`
	// qInsertClaimed inserts a work item locked for the committer (its token is set next: it
	// starts with the item's ID, known only after the insert).
	qInsertClaimed = `INSERT INTO work_items (instance_id, execution, event_id, name, input, visible_at, ready_at,
		attempts, locked_until, namespace) VALUES (?1, ?2, ?3, ?4, ?5, 0, ?6, 1, ?6, ?7) RETURNING id`
	qSetClaimToken = `UPDATE work_items SET lock_token = ?2 WHERE id = ?1`
	// qInsertMessage inserts a message; ?5 is the namespace of a start message, NULL for any
	// other (see migration 0004).
	qInsertMessage  = `INSERT INTO messages (instance_id, data, visible_at, ready_at, namespace) VALUES (?1, ?2, ?3, ?4, ?5)`
	qDeleteConsumed = `DELETE FROM messages WHERE id = ?1 AND lock_token = ?2`
	qCancelWorkItem = `DELETE FROM work_items WHERE instance_id = ?1 AND execution = ?2 AND event_id = ?3`
)

// historyChunk is the most events one INSERT statement appends.
const historyChunk = 16

// insertHistory[n-1] appends n events in one statement: ?1 instance, ?2 execution, ?3 the
// first event's ID, then one blob per event (fewer parameters to bind than four per row).
var insertHistory = func() (qs [historyChunk]string) {
	for n := 1; n <= historyChunk; n++ {
		var b strings.Builder
		b.WriteString("INSERT INTO history (instance_id, execution, event_id, data) VALUES ")
		for i := range n {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "(?1, ?2, ?3 + %d, ?%d)", i, 4+i)
		}
		qs[n-1] = b.String()
	}
	return qs
}()

// encodedCommit is a Commit checked and encoded by the caller's goroutine, so that the
// writer only runs statements.
type encodedCommit struct {
	*store.Commit
	events    [][]byte
	firstID   int64
	failure   []byte
	messages  []encodedMessage
	execution uint32 // the current execution after the commit
	status    store.Status
	finished  bool
	// starts tells whether messages holds a start message.
	starts bool
	// ns is the committing instance's namespace once known (nsKnown), within one attempt of
	// the write (reset by resetAttempt).
	ns      string
	nsKnown bool
}

// resetAttempt forgets what a previous attempt of the same write learnt (the writer may run a
// request again in a transaction of its own).
func (e *encodedCommit) resetAttempt() { e.ns, e.nsKnown = "", false }

// encodedMessage is a message ready to insert.
type encodedMessage struct {
	instanceID string
	data       []byte
	visibleAt  int64
	// start marks a start message (its row keeps a namespace).
	start bool
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
	e.messages = make([]encodedMessage, len(c.Messages))
	for i := range c.Messages {
		m := &c.Messages[i]
		b, err := encodeMessageEvent(m)
		if err != nil {
			return nil, err
		}
		e.messages[i] = encodedMessage{instanceID: m.InstanceID, data: b, visibleAt: nanos(m.VisibleAt), start: isStart(m)}
		e.starts = e.starts || isStart(m)
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

// CommitTurn applies a turn atomically; see store.Store.
func (s *Store) CommitTurn(ctx context.Context, token string, c *store.Commit) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	e, err := encodeCommit(c)
	if err != nil {
		return fmt.Errorf("commit turn: %w", err)
	}
	err = s.w.do(ctx, func(t *tx) error { return commitTurn(t, token, e) })
	if err != nil {
		c.Created = time.Time{}
	}
	return err
}

// commitTurn runs in the writer. Any error rolls the whole request back, lock included.
func commitTurn(t *tx, token string, e *encodedCommit) error {
	e.resetAttempt()
	now := nanos(t.now)
	var (
		id      string
		err     error
		rowLock string // the token, when the instance row holds the lock
	)
	if rowid := rowLockID(token); rowid != pendingRowMarker && e.Execution != 0 {
		// The UPDATE of the instance checks and releases the lock (see lock.go).
		id, err = t.rowLockOwner(token, rowid)
		rowLock = token
	} else {
		// Releasing the lock first checks it: a dead token matches no row.
		id, err = t.releaseTurn(token, now)
	}
	if err != nil {
		if errNoLock(err) {
			return fmt.Errorf("commit turn: %w", store.ErrLockLost)
		}
		return fmt.Errorf("commit turn: %w", err)
	}
	if e.Execution != 0 {
		if err := writeInstance(t, id, e, now, rowLock); err != nil {
			return fmt.Errorf("commit turn %s: %w", quote(id), err)
		}
	}
	return writeEffects(t, id, token, e, now)
}

// namespace returns the committing instance's namespace: the one the commit created the row
// with, else its row's ("" when it has none: a consume-only commit).
func (e *encodedCommit) namespace(t *tx, id string) (string, error) {
	if e.nsKnown {
		return e.ns, nil
	}
	err := t.queryRow(qInstanceNamespace, []any{id}, &e.ns)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		e.ns = ""
	case err != nil:
		return "", err
	}
	e.nsKnown = true
	return e.ns, nil
}

// writeEffects writes what a committed turn sends: work items (claiming those marked),
// messages, the deletion of its consumed messages (tagged with token) and of the cancelled
// work items. The work items and start messages are of the committing instance's namespace.
func writeEffects(t *tx, id, token string, e *encodedCommit, now int64) error {
	fail := func(err error) error { return fmt.Errorf("commit turn %s: %w", quote(id), err) }
	var ns string
	if len(e.Activities) > 0 || e.starts {
		var err error
		if ns, err = e.namespace(t, id); err != nil {
			return fail(err)
		}
	}
	for i := range e.Activities {
		a := &e.Activities[i]
		ref := a.ActivityRef
		if ref.InstanceID == "" {
			ref.InstanceID = id
		}
		if ref.Execution == 0 {
			ref.Execution = e.Execution
		}
		if a.Claim {
			until := now + int64(e.ClaimFor)
			var wid int64
			if err := t.queryRow(qInsertClaimed, []any{ref.InstanceID, ref.Execution, ref.EventID, a.Name, a.Input, until, ns}, &wid); err != nil {
				return fail(err)
			}
			tok := strconv.FormatInt(wid, 10) + "." + newToken()
			if _, err := t.exec(qSetClaimToken, wid, tok); err != nil {
				return fail(err)
			}
			a.ID, a.ActivityRef, a.Token, a.LockedUntil, a.Attempts = wid, ref, tok, fromNanos(until), 1
			a.Namespace = ns
			continue
		}
		vis := nanos(a.VisibleAt)
		if _, err := t.exec(qInsertWorkItem, ref.InstanceID, ref.Execution, ref.EventID, a.Name, a.Input, vis, max(vis, now), ns); err != nil {
			return fail(err)
		}
		a.Namespace = ns
	}
	for _, m := range e.messages {
		var start any // NULL: not a start
		if m.start {
			if ns != "" && !strings.HasPrefix(m.instanceID, ns+"/") {
				return fail(fmt.Errorf("start of %s: not a key of the committing instance's namespace %s (store.Key): %w", quote(m.instanceID), quote(ns), store.ErrInvalid))
			}
			start = ns
		}
		if _, err := t.exec(qInsertMessage, m.instanceID, m.data, m.visibleAt, max(m.visibleAt, now), start); err != nil {
			return fail(err)
		}
	}
	for _, mid := range e.Consumed {
		if _, err := t.exec(qDeleteConsumed, mid, token); err != nil {
			return fail(err)
		}
	}
	for _, ref := range e.CancelledActivities {
		if _, err := t.exec(qCancelWorkItem, ref.InstanceID, ref.Execution, ref.EventID); err != nil {
			return fail(err)
		}
	}
	return nil
}

// writeInstance updates (or, on the first commit, creates) the instance row, checking that
// the commit is for the current execution and that its events continue the history; then it
// writes the execution rows and appends the history.
//
// rowLock is the turn's token when the lock is on the instance row: the UPDATE then checks
// and releases it, and a row that does not hold it is ErrLockLost (checked before anything
// else).
func writeInstance(t *tx, id string, e *encodedCommit, now int64, rowLock string) error {
	st := &e.State
	expect := int64(-1) // events the history must hold before this commit; -1: no check
	if len(e.events) > 0 {
		expect = e.firstID - 1
	}
	// A commit that ends the execution (or leaves it in a state other than running) rewrites
	// its execution row, with the history's length read first. Ordinary turns skip both.
	endsExec := e.ContinueAsNew || e.status != store.StatusRunning
	before := int64(-1)
	if endsExec {
		err := t.queryRow(qInstanceCursor, []any{id}, new(uint32), &before, new(string), new(int64))
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
	}
	args := []any{st.Name, st.Version, e.status, st.Output, e.failure, st.CustomStatus, e.execution,
		e.ContinueAsNew, len(e.events), now, e.finished, id, e.Execution, expect, st.ModuleHash, st.ParentID, rowLock}
	fast := qUpdateInstanceFast
	if e.status == store.StatusRunning {
		fast = qUpdateInstanceRunning
	}
	n, err := t.execN(fast, args...)
	if err != nil {
		return err
	}
	if n == 0 {
		var (
			cur             uint32
			prev, lockUntil int64
			lockToken       string
		)
		err := t.queryRow(qInstanceCursor, []any{id}, &cur, &prev, &lockToken, &lockUntil)
		switch {
		case errors.Is(err, sql.ErrNoRows) && rowLock != "":
			return store.ErrLockLost // the instance was deleted
		case errors.Is(err, sql.ErrNoRows):
			return createInstance(t, id, e, now)
		case err != nil:
			return err
		case rowLock != "" && (lockToken != rowLock || lockUntil <= now):
			return store.ErrLockLost
		case cur != e.Execution:
			return fmt.Errorf("execution %d is not the current one (%d): %w", e.Execution, cur, store.ErrInvalid)
		case expect >= 0 && prev != expect:
			return fmt.Errorf("execution %d: event ID %d does not follow its %d events: %w", e.Execution, e.firstID, prev, store.ErrDuplicateEvent)
		}
		// The module or the parent changed, or the status (a running instance ends, or a
		// running commit comes to an instance that is not running).
		if _, err := t.exec(qUpdateInstance, args...); err != nil {
			return err
		}
	}
	if endsExec {
		status := e.status
		if e.ContinueAsNew {
			status = store.StatusContinuedAsNew
		}
		if _, err := t.exec(qUpdateExecution, status, before+int64(len(e.events)), e.finished || e.ContinueAsNew, now, id, e.Execution); err != nil {
			return err
		}
	}
	if err := startNext(t, id, e, now); err != nil {
		return err
	}
	return appendHistory(t, id, e)
}

// createInstance writes the rows of an instance's first commit.
func createInstance(t *tx, id string, e *encodedCommit, now int64) error {
	st := &e.State
	if e.Execution != 1 {
		return fmt.Errorf("first commit to execution %d, not 1: %w", e.Execution, store.ErrInvalid)
	}
	if ns := st.Namespace; ns != "" && !strings.HasPrefix(id, ns+"/") {
		return fmt.Errorf("instance %s is not a key of its namespace %s (store.Key): %w", quote(id), quote(ns), store.ErrInvalid)
	}
	if len(e.events) > 0 && e.firstID != 1 {
		return fmt.Errorf("first event of a new instance has ID %d: %w", e.firstID, store.ErrDuplicateEvent)
	}
	events := int64(len(e.events))
	status, ended := e.status, e.finished
	if e.ContinueAsNew {
		status, ended = store.StatusContinuedAsNew, true
	}
	current := events
	if e.ContinueAsNew {
		current = 0
	}
	if _, err := t.exec(qInsertInstance, st.Name, st.Version, e.status, st.Output, e.failure,
		st.CustomStatus, e.execution, current, now, e.finished, id, st.ModuleHash, st.ParentID, st.Namespace); err != nil {
		return err
	}
	e.Created = fromNanos(now)
	e.ns, e.nsKnown = st.Namespace, true
	var completed int64
	if ended {
		completed = now
	}
	if _, err := t.exec(qInsertExecution, id, e.Execution, status, events, now, completed); err != nil {
		return err
	}
	if err := startNext(t, id, e, now); err != nil {
		return err
	}
	return appendHistory(t, id, e)
}

// startNext creates the next execution's row on continue-as-new.
func startNext(t *tx, id string, e *encodedCommit, now int64) error {
	if !e.ContinueAsNew {
		return nil
	}
	_, err := t.exec(qInsertExecution, id, e.execution, store.StatusRunning, 0, now, 0)
	return err
}

// appendHistory inserts the commit's events, historyChunk at a time.
func appendHistory(t *tx, id string, e *encodedCommit) error {
	args := make([]any, 0, 3+min(len(e.events), historyChunk))
	for start := 0; start < len(e.events); start += historyChunk {
		end := min(start+historyChunk, len(e.events))
		args = append(args[:0], id, e.Execution, e.firstID+int64(start))
		for i := start; i < end; i++ {
			args = append(args, e.events[i])
		}
		if _, err := t.exec(insertHistory[end-start-1], args...); err != nil {
			return err
		}
	}
	return nil
}
