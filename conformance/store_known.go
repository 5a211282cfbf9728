package conformance

import (
	"fmt"
	"sync"
	"testing"

	"github.com/durohost/durohost/history"
	"github.com/durohost/durohost/store"
)

// knownProbe is a KnownHistory that reports one held history for every instance and
// records the instances it was asked about.
type knownProbe struct {
	mu        sync.Mutex
	execution uint32
	events    int
	ok        bool
	asked     []string
}

func (k *knownProbe) known(id string) (uint32, int, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.asked = append(k.asked, id)
	return k.execution, k.events, k.ok
}

// holds returns a probe reporting execution and events.
func holds(execution uint32, events int) *knownProbe {
	return &knownProbe{execution: execution, events: events, ok: true}
}

// wantOmitted fails the case unless the turn omitted its history and reports execution and
// events.
func wantOmitted(t *testing.T, what string, turn *store.Turn, execution uint32, events int) {
	t.Helper()
	if !turn.HistoryOmitted || turn.History != nil {
		t.Fatalf("%s: HistoryOmitted=%v with %d events, want the history omitted", what, turn.HistoryOmitted, len(turn.History))
	}
	if turn.Execution != execution || turn.Events != events {
		t.Fatalf("%s: Execution=%d Events=%d, want %d, %d", what, turn.Execution, turn.Events, execution, events)
	}
}

// wantFull fails the case unless the turn carries the full current history of its instance.
func wantFull(t *testing.T, s store.Store, what string, turn *store.Turn) {
	t.Helper()
	if turn.HistoryOmitted {
		t.Fatalf("%s: HistoryOmitted, want the full history", what)
	}
	if turn.Instance == nil {
		if len(turn.History) != 0 {
			t.Fatalf("%s: %d history events for an instance without a row", what, len(turn.History))
		}
		return
	}
	sameEvents(t, what+": History", turn.History, historyOf(t, s, turn.InstanceID, 0))
}

// knownCases check FetchTurn's known argument: a history the caller holds is not read again,
// and only when the store's current execution and length under the new lock are the ones
// the caller reported.
func knownCases() []storeCase {
	return []storeCase{
		{"matching known omits the history", func(t *testing.T, s store.Store) {
			inst := create(t, s, "a", store.InstanceState{ModuleHash: "mh"})
			n := len(historyOf(t, s, "a", 0))
			enqueue(t, s, eventMsg("a", "x"))
			k := holds(1, n)
			turn := fetchTurnKnown(t, s, longLock, k.known)
			if turn.InstanceID != "a" {
				t.Fatalf("fetched %q, want a", short(turn.InstanceID))
			}
			wantOmitted(t, "known (1, current length)", turn, 1, n)
			if turn.Instance == nil {
				t.Fatal("turn.Instance is nil with the history omitted")
			}
			sameState(t, "turn.Instance", turn.Instance, inst.InstanceState)
			sameStrings(t, "messages", payloads(turn.Messages), []string{"x"})
			sameStrings(t, "known asked about", k.asked, []string{"a"})
			// The turn commits like any other, numbering its events after Events.
			c := turnCommit(turn, decision(history.KindTimerCreated, ""))
			commitTurn(t, s, turn.Token, c)
			if got := len(historyOf(t, s, "a", 0)); got != n+len(c.History) {
				t.Fatalf("after the commit the history has %d events, want %d", got, n+len(c.History))
			}
		}},
		{"known of another length reads the full history", func(t *testing.T, s store.Store) {
			create(t, s, "a", store.InstanceState{})
			n := len(historyOf(t, s, "a", 0))
			for _, held := range []int{n - 1, n + 1, 0} {
				enqueue(t, s, eventMsg("a", "x"))
				turn := fetchTurnKnown(t, s, longLock, holds(1, held).known)
				wantFull(t, s, fmt.Sprint("known length ", held), turn)
				must(t, "AbandonTurn", s.AbandonTurn(t.Context(), turn.Token, store.AbandonOptions{}))
				runTurn(t, s, "a", nil)
				n = len(historyOf(t, s, "a", 0))
			}
		}},
		{"known of another execution reads the full history", func(t *testing.T, s store.Store) {
			create(t, s, "a", store.InstanceState{})
			continueAsNew(t, s, "a", true)
			n := len(historyOf(t, s, "a", 0))
			old := len(historyOf(t, s, "a", 1))
			for _, k := range []*knownProbe{holds(1, n), holds(1, old), holds(3, n)} {
				enqueue(t, s, eventMsg("a", "x"))
				turn := fetchTurnKnown(t, s, longLock, k.known)
				wantFull(t, s, fmt.Sprint("known of execution ", k.execution), turn)
				if turn.Execution != 2 {
					t.Fatalf("turn.Execution = %d, want 2", turn.Execution)
				}
				runTurnOn(t, s, turn)
				n = len(historyOf(t, s, "a", 0))
			}
			enqueue(t, s, eventMsg("a", "y"))
			wantOmitted(t, "known of the current execution", fetchTurnKnown(t, s, longLock, holds(2, n).known), 2, n)
		}},
		{"known that holds nothing reads the full history", func(t *testing.T, s store.Store) {
			create(t, s, "a", store.InstanceState{})
			n := len(historyOf(t, s, "a", 0))
			enqueue(t, s, eventMsg("a", "x"))
			k := &knownProbe{execution: 1, events: n, ok: false}
			wantFull(t, s, "known ok=false", fetchTurnKnown(t, s, longLock, k.known))
		}},
		{"nil known reads the full history", func(t *testing.T, s store.Store) {
			create(t, s, "a", store.InstanceState{})
			enqueue(t, s, eventMsg("a", "x"))
			wantFull(t, s, "nil known", fetchTurnKnown(t, s, longLock, nil))
		}},
		{"instance without a row has an empty history whatever known says", func(t *testing.T, s store.Store) {
			for _, k := range []*knownProbe{holds(0, 0), holds(1, 0), holds(1, 2)} {
				enqueue(t, s, startMsg("new"))
				turn := fetchTurnKnown(t, s, longLock, k.known)
				if turn.Instance != nil {
					t.Fatalf("turn.Instance = %+v, want nil", turn.Instance)
				}
				wantFull(t, s, fmt.Sprintf("no row, known (%d, %d)", k.execution, k.events), turn)
				must(t, "AbandonTurn", s.AbandonTurn(t.Context(), turn.Token, store.AbandonOptions{}))
				// Leave the store empty for the next probe: consume the start message.
				turn = fetchTurnOf(t, s, "new")
				commitTurn(t, s, turn.Token, &store.Commit{Consumed: messageIDs(turn.Messages)})
			}
		}},
		{"the check is made under the lock: a commit in between changes the answer", func(t *testing.T, s store.Store) {
			create(t, s, "a", store.InstanceState{})
			n := len(historyOf(t, s, "a", 0))
			k := holds(1, n)
			enqueue(t, s, eventMsg("a", "x"))
			turn := fetchTurnKnown(t, s, longLock, k.known)
			wantOmitted(t, "first fetch", turn, 1, n)
			c := turnCommit(turn, scheduled("act"))
			commitTurn(t, s, turn.Token, c)
			// The caller still reports the old length: the store must see the commit.
			enqueue(t, s, eventMsg("a", "y"))
			turn = fetchTurnKnown(t, s, longLock, k.known)
			wantFull(t, s, "after a commit, known (1, old length)", turn)
			if turn.Events != n+len(c.History) {
				t.Fatalf("Events = %d, want %d", turn.Events, n+len(c.History))
			}
			must(t, "AbandonTurn", s.AbandonTurn(t.Context(), turn.Token, store.AbandonOptions{}))
			wantOmitted(t, "known (1, new length)", fetchTurnKnown(t, s, longLock, holds(1, n+len(c.History)).known), 1, n+len(c.History))
		}},
		{"an abandoned omitted turn is fetched again with its history", func(t *testing.T, s store.Store) {
			create(t, s, "a", store.InstanceState{})
			n := len(historyOf(t, s, "a", 0))
			enqueue(t, s, eventMsg("a", "x"))
			turn := fetchTurnKnown(t, s, longLock, holds(1, n).known)
			wantOmitted(t, "first fetch", turn, 1, n)
			must(t, "AbandonTurn", s.AbandonTurn(t.Context(), turn.Token, store.AbandonOptions{IgnoreAttempt: true}))
			again := fetchTurnKnown(t, s, longLock, nil)
			wantFull(t, s, "refetch without known", again)
			if again.Messages[0].Attempts != 1 {
				t.Fatalf("Attempts = %d after an abandon with IgnoreAttempt, want 1", again.Messages[0].Attempts)
			}
		}},
	}
}

// runTurnOn commits an ordinary turn (see turnCommit) for an already fetched turn.
func runTurnOn(t *testing.T, s store.Store, turn *store.Turn) {
	t.Helper()
	commitTurn(t, s, turn.Token, turnCommit(turn))
}

// withoutKnownCases check a store that is not a HistorySkipper: FetchTurn ignores known and
// reads every history in full.
func withoutKnownCases() []storeCase {
	return []storeCase{
		{"FetchTurn reads the full history whatever known reports", func(t *testing.T, s store.Store) {
			create(t, s, "a", store.InstanceState{})
			n := len(historyOf(t, s, "a", 0))
			for _, k := range []*knownProbe{holds(1, n), holds(1, n+1), {execution: 1, events: n}} {
				enqueue(t, s, eventMsg("a", "x"))
				turn := fetchTurnKnown(t, s, longLock, k.known)
				if turn.HistoryOmitted {
					t.Fatalf("known (%d, %d, %v): the history was omitted; a store that honours known implements store.HistorySkipper",
						k.execution, k.events, k.ok)
				}
				wantFull(t, s, fmt.Sprintf("known (%d, %d, %v)", k.execution, k.events, k.ok), turn)
				if turn.Execution != 1 || turn.Events != n {
					t.Fatalf("Execution=%d Events=%d, want 1, %d", turn.Execution, turn.Events, n)
				}
				runTurnOn(t, s, turn)
				n = len(historyOf(t, s, "a", 0))
			}
		}},
	}
}
