package sandbox

import (
	"bytes"
	"context"
	"testing"

	"github.com/durohost/durohost/history"
	"github.com/durohost/durohost/host/internal/replay"
	"github.com/durohost/durohost/store"
)

// instanceState returns the memory and the exported mutable globals of an instance.
func instanceState(t *testing.T, m *Module, inst *Instance) ([]byte, []uint64) {
	t.Helper()
	mem := inst.mod.Memory()
	b, ok := mem.Read(0, mem.Size())
	if !ok {
		t.Fatal("cannot read memory")
	}
	var globals []uint64
	for _, name := range m.globals {
		globals = append(globals, inst.mod.ExportedGlobal(name).Get())
	}
	return bytes.Clone(b), globals
}

// TestSnapshotStateEqualsInitialisation: an instance started from the snapshot has the memory
// and mutable globals of an instance that ran its initialisation, and so does a second one
// (from a recycled memory).
func TestSnapshotStateEqualsInitialisation(t *testing.T) {
	if !imageSupported {
		t.Skip("snapshots need memory images")
	}
	// The guests of other toolchains in the repository are WAT fixtures, whose data is too
	// small for an image (and so for a snapshot).
	modules := map[string][]byte{
		featuresGuest:               buildGuest(t, featuresGuest, ""),
		"wasm-examples/go/hello":    buildGuest(t, "wasm-examples/go/hello", ""),
		"conformance/guests/nondet": buildGuest(t, "conformance/guests/nondet", ""),
	}
	for name, wasm := range modules {
		t.Run(name, func(t *testing.T) {
			snapRT := newRuntime(t, Config{})
			snap, err := snapRT.Load(context.Background(), wasm)
			if err != nil {
				t.Fatal(err)
			}
			initRT := newRuntime(t, Config{NoSnapshot: true})
			plain, err := initRT.Load(context.Background(), wasm)
			if err != nil {
				t.Fatal(err)
			}
			if plain.snap != nil {
				t.Fatal("NoSnapshot loaded a snapshot")
			}
			if snap.snap == nil {
				t.Skipf("no snapshot for this module (globals exported: %v, image: %v)", snap.globals != nil, snap.image != nil)
			}
			start := []history.Event{{ID: 1, Kind: history.KindTurnStarted, Time: epoch}, {ID: 2, Kind: history.KindExecutionStarted, Name: "hello"}}
			state := func(rt *Runtime, m *Module) ([]byte, []uint64) {
				eng, err := replay.New(replay.Config{InstanceID: "i", Execution: 1}, start)
				if err != nil {
					t.Fatal(err)
				}
				inst, err := rt.Instantiate(context.Background(), m, eng, "i", 1)
				if err != nil {
					t.Fatal(err)
				}
				defer inst.Close()
				return instanceState(t, m, inst)
			}
			memA, globA := state(snapRT, snap)
			memB, globB := state(initRT, plain)
			if len(globA) == 0 || len(globA) != len(globB) {
				t.Fatalf("%d and %d globals", len(globA), len(globB))
			}
			for k := range globA {
				if globA[k] != globB[k] {
					t.Errorf("global %s: %#x from the snapshot, %#x initialised", snap.globals[k], globA[k], globB[k])
				}
			}
			if !bytes.Equal(memA, memB) {
				t.Errorf("memory differs (%d and %d bytes) from byte %d", len(memA), len(memB), firstDifference(memA, memB))
			}
			// A second instance from the pool starts from the same state.
			memC, _ := state(snapRT, snap)
			if !bytes.Equal(memA, memC) {
				t.Errorf("a recycled memory differs from byte %d", firstDifference(memA, memC))
			}
		})
	}
}

func firstDifference(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// TestSnapshotRunsLikeInitialisation: an orchestration run cold (a new instance every turn)
// from snapshots records the same history and logs as one whose instances initialise.
func TestSnapshotRunsLikeInitialisation(t *testing.T) {
	wasm := buildGuest(t, featuresGuest, "")
	run := func(cfg Config) (*winst, []Log) {
		w := newWorld(t, wasm, false, cfg)
		w.start("i", "determinism", "null")
		w.run(20)
		x := w.inst["i"]
		if x.state.Status != store.StatusCompleted {
			t.Fatalf("status %v %+v", x.state.Status, x.state.Failure)
		}
		return x, w.logs
	}
	a, logsA := run(Config{})
	b, logsB := run(Config{NoSnapshot: true})
	if d := diffHistories(a.hist, b.hist); d != "" {
		t.Fatalf("histories differ: %s", d)
	}
	sameLogs(t, logsA, logsB)
}
