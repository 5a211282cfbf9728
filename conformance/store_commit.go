package conformance

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/durohost/durohost/abi"
	"github.com/durohost/durohost/history"
	"github.com/durohost/durohost/store"
)

// snapshot is what a failed commit must leave untouched.
type snapshot struct {
	state      store.InstanceState
	execution  uint32
	history    []history.Event
	executions []store.Execution
}

func takeSnapshot(t *testing.T, s store.Store, id string) snapshot {
	t.Helper()
	inst := instance(t, s, id)
	return snapshot{
		state:      inst.InstanceState,
		execution:  inst.Execution,
		history:    historyOf(t, s, id, 0),
		executions: executions(t, s, id),
	}
}

func (sn snapshot) check(t *testing.T, s store.Store, id, what string) {
	t.Helper()
	inst := instance(t, s, id)
	sameState(t, what+": instance state", inst, sn.state)
	if inst.Execution != sn.execution {
		t.Fatalf("%s: Instance.Execution = %d, want %d", what, inst.Execution, sn.execution)
	}
	sameEvents(t, what+": history", historyOf(t, s, id, 0), sn.history)
	ex := executions(t, s, id)
	if len(ex) != len(sn.executions) {
		t.Fatalf("%s: %d executions, want %d", what, len(ex), len(sn.executions))
	}
	for i := range ex {
		if ex[i].ID != sn.executions[i].ID || ex[i].Status != sn.executions[i].Status || ex[i].Events != sn.executions[i].Events {
			t.Fatalf("%s: execution %d = %+v, want %+v", what, i, ex[i], sn.executions[i])
		}
	}
}

// busyInstance creates running instance "a" whose first turn scheduled activity "x" (left
// unfetched), enqueues message "m1" for it and returns its locked turn and x's reference.
func busyInstance(t *testing.T, s store.Store) (*store.Turn, store.ActivityRef) {
	t.Helper()
	enqueue(t, s, startMsg("a"))
	var x store.ActivityRef
	runTurn(t, s, "a", func(_ *store.Turn, c *store.Commit) {
		addDecisions(c, scheduled("x"))
		ev := c.History[len(c.History)-1].ID
		c.Activities = []store.WorkItem{activity("a", 1, ev, "x")}
		x = c.Activities[0].ActivityRef
	})
	enqueue(t, s, eventMsg("a", "m1"))
	return fetchTurnOf(t, s, "a"), x
}

// everythingCommit is a commit of turn that touches every part of the store: history, state,
// activities, messages to itself and another instance, a timer, consumed messages and a
// cancelled activity.
func everythingCommit(turn *store.Turn, cancel store.ActivityRef) *store.Commit {
	c := turnCommit(turn, scheduled("y"))
	last := c.History[len(c.History)-1].ID
	c.Activities = []store.WorkItem{activity(turn.InstanceID, turn.Execution, last, "y")}
	c.Messages = []store.Message{
		startMsg("b"),
		eventMsg(turn.InstanceID, "self"),
		timerMsg(turn.InstanceID, last, time.Now().Add(time.Hour)),
	}
	c.CancelledActivities = []store.ActivityRef{cancel}
	c.State.Status = store.StatusCompleted
	c.State.Output = []byte("out")
	c.State.CustomStatus = []byte("custom")
	return c
}

// checkUntouched verifies, after a failed commit of busyInstance's turn, that the store is as
// before: lock still held, m1 still queued, x still queued, nothing else enqueued.
func checkUntouched(t *testing.T, s store.Store, turn *store.Turn, sn snapshot) {
	t.Helper()
	sn.check(t, s, "a", "after the failed commit")
	must(t, "RenewTurn after the failed commit (lock must be kept)", s.RenewTurn(t.Context(), turn.Token, longLock))
	if d := depths(t, s); d.DelayedMessages != 0 || d.Activities != 1 || d.LockedActivities != 0 {
		t.Fatalf("after the failed commit: QueueDepths = %+v, want 0 delayed messages, 1 activity, 0 locked activities", d)
	}
	must(t, "AbandonTurn", s.AbandonTurn(t.Context(), turn.Token, store.AbandonOptions{}))
	again := fetchTurnOf(t, s, "a")
	sameStrings(t, "messages of a after the failed commit", payloads(again.Messages), []string{"m1"})
	noTurn(t, s, "instance b (its start message must not have been enqueued)")
	w := fetchActivity(t, s, longLock)
	if w.Name != "x" {
		t.Fatalf("FetchActivity: got %q, want the existing work item x", w.Name)
	}
	noActivity(t, s, "work item y must not have been enqueued")
}

func atomicityCases() []storeCase {
	return []storeCase{
		{"duplicate event ID changes nothing", func(t *testing.T, s store.Store) {
			turn, x := busyInstance(t, s)
			sn := takeSnapshot(t, s, "a")
			c := everythingCommit(turn, x)
			c.History[0].ID = int64(len(turn.History)) // already in history
			wantErr(t, "CommitTurn with a duplicate event ID", s.CommitTurn(t.Context(), turn.Token, c), store.ErrDuplicateEvent)
			checkUntouched(t, s, turn, sn)
		}},
		{"gap in event IDs changes nothing", func(t *testing.T, s store.Store) {
			turn, x := busyInstance(t, s)
			sn := takeSnapshot(t, s, "a")
			c := everythingCommit(turn, x)
			c.History = numbered(len(turn.History)+1, c.History...) // skips one ID
			wantErr(t, "CommitTurn with a gap in event IDs", s.CommitTurn(t.Context(), turn.Token, c), store.ErrDuplicateEvent)
			checkUntouched(t, s, turn, sn)
		}},
		{"out-of-order event IDs inside one commit change nothing", func(t *testing.T, s store.Store) {
			turn, x := busyInstance(t, s)
			sn := takeSnapshot(t, s, "a")
			c := everythingCommit(turn, x)
			c.History[1].ID, c.History[2].ID = c.History[2].ID, c.History[1].ID
			wantErr(t, "CommitTurn with swapped event IDs", s.CommitTurn(t.Context(), turn.Token, c), store.ErrDuplicateEvent)
			checkUntouched(t, s, turn, sn)
		}},
		{"invalid message in a commit changes nothing", func(t *testing.T, s store.Store) {
			turn, x := busyInstance(t, s)
			sn := takeSnapshot(t, s, "a")
			c := everythingCommit(turn, x)
			c.Messages = append(c.Messages, store.Message{Event: raised("no instance")})
			wantErr(t, "CommitTurn with a message without InstanceID", s.CommitTurn(t.Context(), turn.Token, c), store.ErrInvalid)
			checkUntouched(t, s, turn, sn)
		}},
		{"failed first commit creates no instance", func(t *testing.T, s store.Store) {
			enqueue(t, s, startMsg("new"))
			turn := fetchTurnOf(t, s, "new")
			c := turnCommit(turn)
			c.History = numbered(1, c.History...) // starts at 2
			c.Messages = []store.Message{startMsg("child")}
			wantErr(t, "first CommitTurn starting at event 2", s.CommitTurn(t.Context(), turn.Token, c), store.ErrDuplicateEvent)
			notCreated(t, s, "new", "after the failed first commit")
			_, err := s.Executions(t.Context(), "new")
			wantErr(t, "Executions after the failed first commit", err, store.ErrNotFound)
			page, err := s.ListInstances(t.Context(), store.Filter{})
			must(t, "ListInstances", err)
			if len(page.Instances) != 1 || page.Instances[0].Status != store.StatusPending {
				t.Fatalf("ListInstances after the failed first commit: got %d instances, want new, still pending", len(page.Instances))
			}
			// The corrected commit with the same token succeeds.
			c = turnCommit(turn)
			c.Messages = []store.Message{startMsg("child")}
			commitTurn(t, s, turn.Token, c)
			if got := instance(t, s, "new").Execution; got != 1 {
				t.Fatalf("Instance.Execution = %d, want 1", got)
			}
			fetchTurnOf(t, s, "child")
		}},
		{"failed continue-as-new creates no execution", func(t *testing.T, s store.Store) {
			create(t, s, "a", store.InstanceState{})
			enqueue(t, s, eventMsg("a", "go"))
			turn := fetchTurnOf(t, s, "a")
			sn := takeSnapshot(t, s, "a")
			c := turnCommit(turn, decision(history.KindExecutionContinuedAsNew, ""))
			c.ContinueAsNew = true
			c.Messages = []store.Message{startMsg("a")}
			c.History[0].ID = 1
			wantErr(t, "continue-as-new CommitTurn with a duplicate event", s.CommitTurn(t.Context(), turn.Token, c), store.ErrDuplicateEvent)
			sn.check(t, s, "a", "after the failed continue-as-new")
			_, err := s.History(t.Context(), "a", 2)
			wantErr(t, "History(2) after the failed continue-as-new", err, store.ErrNotFound)
		}},
		{"lock kept after a failed commit: corrected commit with the same token succeeds", func(t *testing.T, s store.Store) {
			turn, x := busyInstance(t, s)
			bad := everythingCommit(turn, x)
			bad.History[0].ID = 1
			wantErr(t, "CommitTurn with a duplicate event ID", s.CommitTurn(t.Context(), turn.Token, bad), store.ErrDuplicateEvent)
			noTurn(t, s, "instance a is still locked after the failed commit")
			good := everythingCommit(turn, x)
			commitTurn(t, s, turn.Token, good)
			sameEvents(t, "history after the corrected commit", historyOf(t, s, "a", 0), append(append([]history.Event{}, turn.History...), good.History...))
			inst := instance(t, s, "a")
			sameState(t, "state after the corrected commit", inst, good.State)
			wantErr(t, "RenewTurn after the commit released the lock", s.RenewTurn(t.Context(), turn.Token, longLock), store.ErrLockLost)
		}},
		{"one winner for concurrent commits with one token", func(t *testing.T, s store.Store) {
			enqueue(t, s, startMsg("a"))
			turn := fetchTurnOf(t, s, "a")
			const n = 8
			errs := make([]error, n)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range n {
				wg.Go(func() {
					<-start
					c := turnCommit(turn, decision(history.KindCustomStatusSet, fmt.Sprint(i)))
					c.Messages = []store.Message{eventMsg("b", fmt.Sprint(i))}
					errs[i] = s.CommitTurn(t.Context(), turn.Token, c)
				})
			}
			close(start)
			wg.Wait()
			wins := 0
			for i, err := range errs {
				switch {
				case err == nil:
					wins++
				case !errors.Is(err, store.ErrLockLost):
					t.Errorf("commit %d: got error %v, want nil or ErrLockLost", i, err)
				}
			}
			if wins != 1 {
				t.Fatalf("%d of %d concurrent commits with one token succeeded, want exactly 1", wins, n)
			}
			if h := historyOf(t, s, "a", 0); len(h) != 3 {
				t.Fatalf("history has %d events %s, want the 3 of the single winning commit", len(h), describeEvents(h))
			}
			b := fetchTurnOf(t, s, "b")
			if len(b.Messages) != 1 {
				t.Fatalf("instance b got %d messages %q, want the 1 of the winning commit", len(b.Messages), payloads(b.Messages))
			}
		}},
		{"second commit with the same token fails and changes nothing", func(t *testing.T, s store.Store) {
			enqueue(t, s, startMsg("a"))
			turn := fetchTurnOf(t, s, "a")
			commitTurn(t, s, turn.Token, turnCommit(turn))
			sn := takeSnapshot(t, s, "a")
			c := turnCommit(&store.Turn{InstanceID: "a", Execution: 1, Instance: instance(t, s, "a"), History: sn.history})
			c.Messages = []store.Message{startMsg("b")}
			wantErr(t, "second CommitTurn with the same token", s.CommitTurn(t.Context(), turn.Token, c), store.ErrLockLost)
			sn.check(t, s, "a", "after the second commit")
			noTurn(t, s, "nothing may have been enqueued by the rejected commit")
		}},
		{"concurrent commit and abandon with one token: exactly one succeeds", func(t *testing.T, s store.Store) {
			enqueue(t, s, startMsg("a"))
			turn := fetchTurnOf(t, s, "a")
			var commitErr, abandonErr error
			var wg sync.WaitGroup
			start := make(chan struct{})
			wg.Go(func() { <-start; commitErr = s.CommitTurn(t.Context(), turn.Token, turnCommit(turn)) })
			wg.Go(func() {
				<-start
				abandonErr = s.AbandonTurn(t.Context(), turn.Token, store.AbandonOptions{})
			})
			close(start)
			wg.Wait()
			switch {
			case commitErr == nil && errors.Is(abandonErr, store.ErrLockLost):
				if h := historyOf(t, s, "a", 0); len(h) != 2 {
					t.Fatalf("commit won: history has %d events, want 2", len(h))
				}
				noTurn(t, s, "commit won: the start message was consumed")
			case abandonErr == nil && errors.Is(commitErr, store.ErrLockLost):
				notCreated(t, s, "a", "abandon won")
				fetchTurnOf(t, s, "a")
			default:
				t.Fatalf("commit: %v, abandon: %v; want exactly one nil and the other ErrLockLost", commitErr, abandonErr)
			}
		}},
	}
}

func commitCases() []storeCase {
	return []storeCase{
		{"first commit creates the instance row", func(t *testing.T, s store.Store) {
			before := time.Now().Add(-time.Second)
			enqueue(t, s, startMsg("a"))
			turn := fetchTurnOf(t, s, "a")
			if turn.Instance != nil || turn.Execution != 0 || len(turn.History) != 0 {
				t.Fatalf("first turn: Instance=%v Execution=%d History=%d events, want nil, 0, 0", turn.Instance, turn.Execution, len(turn.History))
			}
			c := turnCommit(turn)
			c.State = store.InstanceState{Name: "orch", Version: "v7", ModuleHash: "abc123", Status: store.StatusRunning, CustomStatus: []byte("cs")}
			commitTurn(t, s, turn.Token, c)
			inst := instance(t, s, "a")
			if inst.ID != "a" || inst.Execution != 1 {
				t.Fatalf("Instance: ID=%q Execution=%d, want \"a\", 1", inst.ID, inst.Execution)
			}
			sameState(t, "Instance", inst, c.State)
			if inst.CreatedAt.Before(before) || inst.CreatedAt.After(time.Now().Add(time.Second)) {
				t.Fatalf("Instance.CreatedAt = %v, want about now", inst.CreatedAt)
			}
			if !inst.CompletedAt.IsZero() {
				t.Fatalf("Instance.CompletedAt = %v, want zero while running", inst.CompletedAt)
			}
			sameEvents(t, "History", historyOf(t, s, "a", 0), c.History)
			sameEvents(t, "History(1)", historyOf(t, s, "a", 1), c.History)
		}},
		{"later commits append to the history", func(t *testing.T, s store.Store) {
			create(t, s, "a", store.InstanceState{})
			want := historyOf(t, s, "a", 0)
			for i := range 3 {
				enqueue(t, s, eventMsg("a", fmt.Sprint("e", i)))
				turn := fetchTurnOf(t, s, "a")
				sameEvents(t, fmt.Sprintf("turn %d history", i), turn.History, want)
				c := turnCommit(turn, decision(history.KindEventSubscribed, "w"))
				commitTurn(t, s, turn.Token, c)
				want = append(want, c.History...)
			}
			sameEvents(t, "History", historyOf(t, s, "a", 0), want)
			if ex := executions(t, s, "a"); len(ex) != 1 || ex[0].Events != len(want) {
				t.Fatalf("Executions = %+v, want one with %d events", ex, len(want))
			}
		}},
		{"state is overwritten by each commit", func(t *testing.T, s store.Store) {
			first := create(t, s, "a", store.InstanceState{Version: "v1", CustomStatus: []byte("first")})
			enqueue(t, s, eventMsg("a", "x"))
			var next store.InstanceState
			runTurn(t, s, "a", func(_ *store.Turn, c *store.Commit) {
				c.State = store.InstanceState{Name: "orch2", Version: "v2", ModuleHash: "h2", Status: store.StatusRunning}
				next = c.State
			})
			inst := instance(t, s, "a")
			sameState(t, "Instance after the second commit (custom status cleared)", inst, next)
			if !inst.CreatedAt.Equal(first.CreatedAt) {
				t.Fatalf("CreatedAt changed from %v to %v", first.CreatedAt, inst.CreatedAt)
			}
			if inst.UpdatedAt.Before(first.UpdatedAt) {
				t.Fatalf("UpdatedAt went back from %v to %v", first.UpdatedAt, inst.UpdatedAt)
			}
		}},
		{"completed instance records output and completion time", func(t *testing.T, s store.Store) {
			created := create(t, s, "a", store.InstanceState{})
			finish(t, s, "a", store.StatusCompleted)
			inst := instance(t, s, "a")
			if inst.Status != store.StatusCompleted || string(inst.Output) != `"done"` {
				t.Fatalf("Instance: status=%s output=%q, want completed, \"done\"", inst.Status, inst.Output)
			}
			if inst.CompletedAt.IsZero() || inst.CompletedAt.Before(created.CreatedAt) {
				t.Fatalf("CompletedAt = %v, want a time after CreatedAt %v", inst.CompletedAt, created.CreatedAt)
			}
			ex := executions(t, s, "a")
			if len(ex) != 1 || ex[0].Status != store.StatusCompleted || ex[0].CompletedAt.IsZero() {
				t.Fatalf("Executions = %+v, want one completed execution with a CompletedAt", ex)
			}
		}},
		{"failed instance records its failure", func(t *testing.T, s store.Store) {
			fail := &abi.Failure{Kind: abi.FailureApplication, Code: "E42", Message: "it broke", Details: []byte(`{"why":"because"}`)}
			create(t, s, "a", store.InstanceState{})
			enqueue(t, s, eventMsg("a", "x"))
			var want store.InstanceState
			runTurn(t, s, "a", func(_ *store.Turn, c *store.Commit) {
				c.State.Status = store.StatusFailed
				c.State.Failure = fail
				addDecisions(c, history.Event{Kind: history.KindExecutionFailed, Time: baseTime, Failure: fail})
				want = c.State
			})
			sameState(t, "Instance", instance(t, s, "a"), want)
			h := historyOf(t, s, "a", 0)
			if got := h[len(h)-1].Failure; !sameFailure(got, fail) {
				t.Fatalf("last event's Failure = %+v, want %+v", got, fail)
			}
			if ex := executions(t, s, "a"); ex[0].Status != store.StatusFailed {
				t.Fatalf("execution status = %s, want failed", ex[0].Status)
			}
		}},
		{"every event field round-trips", func(t *testing.T, s store.Store) {
			enqueue(t, s, startMsg("a"))
			turn := fetchTurnOf(t, s, "a")
			full := history.Event{
				Kind: history.KindExecutionStarted, Time: baseTime + 1, Ref: 7, Name: "n", Version: "v",
				InstanceID: "i", Input: []byte{0, 1, 2, 255}, Result: []byte("r"),
				Failure: &abi.Failure{Kind: abi.FailureTimeout, Code: "c", Message: "m", Details: []byte("d")},
				FireAt:  baseTime + 2, ParentID: "p", ParentExecution: 3, ParentRef: 4, ModuleHash: "hash",
				CustomStatus: []byte("cs"), Carried: []history.Item{{Name: "q", Data: []byte("x"), Time: 5}},
				Cleared: true, Execution: 6,
			}
			c := turnCommit(turn, full, decision(history.KindTimerCreated, ""))
			commitTurn(t, s, turn.Token, c)
			sameEvents(t, "History", historyOf(t, s, "a", 0), c.History)
		}},
		{"commit enqueues messages for other instances", func(t *testing.T, s store.Store) {
			enqueue(t, s, startMsg("parent"))
			runTurn(t, s, "parent", func(_ *store.Turn, c *store.Commit) {
				c.Messages = []store.Message{startMsg("child1"), startMsg("child2")}
			})
			seen := map[string]bool{}
			for range 2 {
				turn := fetchTurn(t, s, longLock)
				seen[turn.InstanceID] = true
				if len(turn.Messages) != 1 || turn.Messages[0].Event.Kind != history.KindExecutionStarted {
					t.Fatalf("turn of %q: messages %+v, want its start message", turn.InstanceID, turn.Messages)
				}
			}
			if !seen["child1"] || !seen["child2"] {
				t.Fatalf("fetched %v, want child1 and child2", seen)
			}
		}},
		{"commit enqueues messages for itself, fetched by the next turn", func(t *testing.T, s store.Store) {
			enqueue(t, s, startMsg("a"))
			runTurn(t, s, "a", func(_ *store.Turn, c *store.Commit) {
				c.Messages = []store.Message{eventMsg("a", "to self")}
			})
			turn := fetchTurnOf(t, s, "a")
			sameStrings(t, "next turn's messages", payloads(turn.Messages), []string{"to self"})
		}},
		{"commit may consume only some of the turn's messages", func(t *testing.T, s store.Store) {
			enqueue(t, s, startMsg("a"), eventMsg("a", "later"))
			runTurn(t, s, "a", func(turn *store.Turn, c *store.Commit) {
				c.History = c.History[:2]
				c.Consumed = []int64{turn.Messages[0].ID}
			})
			turn := fetchTurnOf(t, s, "a")
			sameStrings(t, "unconsumed message", payloads(turn.Messages), []string{"later"})
		}},
		{"commit with no events only consumes", func(t *testing.T, s store.Store) {
			create(t, s, "a", store.InstanceState{})
			before := historyOf(t, s, "a", 0)
			enqueue(t, s, eventMsg("a", "dup"))
			runTurn(t, s, "a", func(_ *store.Turn, c *store.Commit) { c.History = nil })
			sameEvents(t, "History", historyOf(t, s, "a", 0), before)
			noTurn(t, s, "the message was consumed")
		}},
		{"commit releases the lock", func(t *testing.T, s store.Store) {
			enqueue(t, s, startMsg("a"))
			turn := fetchTurnOf(t, s, "a")
			enqueue(t, s, eventMsg("a", "during"))
			commitTurn(t, s, turn.Token, turnCommit(turn))
			if d := depths(t, s); d.LockedInstances != 0 {
				t.Fatalf("LockedInstances = %d after the commit, want 0", d.LockedInstances)
			}
			next := fetchTurnOf(t, s, "a")
			if next.Token == turn.Token {
				t.Fatalf("the next turn reuses token %q", turn.Token)
			}
		}},
		{"messages for a finished instance are still delivered", func(t *testing.T, s store.Store) {
			create(t, s, "a", store.InstanceState{Status: store.StatusCompleted})
			enqueue(t, s, eventMsg("a", "late"))
			turn := fetchTurnOf(t, s, "a")
			if turn.Instance == nil || turn.Instance.Status != store.StatusCompleted {
				t.Fatalf("turn.Instance = %+v, want the completed instance", turn.Instance)
			}
			sameStrings(t, "messages", payloads(turn.Messages), []string{"late"})
			c := turnCommit(turn)
			c.History = nil
			commitTurn(t, s, turn.Token, c)
			if inst := instance(t, s, "a"); inst.Status != store.StatusCompleted {
				t.Fatalf("status = %s, want completed", inst.Status)
			}
		}},
		{"commit with history to an execution other than the current one is ErrInvalid", func(t *testing.T, s store.Store) {
			create(t, s, "a", store.InstanceState{})
			enqueue(t, s, eventMsg("a", "x"))
			turn := fetchTurnOf(t, s, "a")
			sn := takeSnapshot(t, s, "a")
			for _, exec := range []uint32{0, 2} {
				c := turnCommit(turn)
				c.Execution = exec
				wantErr(t, fmt.Sprintf("CommitTurn to execution %d", exec), s.CommitTurn(t.Context(), turn.Token, c), store.ErrInvalid)
			}
			sn.check(t, s, "a", "after the rejected commits")
			commitTurn(t, s, turn.Token, turnCommit(turn))
		}},
		{"consume-only commit drops messages of an instance without a row", func(t *testing.T, s store.Store) {
			enqueue(t, s, eventMsg("ghost", "stray"))
			turn := fetchTurnOf(t, s, "ghost")
			c := &store.Commit{Consumed: messageIDs(turn.Messages), Messages: []store.Message{eventMsg("b", "note")}}
			commitTurn(t, s, turn.Token, c)
			gone(t, s, "ghost")
			_, err := s.Executions(t.Context(), "ghost")
			wantErr(t, "Executions after a consume-only commit", err, store.ErrNotFound)
			if d := depths(t, s); d.LockedInstances != 0 || d.Messages != 1 {
				t.Fatalf("QueueDepths = %+v, want no lock and only the message to b", d)
			}
			fetchTurnOf(t, s, "b")
		}},
		{"consume-only commit leaves an existing instance's rows alone", func(t *testing.T, s store.Store) {
			create(t, s, "a", store.InstanceState{CustomStatus: []byte("keep")})
			sn := takeSnapshot(t, s, "a")
			enqueue(t, s, eventMsg("a", "stray"))
			turn := fetchTurnOf(t, s, "a")
			c := &store.Commit{
				State:    store.InstanceState{Name: "ignored", Status: store.StatusCompleted},
				Consumed: messageIDs(turn.Messages),
			}
			commitTurn(t, s, turn.Token, c)
			sn.check(t, s, "a", "after a consume-only commit")
			noTurn(t, s, "the stray message was consumed")
		}},
		{"consume-only commit with history or continue-as-new is ErrInvalid", func(t *testing.T, s store.Store) {
			enqueue(t, s, eventMsg("ghost", "stray"))
			turn := fetchTurnOf(t, s, "ghost")
			withHistory := turnCommit(turn)
			withHistory.Execution = 0
			wantErr(t, "CommitTurn with Execution 0 and history", s.CommitTurn(t.Context(), turn.Token, withHistory), store.ErrInvalid)
			can := &store.Commit{ContinueAsNew: true, Consumed: messageIDs(turn.Messages)}
			wantErr(t, "CommitTurn with Execution 0 and ContinueAsNew", s.CommitTurn(t.Context(), turn.Token, can), store.ErrInvalid)
			gone(t, s, "ghost")
			must(t, "RenewTurn (lock kept)", s.RenewTurn(t.Context(), turn.Token, longLock))
		}},
		{"first commit must name execution 1", func(t *testing.T, s store.Store) {
			enqueue(t, s, startMsg("a"))
			turn := fetchTurnOf(t, s, "a")
			c := turnCommit(turn)
			c.Execution = 2
			wantErr(t, "first CommitTurn to execution 2", s.CommitTurn(t.Context(), turn.Token, c), store.ErrInvalid)
			notCreated(t, s, "a", "after the rejected commit")
		}},
		{"the first commit reports the row's creation time", func(t *testing.T, s store.Store) {
			enqueue(t, s, startMsg("a"))
			turn := fetchTurnOf(t, s, "a")
			c := turnCommit(turn)
			commitTurn(t, s, turn.Token, c)
			in := instance(t, s, "a")
			if c.Created.IsZero() || !c.Created.Equal(in.CreatedAt) {
				t.Fatalf("Created = %v, want the row's CreatedAt %v", c.Created, in.CreatedAt)
			}
			enqueue(t, s, eventMsg("a", "x"))
			turn = fetchTurnOf(t, s, "a")
			c = turnCommit(turn)
			commitTurn(t, s, turn.Token, c)
			if !c.Created.IsZero() {
				t.Fatalf("Created = %v on a commit that created no row, want zero", c.Created)
			}
		}},
	}
}
