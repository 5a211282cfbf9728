package sqlite_test

import (
	"context"
	"fmt"
	"time"

	"github.com/durohost/durohost/history"
	"github.com/durohost/durohost/store"
	"github.com/durohost/durohost/store/sqlite"
)

// Example runs the first turn of an instance: a start message is enqueued, a dispatcher
// fetches and locks the instance, and commits the turn's history and new state.
func Example() {
	ctx := context.Background()
	s, err := sqlite.Open(sqlite.MemoryPath) // a file path in production
	if err != nil {
		panic(err)
	}
	defer s.Close()

	start := history.Event{Kind: history.KindExecutionStarted, Name: "greet", Version: "1"}
	if err := s.Enqueue(ctx, store.Message{InstanceID: "greet-1", Event: start}); err != nil {
		panic(err)
	}

	turn, err := s.FetchTurn(ctx, time.Minute, nil)
	if err != nil {
		panic(err)
	}
	fmt.Println("turn of", turn.InstanceID, "with", len(turn.Messages), "message")

	commit := &store.Commit{
		State:     store.InstanceState{Name: "greet", Version: "1", Status: store.StatusCompleted, Output: []byte(`"hello"`)},
		Execution: 1,
		History: []history.Event{
			{ID: 1, Kind: history.KindTurnStarted},
			{ID: 2, Kind: history.KindExecutionStarted, Name: "greet", Version: "1"},
			{ID: 3, Kind: history.KindExecutionCompleted, Result: []byte(`"hello"`)},
		},
		Consumed: []int64{turn.Messages[0].ID},
	}
	if err := s.CommitTurn(ctx, turn.Token, commit); err != nil {
		panic(err)
	}

	inst, err := s.Instance(ctx, "greet-1")
	if err != nil {
		panic(err)
	}
	fmt.Println(inst.ID, inst.Status, string(inst.Output))
	// Output:
	// turn of greet-1 with 1 message
	// greet-1 completed "hello"
}
