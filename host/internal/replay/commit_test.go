package replay_test

import (
	"bytes"
	"reflect"
	"testing"
	"time"

	"github.com/durohost/durohost/abi"
	"github.com/durohost/durohost/history"
	"github.com/durohost/durohost/host/internal/replay"
	"github.com/durohost/durohost/store"
)

// TestCommitActions checks the work a turn's decisions turn into: activity work items, timer
// messages, child and detached starts; and that a timer message comes back as an input the
// next turn accepts.
func TestCommitActions(t *testing.T) {
	modes(t, func(t *testing.T, live bool) {
		x := newInst(t, live, func(g *G) {
			g.Schedule(act("a", "ai"))                         // 3
			tm := g.Schedule(timer(time.Hour))                 // 4
			g.Schedule(withVersion(child("c", "", "ci"), "2")) // 5
			g.Schedule(detached("d", "dd", "di"))              // 6
			g.Schedule(waitEvent("e"))                         // 7
			g.Schedule(dequeue("q"))                           // 8
			g.Get(tm)
			g.Complete("")
		})
		start := started("orch", "in")
		start.Version, start.ModuleHash = "1", "hash1"
		c := x.must(Suspended, start).Commit

		wantState := store.InstanceState{Name: "orch", Version: "1", ModuleHash: "hash1", Status: store.StatusRunning}
		if !reflect.DeepEqual(c.State, wantState) {
			t.Errorf("state %+v, want %+v", c.State, wantState)
		}
		if c.Execution != 1 || c.ContinueAsNew || len(c.CancelledActivities) != 0 || len(c.Consumed) != 0 {
			t.Errorf("commit %+v", c)
		}
		wantActs := []store.WorkItem{{ActivityRef: store.ActivityRef{InstanceID: self, Execution: 1, EventID: 3}, Name: "a", Input: []byte("ai")}}
		if !reflect.DeepEqual(c.Activities, wantActs) {
			t.Errorf("activities %+v, want %+v", c.Activities, wantActs)
		}
		fireAt := t0 + int64(time.Hour)
		wantMsgs := []store.Message{
			{InstanceID: self, VisibleAt: time.Unix(0, fireAt), Event: history.Event{Kind: history.KindTimerFired, Ref: 4, FireAt: fireAt, Time: fireAt, Execution: 1}},
			{InstanceID: "inst:1:5", Event: history.Event{Kind: history.KindExecutionStarted, Name: "c", Version: "2", Input: []byte("ci"), Time: t0,
				ParentID: self, ParentExecution: 1, ParentRef: 5}},
			{InstanceID: "dd", Event: history.Event{Kind: history.KindExecutionStarted, Name: "d", Input: []byte("di"), Time: t0}},
		}
		if !reflect.DeepEqual(c.Messages, wantMsgs) {
			t.Errorf("messages\n%+v\nwant\n%+v", c.Messages, wantMsgs)
		}

		x.now = fireAt
		r := x.must(Completed, c.Messages[0].Event)
		if got := kinds(r.Commit.History); got != "turn_started timer_fired execution_completed" {
			t.Errorf("the timer's turn recorded %q", got)
		}
		if r.Commit.History[0].Time != fireAt {
			t.Errorf("turn at %d, want %d", r.Commit.History[0].Time, fireAt)
		}
	})
}

// TestCommitCancelledFutures: a dropped activity's work item is withdrawn, a dropped child is
// sent cancel_requested, a dropped timer or subscription needs nothing; the end of the
// execution does not withdraw them again. A late completion of a dropped activity is
// recorded and ignored.
func TestCommitCancelledFutures(t *testing.T) {
	modes(t, func(t *testing.T, live bool) {
		x := newInst(t, live, func(g *G) {
			hs := []int64{
				g.Schedule(act("a", "")),          // 3
				g.Schedule(child("c", "kid", "")), // 4
				g.Schedule(timer(time.Hour)),      // 5
				g.Schedule(waitEvent("e")),        // 6
				g.Schedule(act("kept", "")),       // 7
			}
			g.Get(g.Schedule(timer(time.Minute))) // 8
			for _, h := range hs[:4] {
				g.Cancel(h)
			}
			g.Get(g.Schedule(timer(time.Minute))) // 15
			g.Complete("")
		})
		x.must(Suspended, started("orch", ""))
		r := x.must(Suspended, fired(8))
		c := r.Commit
		if got, want := kinds(c.History), "turn_started timer_fired future_cancelled future_cancelled future_cancelled future_cancelled timer_created"; got != want {
			t.Fatalf("recorded %q, want %q", got, want)
		}
		for i, ref := range []int64{3, 4, 5, 6} {
			if got := c.History[2+i].Ref; got != ref {
				t.Errorf("future_cancelled %d refers to %d, want %d", i, got, ref)
			}
		}
		wantCancelled := []store.ActivityRef{{InstanceID: self, Execution: 1, EventID: 3}}
		if !reflect.DeepEqual(c.CancelledActivities, wantCancelled) {
			t.Errorf("cancelled activities %+v, want %+v", c.CancelledActivities, wantCancelled)
		}
		if len(c.Messages) != 2 || c.Messages[0].InstanceID != "kid" || c.Messages[0].Event.Kind != history.KindCancelRequested ||
			c.Messages[1].Event.Kind != history.KindTimerFired {
			t.Errorf("messages %+v, want cancel_requested to kid, then the new timer", c.Messages)
		} else if ev := c.Messages[0].Event; ev.ParentID != self || ev.ParentExecution != 1 || ev.ParentRef != 4 {
			t.Errorf("cancel_requested %+v does not name its sender (%s, execution 1, event 4)", ev, self)
		}

		r = x.must(Suspended, actDone(3, "late"), childFailed(4, abi.FailureCancelled, ""), fired(5))
		if got := kinds(r.Commit.History); got != "turn_started activity_completed sub_orchestration_failed timer_fired" {
			t.Errorf("late completions recorded %q", got)
		}
		r = x.must(Completed, fired(15))
		// Only the activity still open is withdrawn at the end.
		wantCancelled = []store.ActivityRef{{InstanceID: self, Execution: 1, EventID: 7}}
		if !reflect.DeepEqual(r.Commit.CancelledActivities, wantCancelled) || len(r.Commit.Messages) != 0 {
			t.Errorf("end: cancelled %+v, messages %+v; want only activity 7 withdrawn", r.Commit.CancelledActivities, r.Commit.Messages)
		}
	})
}

// TestEndOfExecution: every end withdraws the open work and, for a sub-orchestration, tells
// the parent (except continue-as-new, which carries the parent into the next execution).
func TestEndOfExecution(t *testing.T) {
	fail := &abi.Failure{Kind: abi.FailureApplication, Code: "E", Message: "no"}
	tests := []struct {
		name     string
		end      abi.Outcome
		state    store.InstanceState
		toParent *history.Event
	}{
		{
			name:     "completed",
			end:      abi.Outcome{Kind: abi.OutcomeCompleted, Output: []byte("out")},
			state:    store.InstanceState{Status: store.StatusCompleted, Output: []byte("out")},
			toParent: &history.Event{Kind: history.KindSubOrchestrationCompleted, Result: []byte("out")},
		},
		{
			name:     "failed",
			end:      abi.Outcome{Kind: abi.OutcomeFailed, Failure: fail},
			state:    store.InstanceState{Status: store.StatusFailed, Failure: fail},
			toParent: &history.Event{Kind: history.KindSubOrchestrationFailed, Failure: fail},
		},
		{
			name:  "continued as new",
			end:   abi.Outcome{Kind: abi.OutcomeContinuedAsNew, Input: []byte("again")},
			state: store.InstanceState{Status: store.StatusRunning},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			x := newInst(t, false, func(g *G) {
				g.Schedule(act("a", ""))              // 3
				g.Schedule(child("c", "kid", ""))     // 4
				g.Schedule(timer(time.Hour))          // 5
				g.Get(g.Schedule(timer(time.Minute))) // 6
				g.check(g.eng.Complete(tc.end))
			})
			x.must(Suspended, familyStart())
			x.now = t0 + int64(time.Minute)
			c := x.must(Completed, fired(6)).Commit

			want := tc.state
			want.Name, want.ParentID = "orch", "papa"
			if !reflect.DeepEqual(c.State, want) {
				t.Errorf("state %+v, want %+v", c.State, want)
			}
			if !reflect.DeepEqual(c.CancelledActivities, []store.ActivityRef{{InstanceID: self, Execution: 1, EventID: 3}}) {
				t.Errorf("cancelled activities %+v, want activity 3", c.CancelledActivities)
			}
			var msgs []store.Message
			for _, m := range c.Messages {
				if m.InstanceID == "kid" && m.Event.Kind == history.KindCancelRequested {
					continue
				}
				msgs = append(msgs, m)
			}
			if len(msgs) != len(c.Messages)-1 {
				t.Errorf("messages %+v: want one cancel_requested to the child", c.Messages)
			}
			if len(msgs) != 1 {
				t.Fatalf("messages %+v, want one besides the child's cancellation", msgs)
			}
			m := msgs[0]
			end := x.hist[len(x.hist)-1].Time
			if tc.toParent == nil {
				if !c.ContinueAsNew || m.InstanceID != self || m.Event.ParentID != "papa" || m.Event.ParentExecution != 3 || m.Event.ParentRef != 7 ||
					m.Event.Time != end || string(m.Event.Input) != "again" {
					t.Errorf("continue-as-new: %v, message %+v", c.ContinueAsNew, m)
				}
				return
			}
			wantMsg := *tc.toParent
			wantMsg.Ref, wantMsg.Execution, wantMsg.Time = 7, 3, end
			if m.InstanceID != "papa" || !reflect.DeepEqual(m.Event, wantMsg) {
				t.Errorf("message to %q %+v, want to papa %+v", m.InstanceID, m.Event, wantMsg)
			}
		})
	}
}

func TestCustomStatus(t *testing.T) {
	tests := []struct {
		name    string
		carried []byte
		set     func(g *G)
		want    []byte // nil: none
	}{
		{"none", nil, func(*G) {}, nil},
		{"carried from the start", []byte("c"), func(*G) {}, []byte("c")},
		{"set", nil, func(g *G) { g.SetStatus("s") }, []byte("s")},
		{"set twice", nil, func(g *G) { g.SetStatus("s"); g.SetStatus("t") }, []byte("t")},
		{"set empty", nil, func(g *G) { g.SetStatus("") }, []byte{}},
		{"cleared", []byte("c"), func(g *G) { g.ClearStatus() }, nil},
		{"cleared then set", []byte("c"), func(g *G) { g.ClearStatus(); g.SetStatus("n") }, []byte("n")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			modes(t, func(t *testing.T, live bool) {
				x := newInst(t, live, func(g *G) {
					tc.set(g)
					g.Get(g.Schedule(timer(time.Minute)))
					if got := g.eng.CustomStatus(); !sameBytes(got, tc.want) {
						t.Errorf("CustomStatus() %q (nil %v), want %q (nil %v)", got, got == nil, tc.want, tc.want == nil)
					}
					g.ContinueAsNew("", "")
				})
				start := started("orch", "")
				start.CustomStatus = tc.carried
				c1 := x.must(Suspended, start).Commit
				timerID := x.hist[len(x.hist)-1].ID
				c2 := x.must(Completed, fired(timerID)).Commit
				for i, c := range []*store.Commit{c1, c2} {
					if got := c.State.CustomStatus; !sameBytes(got, tc.want) {
						t.Errorf("turn %d: state custom status %q (nil %v), want %q (nil %v)", i+1, got, got == nil, tc.want, tc.want == nil)
					}
				}
				if next := c2.Messages[0].Event; !sameBytes(next.CustomStatus, tc.want) {
					t.Errorf("continue-as-new carries %q (nil %v), want %q", next.CustomStatus, next.CustomStatus == nil, tc.want)
				}
			})
		})
	}
}

// sameBytes is bytes.Equal that also tells nil (no status) from empty.
func sameBytes(a, b []byte) bool { return (a == nil) == (b == nil) && bytes.Equal(a, b) }

func TestContinueAsNewVersion(t *testing.T) {
	tests := []struct {
		version     string
		wantVersion string
		wantHash    string
	}{
		{"", "1", "hash1"},
		{"1", "1", "hash1"},
		{"2", "2", ""},
	}
	for _, tc := range tests {
		t.Run("to "+tc.version, func(t *testing.T) {
			eng := liveEngine(t, replay.Config{InstanceID: self, Execution: 1, Namespace: "ns"},
				history.Event{Kind: history.KindExecutionStarted, Name: "orch", Version: "1", ModuleHash: "hash1"})
			if err := eng.Complete(abi.Outcome{Kind: abi.OutcomeContinuedAsNew, Input: []byte("i"), Version: tc.version}); err != nil {
				t.Fatal(err)
			}
			c := eng.Commit()
			next := c.Messages[0].Event
			if !c.ContinueAsNew || next.Version != tc.wantVersion || next.ModuleHash != tc.wantHash || next.Name != "orch" || next.Execution != 2 {
				t.Errorf("next start %+v, want version %q hash %q", next, tc.wantVersion, tc.wantHash)
			}
			if m := c.Messages[0]; m.InstanceID != self || m.Namespace != "ns" {
				t.Errorf("next start sent to %q in namespace %q, want %q in ns", m.InstanceID, m.Namespace, self)
			}
			if c.State.Namespace != "ns" {
				t.Errorf("state namespace %q, want ns", c.State.Namespace)
			}
			if c.State.Version != "1" || c.State.ModuleHash != "hash1" {
				t.Errorf("the ending execution's state %+v changed version or hash", c.State)
			}
		})
	}
}
