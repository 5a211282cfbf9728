package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/durohost/durohost/history"
	"github.com/durohost/durohost/host/internal/replay"
	"github.com/durohost/durohost/store"
)

// warmReady returns how many warm instances m has ready.
func warmReady(m *Module) int {
	m.warm.mu.Lock()
	defer m.warm.mu.Unlock()
	return len(m.warm.ready)
}

// waitWarm waits until m has n warm instances ready.
func waitWarm(t *testing.T, m *Module, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for warmReady(m) != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d warm instances ready after 30 s, want %d", warmReady(m), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// startEngine returns an engine at the first turn of a "hello" execution of instance id.
func startEngine(t *testing.T, id string) *replay.Engine {
	t.Helper()
	start := []history.Event{{ID: 1, Kind: history.KindTurnStarted, Time: epoch}, {ID: 2, Kind: history.KindExecutionStarted, Name: "hello"}}
	eng, err := replay.New(replay.Config{InstanceID: id, Execution: 3}, start)
	if err != nil {
		t.Fatal(err)
	}
	return eng
}

// TestWarmInstanceEqualsNew: a warm instance, once bound to an execution, has the memory and
// mutable globals of an instance instantiated for that execution (the per-execution seed of
// the Go runtime included), and the pool refills after a take.
func TestWarmInstanceEqualsNew(t *testing.T) {
	wasm := buildGuest(t, featuresGuest, "")
	cold := newRuntime(t, Config{NoWarm: true})
	cm, err := cold.Load(context.Background(), wasm)
	if err != nil {
		t.Fatal(err)
	}
	warm := newRuntime(t, Config{})
	wm, err := warm.Load(context.Background(), wasm)
	if err != nil {
		t.Fatal(err)
	}
	if wm.snap == nil {
		t.Skip("the module has no snapshot: it keeps no warm instances")
	}
	wm.refillWarm()
	waitWarm(t, wm, warmSize)

	for _, id := range []string{"a", "b"} {
		ci, err := cold.Instantiate(context.Background(), cm, startEngine(t, id), id, 3)
		if err != nil {
			t.Fatal(err)
		}
		defer ci.Close()
		before := warm.WarmStarts()
		wi, err := warm.Instantiate(context.Background(), wm, startEngine(t, id), id, 3)
		if err != nil {
			t.Fatal(err)
		}
		defer wi.Close()
		if warm.WarmStarts() != before+1 {
			t.Fatalf("instance %s was not taken warm", id)
		}
		cmem, cg := instanceState(t, cm, ci)
		wmem, wg := instanceState(t, wm, wi)
		if !bytes.Equal(cmem, wmem) {
			t.Errorf("instance %s: memory of the warm instance differs from a new one's", id)
		}
		if !slices.Equal(cg, wg) {
			t.Errorf("instance %s: globals %v, a new instance's %v", id, wg, cg)
		}
		waitWarm(t, wm, warmSize) // refilled in the background
	}
	if cold.WarmStarts() != 0 || warmReady(cm) != 0 {
		t.Errorf("NoWarm: %d warm starts, %d ready", cold.WarmStarts(), warmReady(cm))
	}
}

// TestWarmSameHistory: an orchestration that observes everything a guest can (time, math/rand,
// crypto/rand, map order, logs) makes the same history and logs on a warm instance as on new
// ones, run live (one instance for the whole execution) and cold (an instance per turn).
func TestWarmSameHistory(t *testing.T) {
	wasm := buildGuest(t, featuresGuest, "")
	run := func(t *testing.T, live, noWarm bool) ([]history.Event, []Log, determinismOutput) {
		w := newWorld(t, wasm, live, Config{NoWarm: noWarm})
		if !noWarm && w.m.snap != nil {
			w.m.refillWarm()
			waitWarm(t, w.m, warmSize)
		}
		w.start("i", "determinism", "null")
		w.run(20)
		x := w.inst["i"]
		if x.state.Status != store.StatusCompleted {
			t.Fatalf("status %v %+v", x.state.Status, x.state.Failure)
		}
		if !noWarm && w.m.snap != nil && w.rt.WarmStarts() == 0 {
			t.Fatal("no instance was taken warm")
		}
		var out determinismOutput
		if err := json.Unmarshal(x.state.Output, &out); err != nil {
			t.Fatal(err)
		}
		return x.hist, w.logs, out
	}
	for _, live := range []bool{true, false} {
		name := map[bool]string{true: "live", false: "cold"}[live]
		t.Run(name, func(t *testing.T) {
			h1, l1, o1 := run(t, live, true)
			h2, l2, o2 := run(t, live, false)
			if d := diffHistories(h1, h2); d != "" {
				t.Fatalf("histories differ: %s", d)
			}
			sameLogs(t, l1, l2)
			if o1.Now != o2.Now || o1.Rand != o2.Rand || o1.Crypto != o2.Crypto || o1.UUID != o2.UUID || !slices.Equal(o1.Map, o2.Map) {
				t.Fatalf("outputs differ: new %+v, warm %+v", o1, o2)
			}
		})
	}
}

// TestWarmLifecycle: a module fills its warm pool once loaded; warm instances hold guest
// memory, which they give back when they have been idle for WarmIdle, when Admit needs room,
// and when their module closes.
func TestWarmLifecycle(t *testing.T) {
	wasm := buildGuest(t, featuresGuest, "")
	load := func(t *testing.T, cfg Config) (*Runtime, *Module) {
		rt := newRuntime(t, cfg)
		m, err := rt.Load(context.Background(), wasm)
		if err != nil {
			t.Fatal(err)
		}
		if m.snap == nil {
			t.Skip("the module has no snapshot: it keeps no warm instances")
		}
		waitWarm(t, m, warmSize) // filled once loaded
		if used, _ := rt.GuestMemory(); used == 0 {
			t.Fatal("warm instances hold no guest memory")
		}
		return rt, m
	}
	t.Run("idle", func(t *testing.T) {
		rt, m := load(t, Config{WarmIdle: 20 * time.Millisecond})
		waitWarm(t, m, 0)
		deadline := time.Now().Add(30 * time.Second)
		for used, _ := rt.GuestMemory(); used != 0; used, _ = rt.GuestMemory() {
			if time.Now().After(deadline) {
				t.Fatalf("%d bytes of guest memory held after the warm instances expired", used)
			}
			time.Sleep(time.Millisecond)
		}
	})
	t.Run("admit", func(t *testing.T) {
		rt, m := load(t, Config{})
		used, limit := rt.GuestMemory()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// Room for everything but what the warm instances hold.
		if err := rt.Admit(ctx, limit-used+1, nil); err != nil {
			t.Fatalf("admit: %v", err)
		}
		if n := warmReady(m); n != 0 {
			t.Fatalf("%d warm instances left after Admit needed their memory", n)
		}
	})
	t.Run("tight budget", func(t *testing.T) {
		// Room for a few instances, not for warmHeadroom more: starts find none warm.
		rt := newRuntime(t, Config{GuestMemory: 3 * 8 << 20})
		m, err := rt.Load(context.Background(), wasm)
		if err != nil {
			t.Fatal(err)
		}
		if m.snap == nil {
			t.Skip("the module has no snapshot: it keeps no warm instances")
		}
		for range 3 {
			inst, err := rt.Instantiate(context.Background(), m, startEngine(t, "i"), "i", 3)
			if err != nil {
				t.Fatal(err)
			}
			m.warm.fills.Wait()
			inst.Close()
		}
		if n, hits := warmReady(m), rt.WarmStarts(); n != 0 || hits != 0 {
			t.Fatalf("%d warm instances ready, %d taken, with a budget of %d bytes", n, hits, 3*8<<20)
		}
	})
	t.Run("warm memory", func(t *testing.T) {
		// Room for one warm instance in all: the pool stops at one.
		probe := newRuntime(t, Config{NoWarm: true})
		pm, err := probe.Load(context.Background(), wasm)
		if err != nil {
			t.Fatal(err)
		}
		rt := newRuntime(t, Config{WarmMemory: pm.MemoryEstimate()})
		m, err := rt.Load(context.Background(), wasm)
		if err != nil {
			t.Fatal(err)
		}
		if m.snap == nil {
			t.Skip("the module has no snapshot: it keeps no warm instances")
		}
		m.refillWarm()
		m.warm.fills.Wait()
		if n := warmReady(m); n != 1 {
			t.Fatalf("%d warm instances ready, want the 1 that WarmMemory allows", n)
		}
		inst, err := rt.Instantiate(context.Background(), m, startEngine(t, "i"), "i", 3)
		if err != nil {
			t.Fatal(err)
		}
		inst.Close()
		m.warm.fills.Wait()
		if n, hits := warmReady(m), rt.WarmStarts(); n != 1 || hits != 1 {
			t.Fatalf("after a warm start: %d ready, %d taken; want 1 and 1", n, hits)
		}
		if err := m.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		if b := rt.warmBytes.Load(); b != 0 {
			t.Fatalf("warm instances count %d bytes after their module closed", b)
		}
	})
	t.Run("idle, partly filled", func(t *testing.T) {
		// WarmMemory stops the pool at one instance: it expires all the same.
		probe := newRuntime(t, Config{NoWarm: true})
		pm, err := probe.Load(context.Background(), wasm)
		if err != nil {
			t.Fatal(err)
		}
		rt := newRuntime(t, Config{WarmMemory: pm.MemoryEstimate(), WarmIdle: 200 * time.Millisecond})
		m, err := rt.Load(context.Background(), wasm)
		if err != nil {
			t.Fatal(err)
		}
		if m.snap == nil {
			t.Skip("the module has no snapshot: it keeps no warm instances")
		}
		m.warm.fills.Wait() // the fill at load
		if n := warmReady(m); n != 1 {
			t.Fatalf("%d warm instances ready, want the 1 that WarmMemory allows", n)
		}
		deadline := time.Now().Add(30 * time.Second)
		for used, _ := rt.GuestMemory(); used != 0 || rt.warmBytes.Load() != 0; used, _ = rt.GuestMemory() {
			if time.Now().After(deadline) {
				t.Fatalf("%d bytes of guest memory held, %d counted warm, after the warm instance expired", used, rt.warmBytes.Load())
			}
			time.Sleep(time.Millisecond)
		}
	})
	t.Run("prefault", func(t *testing.T) {
		// Few instances alive: warm instances copy their image; many: they map it.
		rt, m := load(t, Config{})
		prefaulted := func() []bool {
			m.warm.mu.Lock()
			defer m.warm.mu.Unlock()
			var out []bool
			for _, i := range m.warm.ready {
				out = append(out, i.mem.prefault)
			}
			return out
		}
		if got := prefaulted(); !slices.Equal(got, []bool{true, true}) {
			t.Fatalf("warm instances of an idle module: prefault %v, want all", got)
		}
		var insts []*Instance
		for range prefaultBelow + warmSize {
			inst, err := rt.Instantiate(context.Background(), m, startEngine(t, "i"), "i", 3)
			if err != nil {
				t.Fatal(err)
			}
			insts = append(insts, inst)
			m.warm.fills.Wait()
		}
		if n := m.bound.Load(); n != int64(len(insts)) {
			t.Fatalf("%d instances counted alive, want %d", n, len(insts))
		}
		// (The pool hands out its newest instance: the one filled last is the last.)
		if got := prefaulted(); len(got) != warmSize || got[len(got)-1] {
			t.Fatalf("warm instances with %d alive: prefault %v, want the newest not", len(insts), got)
		}
		for _, inst := range insts {
			inst.Close()
			inst.Close() // twice: counted once
		}
		if n := m.bound.Load(); n != 0 {
			t.Fatalf("%d instances counted alive after they all closed", n)
		}
	})
	t.Run("close", func(t *testing.T) {
		rt, m := load(t, Config{})
		if err := m.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		if used, _ := rt.GuestMemory(); used != 0 {
			t.Fatalf("%d bytes of guest memory held after the module closed", used)
		}
		m.refillWarm() // a closed module makes no more
		m.warm.mu.Lock()
		filling := m.warm.filling
		m.warm.mu.Unlock()
		m.warm.fills.Wait()
		if n := warmReady(m); n != 0 || filling {
			t.Fatalf("%d warm instances after close (filling: %v)", n, filling)
		}
	})
}
