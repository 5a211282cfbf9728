package replay_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/durohost/durohost/abi"
	"github.com/durohost/durohost/history"
	"github.com/durohost/durohost/host/internal/replay"
	"github.com/durohost/durohost/store"
)

// startBy is a start of this instance sent by a parent's decision.
func startBy(parent string, execution uint32, ref int64) history.Event {
	ev := started("orch", "in")
	ev.Time = t0 + 5
	ev.ParentID, ev.ParentExecution, ev.ParentRef = parent, execution, ref
	return ev
}

// refusal is the message a refused start from (parent, execution, ref) sends back.
func refusal(parent string, execution uint32, ref int64) store.Message {
	return store.Message{InstanceID: parent, Event: history.Event{
		Kind: history.KindSubOrchestrationFailed, Ref: ref, Execution: execution, Time: t0 + 5,
		Failure: &abi.Failure{Kind: abi.FailureApplication, Code: abi.CodeInstanceExists,
			Message: `sub-orchestration "orch": instance "inst" already exists`},
	}}
}

// TestSecondStartRefused: a start of an instance that already started, sent by another
// parent's decision, is not recorded; the commit tells that parent DH-CHILD-002. A start
// delivered twice, and a start without a parent, are dropped without a word.
func TestSecondStartRefused(t *testing.T) {
	papa := familyStart() // this instance's own start: papa, execution 3, event 7
	tests := []struct {
		name        string
		before      [][]history.Event // earlier turns
		inputs      []history.Event
		wantNew     string // kinds recorded by the turn
		wantMsgs    []store.Message
		wantDropped []string // the drop reasons mention these, in order
	}{
		{
			name: "another parent", before: [][]history.Event{{papa}},
			inputs:   []history.Event{startBy("other", 1, 5)},
			wantMsgs: []store.Message{refusal("other", 1, 5)}, wantDropped: []string{abi.CodeInstanceExists},
		},
		{
			name: "the same parent's other decision", before: [][]history.Event{{papa}},
			inputs:   []history.Event{startBy("papa", 3, 9)},
			wantMsgs: []store.Message{refusal("papa", 3, 9)}, wantDropped: []string{"by papa (execution 3, event 9)"},
		},
		{
			name: "the same parent's later execution", before: [][]history.Event{{papa}},
			inputs:   []history.Event{startBy("papa", 4, 7)},
			wantMsgs: []store.Message{refusal("papa", 4, 7)}, wantDropped: []string{abi.CodeInstanceExists},
		},
		{
			name: "the own start delivered again", before: [][]history.Event{{papa}},
			inputs: []history.Event{startBy("papa", 3, 7)}, wantDropped: []string{"duplicate start"},
		},
		{
			name: "a detached start", before: [][]history.Event{{papa}},
			inputs: []history.Event{started("orch", "x")}, wantDropped: []string{"duplicate start"},
		},
		{
			name: "a child start of a root instance", before: [][]history.Event{{started("orch", "")}},
			inputs:   []history.Event{startBy("other", 1, 5)},
			wantMsgs: []store.Message{refusal("other", 1, 5)}, wantDropped: []string{abi.CodeInstanceExists},
		},
		{
			name:     "two parents in the first batch",
			inputs:   []history.Event{papa, startBy("other", 1, 5)},
			wantNew:  "turn_started execution_started activity_scheduled sub_orchestration_scheduled timer_created orchestration_started",
			wantMsgs: []store.Message{refusal("other", 1, 5)}, wantDropped: []string{abi.CodeInstanceExists},
		},
		{
			name: "with other inputs", before: [][]history.Event{{papa}},
			inputs:   []history.Event{raised("e", "1"), startBy("other", 1, 5)},
			wantNew:  "turn_started event_raised",
			wantMsgs: []store.Message{refusal("other", 1, 5)}, wantDropped: []string{abi.CodeInstanceExists},
		},
		{
			name: "an ended execution", before: [][]history.Event{{papa}, {actDone(3, "r")}},
			inputs:   []history.Event{startBy("other", 1, 5), startBy("papa", 3, 7)},
			wantMsgs: []store.Message{refusal("other", 1, 5)}, wantDropped: []string{abi.CodeInstanceExists, "has ended"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			modes(t, func(t *testing.T, live bool) {
				var runs int
				x := newInst(t, live, family(&runs))
				for _, in := range tc.before {
					if r := x.turn(in...); r.Err != nil || r.Out.State == Failed {
						t.Fatalf("setup turn: %v %v", r.Err, r.Out.Err)
					}
				}
				n := len(x.hist)
				r := x.turn(tc.inputs...)
				if got := kinds(x.hist[n:]); got != tc.wantNew {
					t.Errorf("recorded %q, want %q", got, tc.wantNew)
				}
				var msgs []store.Message
				for _, m := range r.Commit.Messages {
					if m.Event.Kind == history.KindSubOrchestrationFailed {
						msgs = append(msgs, m)
					}
				}
				if !reflect.DeepEqual(msgs, tc.wantMsgs) {
					t.Errorf("messages to parents %+v, want %+v", msgs, tc.wantMsgs)
				}
				if len(r.TS.Dropped) != len(tc.wantDropped) {
					t.Fatalf("dropped %+v, want %q", r.TS.Dropped, tc.wantDropped)
				}
				for i, d := range r.TS.Dropped {
					if !strings.Contains(d.Reason, tc.wantDropped[i]) {
						t.Errorf("dropped[%d] reason %q, want it to mention %q", i, d.Reason, tc.wantDropped[i])
					}
				}
				// The answer is sent once: the next turn's commit does not repeat it.
				if r := x.turn(raised("later", "")); r.Commit != nil {
					for _, m := range r.Commit.Messages {
						if m.Event.Kind == history.KindSubOrchestrationFailed && m.InstanceID != "papa" {
							t.Errorf("the next commit sends %+v again", m)
						}
					}
				}
			})
		})
	}
}

// TestStartOfTheNextExecutionPreferred: in a batch holding a start addressed to the execution
// by number (continue-as-new) and a child start from another parent, the first is the
// execution's start, whatever the order.
func TestStartOfTheNextExecutionPreferred(t *testing.T) {
	next := toExec(familyStart(), 2)
	eng, err := replay.New(replay.Config{InstanceID: self, Execution: 2}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ts, err := eng.BeginTurn(t0, []history.Event{startBy("other", 1, 5), next})
	if err != nil || !ts.Run {
		t.Fatalf("BeginTurn: %+v, %v", ts, err)
	}
	if st := eng.Started(); st.ParentID != "papa" {
		t.Errorf("the execution started from %q's start, want papa's", st.ParentID)
	}
	if c := eng.Commit(); len(c.Messages) != 1 || !reflect.DeepEqual(c.Messages[0], refusal("other", 1, 5)) {
		t.Errorf("messages %+v, want the refusal of other's start", c.Messages)
	}
}

func TestChildStartRefused(t *testing.T) {
	if m := replay.ChildStartRefused(started("orch", ""), "x"); m != nil {
		t.Errorf("a start without a parent: %+v, want nil", m)
	}
	if m := replay.ChildStartRefused(history.Event{Kind: history.KindCancelRequested, ParentID: "p"}, "x"); m != nil {
		t.Errorf("a cancellation: %+v, want nil", m)
	}
	got := replay.ChildStartRefused(startBy("other", 1, 5), "inst")
	if want := refusal("other", 1, 5); got == nil || !reflect.DeepEqual(*got, want) {
		t.Errorf("ChildStartRefused = %+v, want %+v", got, want)
	}
}

// TestParentSeesInstanceExists: the parent's code reads DH-CHILD-002 like any application
// failure and may fail with it.
func TestParentSeesInstanceExists(t *testing.T) {
	modes(t, func(t *testing.T, live bool) {
		var seen string
		x := newInst(t, live, func(g *G) {
			h := g.Schedule(child("orch", "taken", ""))
			g.Await(h)
			c := g.Result(h)
			seen = text(c)
			g.check(g.eng.Complete(abi.Outcome{Kind: abi.OutcomeFailed, Failure: c.Failure}))
		})
		c := x.must(Suspended, started("parent", "")).Commit
		start := c.Messages[0]
		refused := replay.ChildStartRefused(start.Event, start.InstanceID)
		if refused == nil || refused.InstanceID != self {
			t.Fatalf("refusal %+v, want a message to %s", refused, self)
		}
		r := x.must(Completed, refused.Event)
		if seen != "!"+abi.CodeInstanceExists {
			t.Errorf("the parent saw %q", seen)
		}
		if f := r.Commit.State.Failure; r.Commit.State.Status != store.StatusFailed || f.Code != abi.CodeInstanceExists || !strings.Contains(f.Message, `"taken"`) {
			t.Errorf("parent ended %v with %+v, want failed with %s naming the instance", r.Commit.State.Status, f, abi.CodeInstanceExists)
		}
	})
}

// TestCancelOnlyFromTheParent: a cancellation naming a parent stops the instance only when
// that parent's decision started it; a client's cancellation (no parent) always does.
func TestCancelOnlyFromTheParent(t *testing.T) {
	cancelBy := func(parent string, execution uint32, ref int64) history.Event {
		ev := cancelReq("stop")
		ev.ParentID, ev.ParentExecution, ev.ParentRef = parent, execution, ref
		return ev
	}
	tests := []struct {
		name    string
		start   history.Event
		cancel  history.Event
		stopped bool
	}{
		{"a client's", familyStart(), cancelReq("stop"), true},
		{"the parent's", familyStart(), cancelBy("papa", 3, 7), true},
		{"the parent's, naming itself only", familyStart(), cancelBy("papa", 0, 0), true},
		{"another orchestration's", familyStart(), cancelBy("other", 3, 7), false},
		{"the parent's other decision", familyStart(), cancelBy("papa", 3, 8), false},
		{"the parent's other execution", familyStart(), cancelBy("papa", 2, 7), false},
		{"an orchestration's, to a root instance", started("orch", ""), cancelBy("papa", 3, 7), false},
		{"a client's, to a root instance", started("orch", ""), cancelReq("stop"), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			modes(t, func(t *testing.T, live bool) {
				var runs int
				x := newInst(t, live, family(&runs))
				x.must(Suspended, tc.start)
				n := len(x.hist)
				r := x.turn(tc.cancel)
				if !tc.stopped {
					if len(x.hist) != n || r.TS.Run || len(r.TS.Dropped) != 1 || !strings.Contains(r.TS.Dropped[0].Reason, "not this instance's parent") {
						t.Fatalf("recorded %q, %+v: want the cancellation dropped", kinds(x.hist[n:]), r.TS)
					}
					return
				}
				if got := kinds(x.hist[n:]); got != "turn_started cancel_requested execution_cancelled" {
					t.Errorf("recorded %q, want the cancellation", got)
				}
			})
		})
	}
	t.Run("in the first batch", func(t *testing.T) {
		x := newInst(t, false, family(new(int)))
		r := x.must(Suspended, familyStart(), cancelBy("other", 1, 1))
		if len(r.TS.Dropped) != 1 || r.TS.Dropped[0].Event.Kind != history.KindCancelRequested {
			t.Errorf("dropped %+v, want the cancellation", r.TS.Dropped)
		}
	})
}

// TestParentCancelsItsChild: the cancellations a parent sends (a dropped future, its end)
// name it, and its child accepts them.
func TestParentCancelsItsChild(t *testing.T) {
	parent := newInst(t, false, func(g *G) {
		c := g.Schedule(child("kid", "kid", ""))
		g.Get(g.Schedule(timer(time.Minute)))
		g.Cancel(c)
		g.Complete("")
	})
	c := parent.must(Suspended, started("orch", "")).Commit
	var start store.Message
	for _, m := range c.Messages {
		if m.Event.Kind == history.KindExecutionStarted {
			start = m
		}
	}
	parent.now = t0 + int64(time.Minute)
	c = parent.must(Completed, fired(4)).Commit
	if len(c.Messages) != 1 || c.Messages[0].Event.Kind != history.KindCancelRequested {
		t.Fatalf("messages %+v, want the child's cancellation", c.Messages)
	}
	cancel := c.Messages[0]
	if ev := cancel.Event; cancel.InstanceID != "kid" || ev.ParentID != self || ev.ParentExecution != 1 || ev.ParentRef != 3 {
		t.Errorf("cancellation %+v to %s, want one naming %s, execution 1, event 3", ev, cancel.InstanceID, self)
	}

	kid := newInst(t, false, base)
	kid.cfg.InstanceID = "kid"
	kid.must(Suspended, start.Event)
	if r := kid.turn(cancel.Event); !r.Eng.Ended() || r.Commit.State.Status != store.StatusCancelled {
		t.Errorf("the child did not accept its parent's cancellation: %+v", r.TS)
	}
}
