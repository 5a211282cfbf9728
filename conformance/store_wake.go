package conformance

import (
	"context"
	"testing"
	"time"

	"github.com/durohost/durohost/store"
)

// Wake-ups (store.Waker): after work becomes visible at once, a subscriber learns its kind.
// Wake-ups may be coalesced and spurious, so a case cannot tell which call announced a kind;
// each case first waits for the kinds its setup announces (which the contract requires too),
// then expects the kind of the call under test.

// wakeWatch is one subscription to a store's wake-ups.
type wakeWatch struct {
	c      <-chan store.Wake
	cancel context.CancelFunc
	// got holds the kinds received and not yet expected.
	got store.Wake
}

// watchWakeups subscribes to s's wake-ups until the case ends (or cancel is called).
func watchWakeups(t *testing.T, s store.Store) *wakeWatch {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	c, err := s.(store.Waker).Wakeups(ctx)
	must(t, "Wakeups", err)
	if c == nil {
		t.Fatal("Wakeups returned a nil channel and no error")
	}
	return &wakeWatch{c: c, cancel: cancel}
}

// expect waits until the kinds of want have been received (a kind received earlier and not
// expected yet counts), failing after waitLimit; it then forgets them.
func (w *wakeWatch) expect(t *testing.T, want store.Wake, after string) {
	t.Helper()
	timer := time.NewTimer(waitLimit)
	defer timer.Stop()
	for w.got&want != want {
		select {
		case v, ok := <-w.c:
			if !ok {
				t.Fatalf("the wake-up channel closed while waiting for %s after %s", want, after)
			}
			w.got |= v
		case <-timer.C:
			t.Fatalf("no wake-up announced %s within %v after %s (received: %s)", want&^w.got, waitLimit, after, w.got)
		}
	}
	w.got &^= want
}

// closed waits until the channel is closed (receiving what is left), failing after waitLimit.
func (w *wakeWatch) closed(t *testing.T, after string) {
	t.Helper()
	timer := time.NewTimer(waitLimit)
	defer timer.Stop()
	for {
		select {
		case _, ok := <-w.c:
			if !ok {
				return
			}
		case <-timer.C:
			t.Fatalf("the wake-up channel was not closed within %v after %s", waitLimit, after)
		}
	}
}

// turnWithItem starts instance a, commits its first turn with one work item (not claimed) and
// fetches the item, expecting the wake-ups of each step.
func turnWithItem(t *testing.T, s store.Store, w *wakeWatch) *store.WorkItem {
	t.Helper()
	enqueue(t, s, startMsg("a"))
	w.expect(t, store.WakeTurns, "Enqueue of a start")
	withActivitiesOn(t, s, fetchTurnOf(t, s, "a"), "x")
	w.expect(t, store.WakeActivities, "a commit that enqueued a work item")
	return fetchActivity(t, s, longLock)
}

// withActivitiesOn commits the fetched first turn of an instance scheduling one activity per
// name (none claimed).
func withActivitiesOn(t *testing.T, s store.Store, turn *store.Turn, names ...string) {
	t.Helper()
	c := turnCommit(turn)
	for _, n := range names {
		addDecisions(c, scheduled(n))
		c.Activities = append(c.Activities, activity(turn.InstanceID, 1, c.History[len(c.History)-1].ID, n))
	}
	commitTurn(t, s, turn.Token, c)
}

func wakeCases() []storeCase {
	cases := []storeCase{
		{"Enqueue of a visible message wakes turns", func(t *testing.T, s store.Store) {
			w := watchWakeups(t, s)
			enqueue(t, s, eventMsg("a", "x"))
			w.expect(t, store.WakeTurns, "Enqueue")
		}},
		{"StartInstance wakes turns", func(t *testing.T, s store.Store) {
			w := watchWakeups(t, s)
			_, err := s.StartInstance(t.Context(), startMsg("a"), store.StartOptions{})
			must(t, "StartInstance", err)
			w.expect(t, store.WakeTurns, "StartInstance")
		}},
		{"a commit's work item wakes activities", func(t *testing.T, s store.Store) {
			w := watchWakeups(t, s)
			turnWithItem(t, s, w)
		}},
		{"a commit's message wakes turns", func(t *testing.T, s store.Store) {
			w := watchWakeups(t, s)
			enqueue(t, s, startMsg("a"))
			w.expect(t, store.WakeTurns, "Enqueue of a start")
			turn := fetchTurnOf(t, s, "a")
			c := turnCommit(turn)
			c.Messages = []store.Message{eventMsg("b", "hi")}
			commitTurn(t, s, turn.Token, c)
			w.expect(t, store.WakeTurns, "a commit that sent a message")
			fetchTurnOf(t, s, "b")
		}},
		{"a commit that leaves visible messages wakes turns", func(t *testing.T, s store.Store) {
			w := watchWakeups(t, s)
			enqueue(t, s, startMsg("a"))
			w.expect(t, store.WakeTurns, "Enqueue of a start")
			turn := fetchTurnOf(t, s, "a")
			enqueue(t, s, eventMsg("a", "late"))
			w.expect(t, store.WakeTurns, "Enqueue of an event for a locked instance")
			commitTurn(t, s, turn.Token, turnCommit(turn)) // consumes the start only
			w.expect(t, store.WakeTurns, "a commit that released an instance with a visible message")
			if turn := fetchTurnOf(t, s, "a"); len(turn.Messages) != 1 {
				t.Fatalf("turn: %s, want the late event", describeTurn(turn))
			}
		}},
		{"an activity's result wakes turns", func(t *testing.T, s store.Store) {
			w := watchWakeups(t, s)
			item := turnWithItem(t, s, w)
			must(t, "CompleteActivity", s.CompleteActivity(t.Context(), item.Token, completion("a", 1, item.EventID, "r")))
			w.expect(t, store.WakeTurns, "CompleteActivity")
		}},
		{"an abandoned work item wakes activities", func(t *testing.T, s store.Store) {
			w := watchWakeups(t, s)
			item := turnWithItem(t, s, w)
			must(t, "AbandonActivity", s.AbandonActivity(t.Context(), item.Token, 0))
			w.expect(t, store.WakeActivities, "AbandonActivity")
		}},
		{"an abandoned turn wakes turns", func(t *testing.T, s store.Store) {
			w := watchWakeups(t, s)
			enqueue(t, s, startMsg("a"))
			w.expect(t, store.WakeTurns, "Enqueue of a start")
			turn := fetchTurnOf(t, s, "a")
			must(t, "AbandonTurn", s.AbandonTurn(t.Context(), turn.Token, store.AbandonOptions{}))
			w.expect(t, store.WakeTurns, "AbandonTurn")
		}},
		{"every subscriber receives the wake-ups", func(t *testing.T, s store.Store) {
			a, b := watchWakeups(t, s), watchWakeups(t, s)
			enqueue(t, s, eventMsg("a", "x"))
			a.expect(t, store.WakeTurns, "Enqueue (first subscriber)")
			b.expect(t, store.WakeTurns, "Enqueue (second subscriber)")
		}},
		{"the channel closes when its context ends", func(t *testing.T, s store.Store) {
			a, b := watchWakeups(t, s), watchWakeups(t, s)
			a.cancel()
			a.closed(t, "the end of its context")
			enqueue(t, s, eventMsg("a", "x"))
			b.expect(t, store.WakeTurns, "Enqueue, with another subscription ended")
		}},
		{"the channel closes when the store closes", func(t *testing.T, s store.Store) {
			w := watchWakeups(t, s)
			must(t, "Close", s.Close())
			w.closed(t, "Close")
		}},
	}
	return append(cases, closedCasesOf([]closedCall{
		{"Wakeups", func(t *testing.T, s store.Store, _ *store.Turn, _ *store.WorkItem) error {
			_, err := s.(store.Waker).Wakeups(t.Context())
			return err
		}},
	})...)
}

func pingCases() []storeCase {
	cases := []storeCase{
		{"an open store answers", func(t *testing.T, s store.Store) {
			must(t, "Ping", s.(store.Pinger).Ping(t.Context()))
			create(t, s, "a", store.InstanceState{})
			must(t, "Ping of a store with an instance", s.(store.Pinger).Ping(t.Context()))
		}},
	}
	return append(cases, closedCasesOf([]closedCall{
		{"Ping", func(t *testing.T, s store.Store, _ *store.Turn, _ *store.WorkItem) error {
			return s.(store.Pinger).Ping(t.Context())
		}},
	})...)
}
