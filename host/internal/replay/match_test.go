package replay_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/durohost/durohost/abi"
	"github.com/durohost/durohost/history"
	"github.com/durohost/durohost/host/internal/replay"
)

// scheduleAndWait returns a script that schedules cmds in its first turn and waits for all.
func scheduleAndWait(cmds ...abi.Command) func(*G) {
	return func(g *G) {
		var hs []int64
		for _, c := range cmds {
			hs = append(hs, g.Schedule(c))
		}
		for _, h := range hs {
			g.Await(h)
		}
		g.Complete("done")
	}
}

func withVersion(c abi.Command, v string) abi.Command { c.Version = v; return c }

// TestDecisionMatching records a first turn with one script, then replays it cold with
// another (the code changed between turns) and checks the nondeterminism failure.
func TestDecisionMatching(t *testing.T) {
	aX := act("a", "x")
	tests := []struct {
		name             string
		recorded, now    func(*G)
		wantCode         string // "" : the replay matches
		wantIndex        int64
		wantRec, wantGot history.Kind // 0: none
		mention          []string     // the message names both sides
	}{
		{
			name: "same commands", recorded: scheduleAndWait(aX, timer(time.Hour)), now: scheduleAndWait(aX, timer(time.Hour)),
		},
		{
			name: "name", recorded: scheduleAndWait(aX), now: scheduleAndWait(act("b", "x")),
			wantCode: abi.CodeCommandMismatch, wantIndex: 3, wantRec: history.KindActivityScheduled, wantGot: history.KindActivityScheduled,
			mention: []string{`"a"`, `"b"`},
		},
		{
			name: "input", recorded: scheduleAndWait(aX), now: scheduleAndWait(act("a", "y")),
			wantCode: abi.CodeCommandMismatch, wantIndex: 3, wantRec: history.KindActivityScheduled, wantGot: history.KindActivityScheduled,
			mention: []string{`input "x"`, `input "y"`},
		},
		{
			name:     "version",
			recorded: scheduleAndWait(aX, withVersion(child("c", "k", ""), "1")), now: scheduleAndWait(aX, withVersion(child("c", "k", ""), "2")),
			wantCode: abi.CodeCommandMismatch, wantIndex: 4, wantRec: history.KindSubOrchestrationScheduled, wantGot: history.KindSubOrchestrationScheduled,
			mention: []string{"version 1", "version 2"},
		},
		{
			name:     "instance ID",
			recorded: scheduleAndWait(child("c", "k1", "")), now: scheduleAndWait(child("c", "k2", "")),
			wantCode: abi.CodeCommandMismatch, wantIndex: 3, wantRec: history.KindSubOrchestrationScheduled, wantGot: history.KindSubOrchestrationScheduled,
			mention: []string{"instance k1", "instance k2"},
		},
		{
			name:     "derived instance ID against an explicit one",
			recorded: scheduleAndWait(child("c", "", "")), now: scheduleAndWait(child("c", "inst:1:3", "")),
		},
		{
			name:     "timer fire time",
			recorded: scheduleAndWait(timer(time.Hour)), now: scheduleAndWait(timer(2 * time.Hour)),
			wantCode: abi.CodeCommandMismatch, wantIndex: 3, wantRec: history.KindTimerCreated, wantGot: history.KindTimerCreated,
			mention: []string{"firing at"},
		},
		{
			name:     "timer fire time moved by a sleep",
			recorded: scheduleAndWait(timer(time.Hour)),
			now:      func(g *G) { g.Sleep(time.Second); scheduleAndWait(timer(time.Hour))(g) },
			wantCode: abi.CodeCommandMismatch, wantIndex: 3, wantRec: history.KindTimerCreated, wantGot: history.KindTimerCreated,
		},
		{
			name:     "kind",
			recorded: scheduleAndWait(aX), now: scheduleAndWait(waitEvent("a")),
			wantCode: abi.CodeCommandMismatch, wantIndex: 3, wantRec: history.KindActivityScheduled, wantGot: history.KindEventSubscribed,
			mention: []string{"activity_scheduled", "event_subscribed"},
		},
		{
			name:     "child against detached",
			recorded: scheduleAndWait(child("c", "k", "")), now: scheduleAndWait(detached("c", "k", "")),
			wantCode: abi.CodeCommandMismatch, wantIndex: 3, wantRec: history.KindSubOrchestrationScheduled, wantGot: history.KindOrchestrationStarted,
		},
		{
			name:     "custom status",
			recorded: func(g *G) { g.SetStatus("s1"); scheduleAndWait(aX)(g) },
			now:      func(g *G) { g.SetStatus("s2"); scheduleAndWait(aX)(g) },
			wantCode: abi.CodeCommandMismatch, wantIndex: 3, wantRec: history.KindCustomStatusSet, wantGot: history.KindCustomStatusSet,
		},
		{
			name:     "status cleared against set empty",
			recorded: func(g *G) { g.ClearStatus(); scheduleAndWait(aX)(g) },
			now:      func(g *G) { g.SetStatus(""); scheduleAndWait(aX)(g) },
			wantCode: abi.CodeCommandMismatch, wantIndex: 3, wantRec: history.KindCustomStatusSet, wantGot: history.KindCustomStatusSet,
		},
		{
			name: "cancelled future",
			recorded: func(g *G) {
				a, b := g.Schedule(aX), g.Schedule(act("b", ""))
				g.Cancel(a)
				g.Get(b)
			},
			now: func(g *G) {
				a, b := g.Schedule(aX), g.Schedule(act("b", ""))
				g.Cancel(b)
				g.Get(a)
			},
			wantCode: abi.CodeCommandMismatch, wantIndex: 5, wantRec: history.KindFutureCancelled, wantGot: history.KindFutureCancelled,
			mention: []string{"of event 3", "of event 4"},
		},
		{
			name: "long inputs are cut in the message", recorded: scheduleAndWait(act("a", strings.Repeat("x", 100))),
			now:      scheduleAndWait(act("a", strings.Repeat("y", 100))),
			wantCode: abi.CodeCommandMismatch, wantIndex: 3, wantRec: history.KindActivityScheduled, wantGot: history.KindActivityScheduled,
			mention: []string{"(100 bytes)"},
		},
		{
			name: "extra command", recorded: scheduleAndWait(aX), now: scheduleAndWait(aX, act("b", "")),
			wantCode: abi.CodeExtraCommand, wantIndex: 4, wantGot: history.KindActivityScheduled,
			mention: []string{"recorded nothing", `"b"`},
		},
		{
			name: "missing command", recorded: scheduleAndWait(aX, act("b", "")), now: scheduleAndWait(aX),
			wantCode: abi.CodeMissingCommand, wantIndex: 4, wantRec: history.KindActivityScheduled,
			mention: []string{`"b"`, "made no decision"},
		},
		{
			// Awaiting a future that is already complete does not block, so the decisions of
			// the turn that follow need not have been made yet.
			name: "await of a ready future between decisions", recorded: scheduleAndWait(detached("d", "k", ""), aX),
			now: func(g *G) {
				d := g.Schedule(detached("d", "k", ""))
				g.Get(d)
				g.Get(g.Schedule(aX))
			},
		},
		{
			name: "ends where history scheduled", recorded: scheduleAndWait(aX), now: func(g *G) { g.Complete("early") },
			wantCode: abi.CodeOutcomeMismatch, wantIndex: 3, wantRec: history.KindActivityScheduled, wantGot: history.KindExecutionCompleted,
		},
		{
			name: "ends after the recorded decisions", recorded: scheduleAndWait(aX),
			now:      func(g *G) { g.Schedule(aX); g.Complete("early") },
			wantCode: abi.CodeExtraCommand, wantIndex: 4, wantGot: history.KindExecutionCompleted,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			x := newInst(t, false, tc.recorded)
			x.must(Suspended, started("orch", "in"))
			recorded := len(x.hist)
			x.script = tc.now
			r := x.turn(raised("poke", ""))
			if tc.wantCode == "" {
				if r.Out.State != Suspended {
					t.Fatalf("replay stopped %v (%v), want suspended", r.Out.State, r.Out.Err)
				}
				if got := kinds(x.hist[recorded:]); got != "turn_started event_raised" {
					t.Errorf("the replay recorded %q, want only the new turn's input", got)
				}
				return
			}
			var nd *replay.NondeterminismError
			if r.Out.State != Failed || !errors.As(r.Out.Err, &nd) {
				t.Fatalf("replay stopped %v (%v), want a nondeterminism failure", r.Out.State, r.Out.Err)
			}
			if nd.Code != tc.wantCode || nd.Index != tc.wantIndex {
				t.Errorf("error %v: code %s index %d, want %s at %d", nd, nd.Code, nd.Index, tc.wantCode, tc.wantIndex)
			}
			if kindOf(nd.Recorded) != tc.wantRec || kindOf(nd.Got) != tc.wantGot {
				t.Errorf("recorded %v, got %v; want %v, %v", kindOf(nd.Recorded), kindOf(nd.Got), tc.wantRec, tc.wantGot)
			}
			if nd.Recorded != nil && nd.Recorded.ID != tc.wantIndex {
				t.Errorf("recorded event has ID %d, want %d", nd.Recorded.ID, tc.wantIndex)
			}
			for _, s := range tc.mention {
				if !strings.Contains(nd.Error(), s) {
					t.Errorf("message %q does not mention %s", nd.Error(), s)
				}
			}
			// The recorded history is untouched: the failure follows the new turn's input.
			if got := kinds(x.hist[recorded:]); got != "turn_started event_raised execution_failed" {
				t.Errorf("recorded %q after the failure", got)
			}
			checkFailure(t, failureOf(x.hist), nd)
		})
	}
}

func kindOf(ev *history.Event) history.Kind {
	if ev == nil {
		return 0
	}
	return ev.Kind
}

// checkFailure verifies the failure recorded for a nondeterminism error: its code, and the
// structured diff in Details.
func checkFailure(t *testing.T, f *abi.Failure, nd *replay.NondeterminismError) {
	t.Helper()
	if f == nil || f.Kind != abi.FailureInfrastructure || f.Code != nd.Code {
		t.Fatalf("recorded failure %+v, want an infrastructure failure %s", f, nd.Code)
	}
	if strings.Count(f.Error(), nd.Code) != 1 {
		t.Errorf("failure text %q should name its code once", f.Error())
	}
	var d struct {
		Index    int64          `json:"index"`
		Recorded *history.Event `json:"recorded"`
		Got      *history.Event `json:"got"`
	}
	if err := json.Unmarshal(f.Details, &d); err != nil {
		t.Fatalf("details %s: %v", f.Details, err)
	}
	if d.Index != nd.Index || kindOf(d.Recorded) != kindOf(nd.Recorded) || kindOf(d.Got) != kindOf(nd.Got) {
		t.Errorf("details %s, want index %d recorded %v got %v", f.Details, nd.Index, kindOf(nd.Recorded), kindOf(nd.Got))
	}
	if nd.Recorded != nil && d.Recorded.Name != nd.Recorded.Name {
		t.Errorf("details name the recorded %q, want %q", d.Recorded.Name, nd.Recorded.Name)
	}
}

// TestOutcomeMismatch replays a finished execution (what a replay tool does: New, Start, run
// the code) against code that ends differently.
func TestOutcomeMismatch(t *testing.T) {
	completed := func(out string) abi.Outcome { return abi.Outcome{Kind: abi.OutcomeCompleted, Output: []byte(out)} }
	failed := func(msg string) abi.Outcome {
		return abi.Outcome{Kind: abi.OutcomeFailed, Failure: &abi.Failure{Kind: abi.FailureApplication, Code: "E", Message: msg}}
	}
	tests := []struct {
		name     string
		rec, end abi.Outcome
		other    bool // the code schedules where history recorded the end
		wantCode string
	}{
		{name: "same output", rec: completed("r"), end: completed("r")},
		{name: "same failure", rec: failed("no"), end: failed("no")},
		{name: "same continue-as-new", rec: abi.Outcome{Kind: abi.OutcomeContinuedAsNew, Input: []byte("i"), Version: "2"}, end: abi.Outcome{Kind: abi.OutcomeContinuedAsNew, Input: []byte("i"), Version: "2"}},
		{name: "other output", rec: completed("r"), end: completed("other"), wantCode: abi.CodeOutcomeMismatch},
		{name: "failed instead", rec: completed("r"), end: failed("no"), wantCode: abi.CodeOutcomeMismatch},
		{name: "other failure message", rec: failed("no"), end: failed("nope"), wantCode: abi.CodeOutcomeMismatch},
		{name: "other continue-as-new version", rec: abi.Outcome{Kind: abi.OutcomeContinuedAsNew, Version: "2"}, end: abi.Outcome{Kind: abi.OutcomeContinuedAsNew, Version: "3"}, wantCode: abi.CodeOutcomeMismatch},
		{name: "continued as new instead", rec: completed("r"), end: abi.Outcome{Kind: abi.OutcomeContinuedAsNew}, wantCode: abi.CodeOutcomeMismatch},
		{name: "schedules instead", rec: completed("r"), other: true, wantCode: abi.CodeOutcomeMismatch},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			x := newInst(t, false, func(g *G) { g.Call(act("a", "x")); g.check(g.eng.Complete(tc.rec)) })
			x.must(Suspended, started("orch", "in"))
			x.must(Completed, actDone(3, "r"))
			eng, err := replay.New(x.cfg, x.hist)
			if err != nil {
				t.Fatal(err)
			}
			if err := eng.Start(); err != nil {
				t.Fatal(err)
			}
			p := spawn(eng, func(g *G) {
				g.Call(act("a", "x"))
				if tc.other {
					g.Schedule(act("more", ""))
				}
				g.check(g.eng.Complete(tc.end))
			})
			defer p.discard()
			o := p.wait()
			if got := code(o.Err); got != tc.wantCode {
				t.Fatalf("replay stopped %v (%v), want code %q", o.State, o.Err, tc.wantCode)
			}
			if tc.wantCode == "" {
				if o.State != Completed || eng.Outcome() == nil || eng.Outcome().ID != 6 {
					t.Errorf("replay %v, outcome %+v: want the recorded end (event 6)", o.State, eng.Outcome())
				}
				if n := len(eng.History()); n != 6 {
					t.Errorf("history has %d events after a matching replay, want 6", n)
				}
				return
			}
			var nd *replay.NondeterminismError
			if !errors.As(o.Err, &nd) || nd.Index != 6 || nd.Recorded == nil || !nd.Recorded.Kind.IsTerminal() || nd.Got == nil {
				t.Errorf("error %+v, want the recorded end (event 6) and what the code did", o.Err)
			}
		})
	}
}

// TestUnmatched: a replay tool asks, when the code has ended, whether it left recorded
// decisions of its last turn unmade.
func TestUnmatched(t *testing.T) {
	x := newInst(t, false, scheduleAndWait(act("a", ""), act("b", "")))
	x.must(Suspended, started("orch", ""))
	eng, err := replay.New(x.cfg, x.hist)
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.Unmatched(); err != nil {
		t.Errorf("Unmatched before Start: %v", err)
	}
	if err := eng.Start(); err != nil {
		t.Fatal(err)
	}
	if _, err := eng.Schedule(act("a", "")); err != nil {
		t.Fatal(err)
	}
	var nd *replay.NondeterminismError
	if err := eng.Unmatched(); !errors.As(err, &nd) || nd.Code != abi.CodeMissingCommand || nd.Index != 4 {
		t.Errorf("Unmatched with b unmade: %v, want %s at 4", err, abi.CodeMissingCommand)
	}
	if _, err := eng.Schedule(act("b", "")); err != nil {
		t.Fatal(err)
	}
	if err := eng.Unmatched(); err != nil {
		t.Errorf("Unmatched with every decision made: %v", err)
	}
}

// TestReplayAnswersFromHistory checks that a replayed turn records nothing new and gives the
// guest the same answers as the live run did.
func TestReplayAnswersFromHistory(t *testing.T) {
	var seen []string
	script := func(g *G) {
		seen = seen[:0]
		a := g.Schedule(act("a", "1"))
		tm := g.Schedule(timer(time.Minute))
		seen = append(seen, g.Get(tm))
		seen = append(seen, g.Get(a))
		seen = append(seen, g.Call(child("c", "", "")))
		seen = append(seen, g.Call(act("b", "2")))
		g.Complete(strings.Join(seen, ","))
	}
	modes(t, func(t *testing.T, live bool) {
		x := newInst(t, live, script)
		x.must(Suspended, started("orch", "in"))
		x.must(Suspended, fired(4))
		x.must(Suspended, actFailed(3, "E1"))
		r := x.must(Suspended, childDone(9, "kid"))
		if r.Commit.History[len(r.Commit.History)-1].Kind != history.KindActivityScheduled {
			t.Fatalf("turn 4 recorded %s", kinds(r.Commit.History))
		}
		r = x.must(Completed, actDone(12, "b"))
		if got, want := string(r.Commit.State.Output), ",!E1,kid,b"; got != want {
			t.Errorf("output %q, want %q", got, want)
		}
		if want := "turn_started activity_completed execution_completed"; kinds(r.Commit.History) != want {
			t.Errorf("last turn recorded %q, want %q", kinds(r.Commit.History), want)
		}
	})
}
