package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/durohost/durohost/history"
	"github.com/durohost/durohost/store"
)

// step is one request of a batch in the savepoint tests.
type step struct {
	fn   func(*tx) error
	mode reqMode
}

// runSteps sends the steps while the writer is blocked, so that they run as one batch in
// order, and returns their errors and the transactions and savepoints the batch used.
func runSteps(t *testing.T, s *Store, steps []step) (errs []error, batches, savepoints int64) {
	t.Helper()
	release := blockWriter(t, s)
	b0, sp0 := s.w.batches.Load(), s.w.savepoints.Load()
	errs = make([]error, len(steps))
	var wg sync.WaitGroup
	for i, st := range steps {
		wg.Go(func() { errs[i] = s.w.submit(context.Background(), st.fn, st.mode) })
		waitQueued(t, s, i+1) // keep the order
	}
	release()
	wg.Wait()
	return errs, s.w.batches.Load() - b0, s.w.savepoints.Load() - sp0
}

// checkErrs compares errs with want (a substring of each error, "" for success).
func checkErrs(t *testing.T, errs []error, want []string) {
	t.Helper()
	for i, w := range want {
		switch {
		case w == "" && errs[i] != nil:
			t.Errorf("request %d: unexpected error %v", i, errs[i])
		case w != "" && (errs[i] == nil || !strings.Contains(errs[i].Error(), w)):
			t.Errorf("request %d: got error %v, want %q", i, errs[i], w)
		}
	}
}

// TestGroupWithoutSavepoints: requests of modeNoSavepoint run in a group without savepoints.
// One that fails before writing fails alone and leaves its neighbours' writes in place; one
// that fails after it may have written (or panics after, or breaks a statement) fails the
// group, and every request then runs in a transaction of its own and gets its own outcome.
func TestGroupWithoutSavepoints(t *testing.T) {
	errBoom := errors.New("boom")
	const ns = modeNoSavepoint
	ok := func(id string) step { return step{insertMsg(id), ns} }
	failing := func(fn func(*tx) error) step { return step{fn, ns} }
	deleteNone := func(t *tx) error {
		n, err := t.execN(`DELETE FROM messages WHERE instance_id = 'nobody'`)
		if err != nil || n != 0 {
			return fmt.Errorf("deleted %d, %v", n, err)
		}
		return errBoom
	}
	tests := []struct {
		name    string
		steps   []step
		wantErr []string
		want    string // instances with a message afterwards
		// batches and savepoints the batch used (a fallback adds one transaction a request).
		batches, savepoints int64
	}{
		{
			name:    "no failure",
			steps:   []step{ok("a"), ok("b"), ok("c")},
			wantErr: []string{"", "", ""},
			want:    "a,b,c", batches: 1,
		},
		{
			name:    "fails before writing",
			steps:   []step{ok("a"), failing(func(*tx) error { return errBoom }), ok("c")},
			wantErr: []string{"", "boom", ""},
			want:    "a,c", batches: 1,
		},
		{
			name:    "fails after a statement that changed nothing",
			steps:   []step{ok("a"), failing(deleteNone), ok("c")},
			wantErr: []string{"", "boom", ""},
			want:    "a,c", batches: 1,
		},
		{
			name: "fails after a query that found no row",
			steps: []step{ok("a"), failing(func(t *tx) error {
				var id int64
				if err := t.queryRow(`SELECT id FROM messages WHERE instance_id = 'nobody'`, nil, &id); !errors.Is(err, sql.ErrNoRows) {
					return fmt.Errorf("query: %v", err)
				}
				return errBoom
			}), ok("c")},
			wantErr: []string{"", "boom", ""},
			want:    "a,c", batches: 1,
		},
		{
			name:    "fails after writing",
			steps:   []step{ok("a"), failing(func(t *tx) error { insertMsg("b")(t); return errBoom }), ok("c")},
			wantErr: []string{"", "boom", ""},
			want:    "a,c", batches: 1 + 3,
		},
		{
			name: "fails after a statement that changed a row",
			steps: []step{ok("a"), failing(func(t *tx) error {
				if n, err := t.execN(`UPDATE messages SET attempts = 7 WHERE instance_id = 'a'`); n != 1 || err != nil {
					return fmt.Errorf("updated %d, %v", n, err)
				}
				return errBoom
			}), ok("c")},
			wantErr: []string{"", "boom", ""},
			want:    "a,c", batches: 1 + 3,
		},
		{
			name: "a statement fails after a write",
			steps: []step{ok("a"), failing(func(t *tx) error {
				insertMsg("b")(t)
				_, err := t.exec(`INSERT INTO messages (instance_id, data, visible_at, ready_at) VALUES (NULL, x'00', 0, 0)`)
				return err
			}), ok("c")},
			wantErr: []string{"", "NOT NULL", ""},
			want:    "a,c", batches: 1 + 3,
		},
		{
			name:    "the first statement fails",
			steps:   []step{ok("a"), failing(func(t *tx) error { _, err := t.exec(`INSERT INTO nowhere VALUES (1)`); return err }), ok("c")},
			wantErr: []string{"", "nowhere", ""},
			want:    "a,c", batches: 1 + 3,
		},
		{
			// RAISE(ROLLBACK) ends the whole transaction, as SQLITE_FULL, IOERR or NOMEM may:
			// the next request must not run outside it (committed at once, then again by
			// the fallback).
			name: "a statement fails and the request hides it",
			steps: []step{ok("a"), failing(func(t *tx) error {
				if _, err := t.exec(`CREATE TEMP TRIGGER IF NOT EXISTS kill_tx BEFORE INSERT ON messages
					WHEN NEW.instance_id = 'kill' BEGIN SELECT RAISE(ROLLBACK, 'injected'); END`); err != nil {
					return err
				}
				_ = insertMsg("kill")(t)
				return nil
			}), ok("c")},
			wantErr: []string{"", "commit", ""},
			want:    "a,c", batches: 1 + 3,
		},
		{
			name:    "panics before writing",
			steps:   []step{ok("a"), failing(func(*tx) error { panic("bad") }), ok("c")},
			wantErr: []string{"", "panicked: bad", ""},
			want:    "a,c", batches: 1,
		},
		{
			name:    "panics after writing",
			steps:   []step{ok("a"), failing(func(t *tx) error { insertMsg("b")(t); panic("bad") }), ok("c")},
			wantErr: []string{"", "panicked: bad", ""},
			want:    "a,c", batches: 1 + 3,
		},
		{
			name:    "a write does not carry over to the next request",
			steps:   []step{failing(func(t *tx) error { return insertMsg("a")(t) }), failing(func(*tx) error { return errBoom }), ok("c")},
			wantErr: []string{"", "boom", ""},
			want:    "a,c", batches: 1,
		},
		{
			name: "mixed with a request in a savepoint that fails after writing",
			steps: []step{
				ok("a"),
				{func(t *tx) error { insertMsg("b")(t); return errBoom }, 0},
				failing(func(*tx) error { return errBoom }),
				ok("d"),
			},
			wantErr: []string{"", "boom", "boom", ""},
			want:    "a,d", batches: 1, savepoints: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openTest(t)
			errs, batches, savepoints := runSteps(t, s, tt.steps)
			checkErrs(t, errs, tt.wantErr)
			if got := queued(t, s); got != tt.want {
				t.Errorf("messages of %q, want %q", got, tt.want)
			}
			if batches != tt.batches || savepoints != tt.savepoints {
				t.Errorf("%d transactions and %d savepoints for the batch, want %d and %d", batches, savepoints, tt.batches, tt.savepoints)
			}
		})
	}
}

// lockedItems creates n work items for instance "orch" and locks them.
func lockedItems(t *testing.T, s *Store, n int) []store.WorkItem {
	t.Helper()
	ctx := context.Background()
	err := s.w.do(ctx, func(t *tx) error {
		for i := range n {
			if _, err := t.exec(`INSERT INTO work_items (instance_id, execution, event_id, name, input, visible_at, ready_at)
				VALUES ('orch', 1, ?1, 'act', NULL, 0, 0)`, i+3); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	items, err := s.FetchActivities(ctx, time.Minute, n)
	if err != nil || len(items) != n {
		t.Fatalf("FetchActivities: %d items, %v; want %d", len(items), err, n)
	}
	return items
}

// resultMsg is the completion of work item w, sent to instance to.
func resultMsg(to string, w store.WorkItem) store.Message {
	return store.Message{InstanceID: to, Event: history.Event{Kind: history.KindActivityCompleted, Ref: w.EventID}}
}

// completeAll completes the items in one batch, item i with token tokens[i] and its result
// to instance to[i], and returns the errors and the transactions and savepoints used.
func completeAll(t *testing.T, s *Store, items []store.WorkItem, tokens, to []string) (errs []error, batches, savepoints int64) {
	t.Helper()
	release := blockWriter(t, s)
	b0, sp0 := s.w.batches.Load(), s.w.savepoints.Load()
	errs = make([]error, len(items))
	var wg sync.WaitGroup
	for i, w := range items {
		wg.Go(func() { errs[i] = s.CompleteActivity(context.Background(), tokens[i], resultMsg(to[i], w)) })
		waitQueued(t, s, i+1)
	}
	release()
	wg.Wait()
	return errs, s.w.batches.Load() - b0, s.w.savepoints.Load() - sp0
}

// workItems returns the IDs of the work items left, in order.
func workItems(t *testing.T, s *Store) string {
	t.Helper()
	return column(t, s, `SELECT id FROM work_items ORDER BY id`)
}

// TestGroupedCompletionLockLost: completions batch without savepoints; one with a lost lock
// fails alone with ErrLockLost, in the same transaction, and its item keeps its lock.
func TestGroupedCompletionLockLost(t *testing.T) {
	s := openTest(t)
	items := lockedItems(t, s, 3)
	tokens := []string{items[0].Token, items[1].Token + "x", items[2].Token}
	errs, batches, savepoints := completeAll(t, s, items, tokens, []string{"r0", "r1", "r2"})
	if errs[0] != nil || errs[2] != nil {
		t.Fatalf("completions: %v", errs)
	}
	wantErr(t, errs[1], store.ErrLockLost)
	if batches != 1 || savepoints != 0 {
		t.Errorf("%d transactions and %d savepoints, want 1 and 0", batches, savepoints)
	}
	if got, want := queued(t, s), "r0,r2"; got != want {
		t.Errorf("results of %q, want %q", got, want)
	}
	if got, want := workItems(t, s), fmt.Sprint(items[1].ID); got != want {
		t.Errorf("work items %q left, want %q", got, want)
	}
	// The item's real lock is intact.
	if err := s.CompleteActivity(context.Background(), items[1].Token, resultMsg("r1", items[1])); err != nil {
		t.Fatal(err)
	}
}

// TestGroupedCompletionFailsMidWrite: a completion whose result cannot be enqueued after its
// work item was deleted (a trigger injects the failure) fails the group; each completion then
// runs alone: the failing one gets the failure and keeps its work item, the others complete.
func TestGroupedCompletionFailsMidWrite(t *testing.T) {
	s := openTest(t)
	items := lockedItems(t, s, 3)
	err := s.w.do(context.Background(), func(t *tx) error {
		_, err := t.exec(`CREATE TEMP TRIGGER inject_failure BEFORE INSERT ON messages
			WHEN NEW.instance_id = 'fail' BEGIN SELECT RAISE(ABORT, 'injected failure'); END`)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	tokens := []string{items[0].Token, items[1].Token, items[2].Token}
	errs, batches, _ := completeAll(t, s, items, tokens, []string{"r0", "fail", "r2"})
	if errs[0] != nil || errs[2] != nil {
		t.Fatalf("completions: %v", errs)
	}
	if errs[1] == nil || !strings.Contains(errs[1].Error(), "injected failure") || errors.Is(errs[1], store.ErrLockLost) {
		t.Fatalf("failing completion: got %v, want the injected failure", errs[1])
	}
	if batches != 1+3 {
		t.Errorf("%d transactions, want 1 and 3 of the fallback", batches)
	}
	if got, want := queued(t, s), "r0,r2"; got != want {
		t.Errorf("results of %q, want %q", got, want)
	}
	if got, want := workItems(t, s), fmt.Sprint(items[1].ID); got != want {
		t.Errorf("work items %q left, want %q", got, want)
	}
	// Its lock survived the failure: it completes once the result can be enqueued.
	if err := s.CompleteActivity(context.Background(), items[1].Token, resultMsg("r1", items[1])); err != nil {
		t.Fatal(err)
	}
}

// TestFetchActivityStatementFails: a FetchActivity whose statement fails (here with
// RAISE(ROLLBACK), which ends the transaction as SQLITE_FULL or IOERR may) reports the
// failure, and the request grouped after it is applied once.
func TestFetchActivityStatementFails(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	if err := s.w.do(ctx, func(t *tx) error {
		if _, err := t.exec(`INSERT INTO work_items (instance_id, execution, event_id, name, input, visible_at, ready_at)
			VALUES ('orch', 1, 3, 'act', NULL, 0, 0)`); err != nil {
			return err
		}
		_, err := t.exec(`CREATE TEMP TRIGGER kill_tx BEFORE UPDATE ON work_items BEGIN SELECT RAISE(ROLLBACK, 'injected'); END`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	release := blockWriter(t, s)
	var wg sync.WaitGroup
	var fetchErr, enqErr error
	wg.Go(func() { _, fetchErr = s.FetchActivity(ctx, time.Minute) })
	waitQueued(t, s, 1)
	wg.Go(func() { enqErr = s.Enqueue(ctx, startMsg("x")) })
	waitQueued(t, s, 2)
	release()
	wg.Wait()
	if fetchErr == nil || !strings.Contains(fetchErr.Error(), "injected") || errors.Is(fetchErr, store.ErrCorrupt) {
		t.Errorf("FetchActivity: %v, want the statement's failure (not corruption)", fetchErr)
	}
	if enqErr != nil {
		t.Errorf("Enqueue: %v", enqErr)
	}
	if got := queued(t, s); got != "x" {
		t.Errorf("messages of %q after one Enqueue, want \"x\"", got)
	}
}
