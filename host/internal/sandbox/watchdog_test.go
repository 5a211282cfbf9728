package sandbox

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/durohost/durohost/history"
	"github.com/durohost/durohost/host/internal/replay"
	"github.com/durohost/durohost/store"
)

// slowSpin returns the iterations of the guest's "slow" orchestration that make one turn cost
// about want on this machine (measured, to size the test, never asserted).
func slowSpin(t *testing.T, wasm []byte, want time.Duration) int {
	t.Helper()
	const probe = 2_000_000
	w := newWorld(t, wasm, true, Config{})
	w.start("probe", "slow", fmt.Sprintf(`{"Turns":1,"Spin":%d}`, probe))
	begin := time.Now()
	w.settle(1)
	took := max(time.Since(begin), time.Millisecond)
	return max(int(float64(probe)*float64(want)/float64(took)), 1000)
}

// TestReplayBudgetIsSeparate: a guest that uses part of its turn budget in every turn gets
// the same outcome and history whether each turn resumes a live instance or replays its whole
// history cold: the turn budget covers the live part of a turn, and the replay of recorded
// history has a budget of its own. A cold replay that outlasts that budget is the host's
// problem: the turn is to be retried (ErrReplayTimeout), nothing is recorded.
func TestReplayBudgetIsSeparate(t *testing.T) {
	wasm := buildGuest(t, featuresGuest, "")
	const budget = 200 * time.Millisecond
	spin := slowSpin(t, wasm, budget/8)
	input := fmt.Sprintf(`{"Turns":16,"Spin":%d}`, spin) // the last cold turn replays ~2 budgets

	var hists [2][]byte
	for k, live := range []bool{true, false} {
		w := newWorld(t, wasm, live, Config{TurnTimeout: budget, TurnWallTimeout: time.Minute})
		w.start("i", "slow", input)
		w.run(100)
		x := w.inst["i"]
		if x.state.Status != store.StatusCompleted {
			t.Fatalf("live=%v: status %v failure %+v", live, x.state.Status, x.state.Failure)
		}
		if !live && x.coldTurns < 16 {
			t.Fatalf("cold world ran %d cold turns, want every turn cold", x.coldTurns)
		}
		hists[k] = encodeHistory(t, x.hist)
	}
	if string(hists[0]) != string(hists[1]) {
		t.Fatal("live and cold runs recorded different histories")
	}

	// The whole history replayed cold within a replay budget too short for it.
	w := newWorld(t, wasm, true, Config{TurnTimeout: budget, TurnWallTimeout: time.Minute})
	w.start("i", "slow", input)
	w.run(100)
	rt := newRuntime(t, Config{ReplayTimeout: budget / 4})
	m, err := rt.Load(context.Background(), wasm)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := replay.New(replay.Config{InstanceID: "i", Execution: 1}, w.inst["i"].hist)
	if err != nil {
		t.Fatal(err)
	}
	inst, err := rt.Instantiate(context.Background(), m, eng, "i", 1)
	if err != nil {
		t.Fatal(err)
	}
	defer inst.Close()
	res := inst.Run(context.Background())
	if res.State != 0 || !errors.Is(res.Err, ErrReplayTimeout) || !Transient(res.Err) {
		t.Fatalf("replay over budget: state %v err %v, want a transient ErrReplayTimeout", res.State, res.Err)
	}
	if f := eng.Outcome(); f != nil {
		t.Fatalf("a replay over budget recorded %v", f.Kind)
	}
}

// TestWallBudgetIsTransient: a live turn that reaches its wall-time budget before its CPU
// budget is the host's problem (ErrHostBusy), not recorded; the CPU budget is the guest's.
func TestWallBudgetIsTransient(t *testing.T) {
	if !cpuTimeSupported {
		t.Skip("turn budgets are wall time on this platform")
	}
	wasm := buildGuest(t, featuresGuest, "")
	rt := newRuntime(t, Config{TurnTimeout: time.Hour, TurnWallTimeout: 200 * time.Millisecond})
	m, err := rt.Load(context.Background(), wasm)
	if err != nil {
		t.Fatal(err)
	}
	eng, res := turn(t, rt, m, "i", nil, epoch, startEvent("spin", "null"))
	if res.State != 0 || !errors.Is(res.Err, ErrHostBusy) {
		t.Fatalf("spin with a short wall budget: state %v err %v, want ErrHostBusy", res.State, res.Err)
	}
	if eng.Outcome() != nil {
		t.Fatal("a wall-time overrun was recorded")
	}
}

// TestWatchdogParked: a budget that ends as the guest parks never stops the parked guest (a
// timer firing after park finds nothing to watch), and a guest stopped before it parks is
// told to unwind instead of parking (so a stopped instance is never cached as alive).
func TestWatchdogParked(t *testing.T) {
	cfg := Config{TurnTimeout: time.Millisecond, TurnWallTimeout: time.Millisecond, ReplayTimeout: time.Millisecond}
	w := &watchdog{cfg: &cfg}
	w.begin(phaseLive)
	if !w.park() {
		t.Fatal("a running guest could not park")
	}
	w.fire() // the timer of the run, firing after the guest parked
	if err := w.result(); err != nil {
		t.Fatalf("a parked guest was stopped: %v", err)
	}
	w.begin(phaseReplay)
	w.stop(ErrReplayTimeout)
	if w.park() {
		t.Fatal("a stopped guest was allowed to park")
	}
	if !errors.Is(w.result(), ErrReplayTimeout) {
		t.Fatalf("verdict %v", w.result())
	}
	w.stop(ErrHostBusy) // the first verdict stands
	if !errors.Is(w.result(), ErrReplayTimeout) {
		t.Fatalf("verdict replaced: %v", w.result())
	}
}

// encodeHistory returns the storage form of a history, to compare two byte for byte.
func encodeHistory(t *testing.T, events []history.Event) []byte {
	t.Helper()
	var out []byte
	for _, ev := range events {
		b, err := ev.Encode()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b...)
	}
	return out
}

func startEvent(name, input string) history.Event {
	return history.Event{Kind: history.KindExecutionStarted, Name: name, Input: []byte(input), Time: epoch}
}
