package replay_test

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/durohost/durohost/abi"
	"github.com/durohost/durohost/history"
	"github.com/durohost/durohost/host/internal/replay"
)

// TestLimitsAndBadCalls: a call over a limit or with a bad argument fails the execution with
// its code; the failure replaces the decisions the guest made in the turn.
func TestLimitsAndBadCalls(t *testing.T) {
	big := strings.Repeat("x", 9) // over MaxPayload 8
	fits := strings.Repeat("x", 8)
	tests := []struct {
		name   string
		cfg    replay.Config
		script func(g *G)
		want   string // "": no failure
	}{
		{"events up to the limit", replay.Config{MaxEvents: 4}, func(g *G) {
			g.Schedule(act("a", ""))
			g.Get(g.Schedule(act("b", ""))) // event 4: suspends, does not fail
		}, ""},
		{"events over the limit", replay.Config{MaxEvents: 4}, func(g *G) {
			g.Schedule(act("a", ""))
			g.Schedule(act("b", ""))
			g.Schedule(act("c", ""))
		}, abi.CodeHistoryTooLong},
		{"end over the event limit", replay.Config{MaxEvents: 2}, func(g *G) { g.Complete("") }, abi.CodeHistoryTooLong},
		{"input at the payload limit", replay.Config{MaxPayload: 8}, func(g *G) { g.Schedule(act("a", fits)); g.Complete(fits) }, ""},
		{"activity input", replay.Config{MaxPayload: 8}, func(g *G) { g.Schedule(act("a", big)) }, abi.CodePayloadTooLarge},
		{"child input", replay.Config{MaxPayload: 8}, func(g *G) { g.Schedule(child("c", "", big)) }, abi.CodePayloadTooLarge},
		{"output", replay.Config{MaxPayload: 8}, func(g *G) { g.Complete(big) }, abi.CodePayloadTooLarge},
		{"custom status", replay.Config{MaxPayload: 8}, func(g *G) { g.SetStatus(big) }, abi.CodePayloadTooLarge},
		{"continue-as-new input", replay.Config{MaxPayload: 8}, func(g *G) { g.ContinueAsNew(big, "") }, abi.CodePayloadTooLarge},
		{"failure", replay.Config{MaxPayload: 8}, func(g *G) {
			g.check(g.eng.Complete(abi.Outcome{Kind: abi.OutcomeFailed, Failure: &abi.Failure{Kind: abi.FailureApplication, Message: "12345", Details: []byte("6789")}}))
		}, abi.CodePayloadTooLarge},
		{"timer with a negative delay", replay.Config{}, func(g *G) { g.Schedule(abi.Command{Kind: abi.CommandTimer, Delay: -1}) }, abi.CodeBadArgument},
		{"timer firing at the end of time", replay.Config{}, func(g *G) { g.Schedule(timer(time.Duration(math.MaxInt64 - t0))); g.Complete("") }, ""},
		{"timer overflowing time", replay.Config{}, func(g *G) { g.Schedule(timer(time.Duration(math.MaxInt64 - t0 + 1))) }, abi.CodeBadArgument},
		{"timer of the largest delay", replay.Config{}, func(g *G) { g.Schedule(timer(math.MaxInt64)) }, abi.CodeBadArgument},
		{"timer after sleeping to the end of time", replay.Config{}, func(g *G) {
			g.Sleep(math.MaxInt64)
			g.Sleep(math.MaxInt64)
			if now := g.eng.Now(); now != math.MaxInt64 {
				t.Errorf("Now() = %d after sleeping past the end of time, want %d", now, int64(math.MaxInt64))
			}
			g.Schedule(timer(0))
			g.Schedule(timer(1))
		}, abi.CodeBadArgument},
		{"failed outcome with a nondeterminism code", replay.Config{}, failWith(abi.FailureInfrastructure, abi.CodeCommandMismatch), abi.CodeBadArgument},
		{"failed outcome with a limit code as an application failure", replay.Config{}, failWith(abi.FailureApplication, abi.CodePayloadTooLarge), abi.CodeBadArgument},
		{"failed outcome with the child-failed code", replay.Config{}, failWith(abi.FailureApplication, abi.CodeChildFailed), abi.CodeBadArgument},
		{"failed outcome with an unregistered code", replay.Config{}, failWith(abi.FailureCancelled, abi.CodeUnregistered), abi.CodeBadArgument},
		{"infrastructure failure with an application code", replay.Config{}, failWith(abi.FailureInfrastructure, "declined"), abi.CodeBadArgument},
		{"infrastructure failure without a code", replay.Config{}, failWith(abi.FailureInfrastructure, ""), abi.CodeBadArgument},
		{"infrastructure failure as DH-CHILD-002", replay.Config{}, failWith(abi.FailureInfrastructure, abi.CodeInstanceExists), abi.CodeBadArgument},
		{"the SDK's own infrastructure failure", replay.Config{}, failWith(abi.FailureInfrastructure, abi.CodeUnknownOrchestration), ""},
		{"the SDK's bad message", replay.Config{}, failWith(abi.FailureInfrastructure, abi.CodeBadMessage), ""},
		{"a child's DH-CHILD-002 passed on", replay.Config{}, failWith(abi.FailureApplication, abi.CodeInstanceExists), ""},
		{"an application's own code", replay.Config{}, failWith(abi.FailureApplication, "declined"), ""},
		{"timer with a name", replay.Config{}, func(g *G) { g.Schedule(abi.Command{Kind: abi.CommandTimer, Name: "t"}) }, abi.CodeBadArgument},
		{"timer with an input", replay.Config{}, func(g *G) { g.Schedule(abi.Command{Kind: abi.CommandTimer, Input: []byte("i")}) }, abi.CodeBadArgument},
		{"command kind 0", replay.Config{}, func(g *G) { g.Schedule(abi.Command{Name: "a"}) }, abi.CodeBadMessage},
		{"unknown command kind", replay.Config{}, func(g *G) { g.Schedule(abi.Command{Kind: 99, Name: "a"}) }, abi.CodeBadMessage},
		{"activity without a name", replay.Config{}, func(g *G) { g.Schedule(act("", "i")) }, abi.CodeBadArgument},
		{"event wait without a name", replay.Config{}, func(g *G) { g.Schedule(waitEvent("")) }, abi.CodeBadArgument},
		{"own instance ID as child", replay.Config{}, func(g *G) { g.Schedule(child("c", self, "")) }, abi.CodeBadArgument},
		{"own instance ID as detached", replay.Config{}, func(g *G) { g.Schedule(detached("c", self, "")) }, abi.CodeBadArgument},
		{"failed outcome without a failure", replay.Config{}, func(g *G) { g.check(g.eng.Complete(abi.Outcome{Kind: abi.OutcomeFailed})) }, abi.CodeBadMessage},
		{"describe outcome", replay.Config{}, func(g *G) { g.check(g.eng.Complete(abi.Outcome{Kind: abi.OutcomeDescribe})) }, abi.CodeBadMessage},
		{"outcome kind 0", replay.Config{}, func(g *G) { g.check(g.eng.Complete(abi.Outcome{})) }, abi.CodeBadMessage},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			x := newInst(t, false, tc.script)
			x.cfg.MaxEvents, x.cfg.MaxPayload = tc.cfg.MaxEvents, tc.cfg.MaxPayload
			r := x.turn(started("orch", ""))
			if tc.want == "" {
				if r.Out.State == Failed {
					t.Fatalf("script failed: %v", r.Out.Err)
				}
				return
			}
			if r.Out.State != Failed || code(r.Out.Err) != tc.want {
				t.Fatalf("script %v (%v), want failed with %s", r.Out.State, r.Out.Err, tc.want)
			}
			var f *abi.Failure
			if !errors.As(r.Out.Err, &f) {
				t.Errorf("error %T, want *abi.Failure", r.Out.Err)
			}
			if got := kinds(x.hist); got != "turn_started execution_started execution_failed" {
				t.Errorf("history %q: the failure must replace the turn's decisions", got)
			}
			if f := failureOf(x.hist); f == nil || f.Code != tc.want || f.Kind != abi.FailureInfrastructure {
				t.Errorf("recorded failure %+v, want %s", f, tc.want)
			}
			if r.Commit.State.Status != 3 || len(r.Commit.Activities) != 0 {
				t.Errorf("commit state %v, activities %+v: want failed, nothing scheduled", r.Commit.State.Status, r.Commit.Activities)
			}
		})
	}
}

// failWith is a script that fails with a failure of the given kind and code.
func failWith(kind abi.FailureKind, code string) func(*G) {
	return func(g *G) { g.check(g.eng.Complete(failedWith(kind, code))) }
}

// failedWith is a failed outcome with a failure of the given kind and code.
func failedWith(kind abi.FailureKind, code string) abi.Outcome {
	return abi.Outcome{Kind: abi.OutcomeFailed, Failure: &abi.Failure{Kind: kind, Code: code, Message: "m"}}
}

// TestBadNamesAndReservedCodes: a name or instance ID that abi.CheckName refuses, and a
// failure whose code is the host's, fail the execution with DH-ABI-004 and a message naming
// the problem.
func TestBadNamesAndReservedCodes(t *testing.T) {
	long := strings.Repeat("x", abi.MaxNameLen)
	tests := []struct {
		name    string
		cfg     replay.Config
		cmd     abi.Command
		outcome *abi.Outcome
		mention []string
	}{
		{name: "activity name with a NUL", cmd: act("pay\x00ment", ""), mention: []string{"activity name", "U+0000"}},
		{name: "activity name too long", cmd: act(long+"x", ""), mention: []string{"activity name", "1025 bytes"}},
		{name: "event name with a bidi override", cmd: waitEvent("approve\u202e"), mention: []string{"wait_event name", "U+202E"}},
		{name: "queue name not UTF-8", cmd: dequeue("q\xff"), mention: []string{"dequeue name", "UTF-8"}},
		{name: "orchestration name with a newline", cmd: child("kid\n", "", ""), mention: []string{"sub_orchestration name", "U+000A"}},
		{name: "detached orchestration name with a zero-width space", cmd: detached("k\u200bid", "", ""), mention: []string{"start_orchestration name", "U+200B"}},
		{name: "child ID with an escape", cmd: child("kid", "id\x1b[2J", ""), mention: []string{"instance ID", "U+001B"}},
		{name: "detached ID with a BOM", cmd: detached("kid", "\ufeffid", ""), mention: []string{"instance ID", "U+FEFF"}},
		{name: "child ID too long once in the namespace", cfg: replay.Config{Namespace: "tenant"}, cmd: child("kid", long, ""),
			mention: []string{"instance ID", `namespace "tenant"`, "1031 bytes"}},
		{name: "derived ID too long", cfg: replay.Config{InstanceID: long}, cmd: child("kid", "", ""),
			mention: []string{"derived instance ID", "explicit instance ID"}},
		{name: "host-only code", outcome: &abi.Outcome{Kind: abi.OutcomeFailed, Failure: &abi.Failure{Kind: abi.FailureApplication, Code: abi.CodePoison}},
			mention: []string{"failed outcome", abi.CodePoison, "reserved to the host"}},
		{name: "infrastructure failure with the application's code", outcome: &abi.Outcome{Kind: abi.OutcomeFailed, Failure: &abi.Failure{Kind: abi.FailureInfrastructure, Code: "declined"}},
			mention: []string{"failed outcome", `"declined"`, "DH-ABI or DH-GUEST"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			x := newInst(t, false, func(g *G) {
				if tc.outcome != nil {
					g.check(g.eng.Complete(*tc.outcome))
					return
				}
				g.Schedule(tc.cmd)
			})
			if tc.cfg.InstanceID != "" {
				x.cfg.InstanceID = tc.cfg.InstanceID
			}
			x.cfg.Namespace = tc.cfg.Namespace
			r := x.turn(started("orch", ""))
			if r.Out.State != Failed || code(r.Out.Err) != abi.CodeBadArgument {
				t.Fatalf("script %v (%v), want failed with %s", r.Out.State, r.Out.Err, abi.CodeBadArgument)
			}
			f := failureOf(x.hist)
			if f == nil || f.Code != abi.CodeBadArgument {
				t.Fatalf("recorded failure %+v, want %s", f, abi.CodeBadArgument)
			}
			for _, m := range tc.mention {
				if !strings.Contains(f.Message, m) {
					t.Errorf("failure message %q does not mention %q", f.Message, m)
				}
			}
			if got := kinds(x.hist); got != "turn_started execution_started execution_failed" {
				t.Errorf("history %q: the failure must replace the turn's decisions", got)
			}
		})
	}
}

// TestEventLimitLiveAndReplay: MaxEvents bounds the history positions of the guest's
// decisions, so a live engine, a cold one replaying earlier turns, and one replaying a
// history recorded under a higher limit all refuse the same decision, with DH-LIMIT-004.
func TestEventLimitLiveAndReplay(t *testing.T) {
	// Turn 1: turn_started 1, execution_started 2, activity 3. Turn 2: turn_started 4,
	// activity_completed 5, then activity 6: over a limit of 3.
	script := func(g *G) {
		r := g.Call(act("a", ""))
		g.Complete(g.Call(act("b", r)))
	}
	var hists [2][]history.Event
	for i, live := range []bool{false, true} {
		x := newInst(t, live, script)
		x.cfg.MaxEvents = 3
		x.must(Suspended, started("orch", ""))
		r := x.turn(actDone(3, "r"))
		if r.Out.State != Failed || code(r.Out.Err) != abi.CodeHistoryTooLong {
			t.Fatalf("live %v: script %v (%v), want failed with %s", live, r.Out.State, r.Out.Err, abi.CodeHistoryTooLong)
		}
		if got := kinds(x.hist); got != "turn_started execution_started activity_scheduled turn_started activity_completed execution_failed" {
			t.Errorf("live %v: history %q", live, got)
		}
		hists[i] = x.hist
	}
	if !reflect.DeepEqual(hists[0], hists[1]) {
		t.Errorf("cold and live histories differ\ncold: %+v\nlive: %+v", hists[0], hists[1])
	}

	// The same run under the default limit, replayed with a limit of 3 and of 0 (the default).
	x := newInst(t, false, script)
	x.must(Suspended, started("orch", ""))
	x.must(Suspended, actDone(3, "r"))
	x.must(Completed, actDone(6, "s"))
	// The recorded history: ... turn_started 7, activity_completed 8, execution_completed 9.
	for _, tc := range []struct {
		max  int
		code string // "": the replay reaches the recorded end
	}{{3, abi.CodeHistoryTooLong}, {8, abi.CodeHistoryTooLong}, {9, ""}, {0, ""}} {
		eng, err := replay.New(replay.Config{InstanceID: self, Execution: 1, MaxEvents: tc.max}, x.hist)
		if err != nil {
			t.Fatal(err)
		}
		if err := eng.Start(); err != nil {
			t.Fatal(err)
		}
		p := spawn(eng, script)
		o := p.wait()
		p.discard()
		switch {
		case tc.code == "" && o.State != Completed:
			t.Errorf("MaxEvents %d: replay stopped %v (%v), want completed", tc.max, o.State, o.Err)
		case tc.code != "" && (o.State != Failed || code(o.Err) != tc.code):
			t.Errorf("MaxEvents %d: replay stopped %v (%v), want failed with %s", tc.max, o.State, o.Err, tc.code)
		}
	}
}

// TestConfigLimits: 0 means the documented default, a negative limit is an error.
func TestConfigLimits(t *testing.T) {
	eng, err := replay.New(replay.Config{InstanceID: self, Execution: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := replay.ConfigOf(eng); got.MaxPayload != replay.DefaultMaxPayload || got.MaxEvents != replay.DefaultMaxEvents {
		t.Errorf("limits %d, %d, want the defaults %d, %d", got.MaxPayload, got.MaxEvents, replay.DefaultMaxPayload, replay.DefaultMaxEvents)
	}
	if replay.DefaultMaxPayload != 4<<20 || replay.DefaultMaxEvents != 100000 {
		t.Errorf("defaults %d, %d differ from ABI.md's 4 MiB and 100000", replay.DefaultMaxPayload, replay.DefaultMaxEvents)
	}
	for _, cfg := range []replay.Config{{MaxPayload: -1}, {MaxEvents: -1}} {
		cfg.InstanceID, cfg.Execution = self, 1
		if _, err := replay.New(cfg, nil); !errors.Is(err, replay.ErrConfig) {
			t.Errorf("New(%+v) = %v, want ErrConfig", cfg, err)
		}
	}
}

func TestNewRejectsMalformedHistories(t *testing.T) {
	ts := func(id int64) history.Event { return history.Event{ID: id, Kind: history.KindTurnStarted, Time: t0} }
	st := func(id int64) history.Event { ev := started("orch", ""); ev.ID = id; return ev }
	ev := func(id int64, k history.Kind) history.Event { return history.Event{ID: id, Kind: k, Name: "n"} }
	tests := []struct {
		name    string
		hist    []history.Event
		mention string // "": valid
	}{
		{"empty", nil, ""},
		{"one turn", []history.Event{ts(1), st(2), ev(3, history.KindActivityScheduled)}, ""},
		{"two turns", []history.Event{ts(1), st(2), ev(3, history.KindActivityScheduled), ts(4), {ID: 5, Kind: history.KindActivityCompleted, Ref: 3}}, ""},
		{"turn without inputs", []history.Event{ts(1), st(2), ts(3)}, ""},
		{"ID gap", []history.Event{ts(1), st(3)}, "position 2 has ID 3"},
		{"IDs from 0", []history.Event{ts(0), st(1)}, "position 1 has ID 0"},
		{"repeated ID", []history.Event{ts(1), st(2), ev(2, history.KindActivityScheduled)}, "position 3 has ID 2"},
		{"no turn_started first", []history.Event{st(1), ts(2)}, "does not start with turn_started"},
		{"input after a decision", []history.Event{ts(1), st(2), ev(3, history.KindActivityScheduled), ev(4, history.KindEventRaised)}, "after a decision"},
		{"first turn without a start", []history.Event{ts(1), ev(2, history.KindEventRaised), st(3)}, "first turn does not start"},
		{"first turn without inputs", []history.Event{ts(1), ts(2), st(3)}, "first turn does not start"},
		{"only a turn marker", []history.Event{ts(1)}, "first turn does not start"},
		{"first turn with only a decision", []history.Event{ts(1), ev(2, history.KindActivityScheduled)}, "first turn does not start"},
		{"unknown kind", []history.Event{ts(1), st(2), ev(3, 0)}, "kind"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			eng, err := replay.New(replay.Config{InstanceID: self, Execution: 1}, tc.hist)
			if tc.mention == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				if len(eng.History()) != len(tc.hist) {
					t.Errorf("History has %d events, want %d", len(eng.History()), len(tc.hist))
				}
				return
			}
			if !errors.Is(err, replay.ErrCorruptHistory) || !strings.Contains(err.Error(), tc.mention) {
				t.Fatalf("New: %v, want ErrCorruptHistory mentioning %q", err, tc.mention)
			}
		})
	}
}

func TestStartNeedsATurn(t *testing.T) {
	eng, err := replay.New(replay.Config{InstanceID: self, Execution: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.Start(); !errors.Is(err, replay.ErrCorruptHistory) {
		t.Errorf("Start without a turn: %v, want ErrCorruptHistory", err)
	}
	if eng.Started() != nil || eng.Ended() || eng.StartTime() != 0 {
		t.Errorf("a new engine reports a start or an end")
	}
	if c := eng.Commit(); len(c.History) != 0 || c.State.Name != "" {
		t.Errorf("Commit of a new engine %+v, want nothing", c)
	}
}

// TestNewDoesNotAliasHistory: the engine keeps its own copy of the recorded history.
func TestNewDoesNotAliasHistory(t *testing.T) {
	x := newInst(t, false, base)
	x.must(Suspended, started("orch", "in"))
	hist := x.hist
	eng, err := replay.New(x.cfg, hist)
	if err != nil {
		t.Fatal(err)
	}
	hist[2].Name = "changed"
	if eng.History()[2].Name != "a" {
		t.Errorf("New aliases the caller's slice")
	}
}

func TestFail(t *testing.T) {
	t.Run("discards the live turn's decisions, its end included", func(t *testing.T) {
		eng := liveEngine(t, replay.Config{}, started("orch", ""), raised("e", "1"))
		eng.Schedule(act("a", ""))
		if err := eng.Complete(abi.Outcome{Kind: abi.OutcomeCompleted}); err != nil {
			t.Fatal(err)
		}
		eng.Fail(errors.New("wasm trap: unreachable"))
		if got := kinds(eng.History()); got != "turn_started execution_started event_raised execution_failed" {
			t.Fatalf("history %q", got)
		}
		f := failureOf(eng.History())
		if f.Code != abi.CodeTrap || !strings.Contains(f.Message, "unreachable") || eng.Outcome() == nil || eng.Outcome().Failure != f || !eng.Ended() {
			t.Errorf("failure %+v, outcome %+v, ended %v", f, eng.Outcome(), eng.Ended())
		}
		if c := eng.Commit(); len(c.Activities) != 0 || c.State.Status != 3 {
			t.Errorf("commit %+v: want failed, nothing scheduled", c)
		}
	})
	t.Run("keeps the code of a failure", func(t *testing.T) {
		eng := liveEngine(t, replay.Config{})
		eng.Fail(&abi.Failure{Kind: abi.FailureInfrastructure, Code: abi.CodeTurnTimeout, Message: "slow"})
		if f := failureOf(eng.History()); f == nil || f.Code != abi.CodeTurnTimeout || f.Message != "slow" {
			t.Errorf("failure %+v", f)
		}
	})
	t.Run("does nothing to a recorded end", func(t *testing.T) {
		eng := liveEngine(t, replay.Config{})
		eng.Complete(abi.Outcome{Kind: abi.OutcomeCompleted})
		eng.MarkCommitted()
		eng.Fail(errors.New("late"))
		if got := kinds(eng.History()); got != "turn_started execution_started execution_completed" || len(eng.Commit().History) != 0 {
			t.Errorf("history %q after a late Fail", got)
		}
	})
	t.Run("does nothing before the start", func(t *testing.T) {
		eng, _ := replay.New(replay.Config{InstanceID: self, Execution: 1}, nil)
		eng.BeginTurn(t0, []history.Event{raised("e", "")})
		eng.Fail(errors.New("nothing to fail"))
		if len(eng.History()) != 0 || eng.Outcome() != nil {
			t.Errorf("history %q, outcome %+v", kinds(eng.History()), eng.Outcome())
		}
	})
}

func TestIsTransient(t *testing.T) {
	for err, want := range map[error]bool{
		replay.ErrSuspended: true,
		replay.ErrEnded:     true,
		fmt.Errorf("await: %w", replay.ErrSuspended): true,
		replay.ErrCorruptHistory:                     false,
		&abi.Failure{Code: abi.CodeTrap}:             false,
	} {
		if got := replay.IsTransient(err); got != want {
			t.Errorf("IsTransient(%v) = %v, want %v", err, got, want)
		}
	}
}

// TestStartTwice: Start positions the engine once; a second call must not deliver the first
// turn's inputs again.
func TestStartTwice(t *testing.T) {
	eng := liveEngine(t, replay.Config{}, started("orch", ""), raised("e", "1"))
	if err := eng.Start(); err != nil {
		t.Fatal(err)
	}
	first, _ := eng.Schedule(waitEvent("e"))
	second, _ := eng.Schedule(waitEvent("e"))
	if _, ok, _ := eng.Result(first); !ok {
		t.Error("the first subscription did not get the event")
	}
	if _, ok, _ := eng.Result(second); ok {
		t.Error("the second subscription got an event: the inputs were delivered twice")
	}
}

// TestSetStatusEmpty: the sandbox passes nil for a zero-length status; it is an empty status,
// not none.
func TestSetStatusEmpty(t *testing.T) {
	eng := liveEngine(t, replay.Config{})
	if err := eng.SetStatus(nil, false); err != nil {
		t.Fatal(err)
	}
	if s := eng.CustomStatus(); s == nil || len(s) != 0 {
		t.Errorf("CustomStatus() = %#v, want empty, not nil", s)
	}
	if s := eng.Commit().State.CustomStatus; s == nil || len(s) != 0 {
		t.Errorf("state custom status %#v, want empty, not nil", s)
	}
}
