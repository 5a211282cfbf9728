package replay_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/durohost/durohost/abi"
	"github.com/durohost/durohost/history"
	"github.com/durohost/durohost/host/internal/replay"
	"github.com/durohost/durohost/store"
)

// This file is the tests' stand-in for a WebAssembly guest and the sandbox around it. A guest
// is a Go function (a script) that makes ABI calls through a *G. A script runs in its own
// goroutine, like a guest inside the sandbox: when Await answers ErrSuspended the goroutine
// parks, and the driver either resumes it after the next BeginTurn (live mode, the fast path)
// or discards it (cold mode: the next turn replays a fresh run of the script from the start).

const (
	t0   = int64(1_700_000_000) * 1e9 // logical time of the first turn
	self = "inst"                     // the instance ID of the execution under test
)

// State says where a script stopped, as sandbox.State does.
type State uint8

const (
	// Suspended: parked in Await (ErrSuspended).
	Suspended State = iota + 1
	// Completed: the script called Complete and returned.
	Completed
	// Failed: an engine call failed (the error stopped the script) or it returned without
	// completing; the driver recorded the failure with Engine.Fail.
	Failed
	// Ended: parked in Await because replay reached an end decided by the host (ErrEnded).
	Ended
)

func (s State) String() string {
	return [...]string{"not run", "suspended", "completed", "failed", "ended"}[s]
}

// outcome is how a script stopped; Err is set for Failed.
type outcome struct {
	State State
	Err   error
}

// G is what a script sees: one method per ABI call. An engine error stops the script (the
// guest fails); an Await that must suspend parks it.
type G struct {
	eng  *replay.Engine
	park func(State)
}

// stop unwinds a script whose ABI call failed; discarded unwinds a parked script that the
// driver throws away.
type (
	stop      struct{ err error }
	discarded struct{}
)

func (g *G) check(err error) {
	if err != nil {
		panic(stop{err})
	}
}

// Engine gives a script direct access, for calls whose error it wants to look at itself.
func (g *G) Engine() *replay.Engine { return g.eng }

func (g *G) Info() abi.StartInfo { return g.eng.StartInfo() }

func (g *G) Schedule(cmd abi.Command) int64 {
	h, err := g.eng.Schedule(cmd)
	g.check(err)
	return h
}

// Await waits for one of hs, parking the script while the engine says to suspend.
func (g *G) Await(hs ...int64) int {
	for {
		i, err := g.eng.Await(hs)
		switch {
		case err == nil:
			return i
		case errors.Is(err, replay.ErrSuspended):
			g.park(Suspended)
		case errors.Is(err, replay.ErrEnded):
			g.park(Ended)
		default:
			panic(stop{err})
		}
	}
}

// Result reads a complete future and releases its handle, as the sandbox's result does.
func (g *G) Result(h int64) abi.Completion {
	c, ok, err := g.eng.Result(h)
	g.check(err)
	if !ok {
		panic(stop{fmt.Errorf("result of handle %d: not ready", h)})
	}
	g.eng.Release(h)
	return c
}

// Get awaits one future and returns its result as text ("!code" for a failure).
func (g *G) Get(h int64) string {
	g.Await(h)
	return text(g.Result(h))
}

// Call schedules a command and waits for its result.
func (g *G) Call(cmd abi.Command) string { return g.Get(g.Schedule(cmd)) }

func (g *G) Cancel(h int64)        { g.check(g.eng.Cancel(h)) }
func (g *G) SetStatus(s string)    { g.check(g.eng.SetStatus([]byte(s), false)) }
func (g *G) ClearStatus()          { g.check(g.eng.SetStatus(nil, true)) }
func (g *G) Sleep(d time.Duration) { g.eng.Sleep(int64(d)) }
func (g *G) Complete(out string) {
	g.check(g.eng.Complete(abi.Outcome{Kind: abi.OutcomeCompleted, Output: []byte(out)}))
}
func (g *G) ContinueAsNew(input, version string) {
	g.check(g.eng.Complete(abi.Outcome{Kind: abi.OutcomeContinuedAsNew, Input: []byte(input), Version: version}))
}

// text renders a completion: its result, or "!" and its failure code.
func text(c abi.Completion) string {
	if c.Failure != nil {
		return "!" + c.Failure.Code
	}
	return string(c.Result)
}

// Commands.
func act(name, input string) abi.Command {
	return abi.Command{Kind: abi.CommandActivity, Name: name, Input: []byte(input)}
}
func timer(d time.Duration) abi.Command { return abi.Command{Kind: abi.CommandTimer, Delay: int64(d)} }
func waitEvent(name string) abi.Command { return abi.Command{Kind: abi.CommandWaitEvent, Name: name} }
func dequeue(name string) abi.Command   { return abi.Command{Kind: abi.CommandDequeue, Name: name} }
func child(name, id, input string) abi.Command {
	return abi.Command{Kind: abi.CommandSubOrchestration, Name: name, InstanceID: id, Input: []byte(input)}
}
func detached(name, id, input string) abi.Command {
	return abi.Command{Kind: abi.CommandStartOrchestration, Name: name, InstanceID: id, Input: []byte(input)}
}

// Inputs.
func started(name, input string) history.Event {
	return history.Event{Kind: history.KindExecutionStarted, Name: name, Input: []byte(input), Time: t0}
}
func actDone(ref int64, result string) history.Event {
	return history.Event{Kind: history.KindActivityCompleted, Ref: ref, Result: []byte(result)}
}
func actFailed(ref int64, code string) history.Event {
	return history.Event{Kind: history.KindActivityFailed, Ref: ref, Failure: &abi.Failure{Kind: abi.FailureApplication, Code: code, Message: "boom"}}
}
func fired(ref int64) history.Event { return history.Event{Kind: history.KindTimerFired, Ref: ref} }
func childDone(ref int64, result string) history.Event {
	return history.Event{Kind: history.KindSubOrchestrationCompleted, Ref: ref, Result: []byte(result)}
}
func childFailed(ref int64, kind abi.FailureKind, code string) history.Event {
	return history.Event{Kind: history.KindSubOrchestrationFailed, Ref: ref, Failure: &abi.Failure{Kind: kind, Code: code, Message: "child broke", Details: []byte(`{"why":1}`)}}
}
func raised(name, data string) history.Event {
	return history.Event{Kind: history.KindEventRaised, Name: name, Input: []byte(data)}
}
func queued(name, data string) history.Event {
	return history.Event{Kind: history.KindQueueMessage, Name: name, Input: []byte(data)}
}
func cancelReq(reason string) history.Event {
	return history.Event{Kind: history.KindCancelRequested, Input: []byte(reason)}
}
func toExec(ev history.Event, execution uint32) history.Event { ev.Execution = execution; return ev }

// kinds renders events as their kind names, space-separated: the shape of a history.
func kinds(evs []history.Event) string {
	s := make([]string, len(evs))
	for i, ev := range evs {
		s[i] = ev.Kind.String()
	}
	return strings.Join(s, " ")
}

// proc is a running script.
type proc struct {
	eng    *replay.Engine
	resume chan bool // true: carry on after a suspension; false: discard
	out    chan outcome
	parked bool
}

func spawn(eng *replay.Engine, script func(*G)) *proc {
	p := &proc{eng: eng, resume: make(chan bool), out: make(chan outcome)}
	g := &G{eng: eng, park: func(s State) {
		p.out <- outcome{State: s}
		if !<-p.resume {
			panic(discarded{})
		}
	}}
	go func() { p.out <- run(g, script) }()
	return p
}

func run(g *G, script func(*G)) (o outcome) {
	defer func() {
		switch r := recover().(type) {
		case nil:
			o = outcome{State: Completed}
			if g.eng.Outcome() == nil {
				o = outcome{State: Failed, Err: errors.New("the script returned without completing")}
			}
		case stop:
			o = outcome{State: Failed, Err: r.err}
		case discarded:
			o = outcome{}
		default:
			o = outcome{State: Failed, Err: fmt.Errorf("script panicked: %v", r)}
		}
	}()
	script(g)
	return o
}

func (p *proc) wait() outcome {
	o := <-p.out
	p.parked = o.State == Suspended || o.State == Ended
	return o
}

// carryOn resumes a parked script.
func (p *proc) carryOn() outcome { p.resume <- true; return p.wait() }

// discard unwinds a parked script and waits until its goroutine has finished.
func (p *proc) discard() {
	if p.parked {
		p.parked = false
		p.resume <- false
		<-p.out
	}
}

// inst drives one execution turn by turn, the way the orchestration dispatcher does: cold
// (a new engine and a fresh run of the script every turn) or live (the engine and the parked
// script are kept between turns).
type inst struct {
	t      *testing.T
	cfg    replay.Config
	script func(*G)
	live   bool
	now    int64
	hist   []history.Event // the durable history
	eng    *replay.Engine  // live mode: kept between turns
	proc   *proc           // live mode: the parked script
	runs   int             // how many times the script was started
}

func newInst(t *testing.T, live bool, script func(*G)) *inst {
	t.Helper()
	x := &inst{t: t, cfg: replay.Config{InstanceID: self, Execution: 1}, script: script, live: live, now: t0}
	t.Cleanup(func() {
		if x.proc != nil {
			x.proc.discard()
		}
	})
	return x
}

// turnResult is what one turn did.
type turnResult struct {
	TS     replay.TurnStart
	Err    error   // BeginTurn's error
	Out    outcome // how the script stopped (zero when it did not run)
	Commit *store.Commit
	Eng    *replay.Engine
}

// turn runs one turn with the given inputs, commits it and returns what it did.
func (x *inst) turn(inputs ...history.Event) turnResult {
	x.t.Helper()
	eng := x.eng
	if eng == nil {
		var err error
		if eng, err = replay.New(x.cfg, x.hist); err != nil {
			x.t.Fatalf("New: %v", err)
		}
	}
	var r turnResult
	r.TS, r.Err = eng.BeginTurn(x.now, inputs)
	switch {
	case r.Err != nil:
		eng.Fail(r.Err)
	case r.TS.Run && x.proc != nil:
		r.Out = x.proc.carryOn()
	case r.TS.Run:
		if err := eng.Start(); err != nil {
			x.t.Fatalf("Start: %v", err)
		}
		x.runs++
		x.proc = spawn(eng, x.script)
		r.Out = x.proc.wait()
	}
	if r.Out.State == Failed {
		eng.Fail(r.Out.Err)
	}
	if x.live && !eng.Ended() && x.proc != nil && x.proc.parked {
		x.eng = eng
	} else {
		if x.proc != nil {
			x.proc.discard()
		}
		x.proc, x.eng = nil, nil
	}
	r.Commit = eng.Commit()
	eng.MarkCommitted()
	x.hist = stored(x.t, eng.History())
	r.Eng = eng
	return r
}

// stored returns a history as a store gives it back: each event encoded and decoded.
func stored(t *testing.T, evs []history.Event) []history.Event {
	t.Helper()
	out := make([]history.Event, len(evs))
	for i, ev := range evs {
		b, err := ev.Encode()
		if err != nil {
			t.Fatalf("encode event %d: %v", ev.ID, err)
		}
		if out[i], err = history.Decode(b); err != nil {
			t.Fatalf("decode event %d: %v", ev.ID, err)
		}
	}
	return out
}

// must runs a turn that must reach the given state.
func (x *inst) must(want State, inputs ...history.Event) turnResult {
	x.t.Helper()
	r := x.turn(inputs...)
	if r.Err != nil || r.Out.State != want {
		x.t.Fatalf("turn: BeginTurn error %v, script %v (%v); want %v\nhistory: %s", r.Err, r.Out.State, r.Out.Err, want, kinds(x.hist))
	}
	return r
}

// modes runs f in cold mode and in live mode.
func modes(t *testing.T, f func(t *testing.T, live bool)) {
	for _, live := range []bool{false, true} {
		name := "cold"
		if live {
			name = "live"
		}
		t.Run(name, func(t *testing.T) { f(t, live) })
	}
}

// failureOf returns the failure recorded at the end of a history (nil if it does not end
// with execution_failed).
func failureOf(hist []history.Event) *abi.Failure {
	if n := len(hist); n > 0 && hist[n-1].Kind == history.KindExecutionFailed {
		return hist[n-1].Failure
	}
	return nil
}

// code returns the failure code an engine error carries ("" if none).
func code(err error) string {
	if err == nil {
		return ""
	}
	return replay.AsFailure(err).Code
}

// liveEngine returns a started engine at the live edge of a new execution's first turn, for
// tests that call its methods directly.
func liveEngine(t *testing.T, cfg replay.Config, inputs ...history.Event) *replay.Engine {
	t.Helper()
	if cfg.InstanceID == "" {
		cfg.InstanceID, cfg.Execution = self, 1
	}
	eng, err := replay.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(inputs) == 0 {
		inputs = []history.Event{started("orch", "in")}
	}
	ts, err := eng.BeginTurn(t0, inputs)
	if err != nil || !ts.Run {
		t.Fatalf("BeginTurn: %+v, %v", ts, err)
	}
	if err := eng.Start(); err != nil {
		t.Fatal(err)
	}
	return eng
}
