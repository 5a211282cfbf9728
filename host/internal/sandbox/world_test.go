package sandbox

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/durohost/durohost/abi"
	"github.com/durohost/durohost/history"
	"github.com/durohost/durohost/host/internal/replay"
	"github.com/durohost/durohost/internal/testguest"
	"github.com/durohost/durohost/store"
)

// buildGuest compiles a Go guest package of the repository once per test binary.
func buildGuest(t testing.TB, pkg string, ldflags string) []byte {
	return testguest.Build(t, pkg, ldflags)
}

// activity is a fake activity: its result (or failure) arrives delay after it is scheduled.
type activity func(attempt int, input []byte) (result []byte, fail *abi.Failure, delay time.Duration)

// world is an in-memory stand-in for the runtime: instances, queues, timers and activities,
// driven turn by turn through the replay engine and the sandbox. In live mode an instance's
// guest is kept parked between turns (the fast path); otherwise every turn is a cold replay.
type world struct {
	t        testing.TB
	rt       *Runtime
	m        *Module
	live     bool
	now      int64
	inst     map[string]*winst
	order    []string
	acts     map[string]activity
	attempts map[string]int
	delayed  []delayed
	turns    int
	logs     []Log
	mu       sync.Mutex
}

type delayed struct {
	at  int64
	to  string
	ev  history.Event
	act *store.ActivityRef // set for activity completions (withdrawn on cancellation)
}

type winst struct {
	id        string
	exec      uint32
	hist      []history.Event
	past      map[uint32][]history.Event
	queue     []history.Event
	state     store.InstanceState
	eng       *replay.Engine
	guest     *Instance
	lastRes   Result
	coldTurns int
}

const epoch = int64(1_700_000_000) * 1e9

func newWorld(t testing.TB, wasm []byte, live bool, cfg Config) *world {
	t.Helper()
	w := &world{t: t, live: live, now: epoch, inst: map[string]*winst{}, acts: map[string]activity{}, attempts: map[string]int{}}
	cfg.Log = func(l Log) { w.mu.Lock(); w.logs = append(w.logs, l); w.mu.Unlock() }
	w.rt = newRuntime(t, cfg)
	m, err := w.rt.Load(context.Background(), wasm)
	if err != nil {
		t.Fatal(err)
	}
	w.m = m
	t.Cleanup(func() {
		for _, x := range w.inst {
			if x.guest != nil {
				x.guest.Close()
			}
		}
	})
	return w
}

func (w *world) instance(id string) *winst {
	x, ok := w.inst[id]
	if !ok {
		x = &winst{id: id, exec: 1, past: map[uint32][]history.Event{}}
		w.inst[id] = x
		w.order = append(w.order, id)
	}
	return x
}

func (w *world) start(id, name, input string) {
	w.send(id, history.Event{Kind: history.KindExecutionStarted, Name: name, Input: []byte(input), Time: w.now})
}

func (w *world) raise(id, name, data string) {
	w.send(id, history.Event{Kind: history.KindEventRaised, Name: name, Input: []byte(data), Time: w.now})
}

func (w *world) enqueue(id, queue, data string) {
	w.send(id, history.Event{Kind: history.KindQueueMessage, Name: queue, Input: []byte(data), Time: w.now})
}

func (w *world) send(id string, ev history.Event) {
	x := w.instance(id)
	x.queue = append(x.queue, ev)
}

// step runs one turn of the first instance that has input; false when none has.
func (w *world) step() bool {
	for _, id := range w.order {
		x := w.inst[id]
		if len(x.queue) > 0 {
			w.turn(x)
			return true
		}
	}
	return false
}

// fire delivers the earliest delayed message, advancing time; false when there is none.
func (w *world) fire() bool {
	if len(w.delayed) == 0 {
		return false
	}
	slices.SortStableFunc(w.delayed, func(a, b delayed) int { return int(a.at - b.at) })
	d := w.delayed[0]
	w.delayed = w.delayed[1:]
	w.now = max(w.now, d.at)
	w.send(d.to, d.ev)
	return true
}

// run drives the world until nothing is left to do (or maxTurns turns ran).
func (w *world) run(maxTurns int) {
	w.t.Helper()
	for w.turns < maxTurns && (w.step() || w.fire()) {
	}
	if w.turns >= maxTurns {
		w.t.Fatalf("world did not settle in %d turns", maxTurns)
	}
}

// settle runs turns while instances have input, without letting time pass.
func (w *world) settle(maxTurns int) {
	for w.turns < maxTurns && w.step() {
	}
}

// runUntil drives the world until cond holds.
func (w *world) runUntil(maxTurns int, cond func() bool) {
	w.t.Helper()
	for !cond() {
		if w.turns >= maxTurns || !(w.step() || w.fire()) {
			w.t.Fatalf("condition not reached after %d turns", w.turns)
		}
	}
}

func (w *world) turn(x *winst) {
	w.t.Helper()
	w.turns++
	inputs := x.queue
	x.queue = nil
	eng := x.eng
	if eng == nil {
		var err error
		if eng, err = replay.New(replay.Config{InstanceID: x.id, Execution: x.exec}, x.hist); err != nil {
			w.t.Fatal(err)
		}
	}
	ts, err := eng.BeginTurn(w.now, inputs)
	var res Result
	switch {
	case err != nil:
		eng.Fail(err)
		res = Result{State: Failed, Err: err}
	case ts.Run && x.guest != nil:
		res = x.guest.Run(context.Background())
	case ts.Run:
		x.coldTurns++
		g, err := w.rt.Instantiate(context.Background(), w.m, eng, x.id, x.exec)
		if err != nil {
			w.t.Fatalf("instantiate %s: %v", x.id, err)
		}
		x.guest = g
		res = g.Run(context.Background())
	}
	if ts.Run && res.State == 0 {
		w.t.Fatalf("turn of %s: transient error %v", x.id, res.Err)
	}
	x.lastRes = res
	if w.live && res.State == Suspended {
		x.eng = eng
	} else {
		if x.guest != nil {
			x.guest.Close()
		}
		x.guest, x.eng = nil, nil
	}
	c := eng.Commit()
	eng.MarkCommitted()
	x.hist = slices.Clone(eng.History())
	if c.State.Name != "" {
		x.state = c.State
	}
	w.apply(x, c)
}

func (w *world) apply(x *winst, c *store.Commit) {
	for _, a := range c.Activities {
		key := fmt.Sprintf("%s/%d/%d", a.InstanceID, a.Execution, a.EventID)
		w.attempts[a.Name]++
		fn, ok := w.acts[a.Name]
		if !ok {
			w.t.Fatalf("no fake activity %q", a.Name)
		}
		res, fail, delay := fn(w.attempts[a.Name], a.Input)
		ev := history.Event{Kind: history.KindActivityCompleted, Ref: a.EventID, Result: res, Execution: a.Execution}
		if fail != nil {
			ev = history.Event{Kind: history.KindActivityFailed, Ref: a.EventID, Failure: fail, Execution: a.Execution}
		}
		ref := a.ActivityRef
		_ = key
		w.delayed = append(w.delayed, delayed{at: w.now + int64(delay), to: a.InstanceID, ev: ev, act: &ref})
	}
	for _, ref := range c.CancelledActivities {
		w.delayed = slices.DeleteFunc(w.delayed, func(d delayed) bool { return d.act != nil && *d.act == ref })
	}
	for _, m := range c.Messages {
		if !m.VisibleAt.IsZero() && m.VisibleAt.UnixNano() > w.now {
			w.delayed = append(w.delayed, delayed{at: m.VisibleAt.UnixNano(), to: m.InstanceID, ev: m.Event})
			continue
		}
		w.send(m.InstanceID, m.Event)
	}
	if c.ContinueAsNew {
		x.past[x.exec] = x.hist
		x.exec++
		x.hist = nil
	}
}

// ok returns a fake activity answering res at once.
func ok(res string) activity {
	return func(int, []byte) ([]byte, *abi.Failure, time.Duration) { return []byte(res), nil, 0 }
}

// cacheDir is shared by every runtime of the package's tests so a guest compiles once.
var cacheDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "durohost-sandbox-test-")
	if err != nil {
		panic(err)
	}
	cacheDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
