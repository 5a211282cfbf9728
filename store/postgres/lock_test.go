package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/durohost/durohost/store"
	"github.com/durohost/durohost/store/postgres"
	"github.com/durohost/durohost/store/postgres/pgtest"
)

// TestLockTimedFromWhenTaken: a start that waits for its instance's advisory lock (held by
// another transaction, as a delete of the same ID would) and then locks the first turn holds
// that lock for its whole duration from when it got it, not from its transaction's start: no
// other caller fetches the turn meanwhile.
func TestLockTimedFromWhenTaken(t *testing.T) {
	const lockFor, held = 2 * time.Second, 2500 * time.Millisecond // held longer than the lock
	url := pgtest.NewDatabase(t)
	s := open(t, url)
	ctx := context.Background()
	admin := connect(t, url, postgres.DefaultSchema)
	tx, err := admin.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	class, key := postgres.InstanceAdvisoryLock(postgres.DefaultSchema, "held")
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, $2)`, class, key); err != nil {
		t.Fatal(err)
	}
	type result struct {
		turn *store.Turn
		err  error
	}
	done := make(chan result, 1)
	go func() {
		turn, err := s.StartInstance(ctx, startMsg("held"), store.StartOptions{LockFor: lockFor})
		done <- result{turn, err}
	}()
	time.Sleep(held)
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil || r.turn == nil {
		t.Fatalf("StartInstance: %v, %v", r.turn, r.err)
	}
	if left := time.Until(r.turn.LockedUntil); left < lockFor/4 {
		t.Errorf("the start's turn lock has %v left of %v after waiting %v for the advisory lock", left, lockFor, held)
	}
	if other, err := s.FetchTurn(ctx, time.Minute, nil); !errors.Is(err, store.ErrNoWork) {
		t.Fatalf("FetchTurn while the start holds the turn: %v, %v; want ErrNoWork", other, err)
	}
}

// TestListenerReconnects: when the connection that listens for wake-ups is closed by the
// server, the store listens again, announces every kind of work once (what it may have
// missed), and delivers later notifications.
func TestListenerReconnects(t *testing.T) {
	url := pgtest.NewDatabase(t)
	a, b := open(t, url), open(t, url)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wakes, err := b.Wakeups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	admin := connect(t, url, postgres.DefaultSchema)
	var n int
	if err := admin.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND query LIKE 'LISTEN%'`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("terminate the listener: %d terminated, %v", n, err)
	}
	deadline := time.After(10 * time.Second)
	var got store.Wake
	for got != store.WakeTurns|store.WakeActivities {
		select {
		case w := <-wakes:
			got |= w
		case <-deadline:
			t.Fatalf("no full wake-up after the listener reconnected (got %s)", got)
		}
	}
	for drained := false; !drained; { // the announcement may come in several wake-ups
		select {
		case <-wakes:
		case <-time.After(100 * time.Millisecond):
			drained = true
		}
	}
	if err := a.Enqueue(ctx, eventMsg("x", "e")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-wakes:
	case <-time.After(10 * time.Second):
		t.Fatal("no wake-up for a message enqueued after the reconnect")
	}
}
