package conformance

import (
	"fmt"
	"testing"
	"time"

	"github.com/durohost/durohost/history"
	"github.com/durohost/durohost/store"
)

// executionIDs returns the IDs of ex.
func executionIDs(ex []store.Execution) []uint32 {
	ids := make([]uint32, len(ex))
	for i, e := range ex {
		ids[i] = e.ID
	}
	return ids
}

// sameExecutionIDs fails the case unless Executions(id) lists exactly want.
func sameExecutionIDs(t *testing.T, s store.Store, id string, want ...uint32) []store.Execution {
	t.Helper()
	ex := executions(t, s, id)
	if fmt.Sprint(executionIDs(ex)) != fmt.Sprint(want) {
		t.Fatalf("Executions(%q) = %v, want %v", id, executionIDs(ex), want)
	}
	return ex
}

func executionCases() []storeCase {
	return []storeCase{
		{"continue-as-new makes the next execution current", func(t *testing.T, s store.Store) {
			create(t, s, "a", store.InstanceState{})
			continueAsNew(t, s, "a", false)
			inst := instance(t, s, "a")
			if inst.Execution != 2 || inst.Status != store.StatusRunning {
				t.Fatalf("Instance: Execution=%d Status=%s, want 2, running", inst.Execution, inst.Status)
			}
			if h := historyOf(t, s, "a", 0); len(h) != 0 {
				t.Fatalf("History(0) of the new execution has %d events %s, want none", len(h), describeEvents(h))
			}
			if h := historyOf(t, s, "a", 2); len(h) != 0 {
				t.Fatalf("History(2) has %d events, want none", len(h))
			}
		}},
		{"old execution's history stays readable", func(t *testing.T, s store.Store) {
			create(t, s, "a", store.InstanceState{})
			enqueue(t, s, eventMsg("a", "go"))
			var want []history.Event
			runTurn(t, s, "a", func(turn *store.Turn, c *store.Commit) {
				addDecisions(c, decision(history.KindExecutionContinuedAsNew, ""))
				c.ContinueAsNew = true
				c.Messages = []store.Message{startMsg("a")}
				want = append(append(want, turn.History...), c.History...)
			})
			runTurn(t, s, "a", nil)
			sameEvents(t, "History(1)", historyOf(t, s, "a", 1), want)
			sameEvents(t, "History(0) is History(2)", historyOf(t, s, "a", 0), historyOf(t, s, "a", 2))
		}},
		{"Executions lists both executions with their status", func(t *testing.T, s store.Store) {
			create(t, s, "a", store.InstanceState{})
			continueAsNew(t, s, "a", true)
			ex := sameExecutionIDs(t, s, "a", 1, 2)
			if ex[0].Status != store.StatusContinuedAsNew || ex[0].CompletedAt.IsZero() || ex[0].Events != 5 {
				t.Fatalf("execution 1 = %+v, want continued_as_new with a CompletedAt and 5 events", ex[0])
			}
			if ex[1].Status != store.StatusRunning || !ex[1].CompletedAt.IsZero() || ex[1].Events != 2 {
				t.Fatalf("execution 2 = %+v, want running, no CompletedAt, 2 events", ex[1])
			}
			if ex[1].CreatedAt.Before(ex[0].CreatedAt) {
				t.Fatalf("execution 2 created at %v before execution 1 at %v", ex[1].CreatedAt, ex[0].CreatedAt)
			}
		}},
		{"next turn after continue-as-new belongs to the new execution", func(t *testing.T, s store.Store) {
			create(t, s, "a", store.InstanceState{})
			continueAsNew(t, s, "a", false)
			turn := fetchTurnOf(t, s, "a")
			if turn.Execution != 2 || len(turn.History) != 0 || turn.Instance == nil || turn.Instance.Execution != 2 {
				t.Fatalf("turn: Execution=%d History=%d events Instance=%+v, want execution 2 with an empty history", turn.Execution, len(turn.History), turn.Instance)
			}
			if len(turn.Messages) != 1 || turn.Messages[0].Event.Kind != history.KindExecutionStarted {
				t.Fatalf("turn: %s, want the new execution's start message", describeTurn(turn))
			}
			c := turnCommit(turn)
			if c.History[0].ID != 1 {
				t.Fatalf("suite bug: first event ID %d", c.History[0].ID)
			}
			commitTurn(t, s, turn.Token, c)
			sameEvents(t, "History(2)", historyOf(t, s, "a", 2), c.History)
		}},
		{"several continue-as-new in a row", func(t *testing.T, s store.Store) {
			create(t, s, "a", store.InstanceState{})
			for range 3 {
				continueAsNew(t, s, "a", true)
			}
			sameExecutionIDs(t, s, "a", 1, 2, 3, 4)
			for exec := uint32(1); exec <= 4; exec++ {
				h := historyOf(t, s, "a", exec)
				if len(h) == 0 || h[0].ID != 1 {
					t.Fatalf("History(%d) = %s, want events numbered from 1", exec, describeEvents(h))
				}
			}
			if got := instance(t, s, "a").Execution; got != 4 {
				t.Fatalf("Instance.Execution = %d, want 4", got)
			}
		}},
		{"commit to the previous execution after continue-as-new is ErrInvalid", func(t *testing.T, s store.Store) {
			create(t, s, "a", store.InstanceState{})
			continueAsNew(t, s, "a", false)
			turn := fetchTurnOf(t, s, "a")
			c := turnCommit(turn)
			c.Execution = 1
			c.History = numbered(5, c.History...)
			wantErr(t, "CommitTurn to execution 1", s.CommitTurn(t.Context(), turn.Token, c), store.ErrInvalid)
			if h := historyOf(t, s, "a", 1); len(h) != 5 {
				t.Fatalf("History(1) has %d events, want 5", len(h))
			}
		}},
		{"unknown execution is ErrNotFound", func(t *testing.T, s store.Store) {
			create(t, s, "a", store.InstanceState{})
			_, err := s.History(t.Context(), "a", 5)
			wantErr(t, "History(a, 5)", err, store.ErrNotFound)
		}},
		{"unknown instance is ErrNotFound for History, Executions and Instance", func(t *testing.T, s store.Store) {
			create(t, s, "a", store.InstanceState{})
			_, err := s.History(t.Context(), "nope", 0)
			wantErr(t, "History(nope, 0)", err, store.ErrNotFound)
			_, err = s.History(t.Context(), "nope", 1)
			wantErr(t, "History(nope, 1)", err, store.ErrNotFound)
			_, err = s.Executions(t.Context(), "nope")
			wantErr(t, "Executions(nope)", err, store.ErrNotFound)
			_, err = s.Instance(t.Context(), "nope")
			wantErr(t, "Instance(nope)", err, store.ErrNotFound)
		}},
		{"pending instance is returned by Instance from its start message", func(t *testing.T, s store.Store) {
			enqueue(t, s, eventMsg("a", "early"))
			at := time.Unix(1_700_000_000, 0)
			ev := started("orch")
			ev.Version, ev.ModuleHash, ev.ParentID, ev.Time = "v2", "abc123", "parent", at.UnixNano()
			enqueue(t, s, store.Message{InstanceID: "a", Event: ev})
			in, err := s.Instance(t.Context(), "a")
			must(t, "Instance of an instance with only a start message", err)
			if in.ID != "a" || in.Status != store.StatusPending || in.Name != "orch" || in.Version != "v2" ||
				in.ModuleHash != "abc123" || in.ParentID != "parent" || in.Execution != 0 || !in.CreatedAt.Equal(at) {
				t.Fatalf("Instance = %+v, want pending orch v2 of module abc123, parent \"parent\", execution 0, created %v", in, at)
			}
			_, err = s.Executions(t.Context(), "a")
			wantErr(t, "Executions of a pending instance", err, store.ErrNotFound)
			_, err = s.History(t.Context(), "a", 0)
			wantErr(t, "History of a pending instance", err, store.ErrNotFound)
		}},
		{"messages without a start message make no pending instance", func(t *testing.T, s store.Store) {
			enqueue(t, s, eventMsg("a", "early"))
			_, err := s.Instance(t.Context(), "a")
			wantErr(t, "Instance of an instance with only an event", err, store.ErrNotFound)
		}},
		{"pending instances are listed with the others, in creation order", func(t *testing.T, s store.Store) {
			at := func(sec int64) time.Time { return time.Unix(1_800_000_000+sec, 0) }
			pend := func(id, name string, sec int64) store.Message {
				ev := started(name)
				ev.Time = at(sec).UnixNano()
				return store.Message{InstanceID: id, Event: ev}
			}
			create(t, s, "r", store.InstanceState{}) // created now, before the pending ones
			enqueue(t, s, pend("p2", "orch", 2), eventMsg("p1", "early"), pend("p1", "other", 1), eventMsg("q", "no start"))
			ids := func(f store.Filter) []string {
				t.Helper()
				var out []string
				for {
					page, err := s.ListInstances(t.Context(), f)
					must(t, "ListInstances", err)
					for _, in := range page.Instances {
						if in.ID != "r" && in.Status != store.StatusPending {
							t.Fatalf("%s: status %s", in.ID, in.Status)
						}
						out = append(out, in.ID)
					}
					if page.Next == "" {
						return out
					}
					f.PageToken = page.Next
				}
			}
			sameStrings(t, "all", ids(store.Filter{}), []string{"r", "p1", "p2"})
			sameStrings(t, "all, one per page", ids(store.Filter{PageSize: 1}), []string{"r", "p1", "p2"})
			sameStrings(t, "pending", ids(store.Filter{Statuses: []store.Status{store.StatusPending}}), []string{"p1", "p2"})
			sameStrings(t, "running", ids(store.Filter{Statuses: []store.Status{store.StatusRunning}}), []string{"r"})
			sameStrings(t, "by name", ids(store.Filter{Name: "other"}), []string{"p1"})
			sameStrings(t, "by prefix", ids(store.Filter{IDPrefix: "p2"}), []string{"p2"})
			sameStrings(t, "created after", ids(store.Filter{CreatedAfter: at(2), Statuses: []store.Status{store.StatusPending}}), []string{"p2"})
			sameStrings(t, "created before", ids(store.Filter{CreatedBefore: at(2), Statuses: []store.Status{store.StatusPending}}), []string{"p1"})
		}},
		{"a pending instance becomes running at its first commit", func(t *testing.T, s store.Store) {
			create(t, s, "a", store.InstanceState{})
			if in := instance(t, s, "a"); in.Status != store.StatusRunning || in.Execution != 1 {
				t.Fatalf("Instance = status %s execution %d, want running 1", in.Status, in.Execution)
			}
		}},
		{"messages addressed to an older execution are still delivered", func(t *testing.T, s store.Store) {
			create(t, s, "a", store.InstanceState{})
			continueAsNew(t, s, "a", true)
			enqueue(t, s, completion("a", 1, 3, "stale"))
			turn := fetchTurnOf(t, s, "a")
			if len(turn.Messages) != 1 || turn.Messages[0].Event.Execution != 1 || turn.Execution != 2 {
				t.Fatalf("turn: %s (execution %d), want the completion addressed to execution 1", describeTurn(turn), turn.Execution)
			}
		}},
		{"finishing the last execution finishes the instance", func(t *testing.T, s store.Store) {
			first := create(t, s, "a", store.InstanceState{})
			continueAsNew(t, s, "a", true)
			finish(t, s, "a", store.StatusCompleted)
			inst := instance(t, s, "a")
			if inst.Status != store.StatusCompleted || inst.Execution != 2 || inst.CompletedAt.IsZero() {
				t.Fatalf("Instance = status %s execution %d completed at %v, want completed, 2, a time", inst.Status, inst.Execution, inst.CompletedAt)
			}
			if !inst.CreatedAt.Equal(first.CreatedAt) {
				t.Fatalf("CreatedAt changed across executions: %v, was %v", inst.CreatedAt, first.CreatedAt)
			}
			ex := sameExecutionIDs(t, s, "a", 1, 2)
			if ex[0].Status != store.StatusContinuedAsNew || ex[1].Status != store.StatusCompleted {
				t.Fatalf("execution statuses %s, %s, want continued_as_new, completed", ex[0].Status, ex[1].Status)
			}
		}},
	}
}

func pruneCases() []storeCase {
	// chain creates instance "a" with n executions (n-1 continue-as-new).
	chain := func(t *testing.T, s store.Store, n int) {
		t.Helper()
		create(t, s, "a", store.InstanceState{})
		for range n - 1 {
			continueAsNew(t, s, "a", true)
		}
	}
	prune := func(t *testing.T, s store.Store, before time.Time, keepLast, want int) {
		t.Helper()
		n, err := s.PruneExecutions(t.Context(), "a", before, keepLast)
		must(t, "PruneExecutions", err)
		if n != want {
			t.Fatalf("PruneExecutions(before %v, keepLast %d) deleted %d executions, want %d", before, keepLast, n, want)
		}
	}
	future := func() time.Time { return time.Now().Add(time.Hour) }
	return []storeCase{
		{"old executions are deleted, never the current one", func(t *testing.T, s store.Store) {
			chain(t, s, 3)
			current := historyOf(t, s, "a", 0)
			prune(t, s, future(), 0, 2)
			sameExecutionIDs(t, s, "a", 3)
			for _, exec := range []uint32{1, 2} {
				_, err := s.History(t.Context(), "a", exec)
				wantErr(t, fmt.Sprintf("History(%d) after prune", exec), err, store.ErrNotFound)
			}
			sameEvents(t, "current history after prune", historyOf(t, s, "a", 0), current)
			if got := instance(t, s, "a").Execution; got != 3 {
				t.Fatalf("Instance.Execution = %d, want 3", got)
			}
		}},
		{"keepLast most recent executions are kept", func(t *testing.T, s store.Store) {
			chain(t, s, 4)
			prune(t, s, future(), 2, 2)
			sameExecutionIDs(t, s, "a", 3, 4)
			historyOf(t, s, "a", 3)
		}},
		{"keepLast counts the current execution", func(t *testing.T, s store.Store) {
			chain(t, s, 3)
			prune(t, s, future(), 3, 0)
			sameExecutionIDs(t, s, "a", 1, 2, 3)
			prune(t, s, future(), 1, 2)
			sameExecutionIDs(t, s, "a", 3)
		}},
		{"only executions that ended before the given time are deleted", func(t *testing.T, s store.Store) {
			create(t, s, "a", store.InstanceState{})
			continueAsNew(t, s, "a", true)
			first := executions(t, s, "a")[0].CompletedAt
			waitPast(first.Add(5 * time.Millisecond))
			continueAsNew(t, s, "a", true)
			ex := sameExecutionIDs(t, s, "a", 1, 2, 3)
			if !ex[1].CompletedAt.After(ex[0].CompletedAt) {
				t.Fatalf("execution 2 ended at %v, not after execution 1 at %v", ex[1].CompletedAt, ex[0].CompletedAt)
			}
			prune(t, s, ex[0].CompletedAt.Add(-time.Hour), 0, 0)
			prune(t, s, ex[1].CompletedAt, 0, 1)
			sameExecutionIDs(t, s, "a", 2, 3)
		}},
		{"single finished execution is never pruned", func(t *testing.T, s store.Store) {
			create(t, s, "a", store.InstanceState{})
			finish(t, s, "a", store.StatusCompleted)
			prune(t, s, future(), 0, 0)
			sameExecutionIDs(t, s, "a", 1)
			historyOf(t, s, "a", 1)
		}},
		{"pruning twice deletes nothing the second time", func(t *testing.T, s store.Store) {
			chain(t, s, 3)
			prune(t, s, future(), 0, 2)
			prune(t, s, future(), 0, 0)
		}},
		{"execution numbers continue after prune", func(t *testing.T, s store.Store) {
			chain(t, s, 3)
			prune(t, s, future(), 0, 2)
			continueAsNew(t, s, "a", true)
			sameExecutionIDs(t, s, "a", 3, 4)
			if got := instance(t, s, "a").Execution; got != 4 {
				t.Fatalf("Instance.Execution = %d, want 4", got)
			}
		}},
		{"unknown instance is ErrNotFound", func(t *testing.T, s store.Store) {
			_, err := s.PruneExecutions(t.Context(), "nope", future(), 0)
			wantErr(t, "PruneExecutions(nope)", err, store.ErrNotFound)
		}},
	}
}
