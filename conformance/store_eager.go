package conformance

import (
	"errors"
	"testing"
	"time"

	"github.com/durohost/durohost/history"
	"github.com/durohost/durohost/store"
)

// eagerCommit is the first turn of instance id computed on its start message msg: a
// TurnStarted marker, the start event and decisions, creating execution 1 of a running
// "orch" in msg's namespace.
func eagerCommit(msg store.Message, decisions ...history.Event) *store.Commit {
	start := msg.Event
	start.ID = 0
	evs := append([]history.Event{{Kind: history.KindTurnStarted, Time: baseTime}, start}, decisions...)
	return &store.Commit{
		State:     store.InstanceState{Namespace: msg.Namespace, Name: "orch", Version: "v1", Status: store.StatusRunning},
		Execution: 1,
		History:   numbered(0, evs...),
	}
}

// eagerCases check StartWithTurn of a store.EagerStarter.
func eagerCases() []storeCase {
	eager := func(s store.Store) store.EagerStarter { return s.(store.EagerStarter) }
	return []storeCase{
		{"start with turn creates the instance with its first turn, unlocked", func(t *testing.T, s store.Store) {
			msg := startMsg("a")
			c := eagerCommit(msg, scheduled("act"))
			c.Activities = []store.WorkItem{activity("a", 1, 3, "act")}
			before := time.Now()
			must(t, "StartWithTurn", eager(s).StartWithTurn(t.Context(), msg, store.StartOptions{}, c))
			if c.Created.IsZero() || c.Created.Before(before.Add(-time.Second)) {
				t.Fatalf("Created = %v after the commit that created the instance", c.Created)
			}
			in := instance(t, s, "a")
			if in.Status != store.StatusRunning || in.Execution != 1 || in.Name != "orch" {
				t.Fatalf("instance after StartWithTurn: %+v, want running execution 1 of orch", in)
			}
			if !in.CreatedAt.Equal(c.Created) {
				t.Fatalf("instance created at %v, commit says %v", in.CreatedAt, c.Created)
			}
			h := historyOf(t, s, "a", 1)
			if len(h) != 3 || h[1].Kind != history.KindExecutionStarted || h[2].Kind != history.KindActivityScheduled {
				t.Fatalf("history after StartWithTurn: %v", h)
			}
			noTurn(t, s, "nothing is queued for the started instance")
			wi := fetchActivity(t, s, longLock)
			if wi.InstanceID != "a" || wi.EventID != 3 || wi.Name != "act" {
				t.Fatalf("work item %+v, want act of event 3 of a", wi)
			}
			// Its next turn is an ordinary one.
			must(t, "CompleteActivity", s.CompleteActivity(t.Context(), wi.Token, completion("a", 1, 3, `"r"`)))
			turn := fetchTurnOf(t, s, "a")
			if turn.Events != 3 || len(turn.Messages) != 1 {
				t.Fatalf("next turn: %s, want 3 events and the result", describeTurn(turn))
			}
		}},
		{"start with turn refuses an instance that exists or whose start is queued", func(t *testing.T, s store.Store) {
			_, err := s.StartInstance(t.Context(), startMsg("queued"), store.StartOptions{})
			must(t, "StartInstance", err)
			err = eager(s).StartWithTurn(t.Context(), startMsg("queued"), store.StartOptions{}, eagerCommit(startMsg("queued")))
			wantErr(t, "StartWithTurn of an instance whose start is queued", err, store.ErrExists)
			must(t, "StartWithTurn", eager(s).StartWithTurn(t.Context(), startMsg("a"), store.StartOptions{}, eagerCommit(startMsg("a"))))
			c := eagerCommit(startMsg("a"), scheduled("act"))
			c.Activities = []store.WorkItem{activity("a", 1, 3, "act")}
			err = eager(s).StartWithTurn(t.Context(), startMsg("a"), store.StartOptions{}, c)
			wantErr(t, "second StartWithTurn", err, store.ErrExists)
			if h := historyOf(t, s, "a", 1); len(h) != 2 {
				t.Fatalf("the refused start changed the history: %v", h)
			}
			noActivity(t, s, "the refused start enqueued nothing")
		}},
		{"concurrent starts with turns of one instance: exactly one succeeds", func(t *testing.T, s store.Store) {
			const n = 8
			errs := make(chan error, n)
			for range n {
				go func() {
					errs <- eager(s).StartWithTurn(t.Context(), startMsg("a"), store.StartOptions{}, eagerCommit(startMsg("a")))
				}()
			}
			ok := 0
			for range n {
				switch err := <-errs; {
				case err == nil:
					ok++
				case !errors.Is(err, store.ErrExists):
					t.Fatalf("StartWithTurn: %v, want nil or ErrExists", err)
				}
			}
			if ok != 1 {
				t.Fatalf("%d starts succeeded, want 1", ok)
			}
		}},
		{"start with turn is a conflict when messages wait for the instance", func(t *testing.T, s store.Store) {
			enqueue(t, s, eventMsg("a", `"early"`))
			err := eager(s).StartWithTurn(t.Context(), startMsg("a"), store.StartOptions{}, eagerCommit(startMsg("a")))
			wantErr(t, "StartWithTurn with an event queued", err, store.ErrConflict)
			notCreated(t, s, "a", "after the conflict")
			// The usual start takes the event with the start.
			_, err = s.StartInstance(t.Context(), startMsg("a"), store.StartOptions{})
			must(t, "StartInstance", err)
			if turn := fetchTurnOf(t, s, "a"); len(turn.Messages) != 2 {
				t.Fatalf("first turn %s, want the event and the start", describeTurn(turn))
			}
		}},
		{"start with turn honours the namespace quota", func(t *testing.T, s store.Store) {
			msg := func(id string) store.Message {
				m := startMsg(store.Key("ns", id))
				m.Namespace = "ns"
				return m
			}
			opts := store.StartOptions{MaxInstances: 1}
			must(t, "StartWithTurn", eager(s).StartWithTurn(t.Context(), msg("a"), opts, eagerCommit(msg("a"))))
			err := eager(s).StartWithTurn(t.Context(), msg("b"), opts, eagerCommit(msg("b")))
			wantErr(t, "StartWithTurn beyond the quota", err, store.ErrQuota)
			notCreated(t, s, store.Key("ns", "b"), "after the refusal")
			if in := instance(t, s, store.Key("ns", "a")); in.Namespace != "ns" {
				t.Fatalf("instance namespace %q, want ns", in.Namespace)
			}
		}},
		{"start with turn after close is ErrClosed", func(t *testing.T, s store.Store) {
			must(t, "Close", s.Close())
			err := eager(s).StartWithTurn(t.Context(), startMsg("a"), store.StartOptions{}, eagerCommit(startMsg("a")))
			wantErr(t, "StartWithTurn after Close", err, store.ErrClosed)
		}},
		{"start with turn rejects bad input and writes nothing", func(t *testing.T, s store.Store) {
			good := startMsg("a")
			tests := []struct {
				what string
				msg  store.Message
				opts store.StartOptions
				edit func(c *store.Commit)
			}{
				{"an event for a start", eventMsg("a", "x"), store.StartOptions{}, nil},
				{"a lock duration", good, store.StartOptions{LockFor: longLock}, nil},
				{"a negative quota", good, store.StartOptions{MaxInstances: -1}, nil},
				{"execution 2", good, store.StartOptions{}, func(c *store.Commit) { c.Execution = 2 }},
				{"no history", good, store.StartOptions{}, func(c *store.Commit) { c.History = nil }},
				{"history from event 2", good, store.StartOptions{}, func(c *store.Commit) { c.History = numbered(1, c.History...) }},
				{"consumed messages", good, store.StartOptions{}, func(c *store.Commit) { c.Consumed = []int64{1} }},
				{"another namespace", good, store.StartOptions{}, func(c *store.Commit) { c.State.Namespace = "other" }},
				{"a history without the start", good, store.StartOptions{}, func(c *store.Commit) {
					c.History = numbered(0, history.Event{Kind: history.KindTurnStarted, Time: baseTime})
				}},
			}
			for _, tt := range tests {
				c := eagerCommit(good)
				if tt.edit != nil {
					tt.edit(c)
				}
				err := eager(s).StartWithTurn(t.Context(), tt.msg, tt.opts, c)
				wantErr(t, "StartWithTurn with "+tt.what, err, store.ErrInvalid)
			}
			wantErr(t, "StartWithTurn with a nil commit", eager(s).StartWithTurn(t.Context(), good, store.StartOptions{}, nil), store.ErrInvalid)
			notCreated(t, s, "a", "after the refused starts")
			noTurn(t, s, "nothing was enqueued")
		}},
	}
}
