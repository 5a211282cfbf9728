package conformance

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/durohost/durohost/history"
	"github.com/durohost/durohost/store"
)

// withActivities starts instance id with a first turn that schedules one activity per name
// and returns their references, in order. The start turn consumes every message of id.
func withActivities(t *testing.T, s store.Store, id string, names ...string) []store.ActivityRef {
	t.Helper()
	enqueue(t, s, startMsg(id))
	var refs []store.ActivityRef
	runTurn(t, s, id, func(_ *store.Turn, c *store.Commit) {
		for _, n := range names {
			addDecisions(c, scheduled(n))
			w := activity(id, 1, c.History[len(c.History)-1].ID, n)
			c.Activities = append(c.Activities, w)
			refs = append(refs, w.ActivityRef)
		}
	})
	return refs
}

// cancelIn runs a turn of id (fed by an event message) that cancels refs.
func cancelIn(t *testing.T, s store.Store, id string, refs ...store.ActivityRef) {
	t.Helper()
	enqueue(t, s, eventMsg(id, "cancel"))
	runTurn(t, s, id, func(_ *store.Turn, c *store.Commit) {
		for _, r := range refs {
			addDecisions(c, history.Event{Kind: history.KindFutureCancelled, Time: baseTime, Ref: r.EventID})
		}
		c.CancelledActivities = refs
	})
}

func activityCases() []storeCase {
	return []storeCase{
		{"empty store has no activity", func(t *testing.T, s store.Store) {
			noActivity(t, s, "empty store")
		}},
		{"work item carries its fields", func(t *testing.T, s store.Store) {
			refs := withActivities(t, s, "a", "x")
			before := time.Now()
			w := fetchActivity(t, s, 10*time.Minute)
			after := time.Now()
			if w.ID == 0 || w.ActivityRef != refs[0] || w.Name != "x" || string(w.Input) != "x-input" || w.Attempts != 1 || w.Token == "" {
				t.Fatalf("work item = %+v, want ID set, ref %+v, name x, input x-input, attempts 1, a token", w, refs[0])
			}
			lo, hi := before.Add(10*time.Minute-time.Second), after.Add(10*time.Minute+time.Second)
			if w.LockedUntil.Before(lo) || w.LockedUntil.After(hi) {
				t.Fatalf("LockedUntil = %v, want between %v and %v", w.LockedUntil, lo, hi)
			}
		}},
		{"work items are fetched oldest first", func(t *testing.T, s store.Store) {
			withActivities(t, s, "a", "a1", "a2", "a3")
			withActivities(t, s, "b", "b1", "b2")
			var got []string
			for range 5 {
				got = append(got, fetchActivity(t, s, longLock).Name)
			}
			sameStrings(t, "fetch order", got, []string{"a1", "a2", "a3", "b1", "b2"})
			noActivity(t, s, "all work items locked")
		}},
		{"locked work item is not fetched again", func(t *testing.T, s store.Store) {
			withActivities(t, s, "a", "x")
			fetchActivity(t, s, longLock)
			noActivity(t, s, "the only work item is locked")
		}},
		{"tokens are unique", func(t *testing.T, s store.Store) {
			withActivities(t, s, "a", "x", "y", "z")
			seen := map[string]bool{}
			for range 3 {
				w := fetchActivity(t, s, longLock)
				if seen[w.Token] {
					t.Fatalf("token %q given twice", w.Token)
				}
				seen[w.Token] = true
				must(t, "AbandonActivity", s.AbandonActivity(t.Context(), w.Token, 0))
				again := fetchActivity(t, s, longLock)
				if seen[again.Token] {
					t.Fatalf("refetch reuses token %q", again.Token)
				}
				seen[again.Token] = true
			}
		}},
		{"expired work item is refetched with a new token", func(t *testing.T, s store.Store) {
			withActivities(t, s, "a", "x")
			old := fetchActivity(t, s, shortLock)
			cur := waitActivity(t, s, longLock)
			if cur.ID != old.ID || cur.Token == old.Token || cur.Attempts != 2 {
				t.Fatalf("refetched item ID=%d token=%q attempts=%d; want ID %d, a new token, attempts 2", cur.ID, cur.Token, cur.Attempts, old.ID)
			}
			if time.Now().Add(clockSlack).Before(old.LockedUntil) {
				t.Fatalf("work item refetched before its lock expired at %v", old.LockedUntil)
			}
		}},
		{"old token after expiry and refetch is ErrLockLost", func(t *testing.T, s store.Store) {
			refs := withActivities(t, s, "a", "x")
			old := fetchActivity(t, s, shortLock)
			cur := waitActivity(t, s, longLock)
			wantErr(t, "RenewActivity with the old token", s.RenewActivity(t.Context(), old.Token, longLock), store.ErrLockLost)
			wantErr(t, "CompleteActivity with the old token", s.CompleteActivity(t.Context(), old.Token, completion("a", 1, refs[0].EventID, "old")), store.ErrLockLost)
			wantErr(t, "AbandonActivity with the old token", s.AbandonActivity(t.Context(), old.Token, 0), store.ErrLockLost)
			noTurn(t, s, "the rejected completion enqueued nothing")
			must(t, "CompleteActivity by the new holder", s.CompleteActivity(t.Context(), cur.Token, completion("a", 1, refs[0].EventID, "new")))
			turn := fetchTurnOf(t, s, "a")
			if len(turn.Messages) != 1 || string(turn.Messages[0].Event.Result) != "new" {
				t.Fatalf("turn: %d messages, want the new holder's result only", len(turn.Messages))
			}
		}},
		{"renew extends the work item lock", func(t *testing.T, s store.Store) {
			withActivities(t, s, "a", "x")
			w := fetchActivity(t, s, shortLock)
			must(t, "RenewActivity", s.RenewActivity(t.Context(), w.Token, longLock))
			holdNoActivity(t, s, w.LockedUntil.Add(3*shortLock), "after RenewActivity the lock outlives its first expiry")
			must(t, "CompleteActivity", s.CompleteActivity(t.Context(), w.Token, completion("a", 1, w.EventID, "r")))
		}},
		{"renewed work item lock still expires", func(t *testing.T, s store.Store) {
			withActivities(t, s, "a", "x")
			w := fetchActivity(t, s, longLock)
			must(t, "RenewActivity", s.RenewActivity(t.Context(), w.Token, shortLock))
			if again := waitActivity(t, s, longLock); again.ID != w.ID {
				t.Fatalf("refetched work item %d, want %d", again.ID, w.ID)
			}
		}},
		{"abandon makes the item visible again at once and counts the attempt", func(t *testing.T, s store.Store) {
			withActivities(t, s, "a", "x")
			for want := 1; want <= 3; want++ {
				w := fetchActivity(t, s, longLock)
				if w.Attempts != want {
					t.Fatalf("fetch %d: Attempts = %d", want, w.Attempts)
				}
				must(t, "AbandonActivity", s.AbandonActivity(t.Context(), w.Token, 0))
			}
		}},
		{"abandon with a delay hides the item until then", func(t *testing.T, s store.Store) {
			withActivities(t, s, "a", "x")
			w := fetchActivity(t, s, longLock)
			delay := 3 * shortLock
			visible := time.Now().Add(delay)
			must(t, "AbandonActivity", s.AbandonActivity(t.Context(), w.Token, delay))
			again := waitActivity(t, s, longLock)
			if now := time.Now(); now.Add(clockSlack).Before(visible) {
				t.Fatalf("abandoned item refetched at %v, before its delay ended at %v", now, visible)
			}
			if again.Attempts != 2 {
				t.Fatalf("Attempts = %d, want 2", again.Attempts)
			}
		}},
		{"abandon with a long delay keeps the item out of reach", func(t *testing.T, s store.Store) {
			withActivities(t, s, "a", "x")
			w := fetchActivity(t, s, longLock)
			must(t, "AbandonActivity", s.AbandonActivity(t.Context(), w.Token, time.Hour))
			noActivity(t, s, "abandoned for an hour")
			wantErr(t, "RenewActivity after abandon", s.RenewActivity(t.Context(), w.Token, longLock), store.ErrLockLost)
			if d := depths(t, s); d.LockedActivities != 0 {
				t.Fatalf("LockedActivities = %d after abandon, want 0", d.LockedActivities)
			}
		}},
		{"complete deletes the item and enqueues the result", func(t *testing.T, s store.Store) {
			refs := withActivities(t, s, "a", "x")
			w := fetchActivity(t, s, longLock)
			result := completion("a", 1, refs[0].EventID, "result")
			must(t, "CompleteActivity", s.CompleteActivity(t.Context(), w.Token, result))
			noActivity(t, s, "the completed item is gone")
			turn := fetchTurnOf(t, s, "a")
			if len(turn.Messages) != 1 {
				t.Fatalf("turn: %s, want the result message", describeTurn(turn))
			}
			sameEvents(t, "result event", toEvents(turn.Messages...), toEvents(result))
			if d := depths(t, s); d.Activities != 0 || d.LockedActivities != 0 {
				t.Fatalf("QueueDepths = %+v, want no activities", d)
			}
		}},
		{"complete twice is ErrLockLost and enqueues one result", func(t *testing.T, s store.Store) {
			refs := withActivities(t, s, "a", "x")
			w := fetchActivity(t, s, longLock)
			must(t, "CompleteActivity", s.CompleteActivity(t.Context(), w.Token, completion("a", 1, refs[0].EventID, "1")))
			wantErr(t, "second CompleteActivity", s.CompleteActivity(t.Context(), w.Token, completion("a", 1, refs[0].EventID, "2")), store.ErrLockLost)
			wantErr(t, "RenewActivity after complete", s.RenewActivity(t.Context(), w.Token, longLock), store.ErrLockLost)
			wantErr(t, "AbandonActivity after complete", s.AbandonActivity(t.Context(), w.Token, 0), store.ErrLockLost)
			if turn := fetchTurnOf(t, s, "a"); len(turn.Messages) != 1 {
				t.Fatalf("turn has %d messages, want 1 result", len(turn.Messages))
			}
		}},
		{"complete after abandon is ErrLockLost", func(t *testing.T, s store.Store) {
			refs := withActivities(t, s, "a", "x")
			w := fetchActivity(t, s, longLock)
			must(t, "AbandonActivity", s.AbandonActivity(t.Context(), w.Token, 0))
			wantErr(t, "CompleteActivity after abandon", s.CompleteActivity(t.Context(), w.Token, completion("a", 1, refs[0].EventID, "r")), store.ErrLockLost)
			noTurn(t, s, "nothing enqueued")
		}},
		{"complete with an invalid result is ErrInvalid and keeps the lock", func(t *testing.T, s store.Store) {
			refs := withActivities(t, s, "a", "x")
			w := fetchActivity(t, s, longLock)
			bad := completion("", 1, refs[0].EventID, "r")
			wantErr(t, "CompleteActivity with a result without InstanceID", s.CompleteActivity(t.Context(), w.Token, bad), store.ErrInvalid)
			must(t, "RenewActivity after the rejected completion", s.RenewActivity(t.Context(), w.Token, longLock))
			noTurn(t, s, "nothing enqueued")
			must(t, "CompleteActivity", s.CompleteActivity(t.Context(), w.Token, completion("a", 1, refs[0].EventID, "r")))
		}},
		{"result may go to another instance", func(t *testing.T, s store.Store) {
			withActivities(t, s, "a", "x")
			w := fetchActivity(t, s, longLock)
			must(t, "CompleteActivity", s.CompleteActivity(t.Context(), w.Token, eventMsg("elsewhere", "hi")))
			fetchTurnOf(t, s, "elsewhere")
		}},
		{"delayed work item is not fetched until it is due", func(t *testing.T, s store.Store) {
			enqueue(t, s, startMsg("a"))
			due := time.Now().Add(3 * shortLock)
			runTurn(t, s, "a", func(_ *store.Turn, c *store.Commit) {
				addDecisions(c, scheduled("later"), scheduled("never"))
				n := c.History[len(c.History)-1].ID
				later, never := activity("a", 1, n-1, "later"), activity("a", 1, n, "never")
				later.VisibleAt, never.VisibleAt = due, time.Now().Add(time.Hour)
				c.Activities = []store.WorkItem{later, never}
			})
			w := waitActivity(t, s, longLock)
			if now := time.Now(); now.Add(clockSlack).Before(due) || w.Name != "later" {
				t.Fatalf("fetched %q at %v, want \"later\" not before %v", w.Name, now, due)
			}
			noActivity(t, s, "the other item is due in an hour")
		}},
		{"QueueDepths counts activities and locked activities", func(t *testing.T, s store.Store) {
			withActivities(t, s, "a", "x", "y", "z")
			if d := depths(t, s); d.Activities != 3 || d.LockedActivities != 0 {
				t.Fatalf("QueueDepths = %+v, want 3 activities, 0 locked", d)
			}
			fetchActivity(t, s, longLock)
			if d := depths(t, s); d.Activities != 2 || d.LockedActivities != 1 {
				t.Fatalf("after one fetch: QueueDepths = %+v, want 2 activities, 1 locked", d)
			}
		}},
		{"concurrent fetches lock each work item at most once", func(t *testing.T, s store.Store) {
			var names []string
			for i := range 8 {
				names = append(names, fmt.Sprint("w", i))
			}
			withActivities(t, s, "a", names...)
			var mu sync.Mutex
			got := map[int64]int{}
			var wg sync.WaitGroup
			start := make(chan struct{})
			for range 16 {
				wg.Go(func() {
					<-start
					w, err := s.FetchActivity(t.Context(), longLock)
					if errors.Is(err, store.ErrNoWork) {
						return
					}
					if err != nil {
						t.Errorf("FetchActivity: %v", err)
						return
					}
					mu.Lock()
					got[w.ID]++
					mu.Unlock()
				})
			}
			close(start)
			wg.Wait()
			for id, n := range got {
				if n > 1 {
					t.Errorf("work item %d locked by %d concurrent fetches", id, n)
				}
			}
			if len(got) != len(names) {
				t.Fatalf("%d work items locked, want all %d", len(got), len(names))
			}
		}},
		{"concurrent completes with one token: exactly one succeeds", func(t *testing.T, s store.Store) {
			refs := withActivities(t, s, "a", "x")
			w := fetchActivity(t, s, longLock)
			const n = 8
			errs := make([]error, n)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range n {
				wg.Go(func() {
					<-start
					errs[i] = s.CompleteActivity(t.Context(), w.Token, completion("a", 1, refs[0].EventID, fmt.Sprint(i)))
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
					t.Errorf("complete %d: %v, want nil or ErrLockLost", i, err)
				}
			}
			if wins != 1 {
				t.Fatalf("%d concurrent completes succeeded, want 1", wins)
			}
			if turn := fetchTurnOf(t, s, "a"); len(turn.Messages) != 1 {
				t.Fatalf("turn has %d result messages, want 1", len(turn.Messages))
			}
		}},
	}
}

func cancellationCases() []storeCase {
	return []storeCase{
		{"cancelled unlocked work item is never fetched", func(t *testing.T, s store.Store) {
			refs := withActivities(t, s, "a", "x")
			cancelIn(t, s, "a", refs[0])
			noActivity(t, s, "the cancelled item")
			if d := depths(t, s); d.Activities != 0 {
				t.Fatalf("Activities = %d after cancellation, want 0", d.Activities)
			}
		}},
		{"renew of a cancelled work item is ErrLockLost", func(t *testing.T, s store.Store) {
			refs := withActivities(t, s, "a", "x")
			w := fetchActivity(t, s, longLock)
			cancelIn(t, s, "a", refs[0])
			wantErr(t, "RenewActivity of a cancelled item", s.RenewActivity(t.Context(), w.Token, longLock), store.ErrLockLost)
		}},
		{"complete of a cancelled work item is ErrLockLost and enqueues nothing", func(t *testing.T, s store.Store) {
			refs := withActivities(t, s, "a", "x")
			w := fetchActivity(t, s, longLock)
			cancelIn(t, s, "a", refs[0])
			wantErr(t, "CompleteActivity of a cancelled item", s.CompleteActivity(t.Context(), w.Token, completion("a", 1, refs[0].EventID, "r")), store.ErrLockLost)
			noTurn(t, s, "the rejected completion enqueued nothing")
			if d := depths(t, s); d != (store.Depths{}) {
				t.Fatalf("QueueDepths = %+v, want all zero", d)
			}
		}},
		{"abandon of a cancelled work item is ErrLockLost and does not revive it", func(t *testing.T, s store.Store) {
			refs := withActivities(t, s, "a", "x")
			w := fetchActivity(t, s, longLock)
			cancelIn(t, s, "a", refs[0])
			wantErr(t, "AbandonActivity of a cancelled item", s.AbandonActivity(t.Context(), w.Token, 0), store.ErrLockLost)
			noActivity(t, s, "the cancelled item")
		}},
		{"commit can schedule one activity and cancel another", func(t *testing.T, s store.Store) {
			refs := withActivities(t, s, "a", "old")
			w := fetchActivity(t, s, longLock)
			enqueue(t, s, eventMsg("a", "x"))
			runTurn(t, s, "a", func(_ *store.Turn, c *store.Commit) {
				addDecisions(c, history.Event{Kind: history.KindFutureCancelled, Time: baseTime, Ref: refs[0].EventID}, scheduled("new"))
				c.Activities = []store.WorkItem{activity("a", 1, c.History[len(c.History)-1].ID, "new")}
				c.CancelledActivities = refs
			})
			wantErr(t, "RenewActivity of the cancelled item", s.RenewActivity(t.Context(), w.Token, longLock), store.ErrLockLost)
			if got := fetchActivity(t, s, longLock); got.Name != "new" {
				t.Fatalf("fetched %q, want the new activity", got.Name)
			}
			noActivity(t, s, "only the new activity exists")
		}},
		{"activity scheduled and cancelled in the same commit is never fetched", func(t *testing.T, s store.Store) {
			enqueue(t, s, startMsg("a"))
			runTurn(t, s, "a", func(_ *store.Turn, c *store.Commit) {
				addDecisions(c, scheduled("loser"), scheduled("winner"))
				n := c.History[len(c.History)-1].ID
				loser := activity("a", 1, n-1, "loser")
				c.Activities = []store.WorkItem{loser, activity("a", 1, n, "winner")}
				addDecisions(c, history.Event{Kind: history.KindFutureCancelled, Time: baseTime, Ref: n - 1})
				c.CancelledActivities = []store.ActivityRef{loser.ActivityRef}
			})
			if got := fetchActivity(t, s, longLock); got.Name != "winner" {
				t.Fatalf("fetched %q, want winner", got.Name)
			}
			noActivity(t, s, "the activity cancelled in its own commit")
		}},
		{"cancelling a work item that no longer exists is not an error", func(t *testing.T, s store.Store) {
			refs := withActivities(t, s, "a", "x")
			w := fetchActivity(t, s, longLock)
			must(t, "CompleteActivity", s.CompleteActivity(t.Context(), w.Token, completion("a", 1, refs[0].EventID, "r")))
			turn := fetchTurnOf(t, s, "a")
			c := turnCommit(turn)
			c.CancelledActivities = append(refs, store.ActivityRef{InstanceID: "a", Execution: 1, EventID: 999})
			commitTurn(t, s, turn.Token, c)
		}},
		{"cancellation touches only the named work item", func(t *testing.T, s store.Store) {
			a := withActivities(t, s, "a", "x", "y")
			withActivities(t, s, "b", "x", "y")
			cancelIn(t, s, "a", a[0])
			var got []string
			for range 3 {
				w := fetchActivity(t, s, longLock)
				got = append(got, w.InstanceID+"/"+w.Name)
			}
			sameStrings(t, "remaining work items", got, []string{"a/y", "b/x", "b/y"})
			noActivity(t, s, "only 3 remain")
		}},
		{"cancellation matches the execution too", func(t *testing.T, s store.Store) {
			refs := withActivities(t, s, "a", "x")
			other := refs[0]
			other.Execution = 2
			cancelIn(t, s, "a", other)
			if w := fetchActivity(t, s, longLock); w.ActivityRef != refs[0] {
				t.Fatalf("fetched %+v, want the execution-1 item untouched", w.ActivityRef)
			}
		}},
	}
}
