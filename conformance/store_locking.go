package conformance

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/durohost/durohost/store"
)

func lockingCases() []storeCase {
	return []storeCase{
		{"empty store has no turn", func(t *testing.T, s store.Store) {
			noTurn(t, s, "empty store")
		}},
		{"locked instance is not fetched again", func(t *testing.T, s store.Store) {
			enqueue(t, s, startMsg("a"))
			fetchTurnOf(t, s, "a")
			noTurn(t, s, "second fetch while a is locked")
			enqueue(t, s, eventMsg("a", "more"))
			noTurn(t, s, "fetch after a new message for locked a")
		}},
		{"turn carries instance ID, message IDs and events", func(t *testing.T, s store.Store) {
			msgs := []store.Message{startMsg("a"), eventMsg("a", "one")}
			enqueue(t, s, msgs...)
			turn := fetchTurnOf(t, s, "a")
			if turn.Token == "" {
				t.Fatal("turn has an empty Token")
			}
			if len(turn.Messages) != 2 {
				t.Fatalf("turn has %d messages, want 2", len(turn.Messages))
			}
			for i, m := range turn.Messages {
				if m.ID == 0 || m.InstanceID != "a" {
					t.Fatalf("message %d: ID=%d InstanceID=%q, want a store-assigned ID and \"a\"", i, m.ID, m.InstanceID)
				}
				sameEvents(t, fmt.Sprintf("message %d event", i), toEvents(m), toEvents(msgs[i]))
			}
			if turn.Messages[0].ID >= turn.Messages[1].ID {
				t.Fatalf("message IDs %v do not increase in enqueue order", messageIDs(turn.Messages))
			}
		}},
		{"LockedUntil is now plus lockFor", func(t *testing.T, s store.Store) {
			enqueue(t, s, startMsg("a"))
			before := time.Now()
			turn := fetchTurn(t, s, 10*time.Minute)
			after := time.Now()
			lo, hi := before.Add(10*time.Minute-time.Second), after.Add(10*time.Minute+time.Second)
			if turn.LockedUntil.Before(lo) || turn.LockedUntil.After(hi) {
				t.Fatalf("LockedUntil = %v, want between %v and %v", turn.LockedUntil, lo, hi)
			}
		}},
		{"turn of an existing instance carries its state and history", func(t *testing.T, s store.Store) {
			inst := create(t, s, "a", store.InstanceState{Version: "v3", ModuleHash: "mh", CustomStatus: []byte("c")})
			h := historyOf(t, s, "a", 0)
			enqueue(t, s, eventMsg("a", "x"))
			turn := fetchTurnOf(t, s, "a")
			if turn.Instance == nil {
				t.Fatal("turn.Instance is nil for an existing instance")
			}
			sameState(t, "turn.Instance", turn.Instance, inst.InstanceState)
			if turn.Execution != 1 || turn.Instance.Execution != 1 {
				t.Fatalf("turn.Execution=%d Instance.Execution=%d, want 1, 1", turn.Execution, turn.Instance.Execution)
			}
			sameEvents(t, "turn.History", turn.History, h)
		}},
		{"tokens are unique across instances", func(t *testing.T, s store.Store) {
			for i := range 6 {
				enqueue(t, s, startMsg(fmt.Sprint("i", i)))
			}
			tokens := map[string]string{}
			for range 6 {
				turn := fetchTurn(t, s, longLock)
				if prev, dup := tokens[turn.Token]; dup {
					t.Fatalf("token %q given to both %q and %q", turn.Token, prev, turn.InstanceID)
				}
				tokens[turn.Token] = turn.InstanceID
			}
		}},
		{"tokens are unique across turns of one instance", func(t *testing.T, s store.Store) {
			enqueue(t, s, startMsg("a"))
			seen := map[string]bool{}
			for i := range 4 {
				turn := fetchTurnOf(t, s, "a")
				if seen[turn.Token] {
					t.Fatalf("turn %d reuses token %q", i, turn.Token)
				}
				seen[turn.Token] = true
				must(t, "AbandonTurn", s.AbandonTurn(t.Context(), turn.Token, store.AbandonOptions{}))
			}
		}},
		{"messages enqueued during a turn are not in it", func(t *testing.T, s store.Store) {
			enqueue(t, s, startMsg("a"))
			turn := fetchTurnOf(t, s, "a")
			enqueue(t, s, eventMsg("a", "during"))
			if len(turn.Messages) != 1 {
				t.Fatalf("turn has %d messages, want only the start message", len(turn.Messages))
			}
			c := turnCommit(turn)
			commitTurn(t, s, turn.Token, c)
			next := fetchTurnOf(t, s, "a")
			sameStrings(t, "next turn's messages", payloads(next.Messages), []string{"during"})
			if h := historyOf(t, s, "a", 0); len(h) != 2 {
				t.Fatalf("history has %d events %s, want the 2 of the first turn only", len(h), describeEvents(h))
			}
		}},
		{"commit consuming every message of its turn keeps later ones", func(t *testing.T, s store.Store) {
			enqueue(t, s, startMsg("a"), eventMsg("a", "m1"))
			turn := fetchTurnOf(t, s, "a")
			enqueue(t, s, eventMsg("a", "m2"), eventMsg("a", "m3"))
			commitTurn(t, s, turn.Token, turnCommit(turn))
			next := fetchTurnOf(t, s, "a")
			sameStrings(t, "next turn's messages", payloads(next.Messages), []string{"m2", "m3"})
		}},
		{"timer that becomes due during a turn stays for the next turn", func(t *testing.T, s store.Store) {
			due := time.Now().Add(shortLock)
			enqueue(t, s, startMsg("a"), timerMsg("a", 1, due))
			turn := fetchTurnOf(t, s, "a")
			if len(turn.Messages) != 1 {
				t.Fatalf("turn has %d messages, want only the start message (timer not yet due)", len(turn.Messages))
			}
			waitPast(due)
			commitTurn(t, s, turn.Token, turnCommit(turn))
			next := waitTurn(t, s, "a", longLock)
			if len(next.Messages) != 1 || next.Messages[0].Event.Ref != 1 {
				t.Fatalf("next turn: %s, want the timer", describeTurn(next))
			}
		}},
		{"messages enqueued during an abandoned turn are delivered with the others", func(t *testing.T, s store.Store) {
			enqueue(t, s, startMsg("a"))
			turn := fetchTurnOf(t, s, "a")
			enqueue(t, s, eventMsg("a", "during"))
			must(t, "AbandonTurn", s.AbandonTurn(t.Context(), turn.Token, store.AbandonOptions{}))
			next := fetchTurnOf(t, s, "a")
			if len(next.Messages) != 2 || string(next.Messages[1].Event.Input) != "during" {
				t.Fatalf("next turn: %s, want the start message and \"during\"", describeTurn(next))
			}
		}},
		{"locking one instance does not block another", func(t *testing.T, s store.Store) {
			enqueue(t, s, startMsg("a"))
			fetchTurnOf(t, s, "a")
			enqueue(t, s, startMsg("b"))
			fetchTurnOf(t, s, "b")
		}},
		{"committing one instance leaves another's messages alone", func(t *testing.T, s store.Store) {
			enqueue(t, s, startMsg("a"), startMsg("b"), eventMsg("b", "b1"))
			first := fetchTurn(t, s, longLock)
			second := fetchTurn(t, s, longLock)
			if first.InstanceID == second.InstanceID {
				t.Fatalf("both turns are of %q", first.InstanceID)
			}
			a, b := first, second
			if a.InstanceID != "a" {
				a, b = b, a
			}
			commitTurn(t, s, a.Token, turnCommit(a))
			must(t, "AbandonTurn b", s.AbandonTurn(t.Context(), b.Token, store.AbandonOptions{}))
			again := fetchTurnOf(t, s, "b")
			if len(again.Messages) != 2 {
				t.Fatalf("b: %s, want its 2 messages", describeTurn(again))
			}
		}},
		{"consuming another instance's message does not delete it", func(t *testing.T, s store.Store) {
			enqueue(t, s, startMsg("b"))
			b := fetchTurnOf(t, s, "b")
			must(t, "AbandonTurn b", s.AbandonTurn(t.Context(), b.Token, store.AbandonOptions{Delay: time.Hour}))
			enqueue(t, s, startMsg("a"))
			a := fetchTurnOf(t, s, "a")
			c := turnCommit(a)
			c.Consumed = append(c.Consumed, b.Messages[0].ID)
			err := s.CommitTurn(t.Context(), a.Token, c)
			if err != nil && !errors.Is(err, store.ErrInvalid) {
				t.Fatalf("CommitTurn consuming b's message: got %v, want nil or ErrInvalid", err)
			}
			if d := depths(t, s); d.Messages+d.DelayedMessages < 1 {
				t.Fatalf("QueueDepths = %+v: b's message was deleted by a's commit", d)
			}
		}},
		{"abandoning one instance does not touch another", func(t *testing.T, s store.Store) {
			enqueue(t, s, startMsg("a"), startMsg("b"))
			t1, t2 := fetchTurn(t, s, longLock), fetchTurn(t, s, longLock)
			must(t, "AbandonTurn", s.AbandonTurn(t.Context(), t1.Token, store.AbandonOptions{}))
			must(t, "RenewTurn of the other instance", s.RenewTurn(t.Context(), t2.Token, longLock))
			again := fetchTurnOf(t, s, t1.InstanceID)
			if again.Messages[0].Attempts != 2 {
				t.Fatalf("attempts = %d, want 2", again.Messages[0].Attempts)
			}
			noTurn(t, s, "the other instance is still locked")
		}},
		{"every ready instance can be fetched while others are locked", func(t *testing.T, s store.Store) {
			const n = 7
			for i := range n {
				enqueue(t, s, startMsg(fmt.Sprint("i", i)))
			}
			seen := map[string]bool{}
			for range n {
				turn := fetchTurn(t, s, longLock)
				if seen[turn.InstanceID] {
					t.Fatalf("instance %q fetched twice", turn.InstanceID)
				}
				seen[turn.InstanceID] = true
			}
			noTurn(t, s, "all instances are locked")
			if d := depths(t, s); d.LockedInstances != n {
				t.Fatalf("LockedInstances = %d, want %d", d.LockedInstances, n)
			}
		}},
		{"concurrent fetches lock each instance at most once", func(t *testing.T, s store.Store) {
			const instances, workers = 8, 16
			for i := range instances {
				enqueue(t, s, startMsg(fmt.Sprint("i", i)), eventMsg(fmt.Sprint("i", i), "x"))
			}
			var mu sync.Mutex
			got := map[string]int{}
			var wg sync.WaitGroup
			start := make(chan struct{})
			for range workers {
				wg.Go(func() {
					<-start
					turn, err := s.FetchTurn(t.Context(), longLock, nil)
					if errors.Is(err, store.ErrNoWork) {
						return
					}
					if err != nil {
						t.Errorf("FetchTurn: %v", err)
						return
					}
					if len(turn.Messages) != 2 {
						t.Errorf("turn of %q has %d messages, want 2", turn.InstanceID, len(turn.Messages))
					}
					mu.Lock()
					got[turn.InstanceID]++
					mu.Unlock()
				})
			}
			close(start)
			wg.Wait()
			for id, n := range got {
				if n > 1 {
					t.Errorf("instance %q locked by %d concurrent fetches, want at most 1", id, n)
				}
			}
			if len(got) != instances {
				t.Fatalf("%d instances locked by %d concurrent fetches, want all %d", len(got), workers, instances)
			}
		}},
	}
}

func expiryCases() []storeCase {
	// expired locks instance "a" with a short lock, waits for it to be fetchable again and
	// returns both turns.
	expired := func(t *testing.T, s store.Store) (old, cur *store.Turn) {
		t.Helper()
		enqueue(t, s, startMsg("a"))
		old = fetchTurn(t, s, shortLock)
		cur = waitTurn(t, s, "a", longLock)
		return old, cur
	}
	return []storeCase{
		{"expired lock is refetched with a new token", func(t *testing.T, s store.Store) {
			old, cur := expired(t, s)
			if cur.Token == old.Token {
				t.Fatalf("refetch after expiry reuses token %q", cur.Token)
			}
			if !time.Now().After(old.LockedUntil.Add(-clockSlack)) {
				t.Fatalf("instance refetched before its lock expired at %v", old.LockedUntil)
			}
			if len(cur.Messages) != 1 || cur.Messages[0].ID != old.Messages[0].ID {
				t.Fatalf("refetched turn: %s, want the same start message", describeTurn(cur))
			}
		}},
		{"commit after expiry and refetch is ErrLockLost and changes nothing", func(t *testing.T, s store.Store) {
			old, cur := expired(t, s)
			c := turnCommit(old)
			c.Messages = []store.Message{startMsg("b")}
			wantErr(t, "CommitTurn with the expired token", s.CommitTurn(t.Context(), old.Token, c), store.ErrLockLost)
			notCreated(t, s, "a", "after the rejected commit")
			noTurn(t, s, "b's start must not have been enqueued")
			commitTurn(t, s, cur.Token, turnCommit(cur))
		}},
		{"abandon after expiry and refetch is ErrLockLost", func(t *testing.T, s store.Store) {
			old, cur := expired(t, s)
			wantErr(t, "AbandonTurn with the expired token", s.AbandonTurn(t.Context(), old.Token, store.AbandonOptions{}), store.ErrLockLost)
			noTurn(t, s, "the new holder keeps the lock")
			must(t, "RenewTurn by the new holder", s.RenewTurn(t.Context(), cur.Token, longLock))
		}},
		{"renew after expiry and refetch is ErrLockLost", func(t *testing.T, s store.Store) {
			old, cur := expired(t, s)
			wantErr(t, "RenewTurn with the expired token", s.RenewTurn(t.Context(), old.Token, longLock), store.ErrLockLost)
			commitTurn(t, s, cur.Token, turnCommit(cur))
		}},
		{"new holder commits after the old one lost the lock", func(t *testing.T, s store.Store) {
			old, cur := expired(t, s)
			c := turnCommit(cur)
			commitTurn(t, s, cur.Token, c)
			wantErr(t, "late CommitTurn by the old holder", s.CommitTurn(t.Context(), old.Token, turnCommit(old)), store.ErrLockLost)
			sameEvents(t, "History", historyOf(t, s, "a", 0), c.History)
		}},
		{"refetch after expiry includes messages enqueued meanwhile", func(t *testing.T, s store.Store) {
			enqueue(t, s, startMsg("a"))
			fetchTurn(t, s, shortLock)
			enqueue(t, s, eventMsg("a", "meanwhile"))
			cur := waitTurn(t, s, "a", longLock)
			if len(cur.Messages) != 2 || string(cur.Messages[1].Event.Input) != "meanwhile" {
				t.Fatalf("refetched turn: %s, want the start message and \"meanwhile\"", describeTurn(cur))
			}
		}},
		{"renew extends the lock", func(t *testing.T, s store.Store) {
			enqueue(t, s, startMsg("a"))
			turn := fetchTurn(t, s, shortLock)
			must(t, "RenewTurn", s.RenewTurn(t.Context(), turn.Token, longLock))
			holdNoTurn(t, s, turn.LockedUntil.Add(3*shortLock), "after RenewTurn the lock outlives its first expiry")
			commitTurn(t, s, turn.Token, turnCommit(turn))
		}},
		{"renewed lock still expires", func(t *testing.T, s store.Store) {
			enqueue(t, s, startMsg("a"))
			turn := fetchTurn(t, s, longLock)
			must(t, "RenewTurn", s.RenewTurn(t.Context(), turn.Token, shortLock))
			again := waitTurn(t, s, "a", longLock)
			if again.Token == turn.Token {
				t.Fatal("refetch reuses the token")
			}
		}},
		{"renew after commit is ErrLockLost", func(t *testing.T, s store.Store) {
			enqueue(t, s, startMsg("a"))
			turn := fetchTurn(t, s, longLock)
			commitTurn(t, s, turn.Token, turnCommit(turn))
			wantErr(t, "RenewTurn after commit", s.RenewTurn(t.Context(), turn.Token, longLock), store.ErrLockLost)
		}},
		{"renew after abandon is ErrLockLost", func(t *testing.T, s store.Store) {
			enqueue(t, s, startMsg("a"))
			turn := fetchTurn(t, s, longLock)
			must(t, "AbandonTurn", s.AbandonTurn(t.Context(), turn.Token, store.AbandonOptions{}))
			wantErr(t, "RenewTurn after abandon", s.RenewTurn(t.Context(), turn.Token, longLock), store.ErrLockLost)
			wantErr(t, "second AbandonTurn", s.AbandonTurn(t.Context(), turn.Token, store.AbandonOptions{}), store.ErrLockLost)
			wantErr(t, "CommitTurn after abandon", s.CommitTurn(t.Context(), turn.Token, turnCommit(turn)), store.ErrLockLost)
		}},
		{"lock expiry shows in LockedInstances", func(t *testing.T, s store.Store) {
			enqueue(t, s, startMsg("a"))
			turn := fetchTurn(t, s, shortLock)
			if d := depths(t, s); d.LockedInstances != 1 && time.Now().Before(turn.LockedUntil) {
				t.Fatalf("LockedInstances = %d while locked, want 1", d.LockedInstances)
			}
			waitPast(turn.LockedUntil.Add(clockSlack))
			if d := depths(t, s); d.LockedInstances != 0 {
				t.Fatalf("LockedInstances = %d after the lock expired, want 0", d.LockedInstances)
			}
		}},
	}
}

// waitPast blocks until the clock passes at: the condition waited for is the time itself
// (a lock expiry or a timer), so there is nothing else to poll.
func waitPast(at time.Time) {
	if d := time.Until(at); d > 0 {
		time.Sleep(d)
	}
}
