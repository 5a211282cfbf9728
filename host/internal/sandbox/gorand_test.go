package sandbox

import (
	"encoding/json"
	"testing"

	"github.com/durohost/durohost/store"
)

// TestGoRandPerInstance: the Go runtime's generator (math/rand, math/rand/v2, map iteration
// order) gives each instance its own numbers, the same on every replay and whether the
// instance started from a snapshot or ran its initialisation.
func TestGoRandPerInstance(t *testing.T) {
	wasm := buildGuest(t, featuresGuest, "")
	outputs := map[bool]map[string]map[string]any{}
	for _, noSnapshot := range []bool{false, true} {
		w := newWorld(t, wasm, false, Config{NoSnapshot: noSnapshot})
		if !w.m.goRand {
			t.Fatal("the Go runtime's generator was not found in the initialised memory")
		}
		outputs[noSnapshot] = map[string]map[string]any{}
		for _, id := range []string{"a", "b", "c"} {
			w.start(id, "determinism", "null")
		}
		w.run(20)
		for _, id := range []string{"a", "b", "c"} {
			x := w.inst[id]
			if x.state.Status != store.StatusCompleted {
				t.Fatalf("%s: %v %+v", id, x.state.Status, x.state.Failure)
			}
			var out map[string]any
			if err := json.Unmarshal(x.state.Output, &out); err != nil {
				t.Fatal(err)
			}
			outputs[noSnapshot][id] = out
		}
	}
	snap := outputs[false]
	if snap["a"]["rand"] == snap["b"]["rand"] && snap["b"]["rand"] == snap["c"]["rand"] {
		t.Fatalf("three instances drew the same math/rand number %v", snap["a"]["rand"])
	}
	for _, id := range []string{"a", "b", "c"} {
		if a, b := snap[id]["rand"], outputs[true][id]["rand"]; a != b {
			t.Fatalf("%s: %v from a snapshot, %v after initialisation", id, a, b)
		}
	}
	// Cold replay at every turn (the world above) and live instances draw the same numbers.
	w := newWorld(t, wasm, true, Config{})
	w.start("a", "determinism", "null")
	w.run(20)
	var live map[string]any
	json.Unmarshal(w.inst["a"].state.Output, &live)
	if live["rand"] != snap["a"]["rand"] {
		t.Fatalf("live %v, cold %v", live["rand"], snap["a"]["rand"])
	}
}

// BenchmarkSeedState: looking for the generator in 4 MiB of memory (once per module load).
func BenchmarkSeedState(b *testing.B) {
	mem := make([]byte, 4<<20)
	var seed [32]byte
	for b.Loop() {
		seedState(mem, seed)
	}
}

// TestSeedStateNotFound: memory that holds no generator state, or one that was never used, is
// left alone.
func TestSeedStateNotFound(t *testing.T) {
	var seed [32]byte
	if _, ok := seedState(make([]byte, 1<<16), seed); ok {
		t.Fatal("found a generator in zeroed memory")
	}
}
