package conformance

import (
	"fmt"
	"testing"
	"time"

	"github.com/durohost/durohost/history"
	"github.com/durohost/durohost/store"
)

func queueCases() []storeCase {
	return []storeCase{
		{"FIFO within one instance across Enqueue calls", func(t *testing.T, s store.Store) {
			want := []string{}
			for i := range 10 {
				want = append(want, fmt.Sprint("m", i))
				enqueue(t, s, eventMsg("a", want[i]))
			}
			sameStrings(t, "turn messages", payloads(fetchTurnOf(t, s, "a").Messages), want)
		}},
		{"FIFO within one Enqueue batch", func(t *testing.T, s store.Store) {
			var msgs []store.Message
			var want []string
			for i := range 10 {
				want = append(want, fmt.Sprint("m", 9-i))
				msgs = append(msgs, eventMsg("a", want[i]))
			}
			enqueue(t, s, msgs...)
			sameStrings(t, "turn messages", payloads(fetchTurnOf(t, s, "a").Messages), want)
		}},
		{"FIFO per instance when instances are interleaved", func(t *testing.T, s store.Store) {
			want := map[string][]string{}
			for i := range 12 {
				id := fmt.Sprint("i", i%3)
				p := fmt.Sprint(id, "-", i)
				want[id] = append(want[id], p)
				enqueue(t, s, eventMsg(id, p))
			}
			for range 3 {
				turn := fetchTurn(t, s, longLock)
				sameStrings(t, "messages of "+turn.InstanceID, payloads(turn.Messages), want[turn.InstanceID])
				delete(want, turn.InstanceID)
			}
			if len(want) != 0 {
				t.Fatalf("instances never fetched: %v", want)
			}
		}},
		{"message IDs increase in enqueue order", func(t *testing.T, s store.Store) {
			enqueue(t, s, eventMsg("a", "1"), eventMsg("a", "2"))
			enqueue(t, s, eventMsg("a", "3"))
			ids := messageIDs(fetchTurnOf(t, s, "a").Messages)
			for i := 1; i < len(ids); i++ {
				if ids[i] <= ids[i-1] {
					t.Fatalf("message IDs %v do not increase", ids)
				}
			}
		}},
		{"messages to an instance that does not exist are kept", func(t *testing.T, s store.Store) {
			enqueue(t, s, eventMsg("ghost", "early"))
			turn := fetchTurnOf(t, s, "ghost")
			if turn.Instance != nil || turn.Execution != 0 {
				t.Fatalf("turn of a missing instance: Instance=%+v Execution=%d, want nil, 0", turn.Instance, turn.Execution)
			}
			sameStrings(t, "messages", payloads(turn.Messages), []string{"early"})
		}},
		{"event sent before the start message is delivered with it", func(t *testing.T, s store.Store) {
			enqueue(t, s, eventMsg("a", "early"), startMsg("a"))
			turn := fetchTurnOf(t, s, "a")
			if len(turn.Messages) != 2 || turn.Messages[1].Event.Kind != history.KindExecutionStarted {
				t.Fatalf("turn: %s, want the early event then the start message", describeTurn(turn))
			}
		}},
		{"Enqueue of no messages does nothing", func(t *testing.T, s store.Store) {
			must(t, "Enqueue()", s.Enqueue(t.Context()))
			noTurn(t, s, "after an empty Enqueue")
		}},
		{"timer in the future is not fetched", func(t *testing.T, s store.Store) {
			enqueue(t, s, timerMsg("a", 1, time.Now().Add(time.Hour)))
			noTurn(t, s, "timer due in an hour")
			if d := depths(t, s); d.Messages != 0 || d.DelayedMessages != 1 {
				t.Fatalf("QueueDepths = %+v, want 0 visible and 1 delayed message", d)
			}
		}},
		{"timer is fetched once due", func(t *testing.T, s store.Store) {
			due := time.Now().Add(3 * shortLock)
			enqueue(t, s, timerMsg("a", 1, due))
			turn := waitTurn(t, s, "a", longLock)
			if now := time.Now(); now.Add(clockSlack).Before(due) {
				t.Fatalf("timer due at %v fetched at %v", due, now)
			}
			if len(turn.Messages) != 1 || turn.Messages[0].Event.Kind != history.KindTimerFired {
				t.Fatalf("turn: %s, want the timer", describeTurn(turn))
			}
		}},
		{"timer in the past is fetched at once", func(t *testing.T, s store.Store) {
			enqueue(t, s, timerMsg("a", 1, time.Now().Add(-time.Hour)))
			fetchTurnOf(t, s, "a")
		}},
		{"immediate messages are fetched while an earlier timer waits", func(t *testing.T, s store.Store) {
			due := time.Now().Add(3 * shortLock)
			enqueue(t, s, timerMsg("a", 1, due), eventMsg("a", "now"))
			turn := fetchTurnOf(t, s, "a")
			sameStrings(t, "messages before the timer is due", payloads(turn.Messages), []string{"now"})
			commitTurn(t, s, turn.Token, turnCommit(turn))
			next := waitTurn(t, s, "a", longLock)
			if len(next.Messages) != 1 || next.Messages[0].Event.Kind != history.KindTimerFired {
				t.Fatalf("turn after the timer is due: %s, want the timer", describeTurn(next))
			}
		}},
		{"due timer keeps its enqueue order among immediate messages", func(t *testing.T, s store.Store) {
			due := time.Now().Add(shortLock)
			enqueue(t, s, eventMsg("a", "before"), timerMsg("a", 1, due), eventMsg("a", "after"))
			waitPast(due.Add(clockSlack))
			turn := fetchTurnOf(t, s, "a")
			kinds := []history.Kind{}
			for _, m := range turn.Messages {
				kinds = append(kinds, m.Event.Kind)
			}
			want := []history.Kind{history.KindEventRaised, history.KindTimerFired, history.KindEventRaised}
			if fmt.Sprint(kinds) != fmt.Sprint(want) {
				t.Fatalf("message kinds %v, want %v (enqueue order)", kinds, want)
			}
		}},
		{"timers committed by a turn are delayed", func(t *testing.T, s store.Store) {
			enqueue(t, s, startMsg("a"))
			due := time.Now().Add(3 * shortLock)
			runTurn(t, s, "a", func(_ *store.Turn, c *store.Commit) {
				addDecisions(c, history.Event{Kind: history.KindTimerCreated, Time: baseTime, FireAt: due.UnixNano()})
				c.Messages = []store.Message{timerMsg("a", c.History[len(c.History)-1].ID, due)}
			})
			if now := time.Now(); now.Before(due) {
				noTurn(t, s, "timer committed by a turn, not yet due")
			}
			turn := waitTurn(t, s, "a", longLock)
			if now := time.Now(); now.Add(clockSlack).Before(due) {
				t.Fatalf("timer due at %v fetched at %v", due, now)
			}
			if turn.Messages[0].Event.Ref != 3 {
				t.Fatalf("timer Ref = %d, want 3", turn.Messages[0].Event.Ref)
			}
		}},
		{"abandon with a delay hides the messages until then", func(t *testing.T, s store.Store) {
			enqueue(t, s, startMsg("a"))
			turn := fetchTurnOf(t, s, "a")
			delay := 3 * shortLock
			visible := time.Now().Add(delay)
			must(t, "AbandonTurn", s.AbandonTurn(t.Context(), turn.Token, store.AbandonOptions{Delay: delay}))
			waitTurn(t, s, "a", longLock)
			if now := time.Now(); now.Add(clockSlack).Before(visible) {
				t.Fatalf("abandoned turn refetched at %v, before its delay ended at %v", now, visible)
			}
		}},
		{"abandon with a long delay keeps the instance out of reach", func(t *testing.T, s store.Store) {
			enqueue(t, s, startMsg("a"))
			turn := fetchTurnOf(t, s, "a")
			must(t, "AbandonTurn", s.AbandonTurn(t.Context(), turn.Token, store.AbandonOptions{Delay: time.Hour}))
			noTurn(t, s, "abandoned with a one-hour delay")
			if d := depths(t, s); d.LockedInstances != 0 {
				t.Fatalf("LockedInstances = %d after abandon, want 0", d.LockedInstances)
			}
		}},
		{"abandon without delay makes the messages visible at once", func(t *testing.T, s store.Store) {
			enqueue(t, s, startMsg("a"), eventMsg("a", "x"))
			turn := fetchTurnOf(t, s, "a")
			must(t, "AbandonTurn", s.AbandonTurn(t.Context(), turn.Token, store.AbandonOptions{}))
			again := fetchTurnOf(t, s, "a")
			if fmt.Sprint(messageIDs(again.Messages)) != fmt.Sprint(messageIDs(turn.Messages)) {
				t.Fatalf("after abandon: message IDs %v, want %v", messageIDs(again.Messages), messageIDs(turn.Messages))
			}
		}},
		{"abandon does not change the instance", func(t *testing.T, s store.Store) {
			create(t, s, "a", store.InstanceState{CustomStatus: []byte("keep")})
			sn := takeSnapshot(t, s, "a")
			enqueue(t, s, eventMsg("a", "x"))
			turn := fetchTurnOf(t, s, "a")
			must(t, "AbandonTurn", s.AbandonTurn(t.Context(), turn.Token, store.AbandonOptions{}))
			sn.check(t, s, "a", "after abandon")
		}},
		{"QueueDepths counts visible and delayed messages", func(t *testing.T, s store.Store) {
			if d := depths(t, s); d != (store.Depths{}) {
				t.Fatalf("empty store: QueueDepths = %+v, want all zero", d)
			}
			enqueue(t, s, startMsg("a"), eventMsg("a", "x"), startMsg("b"),
				timerMsg("a", 1, time.Now().Add(time.Hour)), timerMsg("c", 1, time.Now().Add(time.Hour)))
			d := depths(t, s)
			if d.Messages != 3 || d.DelayedMessages != 2 || d.LockedInstances != 0 {
				t.Fatalf("QueueDepths = %+v, want 3 visible, 2 delayed, 0 locked instances", d)
			}
			fetchTurn(t, s, longLock)
			if d := depths(t, s); d.LockedInstances != 1 || d.DelayedMessages != 2 {
				t.Fatalf("after one fetch: QueueDepths = %+v, want 1 locked instance, 2 delayed", d)
			}
		}},
	}
}

func poisonCases() []storeCase {
	return []storeCase{
		{"attempts start at 1", func(t *testing.T, s store.Store) {
			enqueue(t, s, startMsg("a"), eventMsg("a", "x"))
			turn := fetchTurnOf(t, s, "a")
			for i, m := range turn.Messages {
				if m.Attempts != 1 {
					t.Fatalf("message %d: Attempts = %d, want 1", i, m.Attempts)
				}
			}
			if turn.MaxAttempts() != 1 {
				t.Fatalf("MaxAttempts = %d, want 1", turn.MaxAttempts())
			}
		}},
		{"attempts increase with each abandoned fetch", func(t *testing.T, s store.Store) {
			enqueue(t, s, startMsg("a"))
			for want := 1; want <= 4; want++ {
				turn := fetchTurnOf(t, s, "a")
				if got := turn.Messages[0].Attempts; got != want {
					t.Fatalf("fetch %d: Attempts = %d, want %d", want, got, want)
				}
				must(t, "AbandonTurn", s.AbandonTurn(t.Context(), turn.Token, store.AbandonOptions{}))
			}
		}},
		{"attempts increase with each lock expiry", func(t *testing.T, s store.Store) {
			enqueue(t, s, startMsg("a"))
			turn := fetchTurn(t, s, shortLock)
			for want := 2; want <= 3; want++ {
				turn = waitTurn(t, s, "a", shortLock)
				if got := turn.Messages[0].Attempts; got != want {
					t.Fatalf("fetch after expiry %d: Attempts = %d, want %d", want-1, got, want)
				}
			}
		}},
		{"MaxAttempts is the largest in the batch", func(t *testing.T, s store.Store) {
			enqueue(t, s, startMsg("a"))
			for range 2 {
				turn := fetchTurnOf(t, s, "a")
				must(t, "AbandonTurn", s.AbandonTurn(t.Context(), turn.Token, store.AbandonOptions{}))
			}
			enqueue(t, s, eventMsg("a", "fresh"))
			turn := fetchTurnOf(t, s, "a")
			if a0, a1 := turn.Messages[0].Attempts, turn.Messages[1].Attempts; a0 != 3 || a1 != 1 {
				t.Fatalf("Attempts = %d, %d; want 3 (fetched three times) and 1 (new)", a0, a1)
			}
			if turn.MaxAttempts() != 3 {
				t.Fatalf("MaxAttempts = %d, want 3", turn.MaxAttempts())
			}
		}},
		{"IgnoreAttempt undoes the fetch's increment", func(t *testing.T, s store.Store) {
			enqueue(t, s, startMsg("a"))
			turn := fetchTurnOf(t, s, "a")
			must(t, "AbandonTurn", s.AbandonTurn(t.Context(), turn.Token, store.AbandonOptions{}))
			for range 3 {
				turn = fetchTurnOf(t, s, "a")
				if got := turn.Messages[0].Attempts; got != 2 {
					t.Fatalf("Attempts = %d after abandons with IgnoreAttempt, want 2", got)
				}
				must(t, "AbandonTurn", s.AbandonTurn(t.Context(), turn.Token, store.AbandonOptions{IgnoreAttempt: true}))
			}
		}},
		{"IgnoreAttempt never takes attempts below zero", func(t *testing.T, s store.Store) {
			enqueue(t, s, startMsg("a"))
			turn := fetchTurnOf(t, s, "a")
			// "fresh" arrives during the turn: it was not fetched, so undoing the fetch must
			// not take its count below zero.
			enqueue(t, s, eventMsg("a", "fresh"))
			must(t, "AbandonTurn", s.AbandonTurn(t.Context(), turn.Token, store.AbandonOptions{IgnoreAttempt: true}))
			turn = fetchTurnOf(t, s, "a")
			must(t, "AbandonTurn", s.AbandonTurn(t.Context(), turn.Token, store.AbandonOptions{IgnoreAttempt: true}))
			turn = fetchTurnOf(t, s, "a")
			for i, m := range turn.Messages {
				if m.Attempts != 1 {
					t.Fatalf("message %d (%q): Attempts = %d, want 1", i, m.Event.Input, m.Attempts)
				}
			}
		}},
		{"unconsumed message keeps counting attempts", func(t *testing.T, s store.Store) {
			enqueue(t, s, startMsg("a"), eventMsg("a", "kept"))
			runTurn(t, s, "a", func(turn *store.Turn, c *store.Commit) {
				c.History = c.History[:2]
				c.Consumed = c.Consumed[:1]
			})
			turn := fetchTurnOf(t, s, "a")
			if len(turn.Messages) != 1 || turn.Messages[0].Attempts != 2 {
				t.Fatalf("turn: %s with attempts %d, want the kept message fetched for the 2nd time", describeTurn(turn), turn.Messages[0].Attempts)
			}
		}},
		{"abandon with delay still counts the attempt", func(t *testing.T, s store.Store) {
			enqueue(t, s, startMsg("a"))
			turn := fetchTurnOf(t, s, "a")
			must(t, "AbandonTurn", s.AbandonTurn(t.Context(), turn.Token, store.AbandonOptions{Delay: shortLock}))
			turn = waitTurn(t, s, "a", longLock)
			if got := turn.Messages[0].Attempts; got != 2 {
				t.Fatalf("Attempts = %d, want 2", got)
			}
		}},
	}
}
