package conformance

import (
	"errors"
	"testing"
	"time"

	"github.com/durohost/durohost/history"
	"github.com/durohost/durohost/store"
)

// Direct dispatch (store.DirectDispatcher): a host that commits a turn claims the activities
// it will run itself (Commit.Activities[i].Claim), a host that completes an activity takes
// the turn that consumes its result in the same transaction (CompleteActivityAndFetch) or
// commits it with the completion (CompleteActivityWithTurn), and a host that starts or
// signals an instance locks the turn it makes ready (StartInstance with LockFor,
// EnqueueAndFetch). All skip a fetch; none may weaken a lock.

// dispatcher returns s as a store.DirectDispatcher: the cases of the DirectDispatch groups
// run only on stores that are.
func dispatcher(s store.Store) store.DirectDispatcher { return s.(store.DirectDispatcher) }

// claimIn starts instance id with a first turn that schedules one activity per name, claiming
// those whose claim is true, and returns the commit's work items (claimed ones carry their
// lock).
func claimIn(t *testing.T, s store.Store, id string, claimFor time.Duration, names []string, claim []bool) []store.WorkItem {
	t.Helper()
	enqueue(t, s, startMsg(id))
	var items []store.WorkItem
	runTurn(t, s, id, func(_ *store.Turn, c *store.Commit) {
		for i, n := range names {
			addDecisions(c, scheduled(n))
			w := activity(id, 1, c.History[len(c.History)-1].ID, n)
			w.Claim = claim[i]
			c.Activities = append(c.Activities, w)
		}
		c.ClaimFor = claimFor
		items = c.Activities
	})
	return items
}

// completeAndFetch calls CompleteActivityAndFetch and fails the case on an error.
func completeAndFetch(t *testing.T, s store.Store, token string, result store.Message, known store.KnownHistory) *store.Turn {
	t.Helper()
	turn, err := dispatcher(s).CompleteActivityAndFetch(t.Context(), token, result, longLock, known)
	must(t, "CompleteActivityAndFetch", err)
	if turn != nil {
		checkTurnHistory(t, turn)
	}
	return turn
}

// withTurn builds the commit of a turn of id that consumes result (not queued) and decides
// decisions, continuing its current history.
func withTurn(t *testing.T, s store.Store, id string, result store.Message, decisions ...history.Event) *store.Commit {
	t.Helper()
	in := instance(t, s, id)
	n := len(historyOf(t, s, id, 0))
	evs := append([]history.Event{{Kind: history.KindTurnStarted, Time: baseTime}, result.Event}, decisions...)
	return &store.Commit{State: in.InstanceState, Execution: in.Execution, History: numbered(n, evs...)}
}

// directCases check the methods of a DirectDispatcher, claims in CommitTurn and LockFor in
// StartInstance.
func directCases() []storeCase {
	cases := []storeCase{
		{"claimed activity is locked for the committer", func(t *testing.T, s store.Store) {
			before := time.Now()
			items := claimIn(t, s, "a", 10*time.Minute, []string{"x"}, []bool{true})
			after := time.Now()
			w := items[0]
			if w.ID == 0 || w.Token == "" || w.Attempts != 1 || w.InstanceID != "a" || w.Execution != 1 {
				t.Fatalf("claimed item = %+v, want ID, token, attempts 1, instance a, execution 1", w)
			}
			lo, hi := before.Add(10*time.Minute-time.Second), after.Add(10*time.Minute+time.Second)
			if w.LockedUntil.Before(lo) || w.LockedUntil.After(hi) {
				t.Fatalf("LockedUntil = %v, want between %v and %v", w.LockedUntil, lo, hi)
			}
			noActivity(t, s, "the claimed item is locked")
			if d := depths(t, s); d.Activities != 0 || d.LockedActivities != 1 {
				t.Fatalf("QueueDepths = %+v, want 1 locked activity", d)
			}
			must(t, "RenewActivity of the claimed item", s.RenewActivity(t.Context(), w.Token, longLock))
			must(t, "CompleteActivity of the claimed item", s.CompleteActivity(t.Context(), w.Token, completion("a", 1, w.EventID, "r")))
			noActivity(t, s, "the completed item is gone")
			if turn := fetchTurnOf(t, s, "a"); len(turn.Messages) != 1 || string(turn.Messages[0].Event.Result) != "r" {
				t.Fatalf("turn: %s, want the result", describeTurn(turn))
			}
		}},
		{"unclaimed activities of the same commit are fetched as usual", func(t *testing.T, s store.Store) {
			items := claimIn(t, s, "a", longLock, []string{"x", "y", "z"}, []bool{false, true, false})
			if items[0].Token != "" || items[2].Token != "" || items[1].Token == "" {
				t.Fatalf("tokens %q %q %q, want only the second set", items[0].Token, items[1].Token, items[2].Token)
			}
			var got []string
			for range 2 {
				got = append(got, fetchActivity(t, s, longLock).Name)
			}
			sameStrings(t, "fetched", got, []string{"x", "z"})
			noActivity(t, s, "y is claimed")
		}},
		{"expired claim is fetched again with a new token", func(t *testing.T, s store.Store) {
			w := claimIn(t, s, "a", shortLock, []string{"x"}, []bool{true})[0]
			again := waitActivity(t, s, longLock)
			if again.ID != w.ID || again.Token == w.Token || again.Attempts != 2 {
				t.Fatalf("refetched item %d token %q attempts %d, want item %d, a new token, attempts 2", again.ID, again.Token, again.Attempts, w.ID)
			}
			wantErr(t, "CompleteActivity with the expired claim", s.CompleteActivity(t.Context(), w.Token, completion("a", 1, w.EventID, "r")), store.ErrLockLost)
		}},
		{"abandoned claim is visible again", func(t *testing.T, s store.Store) {
			w := claimIn(t, s, "a", longLock, []string{"x"}, []bool{true})[0]
			must(t, "AbandonActivity", s.AbandonActivity(t.Context(), w.Token, 0))
			if got := fetchActivity(t, s, longLock); got.ID != w.ID {
				t.Fatalf("fetched item %d, want %d", got.ID, w.ID)
			}
		}},
		{"cancelling a claimed activity loses its lock", func(t *testing.T, s store.Store) {
			w := claimIn(t, s, "a", longLock, []string{"x"}, []bool{true})[0]
			cancelIn(t, s, "a", w.ActivityRef)
			wantErr(t, "RenewActivity of the cancelled claim", s.RenewActivity(t.Context(), w.Token, longLock), store.ErrLockLost)
			wantErr(t, "CompleteActivity of the cancelled claim", s.CompleteActivity(t.Context(), w.Token, completion("a", 1, w.EventID, "r")), store.ErrLockLost)
		}},
		{"claim without a lock duration is ErrInvalid and changes nothing", func(t *testing.T, s store.Store) {
			enqueue(t, s, startMsg("a"))
			turn := fetchTurnOf(t, s, "a")
			c := turnCommit(turn, scheduled("x"))
			w := activity("a", 1, c.History[len(c.History)-1].ID, "x")
			w.Claim = true
			c.Activities = []store.WorkItem{w}
			wantErr(t, "CommitTurn claiming with ClaimFor 0", s.CommitTurn(t.Context(), turn.Token, c), store.ErrInvalid)
			notCreated(t, s, "a", "after the rejected commit")
			c.ClaimFor = longLock
			commitTurn(t, s, turn.Token, c)
		}},
		{"claim of a delayed activity is ErrInvalid", func(t *testing.T, s store.Store) {
			enqueue(t, s, startMsg("a"))
			turn := fetchTurnOf(t, s, "a")
			c := turnCommit(turn, scheduled("x"))
			w := activity("a", 1, c.History[len(c.History)-1].ID, "x")
			w.Claim, w.VisibleAt = true, time.Now().Add(time.Hour)
			c.Activities, c.ClaimFor = []store.WorkItem{w}, longLock
			wantErr(t, "CommitTurn claiming a delayed item", s.CommitTurn(t.Context(), turn.Token, c), store.ErrInvalid)
			noActivity(t, s, "nothing was enqueued")
		}},
		{"claim in a commit that lost its lock creates nothing", func(t *testing.T, s store.Store) {
			enqueue(t, s, startMsg("a"))
			old := fetchTurn(t, s, shortLock)
			cur := waitTurn(t, s, "a", longLock)
			c := turnCommit(old, scheduled("x"))
			w := activity("a", 1, c.History[len(c.History)-1].ID, "x")
			w.Claim = true
			c.Activities, c.ClaimFor = []store.WorkItem{w}, longLock
			wantErr(t, "CommitTurn with the expired token", s.CommitTurn(t.Context(), old.Token, c), store.ErrLockLost)
			if d := depths(t, s); d.Activities+d.LockedActivities != 0 {
				t.Fatalf("QueueDepths = %+v after the lost commit, want no activity", d)
			}
			commitTurn(t, s, cur.Token, turnCommit(cur))
		}},
		{"complete and fetch returns the instance's turn locked", func(t *testing.T, s store.Store) {
			w := claimIn(t, s, "a", longLock, []string{"x"}, []bool{true})[0]
			enqueue(t, s, eventMsg("a", "before"))
			result := completion("a", 1, w.EventID, "r")
			turn := completeAndFetch(t, s, w.Token, result, nil)
			if turn == nil {
				t.Fatal("CompleteActivityAndFetch returned no turn for an unlocked instance")
			}
			if turn.InstanceID != "a" || turn.Instance == nil || turn.Execution != 1 || turn.Token == "" || len(turn.History) != turn.Events || turn.Events == 0 {
				t.Fatalf("turn = %s, want instance a with its row and history", describeTurn(turn))
			}
			sameEvents(t, "turn messages", toEvents(turn.Messages...), toEvents(eventMsg("a", "before"), result))
			for _, m := range turn.Messages {
				if m.Attempts != 1 {
					t.Fatalf("message %d: Attempts %d, want 1", m.ID, m.Attempts)
				}
			}
			noActivity(t, s, "the completed item is gone")
			noTurn(t, s, "the instance is locked by the returned turn")
			commitTurn(t, s, turn.Token, turnCommit(turn))
			noTurn(t, s, "the turn consumed every message")
		}},
		{"complete and fetch of a locked instance only completes", func(t *testing.T, s store.Store) {
			w := claimIn(t, s, "a", longLock, []string{"x"}, []bool{true})[0]
			enqueue(t, s, eventMsg("a", "ev"))
			held := fetchTurnOf(t, s, "a")
			if turn := completeAndFetch(t, s, w.Token, completion("a", 1, w.EventID, "r"), nil); turn != nil {
				t.Fatalf("got turn %s while another turn holds the instance", describeTurn(turn))
			}
			noActivity(t, s, "the item was completed")
			commitTurn(t, s, held.Token, turnCommit(held))
			turn := fetchTurnOf(t, s, "a")
			if len(turn.Messages) != 1 || string(turn.Messages[0].Event.Result) != "r" {
				t.Fatalf("next turn: %s, want the queued result", describeTurn(turn))
			}
		}},
		{"complete and fetch of a delayed result only completes", func(t *testing.T, s store.Store) {
			w := claimIn(t, s, "a", longLock, []string{"x"}, []bool{true})[0]
			result := completion("a", 1, w.EventID, "r")
			result.VisibleAt = time.Now().Add(time.Hour)
			if turn := completeAndFetch(t, s, w.Token, result, nil); turn != nil {
				t.Fatalf("got turn %s for a result visible in an hour", describeTurn(turn))
			}
			noTurn(t, s, "the result is not visible yet")
		}},
		{"complete and fetch of an instance without a row only completes", func(t *testing.T, s store.Store) {
			w := claimIn(t, s, "a", longLock, []string{"x"}, []bool{true})[0]
			if turn := completeAndFetch(t, s, w.Token, eventMsg("nobody", "hi"), nil); turn != nil {
				t.Fatalf("got turn %s for an instance without a row", describeTurn(turn))
			}
			fetchTurnOf(t, s, "nobody")
		}},
		{"complete and fetch with a lost token changes nothing", func(t *testing.T, s store.Store) {
			w := claimIn(t, s, "a", longLock, []string{"x"}, []bool{true})[0]
			must(t, "CompleteActivity", s.CompleteActivity(t.Context(), w.Token, completion("a", 1, w.EventID, "r")))
			turn, err := dispatcher(s).CompleteActivityAndFetch(t.Context(), w.Token, completion("a", 1, w.EventID, "again"), longLock, nil)
			wantErr(t, "CompleteActivityAndFetch with a used token", err, store.ErrLockLost)
			if turn != nil {
				t.Fatalf("got turn %s with the error", describeTurn(turn))
			}
			if turn := fetchTurnOf(t, s, "a"); len(turn.Messages) != 1 {
				t.Fatalf("turn: %s, want only the first result, the instance unlocked", describeTurn(turn))
			}
			_, err = dispatcher(s).CompleteActivityAndFetch(t.Context(), "nonsense", completion("a", 1, w.EventID, "r"), longLock, nil)
			wantErr(t, "CompleteActivityAndFetch with a token of nothing", err, store.ErrLockLost)
		}},
		{"complete and fetch rejects bad input", func(t *testing.T, s store.Store) {
			w := claimIn(t, s, "a", longLock, []string{"x"}, []bool{true})[0]
			_, err := dispatcher(s).CompleteActivityAndFetch(t.Context(), w.Token, completion("a", 1, w.EventID, "r"), 0, nil)
			wantErr(t, "CompleteActivityAndFetch with lockFor 0", err, store.ErrInvalid)
			_, err = dispatcher(s).CompleteActivityAndFetch(t.Context(), w.Token, completion("", 1, w.EventID, "r"), longLock, nil)
			wantErr(t, "CompleteActivityAndFetch without an instance", err, store.ErrInvalid)
			must(t, "RenewActivity after the rejected calls", s.RenewActivity(t.Context(), w.Token, longLock))
		}},
		{"a turn from complete and fetch expires like a fetched one", func(t *testing.T, s store.Store) {
			w := claimIn(t, s, "a", longLock, []string{"x"}, []bool{true})[0]
			turn, err := dispatcher(s).CompleteActivityAndFetch(t.Context(), w.Token, completion("a", 1, w.EventID, "r"), shortLock, nil)
			must(t, "CompleteActivityAndFetch", err)
			if turn == nil {
				t.Fatal("no turn")
			}
			again := waitTurn(t, s, "a", longLock)
			if len(again.Messages) != 1 || again.Messages[0].Attempts != 2 {
				t.Fatalf("refetched turn: %s, want the result on its second attempt", describeTurn(again))
			}
			wantErr(t, "CommitTurn with the expired turn", s.CommitTurn(t.Context(), turn.Token, turnCommit(turn)), store.ErrLockLost)
		}},
		{"concurrent complete and fetch of one instance: one turn at a time", func(t *testing.T, s store.Store) {
			items := claimIn(t, s, "a", longLock, []string{"x", "y", "z", "w"}, []bool{true, true, true, true})
			turns := make(chan *store.Turn, len(items))
			errs := make(chan error, len(items))
			for _, w := range items {
				go func() {
					turn, err := dispatcher(s).CompleteActivityAndFetch(t.Context(), w.Token, completion("a", 1, w.EventID, w.Name), longLock, nil)
					errs <- err
					turns <- turn
				}()
			}
			got := 0
			for range items {
				if err := <-errs; err != nil {
					t.Fatalf("CompleteActivityAndFetch: %v", err)
				}
				if <-turns != nil {
					got++
				}
			}
			if got != 1 {
				t.Fatalf("%d turns returned, want exactly 1 (the others find the instance locked)", got)
			}
		}},
		{"complete with turn commits the result's turn without a lock", func(t *testing.T, s store.Store) {
			w := claimIn(t, s, "a", longLock, []string{"x"}, []bool{true})[0]
			in := instance(t, s, "a")
			c := withTurn(t, s, "a", completion("a", 1, w.EventID, "r"), scheduled("y"))
			next := activity("a", 1, c.History[len(c.History)-1].ID, "y")
			next.Claim = true
			c.Activities, c.ClaimFor = []store.WorkItem{next}, longLock
			c.State.CustomStatus = []byte("step 2")
			must(t, "CompleteActivityWithTurn", dispatcher(s).CompleteActivityWithTurn(t.Context(), w.Token, in.CreatedAt, c))
			if c.Activities[0].Token == "" {
				t.Fatal("the claimed activity has no token")
			}
			h := historyOf(t, s, "a", 0)
			sameEvents(t, "appended events", h[len(h)-len(c.History):], c.History)
			if got := instance(t, s, "a"); string(got.CustomStatus) != "step 2" {
				t.Fatalf("custom status %q, want the turn's", got.CustomStatus)
			}
			noTurn(t, s, "no message was queued and the instance is not locked")
			if d := depths(t, s); d.Activities != 0 || d.LockedActivities != 1 {
				t.Fatalf("QueueDepths = %+v, want only the claimed y", d)
			}
			wantErr(t, "RenewActivity of the completed item", s.RenewActivity(t.Context(), w.Token, longLock), store.ErrLockLost)
		}},
		{"complete with turn conflicts with a locked instance and writes nothing", func(t *testing.T, s store.Store) {
			w := claimIn(t, s, "a", longLock, []string{"x"}, []bool{true})[0]
			in := instance(t, s, "a")
			c := withTurn(t, s, "a", completion("a", 1, w.EventID, "r"))
			enqueue(t, s, eventMsg("a", "ev"))
			held := fetchTurnOf(t, s, "a")
			wantErr(t, "CompleteActivityWithTurn on a locked instance", dispatcher(s).CompleteActivityWithTurn(t.Context(), w.Token, in.CreatedAt, c), store.ErrConflict)
			must(t, "RenewActivity: the item is still held", s.RenewActivity(t.Context(), w.Token, longLock))
			commitTurn(t, s, held.Token, turnCommit(held))
			wantErr(t, "CompleteActivityWithTurn after another turn", dispatcher(s).CompleteActivityWithTurn(t.Context(), w.Token, in.CreatedAt, c), store.ErrConflict)
			must(t, "CompleteActivity after the conflicts", s.CompleteActivity(t.Context(), w.Token, completion("a", 1, w.EventID, "r")))
			if turn := fetchTurnOf(t, s, "a"); len(turn.Messages) != 1 {
				t.Fatalf("turn: %s, want the queued result only", describeTurn(turn))
			}
		}},
		{"complete with turn conflicts with another creation time or execution", func(t *testing.T, s store.Store) {
			w := claimIn(t, s, "a", longLock, []string{"x"}, []bool{true})[0]
			in := instance(t, s, "a")
			c := withTurn(t, s, "a", completion("a", 1, w.EventID, "r"))
			wantErr(t, "CompleteActivityWithTurn with another creation time", dispatcher(s).CompleteActivityWithTurn(t.Context(), w.Token, in.CreatedAt.Add(-time.Second), c), store.ErrConflict)
			c.Execution = 2
			wantErr(t, "CompleteActivityWithTurn to another execution", dispatcher(s).CompleteActivityWithTurn(t.Context(), w.Token, in.CreatedAt, c), store.ErrConflict)
			c.Execution = 1
			must(t, "CompleteActivityWithTurn", dispatcher(s).CompleteActivityWithTurn(t.Context(), w.Token, in.CreatedAt, c))
		}},
		{"complete with turn after the item was lost writes nothing", func(t *testing.T, s store.Store) {
			w := claimIn(t, s, "a", longLock, []string{"x"}, []bool{true})[0]
			in := instance(t, s, "a")
			before := len(historyOf(t, s, "a", 0))
			c := withTurn(t, s, "a", completion("a", 1, w.EventID, "r"))
			cancelIn(t, s, "a", w.ActivityRef)
			wantErr(t, "CompleteActivityWithTurn of a cancelled item", dispatcher(s).CompleteActivityWithTurn(t.Context(), w.Token, in.CreatedAt, c), store.ErrLockLost)
			wantErr(t, "CompleteActivityWithTurn with a token of nothing", dispatcher(s).CompleteActivityWithTurn(t.Context(), "nonsense", in.CreatedAt, c), store.ErrLockLost)
			if n := len(historyOf(t, s, "a", 0)); n <= before {
				t.Fatalf("history has %d events, want the cancelling turn's only", n)
			}
			noTurn(t, s, "nothing queued")
		}},
		{"complete with turn of a deleted instance is ErrLockLost", func(t *testing.T, s store.Store) {
			w := claimIn(t, s, "a", longLock, []string{"x"}, []bool{true})[0]
			in := instance(t, s, "a")
			c := withTurn(t, s, "a", completion("a", 1, w.EventID, "r"))
			must(t, "DeleteInstance", s.DeleteInstance(t.Context(), "a", true))
			wantErr(t, "CompleteActivityWithTurn of a deleted instance", dispatcher(s).CompleteActivityWithTurn(t.Context(), w.Token, in.CreatedAt, c), store.ErrLockLost)
			gone(t, s, "a")
		}},
		{"complete with turn rejects a malformed turn", func(t *testing.T, s store.Store) {
			w := claimIn(t, s, "a", longLock, []string{"x"}, []bool{true})[0]
			in := instance(t, s, "a")
			for name, edit := range map[string]func(c *store.Commit){
				"no history":        func(c *store.Commit) { c.History = nil },
				"consume-only":      func(c *store.Commit) { c.Execution, c.History = 0, nil },
				"consumed messages": func(c *store.Commit) { c.Consumed = []int64{1} },
				"nil commit":        nil,
			} {
				var c *store.Commit
				if edit != nil {
					c = withTurn(t, s, "a", completion("a", 1, w.EventID, "r"))
					edit(c)
				}
				wantErr(t, "CompleteActivityWithTurn with "+name, dispatcher(s).CompleteActivityWithTurn(t.Context(), w.Token, in.CreatedAt, c), store.ErrInvalid)
			}
			must(t, "RenewActivity after the rejected calls", s.RenewActivity(t.Context(), w.Token, longLock))
		}},
		{"enqueue and fetch locks a new instance's first turn", func(t *testing.T, s store.Store) {
			enqueue(t, s, eventMsg("a", "early"))
			turn, err := dispatcher(s).EnqueueAndFetch(t.Context(), startMsg("a"), longLock, nil)
			must(t, "EnqueueAndFetch", err)
			if turn == nil || turn.InstanceID != "a" || turn.Instance != nil || turn.Token == "" {
				t.Fatalf("turn = %s, want the first turn of a, without a row", describeTurn(turn))
			}
			checkTurnHistory(t, turn)
			sameEvents(t, "turn messages", toEvents(turn.Messages...), toEvents(eventMsg("a", "early"), startMsg("a")))
			noTurn(t, s, "the instance is locked")
			commitTurn(t, s, turn.Token, turnCommit(turn))
			if in := instance(t, s, "a"); in.Status != store.StatusRunning {
				t.Fatalf("status %s, want running", in.Status)
			}
		}},
		{"enqueue and fetch of a locked instance only enqueues", func(t *testing.T, s store.Store) {
			enqueue(t, s, startMsg("a"))
			held := fetchTurnOf(t, s, "a")
			turn, err := dispatcher(s).EnqueueAndFetch(t.Context(), eventMsg("a", "x"), longLock, nil)
			must(t, "EnqueueAndFetch", err)
			if turn != nil {
				t.Fatalf("got turn %s while another turn holds the instance", describeTurn(turn))
			}
			commitTurn(t, s, held.Token, turnCommit(held))
			if turn := fetchTurnOf(t, s, "a"); len(turn.Messages) != 1 || turn.Messages[0].Event.Kind != history.KindEventRaised {
				t.Fatalf("next turn: %s, want the queued event", describeTurn(turn))
			}
		}},
		{"enqueue and fetch of a delayed message only enqueues", func(t *testing.T, s store.Store) {
			turn, err := dispatcher(s).EnqueueAndFetch(t.Context(), timerMsg("a", 1, time.Now().Add(time.Hour)), longLock, nil)
			must(t, "EnqueueAndFetch", err)
			if turn != nil {
				t.Fatalf("got turn %s for a message visible in an hour", describeTurn(turn))
			}
			noTurn(t, s, "the message is not visible yet")
			if d := depths(t, s); d.DelayedMessages != 1 {
				t.Fatalf("QueueDepths = %+v, want the delayed message", d)
			}
		}},
		{"enqueue and fetch rejects bad input", func(t *testing.T, s store.Store) {
			_, err := dispatcher(s).EnqueueAndFetch(t.Context(), startMsg("a"), 0, nil)
			wantErr(t, "EnqueueAndFetch with lockFor 0", err, store.ErrInvalid)
			_, err = dispatcher(s).EnqueueAndFetch(t.Context(), store.Message{Event: started("orch")}, longLock, nil)
			wantErr(t, "EnqueueAndFetch without an instance", err, store.ErrInvalid)
			noTurn(t, s, "nothing was enqueued")
		}},
		{"start instance ignores other queued messages", func(t *testing.T, s store.Store) {
			enqueue(t, s, eventMsg("a", "early"))
			turn, err := s.StartInstance(t.Context(), startMsg("a"), store.StartOptions{LockFor: longLock})
			must(t, "StartInstance", err)
			if turn == nil || len(turn.Messages) != 2 {
				t.Fatalf("turn = %s, want the first turn with the early event and the start", describeTurn(turn))
			}
		}},
		{"direct dispatch keeps the history exact", func(t *testing.T, s store.Store) {
			w := claimIn(t, s, "a", longLock, []string{"x"}, []bool{true})[0]
			for i := range 3 {
				turn := completeAndFetch(t, s, w.Token, completion("a", 1, w.EventID, "r"), nil)
				if turn == nil {
					t.Fatalf("step %d: no turn", i)
				}
				c := turnCommit(turn, scheduled("x"))
				next := activity("a", 1, c.History[len(c.History)-1].ID, "x")
				next.Claim = true
				c.Activities, c.ClaimFor = []store.WorkItem{next}, longLock
				commitTurn(t, s, turn.Token, c)
				w = c.Activities[0]
				if w.Token == "" {
					t.Fatalf("step %d: the claimed item has no token", i)
				}
			}
			h := historyOf(t, s, "a", 0)
			var kinds []string
			for _, ev := range h {
				if ev.Kind == history.KindActivityCompleted || ev.Kind == history.KindActivityScheduled {
					kinds = append(kinds, ev.Kind.String())
				}
			}
			if len(kinds) != 7 {
				t.Fatalf("history has %d schedule/complete events (%v), want 7", len(kinds), kinds)
			}
			for i, ev := range h {
				if ev.ID != int64(i+1) {
					t.Fatalf("event %d has ID %d", i, ev.ID)
				}
			}
			if d := depths(t, s); d.Activities != 0 || d.LockedActivities != 1 {
				t.Fatalf("QueueDepths = %+v, want the last claimed item only", d)
			}
			if _, err := s.FetchTurn(t.Context(), longLock, nil); !errors.Is(err, store.ErrNoWork) {
				t.Fatalf("FetchTurn: %v, want ErrNoWork", err)
			}
		}},
		{"claimed work items carry the namespace of their instance", func(t *testing.T, s store.Store) {
			_, err := s.StartInstance(t.Context(), nsStart("ns", "x"), store.StartOptions{})
			must(t, "StartInstance", err)
			var commit *store.Commit
			runTurn(t, s, "ns/x", func(_ *store.Turn, c *store.Commit) {
				c.State.Namespace = "ns"
				addDecisions(c, scheduled("queued"))
				q := activity("ns/x", 1, c.History[len(c.History)-1].ID, "queued")
				q.Namespace = "forged" // the store records the instance's namespace
				addDecisions(c, scheduled("claimed"))
				w := activity("ns/x", 1, c.History[len(c.History)-1].ID, "claimed")
				w.Claim = true
				c.Activities, c.ClaimFor = []store.WorkItem{q, w}, longLock
				commit = c
			})
			if claimed := commit.Activities[1]; claimed.Namespace != "ns" || claimed.Token == "" {
				t.Fatalf("claimed item = %+v, want namespace ns and a lock", claimed)
			}
			w := fetchActivity(t, s, longLock)
			if w.Name != "queued" || w.Namespace != "ns" {
				t.Fatalf("FetchActivity = %s of namespace %q, want queued of namespace ns", w.Name, w.Namespace)
			}
		}},
		{"work items of a turn committed with an activity's result carry the namespace", func(t *testing.T, s store.Store) {
			createIn(t, s, "ns", "x", store.InstanceState{})
			enqueue(t, s, eventMsg("ns/x", "go"))
			runTurn(t, s, "ns/x", func(_ *store.Turn, c *store.Commit) {
				addDecisions(c, scheduled("first"))
				c.Activities = []store.WorkItem{activity("ns/x", 1, c.History[len(c.History)-1].ID, "first")}
			})
			w := fetchActivity(t, s, longLock)
			if w.Namespace != "ns" {
				t.Fatalf("first item of namespace %q, want ns", w.Namespace)
			}
			result := completion("ns/x", 1, w.EventID, "r")
			c := withTurn(t, s, "ns/x", result, scheduled("second"))
			c.Activities = []store.WorkItem{activity("ns/x", 1, c.History[len(c.History)-1].ID, "second")}
			must(t, "CompleteActivityWithTurn", dispatcher(s).CompleteActivityWithTurn(t.Context(), w.Token, instance(t, s, "ns/x").CreatedAt, c))
			w = fetchActivity(t, s, longLock)
			if w.Name != "second" || w.Namespace != "ns" {
				t.Fatalf("FetchActivity = %s of namespace %q, want second of namespace ns", w.Name, w.Namespace)
			}
		}},
	}
	return append(cases, closedCasesOf(directClosedCalls)...)
}

// directKnownCases check that the fetches of a DirectDispatcher that is also a
// HistorySkipper honour their known argument as FetchTurn does.
func directKnownCases() []storeCase {
	return []storeCase{
		{"complete and fetch skips the history the caller holds", func(t *testing.T, s store.Store) {
			w := claimIn(t, s, "a", longLock, []string{"x"}, []bool{true})[0]
			events := len(historyOf(t, s, "a", 0))
			known := func(id string) (uint32, int, bool) { return 1, events, id == "a" }
			turn := completeAndFetch(t, s, w.Token, completion("a", 1, w.EventID, "r"), known)
			if turn == nil || !turn.HistoryOmitted || turn.Events != events {
				t.Fatalf("turn = %s, want the history omitted (%d events)", describeTurn(turn), events)
			}
		}},
		{"enqueue and fetch of an existing instance omits the known history", func(t *testing.T, s store.Store) {
			create(t, s, "a", store.InstanceState{})
			events := len(historyOf(t, s, "a", 0))
			known := func(id string) (uint32, int, bool) { return 1, events, id == "a" }
			turn, err := dispatcher(s).EnqueueAndFetch(t.Context(), eventMsg("a", "x"), longLock, known)
			must(t, "EnqueueAndFetch", err)
			if turn == nil || !turn.HistoryOmitted || turn.Instance == nil || len(turn.Messages) != 1 {
				t.Fatalf("turn = %s, want the event with the history omitted", describeTurn(turn))
			}
		}},
	}
}

// withoutDirectCases check a store that is not a DirectDispatcher: it refuses claims and
// ignores StartOptions.LockFor and Known.
func withoutDirectCases() []storeCase {
	return []storeCase{
		{"a commit with a claimed work item is ErrInvalid and changes nothing", func(t *testing.T, s store.Store) {
			enqueue(t, s, startMsg("a"))
			turn := fetchTurnOf(t, s, "a")
			c := turnCommit(turn, scheduled("x"), scheduled("y"))
			x := activity("a", 1, c.History[len(c.History)-2].ID, "x")
			y := activity("a", 1, c.History[len(c.History)-1].ID, "y")
			y.Claim = true
			c.Activities, c.ClaimFor = []store.WorkItem{x, y}, longLock
			wantErr(t, "CommitTurn with a claimed item", s.CommitTurn(t.Context(), turn.Token, c), store.ErrInvalid)
			notCreated(t, s, "a", "after the refused commit")
			noActivity(t, s, "the refused commit enqueued nothing")
			must(t, "RenewTurn (lock kept)", s.RenewTurn(t.Context(), turn.Token, longLock))
			c.Activities[1].Claim, c.ClaimFor = false, 0
			commitTurn(t, s, turn.Token, c)
			var got []string
			for range 2 {
				w := fetchActivity(t, s, longLock)
				if w.Attempts != 1 {
					t.Fatalf("work item %s: Attempts %d, want 1", w.Name, w.Attempts)
				}
				got = append(got, w.Name)
			}
			sameStrings(t, "fetched", got, []string{"x", "y"})
		}},
		{"StartInstance ignores LockFor: no turn, the start waits in the queue", func(t *testing.T, s store.Store) {
			k := holds(1, 0)
			turn, err := s.StartInstance(t.Context(), startMsg("a"), store.StartOptions{LockFor: longLock, Known: k.known})
			must(t, "StartInstance with LockFor", err)
			if turn != nil {
				t.Fatalf("StartInstance returned turn %s, want none", describeTurn(turn))
			}
			if in := instance(t, s, "a"); in.Status != store.StatusPending {
				t.Fatalf("status %s after the start, want pending", in.Status)
			}
			turn = fetchTurnOf(t, s, "a")
			if turn.Instance != nil || len(turn.Messages) != 1 || turn.Messages[0].Attempts != 1 {
				t.Fatalf("fetched %s, want the start on its first attempt", describeTurn(turn))
			}
			_, err = s.StartInstance(t.Context(), startMsg("b"), store.StartOptions{LockFor: -time.Second})
			wantErr(t, "StartInstance with a negative LockFor", err, store.ErrInvalid)
		}},
	}
}
