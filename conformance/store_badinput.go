package conformance

import (
	"bytes"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/durohost/durohost/history"
	"github.com/durohost/durohost/store"
)

// tokenOps are the calls that take a lock token, for table cases.
var tokenOps = []struct {
	name string
	call func(t *testing.T, s store.Store, token string) error
}{
	{"RenewTurn", func(t *testing.T, s store.Store, token string) error {
		return s.RenewTurn(t.Context(), token, longLock)
	}},
	{"CommitTurn", func(t *testing.T, s store.Store, token string) error {
		return s.CommitTurn(t.Context(), token, &store.Commit{
			State:     store.InstanceState{Name: "orch", Status: store.StatusRunning},
			Execution: 1,
			History:   numbered(0, history.Event{Kind: history.KindTurnStarted, Time: baseTime}),
			Messages:  []store.Message{startMsg("victim")},
		})
	}},
	{"AbandonTurn", func(t *testing.T, s store.Store, token string) error {
		return s.AbandonTurn(t.Context(), token, store.AbandonOptions{})
	}},
	{"RenewActivity", func(t *testing.T, s store.Store, token string) error {
		return s.RenewActivity(t.Context(), token, longLock)
	}},
	{"CompleteActivity", func(t *testing.T, s store.Store, token string) error {
		return s.CompleteActivity(t.Context(), token, eventMsg("victim", "forged"))
	}},
	{"AbandonActivity", func(t *testing.T, s store.Store, token string) error {
		return s.AbandonActivity(t.Context(), token, 0)
	}},
}

// lockedBoth leaves instance "a" with a locked turn and a locked work item, and returns
// their tokens.
func lockedBoth(t *testing.T, s store.Store) (turnToken, activityToken string) {
	t.Helper()
	withActivities(t, s, "a", "x")
	enqueue(t, s, eventMsg("a", "m"))
	return fetchTurnOf(t, s, "a").Token, fetchActivity(t, s, longLock).Token
}

// idRoundTrip runs an instance with ID id through the store's read and write paths.
func idRoundTrip(t *testing.T, s store.Store, id string) {
	t.Helper()
	enqueue(t, s, startMsg(id))
	runTurn(t, s, id, func(_ *store.Turn, c *store.Commit) {
		addDecisions(c, scheduled("x"))
		c.Activities = []store.WorkItem{activity(id, 1, c.History[len(c.History)-1].ID, "x")}
		c.Messages = []store.Message{startMsg(id + "/child")}
	})
	runTurn(t, s, id+"/child", func(_ *store.Turn, c *store.Commit) { c.State.ParentID = id })
	w := fetchActivity(t, s, longLock)
	if w.InstanceID != id {
		t.Fatalf("work item InstanceID = %q, want %q", short(w.InstanceID), short(id))
	}
	must(t, "CompleteActivity", s.CompleteActivity(t.Context(), w.Token, completion(id, 1, w.EventID, "r")))
	turn := fetchTurnOf(t, s, id)
	if turn.Instance == nil || turn.Instance.ID != id || turn.Messages[0].InstanceID != id {
		t.Fatalf("turn of %q does not carry the ID back", short(id))
	}
	commitTurn(t, s, turn.Token, turnCommit(turn))
	if inst := instance(t, s, id); inst.ID != id {
		t.Fatalf("Instance.ID = %q, want %q", short(inst.ID), short(id))
	}
	if h := historyOf(t, s, id, 0); len(h) != 5 {
		t.Fatalf("History has %d events, want 5", len(h))
	}
	sameStrings(t, "ListInstances by prefix", listAll(t, s, store.Filter{IDPrefix: id}), []string{id, id + "/child"})
	kids, err := s.Children(t.Context(), id)
	must(t, "Children", err)
	if len(kids) != 1 || kids[0].ID != id+"/child" {
		t.Fatalf("Children = %d instances, want the child", len(kids))
	}
	must(t, "DeleteInstance", s.DeleteInstance(t.Context(), id, true))
	gone(t, s, id, id+"/child")
}

func badInputCases() []storeCase {
	var cases []storeCase
	for _, op := range tokenOps {
		cases = append(cases, storeCase{"unknown token for " + op.name + " is ErrLockLost", func(t *testing.T, s store.Store) {
			lockedBoth(t, s)
			wantErr(t, op.name+" with an unknown token", op.call(t, s, "no-such-token"), store.ErrLockLost)
			noActivity(t, s, "nothing changed")
			noTurn(t, s, "nothing enqueued for victim")
		}})
	}
	cases = append(cases,
		storeCase{"empty token is rejected", func(t *testing.T, s store.Store) {
			lockedBoth(t, s)
			for _, op := range tokenOps {
				if err := op.call(t, s, ""); !errors.Is(err, store.ErrLockLost) && !errors.Is(err, store.ErrInvalid) {
					t.Errorf("%s with an empty token: got %v, want ErrLockLost or ErrInvalid", op.name, err)
				}
			}
			noTurn(t, s, "nothing enqueued for victim")
		}},
		storeCase{"turn token is not an activity token", func(t *testing.T, s store.Store) {
			turnToken, _ := lockedBoth(t, s)
			for _, op := range tokenOps[3:] {
				wantErr(t, op.name+" with a turn token", op.call(t, s, turnToken), store.ErrLockLost)
			}
			noTurn(t, s, "nothing enqueued for victim")
		}},
		storeCase{"activity token is not a turn token", func(t *testing.T, s store.Store) {
			_, activityToken := lockedBoth(t, s)
			for _, op := range tokenOps[:3] {
				wantErr(t, op.name+" with an activity token", op.call(t, s, activityToken), store.ErrLockLost)
			}
			noTurn(t, s, "nothing enqueued for victim")
		}},
	)
	ids := []struct{ name, id string }{
		{"quotes", `it's a "quoted" id`},
		{"SQL", `x'); DROP TABLE instances; --`},
		{"unicode", "注文-🎉-ñandú-\u200b-Ω"},
		{"whitespace and backslashes", "tab\there\nnewline \\ back\\slash "},
		{"10 KB", strings.Repeat("k", 10<<10)},
	}
	for _, c := range ids {
		cases = append(cases, storeCase{"ID with " + c.name + " round-trips", func(t *testing.T, s store.Store) {
			idRoundTrip(t, s, c.id)
		}})
	}
	emptyID := []struct {
		name string
		call func(t *testing.T, s store.Store) error
	}{
		{"Enqueue", func(t *testing.T, s store.Store) error { return s.Enqueue(t.Context(), eventMsg("", "x")) }},
		{"Instance", func(t *testing.T, s store.Store) error { _, err := s.Instance(t.Context(), ""); return err }},
		{"History", func(t *testing.T, s store.Store) error { _, err := s.History(t.Context(), "", 0); return err }},
		{"Executions", func(t *testing.T, s store.Store) error { _, err := s.Executions(t.Context(), ""); return err }},
		{"Children", func(t *testing.T, s store.Store) error { _, err := s.Children(t.Context(), ""); return err }},
		{"DeleteInstance", func(t *testing.T, s store.Store) error { return s.DeleteInstance(t.Context(), "", true) }},
		{"PruneExecutions", func(t *testing.T, s store.Store) error {
			_, err := s.PruneExecutions(t.Context(), "", time.Now(), 0)
			return err
		}},
	}
	for _, c := range emptyID {
		cases = append(cases, storeCase{"empty instance ID for " + c.name + " is ErrInvalid", func(t *testing.T, s store.Store) {
			create(t, s, "a", store.InstanceState{Status: store.StatusCompleted})
			wantErr(t, c.name+`("")`, c.call(t, s), store.ErrInvalid)
			present(t, s, "a")
		}})
	}
	negative := []struct {
		name string
		call func(t *testing.T, s store.Store, turnToken, activityToken string) error
	}{
		{"FetchTurn", func(t *testing.T, s store.Store, _, _ string) error {
			_, err := s.FetchTurn(t.Context(), -time.Second, nil)
			return err
		}},
		{"RenewTurn", func(t *testing.T, s store.Store, tt, _ string) error {
			return s.RenewTurn(t.Context(), tt, -time.Second)
		}},
		{"AbandonTurn", func(t *testing.T, s store.Store, tt, _ string) error {
			return s.AbandonTurn(t.Context(), tt, store.AbandonOptions{Delay: -time.Second})
		}},
		{"FetchActivity", func(t *testing.T, s store.Store, _, _ string) error {
			_, err := s.FetchActivity(t.Context(), -time.Second)
			return err
		}},
		{"RenewActivity", func(t *testing.T, s store.Store, _, at string) error {
			return s.RenewActivity(t.Context(), at, -time.Second)
		}},
		{"AbandonActivity", func(t *testing.T, s store.Store, _, at string) error {
			return s.AbandonActivity(t.Context(), at, -time.Second)
		}},
	}
	for _, c := range negative {
		cases = append(cases, storeCase{"negative duration for " + c.name + " is ErrInvalid", func(t *testing.T, s store.Store) {
			withActivities(t, s, "a", "x", "y")
			enqueue(t, s, eventMsg("a", "m"), startMsg("b"))
			tt, at := fetchTurnOf(t, s, "a").Token, fetchActivity(t, s, longLock).Token
			wantErr(t, c.name+" with a negative duration", c.call(t, s, tt, at), store.ErrInvalid)
		}})
	}
	payloads := []struct {
		name string
		run  func(t *testing.T, s store.Store, big []byte)
	}{
		{"message event", func(t *testing.T, s store.Store, big []byte) {
			msg := store.Message{InstanceID: "a", Event: history.Event{Kind: history.KindEventRaised, Name: "big", Input: big}}
			enqueue(t, s, msg)
			turn := fetchTurnOf(t, s, "a")
			if !bytes.Equal(turn.Messages[0].Event.Input, big) {
				t.Fatalf("message input: got %d bytes, want the %d bytes enqueued", len(turn.Messages[0].Event.Input), len(big))
			}
		}},
		{"history event and instance state", func(t *testing.T, s store.Store, big []byte) {
			enqueue(t, s, startMsg("a"))
			var c *store.Commit
			runTurn(t, s, "a", func(_ *store.Turn, cc *store.Commit) {
				addDecisions(cc, history.Event{Kind: history.KindExecutionCompleted, Result: big})
				cc.State.Status = store.StatusCompleted
				cc.State.Output = big
				cc.State.CustomStatus = big[:1<<20]
				c = cc
			})
			sameEvents(t, "History", historyOf(t, s, "a", 0), c.History)
			sameState(t, "Instance", instance(t, s, "a"), c.State)
		}},
		{"activity input and result", func(t *testing.T, s store.Store, big []byte) {
			enqueue(t, s, startMsg("a"))
			runTurn(t, s, "a", func(_ *store.Turn, c *store.Commit) {
				w := activity("a", 1, 3, "big")
				w.Input = big
				addDecisions(c, scheduled("big"))
				c.Activities = []store.WorkItem{w}
			})
			w := fetchActivity(t, s, longLock)
			if !bytes.Equal(w.Input, big) {
				t.Fatalf("work item input: got %d bytes, want %d", len(w.Input), len(big))
			}
			must(t, "CompleteActivity", s.CompleteActivity(t.Context(), w.Token, completion("a", 1, w.EventID, string(big))))
			turn := fetchTurnOf(t, s, "a")
			if !bytes.Equal(turn.Messages[0].Event.Result, big) {
				t.Fatalf("result: got %d bytes, want %d", len(turn.Messages[0].Event.Result), len(big))
			}
		}},
	}
	for _, c := range payloads {
		cases = append(cases, storeCase{"payload of several MB round-trips: " + c.name, func(t *testing.T, s store.Store) {
			c.run(t, s, bigPayload(3<<20, 3))
		}})
	}
	cases = append(cases,
		storeCase{"binary payloads round-trip exactly", func(t *testing.T, s store.Store) {
			bin := []byte{0, 0xff, 0xfe, 0, '\'', '"', 0xc3, 0x28, 0}
			enqueue(t, s, store.Message{InstanceID: "a", Event: history.Event{Kind: history.KindEventRaised, Name: "\x00n", Input: bin}})
			var want store.InstanceState
			runTurn(t, s, "a", func(turn *store.Turn, c *store.Commit) {
				if !bytes.Equal(turn.Messages[0].Event.Input, bin) {
					t.Fatalf("message input = %x, want %x", turn.Messages[0].Event.Input, bin)
				}
				c.State.Output, c.State.CustomStatus = bin, bin
				want = c.State
			})
			sameState(t, "Instance", instance(t, s, "a"), want)
		}},
		storeCase{"concurrent deletes of one instance: one succeeds, the others ErrNotFound", func(t *testing.T, s store.Store) {
			create(t, s, "p", store.InstanceState{Status: store.StatusCompleted})
			create(t, s, "c", store.InstanceState{Status: store.StatusCompleted, ParentID: "p"})
			create(t, s, "keep", store.InstanceState{Status: store.StatusCompleted})
			const n = 8
			errs := make([]error, n)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range n {
				wg.Go(func() { <-start; errs[i] = s.DeleteInstance(t.Context(), "p", i%2 == 0) })
			}
			close(start)
			wg.Wait()
			ok := 0
			for i, err := range errs {
				switch {
				case err == nil:
					ok++
				case !errors.Is(err, store.ErrNotFound):
					t.Errorf("delete %d: %v, want nil or ErrNotFound", i, err)
				}
			}
			if ok != 1 {
				t.Fatalf("%d concurrent deletes succeeded, want exactly 1", ok)
			}
			gone(t, s, "p", "c")
			present(t, s, "keep")
			if ids := listAll(t, s, store.Filter{}); len(ids) != 1 {
				t.Fatalf("ListInstances = %q, want only keep", ids)
			}
		}},
		storeCase{"nil commit is ErrInvalid and keeps the lock", func(t *testing.T, s store.Store) {
			enqueue(t, s, startMsg("a"))
			turn := fetchTurnOf(t, s, "a")
			wantErr(t, "CommitTurn(nil)", s.CommitTurn(t.Context(), turn.Token, nil), store.ErrInvalid)
			commitTurn(t, s, turn.Token, turnCommit(turn))
		}},
		storeCase{"impossible instance status is ErrInvalid", func(t *testing.T, s store.Store) {
			enqueue(t, s, startMsg("a"))
			turn := fetchTurnOf(t, s, "a")
			for _, st := range []store.Status{store.StatusContinuedAsNew, store.Status(99)} {
				c := turnCommit(turn)
				c.State.Status = st
				wantErr(t, "CommitTurn with instance status "+st.String(), s.CommitTurn(t.Context(), turn.Token, c), store.ErrInvalid)
			}
			notCreated(t, s, "a", "after the rejected commits")
			commitTurn(t, s, turn.Token, turnCommit(turn))
		}},
		storeCase{"event of an unknown kind is ErrInvalid and changes nothing", func(t *testing.T, s store.Store) {
			enqueue(t, s, startMsg("a"))
			turn := fetchTurnOf(t, s, "a")
			c := turnCommit(turn, history.Event{Kind: history.Kind(200)})
			wantErr(t, "CommitTurn with an event of kind 200", s.CommitTurn(t.Context(), turn.Token, c), store.ErrInvalid)
			notCreated(t, s, "a", "after the rejected commit")
			wantErr(t, "Enqueue of an event of kind 0", s.Enqueue(t.Context(), store.Message{InstanceID: "b"}), store.ErrInvalid)
			commitTurn(t, s, turn.Token, turnCommit(turn))
			noTurn(t, s, "nothing was enqueued for b")
		}},
		storeCase{"Enqueue batch with an invalid message enqueues nothing", func(t *testing.T, s store.Store) {
			err := s.Enqueue(t.Context(), startMsg("a"), eventMsg("", "x"), startMsg("b"))
			wantErr(t, "Enqueue with a message without InstanceID", err, store.ErrInvalid)
			noTurn(t, s, "the valid messages of the rejected batch")
		}},
	)
	return cases
}
