package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// The writer owns the only connection that writes. Every write of the store is a request: a
// function applied to the open transaction. The writer drains up to batchSize pending
// requests, applies them in one IMMEDIATE transaction, each inside its own SAVEPOINT (so a
// failing request rolls back only its own changes and gets its own error), commits once, and
// only then answers every caller. A lone request runs in a plain transaction, so one caller
// pays for one transaction and nothing more. See RATIONALE.md, "Why one writer with group
// commit in the SQLite store?".
//
// A request submitted with modeNoSavepoint runs in a group without a savepoint of its own
// (two statements fewer). The writer tracks whether a request may have changed the database
// (tx.wrote): an error from such a request that wrote nothing is its own, with nothing to
// undo; an error after it may have written fails the group as a whole, and the fallback that
// gives every request a transaction of its own gives each its own outcome. See RATIONALE.md,
// "Why may some write requests skip their savepoint?".

// request states: a request is taken by the writer or abandoned by its caller, never both.
const (
	reqPending int32 = iota
	reqTaken
	reqAbandoned
)

// reqMode says how the writer may run a request (a set of flags).
type reqMode uint8

const (
	// modeRelaxed: the request only takes or extends locks, and may commit without waiting
	// for the disk (see doRelaxed).
	modeRelaxed reqMode = 1 << iota
	// modeNoSavepoint: the request needs no savepoint in a group. Its errors come, as a
	// rule, before its first write (a lock that is lost, say), and it changes the database
	// only through the statements of tx (exec, execN, query, queryRow, queryDirect), which
	// keep tx.wrote and tx.failed: the writer relies on them to tell an error that left
	// nothing to undo from one that fails the group.
	modeNoSavepoint
	// modeFetchTurn: the request is FetchTurn's. The writer runs such requests after the
	// others of their batch, so that when the first finds no turn the next ones know it
	// without a query (see tx.noTurn).
	modeFetchTurn
)

// request is one write waiting for the writer.
type request struct {
	fn    func(*tx) error
	state atomic.Int32
	done  chan error
	mode  reqMode
}

var requestPool = sync.Pool{New: func() any { return &request{done: make(chan error, 1)} }}

// tx is the writer's open transaction as a request sees it. A request writes only through
// its statement methods (exec, execN, query, queryRow, queryDirect), which keep wrote: conn
// itself is for reads.
type tx struct {
	conn  *sql.Conn
	stmts map[string]*sql.Stmt
	// now is the clock's reading when the request started: every time a request compares or
	// writes uses it.
	now time.Time
	// lockOwners remembers the instance of each turn token FetchTurn handed out, so that
	// CommitTurn needs no statement to find it (see lock.go). It is a hint owned by the writer
	// goroutine: the lock itself is checked by the statements, a stale entry only makes them
	// change no row, and a missing one (a token from before a restart) is looked up.
	lockOwners map[string]string
	// wrote says whether the current request may have changed the database: set before a
	// statement runs, except by a statement that reports it changed nothing (execN with 0
	// rows, queryRow with no row). The writer clears it before each request.
	wrote bool
	// failed says that a statement of the current request failed. A failed statement may have
	// rolled back the whole transaction (SQLITE_FULL, IOERR, NOMEM, some BUSY), after which
	// the next statements would run outside it, each committed at once: a request without a
	// savepoint in a group that saw one fails the group, whatever the request returned, so
	// that the fallback gives every request a transaction of its own. Cleared before each
	// request.
	failed bool
	// noTurn says that a FetchTurn earlier in the open transaction found no instance to lock,
	// and that no request since may have written: another FetchTurn would find none either
	// (its answer is the state at that earlier moment, while it was already waiting). Cleared
	// by BEGIN and by every request that may have written.
	noTurn bool
}

// errBadRow: a statement ran, but a column of its row could not be read (tx.queryRow).
var errBadRow = errors.New("unreadable row")

// stmt returns the prepared statement for q, preparing it on first use.
func (t *tx) stmt(q string) (*sql.Stmt, error) {
	if s, ok := t.stmts[q]; ok {
		return s, nil
	}
	s, err := t.conn.PrepareContext(context.Background(), q)
	if err != nil {
		return nil, err
	}
	t.stmts[q] = s
	return s, nil
}

func (t *tx) exec(q string, args ...any) (sql.Result, error) {
	t.wrote = true
	return t.execStmt(q, args)
}

func (t *tx) execStmt(q string, args []any) (sql.Result, error) {
	s, err := t.stmt(q)
	if err == nil {
		var res sql.Result
		if res, err = s.ExecContext(context.Background(), args...); err == nil {
			return res, nil
		}
	}
	t.failed = true
	return nil, err
}

// execN runs q and returns the number of rows it changed. A statement that changed no row
// does not count as a write of the request (see tx.wrote).
func (t *tx) execN(q string, args ...any) (int64, error) {
	res, err := t.execStmt(q, args)
	if err != nil {
		t.wrote = true // a failed statement may have left changes, or broken the transaction
		return 0, err
	}
	n, err := res.RowsAffected()
	if err != nil || n != 0 {
		t.wrote = true
	}
	return n, err
}

func (t *tx) query(q string, args ...any) (*sql.Rows, error) {
	t.wrote = true // the statement may write (RETURNING), and rows are read after the call
	s, err := t.stmt(q)
	if err != nil {
		t.failed = true
		return nil, err
	}
	rows, err := s.QueryContext(context.Background(), args...)
	if err != nil {
		t.failed = true
	}
	return rows, err
}

// queryDirect runs a query that is not worth caching (its text varies with its input).
func (t *tx) queryDirect(q string, args ...any) (*sql.Rows, error) {
	t.wrote = true
	rows, err := t.conn.QueryContext(context.Background(), q, args...)
	if err != nil {
		t.failed = true
	}
	return rows, err
}

// queryRow runs q and scans its first row into dest; sql.ErrNoRows when there is none, and
// an error wrapping errBadRow when the statement ran but a column of its row could not be
// read into dest (then nothing failed: the statement's changes stand). A statement that
// returned no row does not count as a write of the request (a SELECT wrote nothing, and an
// UPDATE, DELETE or INSERT with RETURNING returns a row for every row it changes).
func (t *tx) queryRow(q string, args []any, dest ...any) error {
	s, err := t.stmt(q)
	if err != nil {
		t.wrote, t.failed = true, true
		return err
	}
	rows, err := s.QueryContext(context.Background(), args...)
	if err != nil {
		t.wrote, t.failed = true, true
		return err
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			t.wrote, t.failed = true, true
			return err
		}
		return sql.ErrNoRows
	}
	t.wrote = true
	if err := rows.Scan(dest...); err != nil {
		return fmt.Errorf("%w: %v", errBadRow, err)
	}
	if err := rows.Close(); err != nil {
		t.failed = true
		return err
	}
	return nil
}

// writer is the single writing goroutine and its connection.
type writer struct {
	db        *sql.DB
	tx        tx
	reqs      chan *request
	quit      chan struct{}
	exited    chan struct{}
	batchSize int
	clock     func() time.Time

	// batches and batched count transactions and the requests they carried (for tests and
	// benchmarks); relaxedBatches counts those committed without waiting for the disk, and
	// savepoints the savepoints of requests in groups.
	batches, batched, relaxedBatches, savepoints atomic.Int64

	// durable is the synchronous setting of ordinary commits; relaxOK says whether relaxed
	// batches may commit with synchronous=OFF (a WAL database whose commits otherwise wait
	// for the disk); relaxedNow is the connection's current state.
	durable    Synchronous
	relaxOK    bool
	relaxedNow bool
}

func newWriter(db *sql.DB, conn *sql.Conn, batchSize int, clock func() time.Time, durable Synchronous, wal bool) *writer {
	w := &writer{
		durable:   durable,
		relaxOK:   wal && durable != SyncOff,
		db:        db,
		tx:        tx{conn: conn, stmts: map[string]*sql.Stmt{}, lockOwners: map[string]string{}},
		reqs:      make(chan *request, 4*batchSize),
		quit:      make(chan struct{}),
		exited:    make(chan struct{}),
		batchSize: batchSize,
		clock:     clock,
	}
	go w.run()
	return w
}

// do hands fn to the writer and waits for the durable outcome. If ctx ends before the writer
// took the request, the request is withdrawn and ctx's error returned; once taken, do waits
// for the outcome, so that an error always means nothing was written.
func (w *writer) do(ctx context.Context, fn func(*tx) error) error {
	return w.submit(ctx, fn, 0)
}

// doRelaxed is do for a request that only takes, extends or gives back locks (with the
// attempt counts a fetch increments). A batch made only of such requests commits with
// synchronous=OFF: it reaches the operating system before the call returns, so it survives a
// crash of the process, and the next durable commit makes it durable too (the WAL is
// written in order); only a power loss or an OS crash before that can lose it, which loses a
// lock (it expires anyway) or one increment of an attempt count (poison detection then takes
// one more attempt). See RATIONALE.md, "Why do lock transactions not wait for the disk?".
func (w *writer) doRelaxed(ctx context.Context, fn func(*tx) error) error {
	return w.submit(ctx, fn, modeRelaxed)
}

// submit hands fn to the writer, to run as mode says, and waits for its outcome (see do).
func (w *writer) submit(ctx context.Context, fn func(*tx) error, mode reqMode) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r := requestPool.Get().(*request)
	r.fn, r.mode = fn, mode
	r.state.Store(reqPending)
	select {
	case w.reqs <- r:
	case <-ctx.Done():
		r.fn = nil
		requestPool.Put(r)
		return ctx.Err()
	}
	var err error
	select {
	case err = <-r.done:
	case <-ctx.Done():
		if r.state.CompareAndSwap(reqPending, reqAbandoned) {
			// The writer will drop it; it is not reused since the writer still holds it.
			return ctx.Err()
		}
		err = <-r.done
	}
	r.fn = nil
	requestPool.Put(r)
	return err
}

// close stops the writer after the requests already queued, and closes its connection.
func (w *writer) close() error {
	close(w.quit)
	<-w.exited
	// Closing the last connection checkpoints the WAL into the database with this
	// connection's settings: they must be the durable ones, or the checkpoint would not sync
	// the database file before the WAL is deleted.
	var errs []error
	if err := w.relax(false); err != nil {
		errs = append(errs, err)
	}
	for _, s := range w.tx.stmts {
		errs = append(errs, s.Close())
	}
	errs = append(errs, w.tx.conn.Close(), w.db.Close())
	return errors.Join(errs...)
}

func (w *writer) run() {
	defer close(w.exited)
	batch := make([]*request, 0, w.batchSize)
	for {
		batch = batch[:0]
		select {
		case r := <-w.reqs:
			batch = append(batch, r)
		case <-w.quit:
			// Store.Close waits for every call to return, so nothing is queued any more.
			return
		}
	drain:
		for len(batch) < w.batchSize {
			select {
			case r := <-w.reqs:
				batch = append(batch, r)
			default:
				break drain
			}
		}
		w.runBatch(batch)
	}
}

// runBatch applies the requests that were not withdrawn and answers them.
func (w *writer) runBatch(batch []*request) {
	n := 0
	for _, r := range batch {
		if r.state.CompareAndSwap(reqPending, reqTaken) {
			batch[n] = r
			n++
		}
	}
	batch = batch[:n]
	if len(batch) == 0 {
		return
	}
	relaxed := w.relaxOK
	for _, r := range batch {
		relaxed = relaxed && r.mode&modeRelaxed != 0
	}
	if err := w.relax(relaxed); err != nil {
		for _, r := range batch {
			r.done <- err
		}
		return
	}
	if relaxed {
		w.relaxedBatches.Add(1)
	}
	fetchesLast(batch)
	if len(batch) == 1 {
		batch[0].done <- w.runOne(batch[0])
		return
	}
	errs, err := w.runGroup(batch)
	if err != nil {
		// The transaction as a whole failed (commit, a savepoint that could not be rolled
		// back, or a request without one that failed after writing): nothing of it was
		// written. Give each request a transaction of its own
		// so that each gets its own outcome.
		for _, r := range batch {
			r.done <- w.runOne(r)
		}
		return
	}
	for i, r := range batch {
		r.done <- errs[i]
	}
}

// fetchesLast moves the FetchTurn requests of batch after the others, keeping each group's
// order. The requests of a batch were all waiting together, so any order is one they could
// have run in; this one lets the fetches that come after one that found nothing answer
// without a query (tx.noTurn), instead of each scanning the queue again between the writes
// of the other requests. The answers go back to the callers by request, not by position.
func fetchesLast(batch []*request) {
	n := 0
	for _, r := range batch {
		if r.mode&modeFetchTurn == 0 {
			n++
		}
	}
	if n == 0 || n == len(batch) {
		return
	}
	slices.SortStableFunc(batch, func(a, b *request) int {
		return int(a.mode&modeFetchTurn) - int(b.mode&modeFetchTurn)
	})
}

// relax sets the connection for a relaxed batch (synchronous=OFF, and no automatic
// checkpoint: a checkpoint must not run without syncing, or a power loss could leave the
// database file behind a WAL that was already reset) or back for a durable one.
func (w *writer) relax(on bool) error {
	if on == w.relaxedNow {
		return nil
	}
	pragmas := []string{"PRAGMA wal_autocheckpoint=0", "PRAGMA synchronous=OFF"}
	if on {
		// Counted as relaxed from the first statement on, so that a failure half-way is
		// undone by the next durable batch (which fails rather than commit relaxed).
		w.relaxedNow = true
	} else {
		pragmas = []string{"PRAGMA synchronous=" + w.durable.String(), "PRAGMA wal_autocheckpoint=1000"}
	}
	for _, p := range pragmas {
		if _, err := w.tx.exec(p); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
	}
	w.relaxedNow = on
	return nil
}

// runOne applies a single request in its own transaction.
func (w *writer) runOne(r *request) error {
	w.batches.Add(1)
	w.batched.Add(1)
	w.tx.noTurn = false
	if _, err := w.tx.exec("BEGIN IMMEDIATE"); err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := w.apply(r); err != nil {
		w.rollback()
		return err
	}
	if _, err := w.tx.exec("COMMIT"); err != nil {
		w.rollback()
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// runGroup applies the requests in one transaction, each in a savepoint but those of
// modeNoSavepoint. errs holds each request's own error; err is set when the transaction
// failed as a whole (then it was rolled back).
func (w *writer) runGroup(batch []*request) (errs []error, err error) {
	w.batches.Add(1)
	w.batched.Add(int64(len(batch)))
	w.tx.noTurn = false
	if _, err := w.tx.exec("BEGIN IMMEDIATE"); err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	errs = make([]error, len(batch))
	for i, r := range batch {
		if r.mode&modeNoSavepoint != 0 {
			if errs[i] = w.apply(r); errs[i] != nil && w.tx.wrote || w.tx.failed {
				// Its changes cannot be undone alone, or a failed statement may have ended
				// the transaction: undo the group's, so that each request runs again in a
				// transaction of its own.
				w.rollback()
				if errs[i] == nil {
					return nil, errors.New("a statement of a request without a savepoint failed")
				}
				return nil, fmt.Errorf("request failed after writing: %w", errs[i])
			}
			continue
		}
		w.savepoints.Add(1)
		if _, err := w.tx.exec("SAVEPOINT req"); err != nil {
			w.rollback()
			return nil, fmt.Errorf("savepoint: %w", err)
		}
		if errs[i] = w.apply(r); errs[i] != nil {
			if _, err := w.tx.exec("ROLLBACK TO req"); err != nil {
				w.rollback()
				return nil, fmt.Errorf("rollback to savepoint: %w", err)
			}
		}
		if _, err := w.tx.exec("RELEASE req"); err != nil {
			w.rollback()
			return nil, fmt.Errorf("release savepoint: %w", err)
		}
	}
	if _, err := w.tx.exec("COMMIT"); err != nil {
		w.rollback()
		return nil, fmt.Errorf("commit: %w", err)
	}
	return errs, nil
}

// apply runs a request's function, turning a panic into an error.
func (w *writer) apply(r *request) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("write request panicked: %v", p)
		}
		if w.tx.wrote {
			w.tx.noTurn = false
		}
	}()
	w.tx.now, w.tx.wrote, w.tx.failed = w.clock(), false, false
	return r.fn(&w.tx)
}

func (w *writer) rollback() {
	// An error here means no transaction is open (SQLite already rolled it back).
	_, _ = w.tx.exec("ROLLBACK")
}
