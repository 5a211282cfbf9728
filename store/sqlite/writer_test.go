package sqlite

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/durohost/durohost/store"
)

// blockWriter occupies the writer until the returned function is called, so that the
// requests sent meanwhile queue up and run as one batch.
func blockWriter(t *testing.T, s *Store) (release func()) {
	t.Helper()
	started, gate := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- s.w.do(context.Background(), func(*tx) error {
			close(started)
			<-gate
			return nil
		})
	}()
	<-started
	return func() {
		close(gate)
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

// waitQueued waits until n requests wait for the writer.
func waitQueued(t *testing.T, s *Store, n int) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d queued requests", n), func() bool { return len(s.w.reqs) == n })
}

// insertMsg is a request body that enqueues a message for id.
func insertMsg(id string) func(*tx) error {
	return func(t *tx) error {
		_, err := t.exec(qInsertMessage, id, []byte{0xa1, 0x02, 0x10}, 0, 0, nil)
		return err
	}
}

// queued returns the instance IDs that have messages, in order.
func queued(t *testing.T, s *Store) string {
	t.Helper()
	return column(t, s, `SELECT instance_id FROM messages ORDER BY instance_id`)
}

// column runs q, a query of one column, on the reader and joins its values with commas.
func column(t *testing.T, s *Store, q string) string {
	t.Helper()
	rows, err := s.rdb.Query(q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var vals []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		vals = append(vals, v)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(vals, ",")
}

func TestGroupCommitIsolatesFailures(t *testing.T) {
	errBoom := errors.New("boom")
	tests := []struct {
		name string
		// reqs[i] is a request body; wantErr[i] a substring of its error ("" for success).
		reqs    []func(*tx) error
		wantErr []string
		want    string // instances with a message afterwards
		batches int64  // transactions used for the batch
	}{
		{
			name: "one request fails after writing",
			reqs: []func(*tx) error{
				insertMsg("a"),
				func(t *tx) error { insertMsg("b")(t); return errBoom },
				insertMsg("c"),
			},
			wantErr: []string{"", "boom", ""},
			want:    "a,c",
			batches: 1,
		},
		{
			name: "one request panics",
			reqs: []func(*tx) error{
				insertMsg("a"),
				func(t *tx) error { insertMsg("b")(t); panic("bad") },
				insertMsg("c"),
			},
			wantErr: []string{"", "panicked: bad", ""},
			want:    "a,c",
			batches: 1,
		},
		{
			name: "one request breaks the transaction",
			reqs: []func(*tx) error{
				insertMsg("a"),
				func(t *tx) error { insertMsg("b")(t); _, err := t.exec("ROLLBACK"); return err },
				insertMsg("c"),
			},
			// The batch fails as a whole and each request is retried alone: the culprit
			// rolls back its own transaction and fails to commit.
			wantErr: []string{"", "commit", ""},
			want:    "a,c",
			batches: 1 + 3,
		},
		{
			name:    "all fail",
			reqs:    []func(*tx) error{func(*tx) error { return errBoom }, func(*tx) error { return errBoom }},
			wantErr: []string{"boom", "boom"},
			want:    "",
			batches: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openTest(t)
			release := blockWriter(t, s)
			before := s.w.batches.Load()
			errs := make([]error, len(tt.reqs))
			var wg sync.WaitGroup
			for i, fn := range tt.reqs {
				wg.Go(func() { errs[i] = s.w.do(context.Background(), fn) })
				waitQueued(t, s, i+1) // keep the order
			}
			release()
			wg.Wait()
			for i, want := range tt.wantErr {
				switch {
				case want == "" && errs[i] != nil:
					t.Errorf("request %d: unexpected error %v", i, errs[i])
				case want != "" && (errs[i] == nil || !strings.Contains(errs[i].Error(), want)):
					t.Errorf("request %d: got error %v, want %q", i, errs[i], want)
				}
			}
			if got := queued(t, s); got != tt.want {
				t.Errorf("messages of %q, want %q", got, tt.want)
			}
			if got := s.w.batches.Load() - before; got != tt.batches {
				t.Errorf("%d transactions for the batch, want %d", got, tt.batches)
			}
		})
	}
}

// TestGroupCommitTurns commits several turns in one batch, one of them with a stolen lock:
// it alone fails, with ErrLockLost, and leaves nothing behind.
func TestGroupCommitTurns(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	ids := []string{"a", "b", "c", "d"}
	turns := map[string]*store.Turn{}
	for _, id := range ids {
		if err := s.Enqueue(ctx, startMsg(id)); err != nil {
			t.Fatal(err)
		}
		turn := fetch(t, s)
		turns[turn.InstanceID] = turn
	}
	release := blockWriter(t, s)
	before := s.w.batches.Load()
	errs := make([]error, len(ids))
	var wg sync.WaitGroup
	for i, id := range ids {
		token := turns[id].Token
		if id == "c" {
			token = "stolen"
		}
		wg.Go(func() { errs[i] = s.CommitTurn(ctx, token, firstCommit(turns[id])) })
		waitQueued(t, s, i+1)
	}
	release()
	wg.Wait()
	if got := s.w.batches.Load() - before; got != 1 {
		t.Fatalf("%d transactions for the batch, want 1", got)
	}
	for i, id := range ids {
		in, err := s.Instance(ctx, id)
		if id == "c" {
			wantErr(t, errs[i], store.ErrLockLost)
			if err != nil || in.Status != store.StatusPending {
				t.Fatalf("instance c after the lost commit: %v, %v; want it pending", in, err)
			}
			continue
		}
		if errs[i] != nil || err != nil {
			t.Fatalf("instance %s: commit %v, Instance %v", id, errs[i], err)
		}
	}
	// c's lock and message are still there: its real token commits.
	if err := s.CommitTurn(ctx, turns["c"].Token, firstCommit(turns["c"])); err != nil {
		t.Fatal(err)
	}
}

func TestWithdrawnRequestDoesNotRun(t *testing.T) {
	s := openTest(t)
	release := blockWriter(t, s)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.w.do(ctx, insertMsg("x")) }()
	waitQueued(t, s, 1)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	release()
	// A later request runs after the withdrawn one was skipped.
	if err := s.w.do(context.Background(), insertMsg("y")); err != nil {
		t.Fatal(err)
	}
	if got := queued(t, s); got != "y" {
		t.Fatalf("messages of %q, want only y", got)
	}
}

func TestSingleCallerOneTransactionEach(t *testing.T) {
	s := openTest(t)
	before, beforeN := s.w.batches.Load(), s.w.batched.Load()
	for i := range 5 {
		if err := s.w.do(context.Background(), insertMsg(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	if b, n := s.w.batches.Load()-before, s.w.batched.Load()-beforeN; b != 5 || n != 5 {
		t.Fatalf("%d transactions for %d requests, want 5 and 5", b, n)
	}
}

func TestBatchSizeBoundsBatches(t *testing.T) {
	s := openTest(t, WithBatchSize(2))
	release := blockWriter(t, s)
	before := s.w.batches.Load()
	var wg sync.WaitGroup
	for i := range 5 {
		wg.Go(func() {
			if err := s.w.do(context.Background(), insertMsg(fmt.Sprint(i))); err != nil {
				t.Error(err)
			}
		})
	}
	waitQueued(t, s, 5)
	release()
	wg.Wait()
	if got := s.w.batches.Load() - before; got != 3 {
		t.Fatalf("%d transactions for 5 requests in batches of 2, want 3", got)
	}
}

// pragmas reads the writer connection's synchronous and wal_autocheckpoint settings.
func pragmas(t *testing.T, s *Store) (sync, checkpoint int) {
	t.Helper()
	err := s.w.do(context.Background(), func(tx *tx) error {
		if err := tx.conn.QueryRowContext(context.Background(), "PRAGMA synchronous").Scan(&sync); err != nil {
			return err
		}
		return tx.conn.QueryRowContext(context.Background(), "PRAGMA wal_autocheckpoint").Scan(&checkpoint)
	})
	if err != nil {
		t.Fatal(err)
	}
	return sync, checkpoint
}

// TestRelaxedLockBatches: fetches and renewals (lock-only requests) commit with
// synchronous=OFF and automatic checkpoints off; a batch with any other request, and every
// commit after, waits for the disk as configured, with checkpoints back on.
func TestRelaxedLockBatches(t *testing.T) {
	for _, mode := range []Synchronous{SyncFull, SyncNormal} {
		t.Run(mode.String(), func(t *testing.T) {
			s := openTest(t, WithSynchronous(mode))
			ctx := context.Background()
			if err := s.Enqueue(ctx, startMsg("a"), startMsg("b")); err != nil {
				t.Fatal(err)
			}
			before := s.w.relaxedBatches.Load()
			turn := fetch(t, s)
			if got := s.w.relaxedBatches.Load() - before; got != 1 {
				t.Fatalf("FetchTurn: %d relaxed batches, want 1", got)
			}
			if err := s.RenewTurn(ctx, turn.Token, time.Minute); err != nil {
				t.Fatal(err)
			}
			if got := s.w.relaxedBatches.Load() - before; got != 2 {
				t.Fatalf("RenewTurn: %d relaxed batches, want 2", got)
			}
			// A relaxed request runs with synchronous=OFF and no automatic checkpoint.
			var sync, cp int
			err := s.w.doRelaxed(ctx, func(tx *tx) error {
				if err := tx.conn.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&sync); err != nil {
					return err
				}
				return tx.conn.QueryRowContext(ctx, "PRAGMA wal_autocheckpoint").Scan(&cp)
			})
			if err != nil || sync != 0 || cp != 0 {
				t.Fatalf("relaxed request: synchronous=%d wal_autocheckpoint=%d (%v), want 0 and 0", sync, cp, err)
			}
			// pragmas itself is an ordinary request: it sees the durable settings.
			if sync, cp := pragmas(t, s); sync != int(2-mode) || cp != 1000 {
				t.Fatalf("after a durable request: synchronous=%d wal_autocheckpoint=%d, want %d and 1000", sync, cp, 2-mode)
			}
			// A batch mixing a fetch and a commit is durable.
			release := blockWriter(t, s)
			done := make(chan error, 2)
			go func() { done <- s.CommitTurn(ctx, turn.Token, firstCommit(turn)) }()
			waitQueued(t, s, 1)
			go func() { _, err := s.FetchTurn(ctx, time.Minute, nil); done <- err }()
			waitQueued(t, s, 2)
			mid := s.w.relaxedBatches.Load()
			release()
			for range 2 {
				if err := <-done; err != nil {
					t.Fatal(err)
				}
			}
			if got := s.w.relaxedBatches.Load(); got != mid {
				t.Fatalf("a batch with a commit ran relaxed")
			}
		})
	}
	t.Run("closed after a relaxed batch", func(t *testing.T) {
		// Closing checkpoints the WAL with the writer's settings: they must be durable again.
		s := openTest(t, WithSynchronous(SyncFull))
		if err := s.Enqueue(context.Background(), startMsg("a")); err != nil {
			t.Fatal(err)
		}
		fetch(t, s)
		if !s.w.relaxedNow {
			t.Fatal("the fetch did not leave the writer relaxed")
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if s.w.relaxedNow {
			t.Fatal("the writer closed with synchronous=OFF")
		}
	})
	t.Run("memory", func(t *testing.T) {
		s, err := Open(MemoryPath)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if err := s.Enqueue(context.Background(), startMsg("a")); err != nil {
			t.Fatal(err)
		}
		fetch(t, s)
		if n := s.w.relaxedBatches.Load(); n != 0 {
			t.Fatalf("%d relaxed batches in memory, want 0", n)
		}
	})
}
