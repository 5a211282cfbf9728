package replay_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/durohost/durohost/abi"
	"github.com/durohost/durohost/history"
	"github.com/durohost/durohost/host/internal/replay"
)

// TestAwaitFirstInHistory checks that a wait for any of several futures returns the one
// whose completion comes first in history, whatever the order of the handles.
func TestAwaitFirstInHistory(t *testing.T) {
	tests := []struct {
		name       string
		firstAlone bool // wait for a alone first, then for any of the rest
		reversed   bool // name the handles in reverse order
		turns      [][]history.Event
		want       string
	}{
		{
			name:  "one batch",
			turns: [][]history.Event{{actDone(5, "c"), actDone(3, "a")}, {actDone(4, "b")}},
			want:  "c,a,b",
		},
		{
			name: "one batch, handles reversed", reversed: true,
			turns: [][]history.Event{{actDone(5, "c"), actDone(3, "a")}, {actDone(4, "b")}},
			want:  "c,a,b",
		},
		{
			name: "completions while waiting for another", firstAlone: true,
			turns: [][]history.Event{{actDone(5, "c")}, {actDone(4, "b")}, {actDone(3, "a")}},
			want:  "a,c,b",
		},
		{
			name: "completions while waiting for another, handles reversed", firstAlone: true, reversed: true,
			turns: [][]history.Event{{actDone(4, "b")}, {actDone(5, "c")}, {actDone(3, "a")}},
			want:  "a,b,c",
		},
		{
			name:  "failures count as completions",
			turns: [][]history.Event{{actFailed(4, "E"), actDone(3, "a"), actDone(5, "c")}},
			want:  "!E,a,c",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			script := func(g *G) {
				hs := []int64{g.Schedule(act("a", "")), g.Schedule(act("b", "")), g.Schedule(act("c", ""))}
				var order []string
				if tc.firstAlone {
					order = append(order, g.Get(hs[0]))
					hs = hs[1:]
				}
				if tc.reversed {
					slices.Reverse(hs)
				}
				for len(hs) > 0 {
					i := g.Await(hs...)
					order = append(order, text(g.Result(hs[i])))
					hs = slices.Delete(hs, i, i+1)
				}
				g.Complete(strings.Join(order, ","))
			}
			modes(t, func(t *testing.T, live bool) {
				x := newInst(t, live, script)
				x.must(Suspended, started("orch", ""))
				var r turnResult
				for _, in := range tc.turns {
					r = x.turn(in...)
				}
				if r.Out.State != Completed || string(r.Commit.State.Output) != tc.want {
					t.Errorf("script %v (%v), output %q; want completed with %q", r.Out.State, r.Out.Err, r.Commit.State.Output, tc.want)
				}
			})
		})
	}
}

// TestAwaitReadyStartComesFirst: a detached start is complete at its own decision, earlier in
// history than any completion that arrives later.
func TestAwaitReadyStartComesFirst(t *testing.T) {
	modes(t, func(t *testing.T, live bool) {
		var got []int
		x := newInst(t, live, func(g *G) {
			got = got[:0]
			a := g.Schedule(act("a", ""))
			g.Await(g.Schedule(timer(time.Minute)))
			d := g.Schedule(detached("d", "", ""))
			got = append(got, g.Await(a, d), g.Await(d, a))
			g.Complete("")
		})
		x.must(Suspended, started("orch", ""))
		x.must(Suspended, actDone(3, "a"))
		x.must(Completed, fired(4))
		// a completed (event 6) before d was decided (event 9): a wins either way.
		if !slices.Equal(got, []int{0, 1}) {
			t.Errorf("await answers %v, want [0 1]", got)
		}
	})
}

func TestStartOrchestrationFuture(t *testing.T) {
	tests := []struct {
		name      string
		execution uint32
		cmd       abi.Command
		want      string
	}{
		{"derived", 1, detached("d", "", "in"), "inst:1:3"},
		{"derived in a later execution", 4, detached("d", "", "in"), "inst:4:3"},
		{"explicit", 1, detached("d", "other", "in"), "other"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			eng := liveEngine(t, replay.Config{InstanceID: self, Execution: tc.execution}, toExec(started("orch", ""), tc.execution))
			h, err := eng.Schedule(tc.cmd)
			if err != nil || h != 3 {
				t.Fatalf("Schedule = %d, %v; want handle 3", h, err)
			}
			// Ready at once: no turn follows, and Await does not suspend.
			if i, err := eng.Await([]int64{h}); i != 0 || err != nil {
				t.Fatalf("Await = %d, %v; want 0, nil", i, err)
			}
			c, ok, err := eng.Result(h)
			if !ok || err != nil || string(c.Result) != tc.want || c.Failure != nil {
				t.Fatalf("Result = %+v, %v, %v; want %q", c, ok, err, tc.want)
			}
			if id := eng.History()[h-1].InstanceID; id != tc.want {
				t.Errorf("recorded instance ID %q, want %q", id, tc.want)
			}
			var to []string
			for _, m := range eng.Commit().Messages {
				to = append(to, m.InstanceID)
			}
			if !slices.Equal(to, []string{tc.want}) {
				t.Errorf("start message sent to %q, want %q", to, tc.want)
			}
		})
	}
}

func TestHandleErrors(t *testing.T) {
	tests := []struct {
		name string
		call func(e *replay.Engine, pending, released int64) error
		want string
	}{
		{"await of no handle", func(e *replay.Engine, _, _ int64) error { _, err := e.Await(nil); return err }, abi.CodeBadArgument},
		{"await of too many handles", func(e *replay.Engine, p, _ int64) error {
			_, err := e.Await(slices.Repeat([]int64{p}, abi.MaxAwaitHandles+1))
			return err
		}, abi.CodeBadArgument},
		{"await of an unknown handle", func(e *replay.Engine, p, _ int64) error { _, err := e.Await([]int64{p, 99}); return err }, abi.CodeUnknownHandle},
		{"await of handle 0", func(e *replay.Engine, _, _ int64) error { _, err := e.Await([]int64{0}); return err }, abi.CodeUnknownHandle},
		{"await of a released handle", func(e *replay.Engine, p, rel int64) error { _, err := e.Await([]int64{p, rel}); return err }, abi.CodeUnknownHandle},
		{"result of an unknown handle", func(e *replay.Engine, _, _ int64) error { _, _, err := e.Result(99); return err }, abi.CodeUnknownHandle},
		{"result of a released handle", func(e *replay.Engine, _, rel int64) error { _, _, err := e.Result(rel); return err }, abi.CodeUnknownHandle},
		{"cancel of an unknown handle", func(e *replay.Engine, _, _ int64) error { return e.Cancel(99) }, abi.CodeUnknownHandle},
		{"cancel of a released handle", func(e *replay.Engine, _, rel int64) error { return e.Cancel(rel) }, abi.CodeUnknownHandle},
		{"cancel twice", func(e *replay.Engine, p, _ int64) error {
			if err := e.Cancel(p); err != nil {
				return fmt.Errorf("first cancel: %w", err)
			}
			return e.Cancel(p)
		}, abi.CodeUnknownHandle},
		{"await of the most handles", func(e *replay.Engine, p, _ int64) error {
			_, err := e.Await(slices.Repeat([]int64{p}, abi.MaxAwaitHandles))
			if errors.Is(err, replay.ErrSuspended) {
				return nil
			}
			return err
		}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			eng := liveEngine(t, replay.Config{})
			pending, _ := eng.Schedule(act("a", ""))
			released, _ := eng.Schedule(detached("d", "", ""))
			if _, ok, err := eng.Result(released); !ok || err != nil {
				t.Fatalf("Result of a detached start: %v, %v", ok, err)
			}
			eng.Release(released)
			err := tc.call(eng, pending, released)
			if got := code(err); got != tc.want {
				t.Fatalf("error %v, want code %q", err, tc.want)
			}
			var f *abi.Failure
			if err != nil && (!errors.As(err, &f) || f.Kind != abi.FailureInfrastructure) {
				t.Errorf("error %T %v, want an infrastructure *abi.Failure", err, err)
			}
		})
	}
}

func TestResultOfPendingFuture(t *testing.T) {
	eng := liveEngine(t, replay.Config{})
	h, _ := eng.Schedule(act("a", ""))
	c, ok, err := eng.Result(h)
	if ok || err != nil || c.Result != nil || c.Failure != nil {
		t.Fatalf("Result of a pending future = %+v, %v, %v; want not ready", c, ok, err)
	}
	if _, err := eng.Await([]int64{h}); !errors.Is(err, replay.ErrSuspended) {
		t.Fatalf("Await after a not-ready Result: %v, want ErrSuspended (the handle is still live)", err)
	}
}

func TestCallsAfterComplete(t *testing.T) {
	outcomes := map[string]abi.Outcome{
		"completed":        {Kind: abi.OutcomeCompleted, Output: []byte("o")},
		"failed":           {Kind: abi.OutcomeFailed, Failure: &abi.Failure{Kind: abi.FailureApplication, Message: "no"}},
		"continued_as_new": {Kind: abi.OutcomeContinuedAsNew, Input: []byte("i")},
	}
	calls := map[string]func(e *replay.Engine, h int64) error{
		"schedule":   func(e *replay.Engine, _ int64) error { _, err := e.Schedule(act("a", "")); return err },
		"await":      func(e *replay.Engine, h int64) error { _, err := e.Await([]int64{h}); return err },
		"result":     func(e *replay.Engine, h int64) error { _, _, err := e.Result(h); return err },
		"cancel":     func(e *replay.Engine, h int64) error { return e.Cancel(h) },
		"set_status": func(e *replay.Engine, _ int64) error { return e.SetStatus([]byte("s"), false) },
		"complete":   func(e *replay.Engine, _ int64) error { return e.Complete(abi.Outcome{Kind: abi.OutcomeCompleted}) },
	}
	for oname, o := range outcomes {
		for cname, call := range calls {
			t.Run(oname+"/"+cname, func(t *testing.T) {
				eng := liveEngine(t, replay.Config{})
				h, _ := eng.Schedule(detached("d", "", "")) // complete and unread
				if err := eng.Complete(o); err != nil {
					t.Fatal(err)
				}
				n := len(eng.History())
				if err := call(eng, h); code(err) != abi.CodeAfterComplete {
					t.Errorf("error %v, want %s", err, abi.CodeAfterComplete)
				}
				if len(eng.History()) != n {
					t.Errorf("the call after complete recorded %s", kinds(eng.History()[n:]))
				}
			})
		}
	}
}

// TestTimeAndReplaying checks Now (turn time plus time slept), IsReplaying (true in recorded
// turns only), StartInfo, and the time stamped on decisions and timers.
func TestTimeAndReplaying(t *testing.T) {
	type obs struct {
		now       int64
		replaying bool
	}
	const (
		turn2 = t0 + int64(2*time.Minute)
		turn3 = t0 + int64(5*time.Minute)
	)
	modes(t, func(t *testing.T, live bool) {
		var seen []obs
		var info abi.StartInfo
		see := func(g *G) { seen = append(seen, obs{g.eng.Now(), g.eng.IsReplaying()}) }
		x := newInst(t, live, func(g *G) {
			seen = seen[:0]
			info = g.Info()
			see(g)
			g.Sleep(5 * time.Second)
			g.Get(g.Schedule(timer(time.Minute)))
			see(g)
			g.Sleep(7 * time.Second)
			g.Sleep(-time.Hour) // ignored
			g.Get(g.Schedule(act("a", "")))
			see(g)
			g.Complete("")
		})
		start := started("orch", "in")
		start.ParentID, start.CustomStatus = "papa", []byte("carried")
		x.must(Suspended, start)
		x.now = turn2
		x.must(Suspended, fired(3))
		x.now = turn3
		r := x.must(Completed, actDone(6, "r"))

		want := []obs{
			{t0, false},
			{turn2, false}, // the 5 s slept in turn 1 are already behind turn 2's time
			{turn3, false},
		}
		if !live {
			want[0].replaying, want[1].replaying = true, true
		}
		if !slices.Equal(seen, want) {
			t.Errorf("Now/IsReplaying seen %+v, want %+v", seen, want)
		}
		wantInfo := abi.StartInfo{Mode: abi.ModeRun, Name: "orch", InstanceID: self, ExecutionID: 1,
			Input: []byte("in"), ParentID: "papa", CustomStatus: []byte("carried"), StartTime: t0}
		if fmt.Sprint(info) != fmt.Sprint(wantInfo) {
			t.Errorf("StartInfo %+v, want %+v", info, wantInfo)
		}
		if got := r.Eng.StartTime(); got != t0 {
			t.Errorf("StartTime %d, want %d", got, t0)
		}
		h := x.hist
		if tm := h[2]; tm.Kind != history.KindTimerCreated || tm.Time != t0+int64(5*time.Second) || tm.FireAt != t0+int64(65*time.Second) {
			t.Errorf("timer %s at %d firing at %d, want decided after the sleep", tm.Kind, tm.Time, tm.FireAt)
		}
		if a := h[5]; a.Kind != history.KindActivityScheduled || a.Time != turn2+int64(7*time.Second) {
			t.Errorf("activity %s at %d, want at turn 2 plus the 7s slept in it", a.Kind, a.Time)
		}
		if end := h[len(h)-1]; end.Time != turn3 {
			t.Errorf("end at %d, want at turn 3", end.Time)
		}
	})
}

// TestTimeNeverGoesBack: a turn whose time is earlier than the logical time the previous
// turn reached by sleeping starts from the latter, so time.Now never goes back and a sleep
// is counted once.
func TestTimeNeverGoesBack(t *testing.T) {
	modes(t, func(t *testing.T, live bool) {
		var seen []int64
		x := newInst(t, live, func(g *G) {
			seen = seen[:0]
			g.Sleep(time.Hour)
			seen = append(seen, g.eng.Now())
			g.Get(g.Schedule(waitEvent("go")))
			seen = append(seen, g.eng.Now())
			g.Complete("")
		})
		x.must(Suspended, started("orch", ""))
		x.now = t0 + int64(time.Minute)
		x.must(Completed, raised("go", "1"))
		want := []int64{t0 + int64(time.Hour), t0 + int64(time.Hour)}
		if !slices.Equal(seen, want) {
			t.Errorf("Now seen %v, want %v", seen, want)
		}
	})
}

// TestChildIDsStayInTheNamespace: an orchestration of namespace ns cannot address instances
// outside its namespace with the IDs it chooses for children and detached starts; the
// namespace comes from Config.Namespace, never from the instance ID.
func TestChildIDsStayInTheNamespace(t *testing.T) {
	tests := []struct{ ns, chosen, want string }{
		{"a", "x", "a/x"},
		{"a", "b/victim", "a/b/victim"},
		{"a", "a/kid", "a/kid"},
		{"a", "ab/kid", "a/ab/kid"}, // a prefix of the namespace's name is not the namespace
		{"a", "a", "a/a"},
		{"", "b/any", "b/any"}, // the default namespace: IDs are taken as given
		{"", "x", "x"},
		{"a", "", ""},
	}
	for _, tc := range tests {
		if got := replay.Scoped(tc.ns, tc.chosen); got != tc.want {
			t.Errorf("scoped(%q, %q) = %q, want %q", tc.ns, tc.chosen, got, tc.want)
		}
	}
}

// TestScheduleScopesChildIDs: the scoped ID is what history records and where the child
// starts; the start carries the namespace. An instance ID holding '/' without a configured
// namespace scopes nothing.
func TestScheduleScopesChildIDs(t *testing.T) {
	tests := []struct {
		name, self, ns, chosen string
		want                   string
	}{
		{"namespace from the config", "a/p", "a", "b/victim", "a/b/victim"},
		{"another namespace than the ID suggests", "a/p", "z", "kid", "z/kid"},
		{"no namespace, a slash in the ID", "a/p", "", "b/victim", "b/victim"},
		{"derived IDs keep the parent's key", "a/p", "a", "", "a/p:1:3"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, cmd := range []abi.Command{child("kid", tc.chosen, ""), detached("kid", tc.chosen, "")} {
				eng := liveEngine(t, replay.Config{InstanceID: tc.self, Execution: 1, Namespace: tc.ns})
				if _, err := eng.Schedule(cmd); err != nil {
					t.Fatal(err)
				}
				c := eng.Commit()
				if len(c.Messages) != 1 || c.Messages[0].InstanceID != tc.want || c.Messages[0].Namespace != tc.ns {
					t.Fatalf("%s: start messages %+v, want one to %s in namespace %q", cmd.Kind, c.Messages, tc.want, tc.ns)
				}
				if got := eng.History()[2].InstanceID; got != tc.want {
					t.Errorf("%s: history records instance %q, want %q", cmd.Kind, got, tc.want)
				}
				if c.State.Namespace != tc.ns {
					t.Errorf("%s: state namespace %q, want %q", cmd.Kind, c.State.Namespace, tc.ns)
				}
			}
		})
	}
}
