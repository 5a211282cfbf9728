package sqlite

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/durohost/durohost/history"
	"github.com/durohost/durohost/store"
)

// openTest opens a store in a fresh temporary directory (synchronous=OFF: tests do not need
// durability) and closes it at the end of the test.
func openTest(t testing.TB, opts ...Option) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "durohost.db"), append([]Option{WithSynchronous(SyncOff)}, opts...)...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// startMsg is a start message for instance id.
func startMsg(id string) store.Message {
	return store.Message{InstanceID: id, Event: history.Event{Kind: history.KindExecutionStarted, Name: "orch", Version: "1"}}
}

// waitFor polls cond until it is true or the deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// fetch fetches the next turn and fails the test if there is none.
func fetch(t testing.TB, s *Store) *store.Turn {
	t.Helper()
	turn, err := s.FetchTurn(context.Background(), time.Minute, nil)
	if err != nil {
		t.Fatalf("FetchTurn: %v", err)
	}
	return turn
}

// firstCommit is the commit of a first turn: TurnStarted + ExecutionStarted, running.
func firstCommit(turn *store.Turn, extra ...history.Event) *store.Commit {
	evs := []history.Event{{ID: 1, Kind: history.KindTurnStarted, Time: 1}, {ID: 2, Kind: history.KindExecutionStarted, Name: "orch"}}
	for i, e := range extra {
		e.ID = int64(3 + i)
		evs = append(evs, e)
	}
	c := &store.Commit{
		State:     store.InstanceState{Name: "orch", Version: "1", Status: store.StatusRunning},
		Execution: 1,
		History:   evs,
	}
	for _, m := range turn.Messages {
		c.Consumed = append(c.Consumed, m.ID)
	}
	return c
}

// startInstance enqueues, fetches and commits the first turn of id.
func startInstance(t testing.TB, s *Store, id string) {
	t.Helper()
	ctx := context.Background()
	if err := s.Enqueue(ctx, startMsg(id)); err != nil {
		t.Fatal(err)
	}
	turn := fetch(t, s)
	if turn.InstanceID != id {
		t.Fatalf("fetched %q, want %q", turn.InstanceID, id)
	}
	if err := s.CommitTurn(ctx, turn.Token, firstCommit(turn)); err != nil {
		t.Fatal(err)
	}
}

func wantErr(t testing.TB, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("got error %v, want %v", err, want)
	}
}

// putOf is the put of wasm as orchestration name, version 1, in the default namespace.
func putOf(name string, wasm []byte) store.ModulePut {
	return store.ModulePut{Wasm: wasm, Registrations: []store.Registration{
		{Kind: store.RegistrationOrchestration, Name: name, Version: "1"}}}
}
