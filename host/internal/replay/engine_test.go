package replay_test

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/durohost/durohost/abi"
	"github.com/durohost/durohost/history"
	"github.com/durohost/durohost/host/internal/replay"
	"github.com/durohost/durohost/store"
)

// base schedules activity "a" (event 3) and a one-hour timer (event 4) in its first turn,
// then waits for the activity, then for the timer, and completes with the activity's result.
func base(g *G) {
	a := g.Schedule(act("a", "x"))
	tm := g.Schedule(timer(time.Hour))
	r := g.Get(a)
	g.Get(tm)
	g.Complete(r)
}

func TestBeginTurnInputs(t *testing.T) {
	start := []history.Event{started("orch", "in")}
	tests := []struct {
		name        string
		before      [][]history.Event // earlier turns; the first starts the execution
		inputs      []history.Event
		wantNew     string   // kinds of the events the turn recorded
		wantDropped []string // the drop reasons contain these, in order
		wantRun     bool
		wantCode    string // BeginTurn's error code, recorded by Fail
	}{
		{
			name: "first turn", inputs: start,
			wantNew: "turn_started execution_started activity_scheduled timer_created", wantRun: true,
		},
		{
			name: "duplicate start dropped", before: [][]history.Event{start},
			inputs:  []history.Event{started("orch", "again"), raised("e", "1")},
			wantNew: "turn_started event_raised", wantDropped: []string{"duplicate start"}, wantRun: true,
		},
		{
			name:    "duplicate start in the first batch dropped",
			inputs:  []history.Event{started("orch", "in"), started("orch", "again")},
			wantNew: "turn_started execution_started activity_scheduled timer_created", wantDropped: []string{"duplicate start"}, wantRun: true,
		},
		{
			name: "input for another execution dropped", before: [][]history.Event{start},
			inputs:      []history.Event{toExec(actDone(3, "r"), 2), toExec(raised("e", "1"), 7)},
			wantDropped: []string{"addressed to execution 2", "addressed to execution 7"},
		},
		{
			name: "input addressed to this execution kept", before: [][]history.Event{start},
			inputs:  []history.Event{toExec(actDone(3, "r"), 1)},
			wantNew: "turn_started activity_completed", wantRun: true,
		},
		{
			name: "duplicate completion in one batch dropped", before: [][]history.Event{start},
			inputs:  []history.Event{actDone(3, "r"), actDone(3, "r2")},
			wantNew: "turn_started activity_completed", wantDropped: []string{"duplicate completion of event 3"}, wantRun: true,
		},
		{
			name: "duplicate completion across turns dropped", before: [][]history.Event{start, {fired(4)}},
			inputs: []history.Event{fired(4)}, wantDropped: []string{"duplicate completion of event 4"},
		},
		{
			name: "failure after a success is a duplicate", before: [][]history.Event{start, {actDone(3, "r")}},
			inputs: []history.Event{actFailed(3, "E")}, wantDropped: []string{"duplicate completion of event 3"},
		},
		{
			name: "completion for no decision", before: [][]history.Event{start},
			inputs: []history.Event{actDone(99, "r")}, wantNew: "turn_started execution_failed",
			wantDropped: []string{abi.CodeUnknownCompletion}, wantCode: abi.CodeUnknownCompletion,
		},
		{
			name: "completion of the start event", before: [][]history.Event{start},
			inputs: []history.Event{actDone(2, "r")}, wantNew: "turn_started execution_failed",
			wantDropped: []string{abi.CodeUnknownCompletion}, wantCode: abi.CodeUnknownCompletion,
		},
		{
			name: "completion of a turn marker", before: [][]history.Event{start},
			inputs: []history.Event{fired(1)}, wantNew: "turn_started execution_failed",
			wantDropped: []string{abi.CodeUnknownCompletion}, wantCode: abi.CodeUnknownCompletion,
		},
		{
			name: "completion without a ref", before: [][]history.Event{start},
			inputs: []history.Event{actDone(0, "r")}, wantNew: "turn_started execution_failed",
			wantDropped: []string{abi.CodeUnknownCompletion}, wantCode: abi.CodeUnknownCompletion,
		},
		{
			name: "other inputs of a failing batch are recorded", before: [][]history.Event{start},
			inputs:      []history.Event{raised("e", "1"), actDone(99, "r"), actDone(3, "r")},
			wantNew:     "turn_started event_raised activity_completed execution_failed",
			wantDropped: []string{abi.CodeUnknownCompletion}, wantCode: abi.CodeUnknownCompletion,
		},
		{
			name: "timer fired for an activity", before: [][]history.Event{start},
			inputs: []history.Event{fired(3)}, wantNew: "turn_started execution_failed",
			wantDropped: []string{abi.CodeWrongCompletionKind}, wantCode: abi.CodeWrongCompletionKind,
		},
		{
			name: "activity completed for a timer", before: [][]history.Event{start},
			inputs: []history.Event{actDone(4, "r")}, wantNew: "turn_started execution_failed",
			wantDropped: []string{abi.CodeWrongCompletionKind}, wantCode: abi.CodeWrongCompletionKind,
		},
		{
			name: "child completed for an activity", before: [][]history.Event{start},
			inputs: []history.Event{childDone(3, "r")}, wantNew: "turn_started execution_failed",
			wantDropped: []string{abi.CodeWrongCompletionKind}, wantCode: abi.CodeWrongCompletionKind,
		},
		{
			name:        "inputs before the start dropped",
			inputs:      []history.Event{raised("e", "1"), queued("q", "m"), cancelReq("why")},
			wantDropped: []string{"has not started", "has not started", "has not started"},
		},
		{
			name:        "completion before the start dropped",
			inputs:      []history.Event{actDone(3, "r")},
			wantDropped: []string{"has not started"},
		},
		{
			name:    "start moved before the inputs of its batch",
			inputs:  []history.Event{raised("e", "1"), queued("q", "m"), started("orch", "in")},
			wantNew: "turn_started execution_started event_raised queue_message activity_scheduled timer_created", wantRun: true,
		},
		{
			name: "decision as an input dropped", before: [][]history.Event{start},
			inputs:      []history.Event{{Kind: history.KindActivityScheduled, Name: "x"}, {Kind: history.KindTurnStarted}},
			wantDropped: []string{"not an input event", "not an input event"},
		},
		{
			name: "inputs to an ended execution dropped", before: [][]history.Event{start, {actDone(3, "r"), fired(4)}},
			inputs:      []history.Event{raised("e", "1"), cancelReq("late"), started("orch", "in")},
			wantDropped: []string{"has ended", "has ended", "has ended"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			modes(t, func(t *testing.T, live bool) {
				x := newInst(t, live, base)
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
				if r.TS.Run != tc.wantRun {
					t.Errorf("Run = %v, want %v", r.TS.Run, tc.wantRun)
				}
				if len(r.TS.Dropped) != len(tc.wantDropped) {
					t.Fatalf("dropped %+v, want %q", r.TS.Dropped, tc.wantDropped)
				}
				for i, d := range r.TS.Dropped {
					if !strings.Contains(d.Reason, tc.wantDropped[i]) {
						t.Errorf("dropped[%d] reason %q, want it to mention %q", i, d.Reason, tc.wantDropped[i])
					}
				}
				if got := code(r.Err); got != tc.wantCode {
					t.Fatalf("BeginTurn error %v, want code %q", r.Err, tc.wantCode)
				}
				if tc.wantCode != "" {
					var nd *replay.NondeterminismError
					if !errors.As(r.Err, &nd) {
						t.Errorf("BeginTurn error %T, want *NondeterminismError", r.Err)
					}
					f := failureOf(x.hist)
					if f == nil || f.Code != tc.wantCode || f.Kind != abi.FailureInfrastructure {
						t.Errorf("recorded failure %+v, want an infrastructure failure %s", f, tc.wantCode)
					}
					if r.Commit.State.Status != store.StatusFailed {
						t.Errorf("status %v, want failed", r.Commit.State.Status)
					}
				}
				for _, ev := range x.hist[n:] {
					if ev.Execution != 0 {
						t.Errorf("recorded %s keeps Execution %d", ev.Kind, ev.Execution)
					}
				}
			})
		})
	}
}

func TestTurnTimeNeverGoesBack(t *testing.T) {
	x := newInst(t, false, base)
	x.must(Suspended, started("orch", "in"))
	steps := []struct {
		now, want int64
	}{
		{t0 - int64(time.Hour), t0},
		{t0 + int64(time.Minute), t0 + int64(time.Minute)},
		{t0, t0 + int64(time.Minute)},
	}
	for i, s := range steps {
		x.now = s.now
		n := len(x.hist)
		x.must(Suspended, raised("e", "x"))
		if got := x.hist[n].Time; x.hist[n].Kind != history.KindTurnStarted || got != s.want {
			t.Errorf("step %d: %s at %d, want turn_started at %d", i, x.hist[n].Kind, got, s.want)
		}
	}
}

// family is a sub-orchestration (of "papa", execution 3, event 7) that schedules an
// activity (3), a child "kid" (4), a timer (5) and a detached orchestration (6), then waits.
func family(runs *int) func(*G) {
	return func(g *G) {
		*runs++
		g.Sleep(10 * time.Second)
		a := g.Schedule(act("a", "x"))
		c := g.Schedule(child("sub", "kid", "y"))
		tm := g.Schedule(timer(time.Hour))
		g.Schedule(detached("free", "loose", ""))
		i := g.Await(a, c, tm)
		g.Complete([]string{"a", "c", "t"}[i])
	}
}

func familyStart() history.Event {
	ev := started("orch", "in")
	ev.ParentID, ev.ParentExecution, ev.ParentRef = "papa", 3, 7
	return ev
}

// actFailedInfra is an activity's infrastructure failure (as the runtime reports one).
func actFailedInfra(ref int64, code string) history.Event {
	return history.Event{Kind: history.KindActivityFailed, Ref: ref, Failure: &abi.Failure{
		Kind: abi.FailureInfrastructure, Code: code, Message: "no host registers it", Details: []byte(`{"attempts":5}`)}}
}

func TestHostEndedTurns(t *testing.T) {
	tests := []struct {
		name      string
		input     history.Event
		wantNew   string
		wantState store.Status
		wantFail  *abi.Failure // the failure the parent is sent (Message not compared)
		mention   []string     // the failure's message mentions these
		kidCancel bool         // the child "kid" (event 4), still running, is cancelled
		actOpen   bool         // the activity (event 3), still open, is withdrawn
	}{
		{
			name: "cancellation", input: cancelReq("enough"),
			wantNew: "turn_started cancel_requested execution_cancelled", wantState: store.StatusCancelled,
			wantFail: &abi.Failure{Kind: abi.FailureCancelled}, mention: []string{"enough"},
			kidCancel: true, actOpen: true,
		},
		{
			name: "child infrastructure failure", input: childFailed(4, abi.FailureInfrastructure, abi.CodeTrap),
			wantNew: "turn_started sub_orchestration_failed execution_failed", wantState: store.StatusFailed,
			wantFail: &abi.Failure{Kind: abi.FailureInfrastructure, Code: abi.CodeChildFailed, Details: []byte(`{"why":1}`)},
			mention:  []string{"event 4", abi.CodeTrap, "child broke"}, actOpen: true,
		},
		{
			name: "activity infrastructure failure", input: actFailedInfra(3, abi.CodeUnregistered),
			wantNew: "turn_started activity_failed execution_failed", wantState: store.StatusFailed,
			wantFail: &abi.Failure{Kind: abi.FailureInfrastructure, Code: abi.CodeUnregistered, Details: []byte(`{"attempts":5}`)},
			mention:  []string{`activity "a"`, "event 3", "no host registers it"}, kidCancel: true,
		},
		{
			name: "activity result over the payload limit", input: actFailedInfra(3, abi.CodePayloadTooLarge),
			wantNew: "turn_started activity_failed execution_failed", wantState: store.StatusFailed,
			wantFail: &abi.Failure{Kind: abi.FailureInfrastructure, Code: abi.CodePayloadTooLarge, Details: []byte(`{"attempts":5}`)},
			mention:  []string{`activity "a"`, "event 3"}, kidCancel: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			modes(t, func(t *testing.T, live bool) {
				var runs int
				x := newInst(t, live, family(&runs))
				x.must(Suspended, familyStart())
				n := len(x.hist)
				r := x.turn(tc.input)
				if r.Err != nil || r.TS.Run || r.Out.State != 0 {
					t.Fatalf("turn: %+v, %v, %v: want the host to end it without running the guest", r.TS, r.Err, r.Out)
				}
				if runs != 1 {
					t.Errorf("the script started %d times, want once", runs)
				}
				if got := kinds(x.hist[n:]); got != tc.wantNew {
					t.Errorf("recorded %q, want %q", got, tc.wantNew)
				}
				if !r.Eng.Ended() {
					t.Error("Ended() = false")
				}
				end := x.hist[len(x.hist)-1]
				if end.Time != t0 {
					t.Errorf("end recorded at %d, want the turn's time %d", end.Time, t0)
				}
				c := r.Commit
				if c.State.Status != tc.wantState {
					t.Errorf("status %v, want %v", c.State.Status, tc.wantState)
				}
				var wantCancelled []store.ActivityRef
				if tc.actOpen {
					wantCancelled = []store.ActivityRef{{InstanceID: self, Execution: 1, EventID: 3}}
				}
				if !reflect.DeepEqual(c.CancelledActivities, wantCancelled) {
					t.Errorf("CancelledActivities %+v, want %+v", c.CancelledActivities, wantCancelled)
				}
				if len(c.Activities) != 0 {
					t.Errorf("Activities %+v, want none", c.Activities)
				}
				var toKid, toPapa []history.Event
				for _, m := range c.Messages {
					switch m.InstanceID {
					case "kid":
						toKid = append(toKid, m.Event)
					case "papa":
						toPapa = append(toPapa, m.Event)
					default:
						t.Errorf("unexpected message to %q: %s", m.InstanceID, m.Event.Kind)
					}
				}
				if tc.kidCancel {
					// The failed child needs no cancellation; a running one does, from its
					// parent's decision.
					want := history.Event{Kind: history.KindCancelRequested, Input: []byte("the parent orchestration ended"),
						Time: t0 + int64(10*time.Second), ParentID: self, ParentExecution: 1, ParentRef: 4}
					if len(toKid) != 1 || !reflect.DeepEqual(toKid[0], want) {
						t.Errorf("messages to the child %+v, want %+v", toKid, want)
					}
				} else if len(toKid) != 0 {
					t.Errorf("messages to the failed child %+v, want none", toKid)
				}
				if tc.wantState == store.StatusCancelled && string(end.Input) != "enough" {
					t.Errorf("execution_cancelled input %q, want the reason", end.Input)
				}
				if len(toPapa) != 1 {
					t.Fatalf("messages to the parent %+v, want one", toPapa)
				}
				p := toPapa[0]
				if p.Kind != history.KindSubOrchestrationFailed || p.Ref != 7 || p.Execution != 3 || p.Failure == nil {
					t.Fatalf("message to the parent %+v, want sub_orchestration_failed of event 7, execution 3", p)
				}
				f := p.Failure
				if f.Kind != tc.wantFail.Kind || f.Code != tc.wantFail.Code || string(f.Details) != string(tc.wantFail.Details) {
					t.Errorf("parent told %+v, want %+v", f, tc.wantFail)
				}
				if !reflect.DeepEqual(c.State.Failure, f) {
					t.Errorf("instance failure %+v, parent told %+v", c.State.Failure, f)
				}
				for _, m := range tc.mention {
					if !strings.Contains(f.Message, m) {
						t.Errorf("failure message %q does not mention %q", f.Message, m)
					}
				}
			})
		})
	}
}

// TestInfrastructureFailuresNeverReachUserCode: only application, timeout and cancelled
// failures of an activity or a child are delivered to the guest; an infrastructure failure of
// work whose future the guest dropped is recorded and ignored.
func TestInfrastructureFailuresNeverReachUserCode(t *testing.T) {
	fail := func(k history.Kind, ref int64, kind abi.FailureKind) history.Event {
		return history.Event{Kind: k, Ref: ref, Failure: &abi.Failure{Kind: kind, Code: "C", Message: "m"}}
	}
	tests := []struct {
		name  string
		input history.Event
		seen  string // what the guest reads; "": it does not run
	}{
		{"activity application failure", fail(history.KindActivityFailed, 3, abi.FailureApplication), "!C"},
		{"activity timeout", fail(history.KindActivityFailed, 3, abi.FailureTimeout), "!C"},
		{"activity cancelled", fail(history.KindActivityFailed, 3, abi.FailureCancelled), "!C"},
		{"activity infrastructure failure", fail(history.KindActivityFailed, 3, abi.FailureInfrastructure), ""},
		{"child application failure", fail(history.KindSubOrchestrationFailed, 4, abi.FailureApplication), "!C"},
		{"child timeout", fail(history.KindSubOrchestrationFailed, 4, abi.FailureTimeout), "!C"},
		{"child infrastructure failure", fail(history.KindSubOrchestrationFailed, 4, abi.FailureInfrastructure), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			modes(t, func(t *testing.T, live bool) {
				var seen string
				x := newInst(t, live, func(g *G) {
					a := g.Schedule(act("a", ""))
					c := g.Schedule(child("c", "kid", ""))
					hs := []int64{a, c}
					seen = text(g.Result(hs[g.Await(a, c)]))
					g.Complete(seen)
				})
				x.must(Suspended, started("orch", ""))
				r := x.turn(tc.input)
				if tc.seen == "" {
					if r.TS.Run || r.Out.State != 0 || !r.Eng.Ended() || r.Commit.State.Status != store.StatusFailed {
						t.Fatalf("turn %+v, script %v, status %v: want the host to fail the execution without the guest", r.TS, r.Out.State, r.Commit.State.Status)
					}
					if seen != "" {
						t.Errorf("the guest saw %q", seen)
					}
					return
				}
				if r.Out.State != Completed || seen != tc.seen {
					t.Errorf("script %v (%v), saw %q; want it to complete having seen %q", r.Out.State, r.Out.Err, seen, tc.seen)
				}
			})
		})
	}
	t.Run("dropped futures", func(t *testing.T) {
		for _, in := range []history.Event{actFailedInfra(3, abi.CodeUnregistered), childFailed(4, abi.FailureInfrastructure, abi.CodeTrap)} {
			modes(t, func(t *testing.T, live bool) {
				x := newInst(t, live, func(g *G) {
					a := g.Schedule(act("a", ""))          // 3
					c := g.Schedule(child("c", "kid", "")) // 4
					g.Get(g.Schedule(timer(time.Minute)))  // 5
					g.Cancel(a)
					g.Cancel(c)
					g.Complete(g.Get(g.Schedule(waitEvent("go"))))
				})
				x.must(Suspended, started("orch", ""))
				x.must(Suspended, fired(5))
				r := x.must(Suspended, in)
				if got := kinds(r.Commit.History); got != "turn_started "+in.Kind.String() {
					t.Errorf("%s of a dropped future: recorded %q, want it recorded and ignored", in.Kind, got)
				}
				if r.Commit.State.Status != store.StatusRunning {
					t.Errorf("%s of a dropped future: status %v, want running", in.Kind, r.Commit.State.Status)
				}
				x.must(Completed, raised("go", "done"))
			})
		}
	})
}

func TestChildApplicationFailureRunsTheGuest(t *testing.T) {
	modes(t, func(t *testing.T, live bool) {
		var runs int
		x := newInst(t, live, family(&runs))
		x.must(Suspended, familyStart())
		r := x.must(Completed, childFailed(4, abi.FailureApplication, "E"))
		if string(r.Commit.State.Output) != "c" {
			t.Errorf("output %q, want c", r.Commit.State.Output)
		}
	})
}

// TestReplayOfHostEndedTurn replays an execution the host ended (what a replay tool does): the
// guest is parked with ErrEnded when replay reaches the turn.
func TestReplayOfHostEndedTurn(t *testing.T) {
	for _, in := range []history.Event{cancelReq("stop"), actFailedInfra(3, abi.CodeUnregistered), childFailed(4, abi.FailureInfrastructure, abi.CodeTrap)} {
		t.Run(in.Kind.String(), func(t *testing.T) {
			var runs int
			x := newInst(t, false, family(&runs))
			x.must(Suspended, familyStart())
			x.turn(in)
			eng, err := replay.New(x.cfg, x.hist)
			if err != nil {
				t.Fatal(err)
			}
			if err := eng.Start(); err != nil {
				t.Fatal(err)
			}
			p := spawn(eng, family(&runs))
			defer p.discard()
			if o := p.wait(); o.State != Ended {
				t.Fatalf("replay stopped %v (%v), want ended", o.State, o.Err)
			}
			if err := eng.Unmatched(); err != nil {
				t.Errorf("Unmatched after the host's end: %v", err)
			}
		})
	}
}

// TestReplayOfActivityInfrastructureFailureCaught: a history recorded before the host ended
// executions on an activity's infrastructure failure, in which the guest read the failure and
// went on, replays as it ran; one in which the guest ended the execution at once replays as
// ended by the host (the guest's own end is not compared).
func TestReplayOfActivityInfrastructureFailureCaught(t *testing.T) {
	ev := func(id int64, e history.Event) history.Event { e.ID = id; e.Time = t0; return e }
	first := []history.Event{
		ev(1, history.Event{Kind: history.KindTurnStarted}), ev(2, started("orch", "")),
		ev(3, history.Event{Kind: history.KindActivityScheduled, Name: "a"}),
		ev(4, history.Event{Kind: history.KindTurnStarted}), ev(5, actFailedInfra(3, abi.CodeUnregistered)),
	}
	wentOn := append(slices.Clone(first), ev(6, history.Event{Kind: history.KindActivityScheduled, Name: "fallback", Input: []byte("!" + abi.CodeUnregistered)}))
	ended := append(slices.Clone(first), ev(6, history.Event{Kind: history.KindExecutionFailed, Failure: &abi.Failure{Kind: abi.FailureInfrastructure, Code: abi.CodeUnregistered, Message: "old"}}))
	script := func(g *G) {
		r := g.Call(act("a", ""))
		g.Complete(g.Call(act("fallback", r)))
	}
	tests := []struct {
		name string
		hist []history.Event
		want State
	}{
		{"the guest went on", wentOn, Suspended},
		{"the guest ended at once", ended, Ended},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			eng, err := replay.New(replay.Config{InstanceID: self, Execution: 1}, tc.hist)
			if err != nil {
				t.Fatal(err)
			}
			if err := eng.Start(); err != nil {
				t.Fatal(err)
			}
			p := spawn(eng, script)
			defer p.discard()
			if o := p.wait(); o.State != tc.want {
				t.Fatalf("replay stopped %v (%v), want %v", o.State, o.Err, tc.want)
			}
			if err := eng.Unmatched(); err != nil {
				t.Errorf("Unmatched: %v", err)
			}
		})
	}
}

// TestReplayOfDroppedChildFailure: hosts before the current rule ended an execution with
// DH-CHILD-001 when a child whose future it had cancelled failed with an infrastructure
// failure; such a history replays as ended by the host. Now the guest goes on.
func TestReplayOfDroppedChildFailure(t *testing.T) {
	script := func(g *G) {
		c := g.Schedule(child("c", "kid", ""))         // 3
		g.Get(g.Schedule(timer(time.Minute)))          // 4
		g.Cancel(c)                                    // 7
		g.Complete(g.Get(g.Schedule(waitEvent("go")))) // 8
	}
	x := newInst(t, false, script)
	x.must(Suspended, started("orch", ""))
	x.must(Suspended, fired(4))
	r := x.must(Suspended, childFailed(3, abi.FailureInfrastructure, abi.CodeTrap))
	if got := kinds(r.Commit.History); got != "turn_started sub_orchestration_failed" {
		t.Fatalf("the dropped child's failure recorded %q, want it recorded and ignored", got)
	}
	old := slices.Clone(x.hist)
	old = append(old, history.Event{ID: int64(len(old) + 1), Kind: history.KindExecutionFailed, Time: t0,
		Failure: &abi.Failure{Kind: abi.FailureInfrastructure, Code: abi.CodeChildFailed, Message: "sub-orchestration of event 3 failed"}})
	eng, err := replay.New(x.cfg, old)
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.Start(); err != nil {
		t.Fatal(err)
	}
	p := spawn(eng, script)
	defer p.discard()
	if o := p.wait(); o.State != Ended {
		t.Fatalf("replay of the old history stopped %v (%v), want ended", o.State, o.Err)
	}
}

// TestColdAndLiveAgree runs the same turns in both modes and compares the histories event
// for event, times included.
func TestColdAndLiveAgree(t *testing.T) {
	tests := []struct {
		name  string
		turns [][]history.Event
	}{
		{"completion", [][]history.Event{{familyStart()}, {actDone(3, "r")}}},
		{"cancellation after a sleep", [][]history.Event{{familyStart()}, {raised("e", "1")}, {cancelReq("stop")}}},
		{"child failure after a sleep", [][]history.Event{{familyStart()}, {childFailed(4, abi.FailureInfrastructure, "X")}}},
		{"activity infrastructure failure after a sleep", [][]history.Event{{familyStart()}, {raised("e", "1")}, {actFailedInfra(3, abi.CodeUnregistered)}}},
		{"unknown completion after a sleep", [][]history.Event{{familyStart()}, {actDone(42, "r")}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var hists [2][]history.Event
			for i, live := range []bool{false, true} {
				var runs int
				x := newInst(t, live, family(&runs))
				for k, in := range tc.turns {
					x.now = t0 + int64(k)*int64(time.Minute)
					x.turn(in...)
				}
				hists[i] = x.hist
			}
			if !reflect.DeepEqual(hists[0], hists[1]) {
				t.Errorf("histories differ\ncold: %+v\nlive: %+v", hists[0], hists[1])
			}
		})
	}
}

// TestOpenActivities: the activities scheduled and neither completed nor cancelled, from a
// history read at once and as turns add to it.
func TestOpenActivities(t *testing.T) {
	ev := func(id int64, k history.Kind, ref int64) history.Event {
		return history.Event{ID: id, Kind: k, Ref: ref, Name: "a", Time: 1}
	}
	first := []history.Event{
		{ID: 1, Kind: history.KindTurnStarted, Time: 1}, {ID: 2, Kind: history.KindExecutionStarted, Name: "orch"},
		ev(3, history.KindActivityScheduled, 0), ev(4, history.KindActivityScheduled, 0), ev(5, history.KindTimerCreated, 0),
		ev(6, history.KindActivityScheduled, 0),
	}
	second := append(append([]history.Event{}, first...),
		history.Event{ID: 7, Kind: history.KindTurnStarted, Time: 2}, ev(8, history.KindActivityCompleted, 3),
		ev(9, history.KindTimerFired, 5), ev(10, history.KindFutureCancelled, 4))
	third := append(append([]history.Event{}, second...),
		history.Event{ID: 11, Kind: history.KindTurnStarted, Time: 3}, ev(12, history.KindActivityFailed, 6))
	for _, tt := range []struct {
		name string
		hist []history.Event
		want int
	}{
		{"three scheduled, a timer", first, 3},
		{"one completed, one cancelled", second, 1},
		{"the last failed", third, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			eng, err := replay.New(replay.Config{InstanceID: "i", Execution: 1}, tt.hist)
			if err != nil {
				t.Fatal(err)
			}
			if got := eng.OpenActivities(); got != tt.want {
				t.Fatalf("OpenActivities = %d, want %d", got, tt.want)
			}
		})
	}
	t.Run("a turn's completion closes one", func(t *testing.T) {
		eng, err := replay.New(replay.Config{InstanceID: "i", Execution: 1}, first)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := eng.BeginTurn(2, []history.Event{actDone(4, "r")}); err != nil {
			t.Fatal(err)
		}
		if got := eng.OpenActivities(); got != 2 {
			t.Fatalf("OpenActivities = %d after a completion, want 2", got)
		}
	})
	// Fail discards the live turn's decisions: the activities they scheduled are not open,
	// those of recorded turns still are.
	t.Run("a failed turn's activities are not open", func(t *testing.T) {
		modes(t, func(t *testing.T, live bool) {
			x := newInst(t, live, func(g *G) {
				g.Schedule(act("a", ""))
				g.Schedule(act("a", ""))
				g.Get(g.Schedule(waitEvent("go")))
				g.Schedule(act("b", ""))
				g.Schedule(act("b", ""))
				if n := g.Engine().OpenActivities(); n != 4 {
					t.Errorf("OpenActivities = %d before the failure, want 4", n)
				}
				g.Schedule(act("bad\x00name", ""))
			})
			x.must(Suspended, started("orch", ""))
			r := x.turn(raised("go", ""))
			if r.Out.State != Failed {
				t.Fatalf("script %v, want failed", r.Out.State)
			}
			if got := r.Eng.OpenActivities(); got != 2 {
				t.Errorf("OpenActivities = %d after Fail, want 2 (the recorded turn's)", got)
			}
		})
	})
}
