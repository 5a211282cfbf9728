package sandbox

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/durohost/durohost/history"
	"github.com/durohost/durohost/host/internal/replay"
	"github.com/durohost/durohost/store"
)

type determinismOutput struct {
	Now    int64    `json:"now"`
	Rand   int64    `json:"rand"`
	Crypto string   `json:"crypto"`
	UUID   string   `json:"uuid"`
	Map    []string `json:"map"`
}

// TestDeterminism is the determinism proof: everything a Go guest observes (time.Now,
// math/rand, crypto/rand, UUIDs, map iteration order) is a function of its history and
// instance, never of the host's clock or random sources.
func TestDeterminism(t *testing.T) {
	wasm := buildGuest(t, featuresGuest, "")
	run := func(epoch int64, id string, live bool) (*winst, determinismOutput, []Log) {
		w := newWorld(t, wasm, live, Config{})
		w.now = epoch
		w.start(id, "determinism", "null")
		w.run(20)
		x := w.inst[id]
		if x.state.Status != store.StatusCompleted {
			t.Fatalf("status %v %+v", x.state.Status, x.state.Failure)
		}
		var out determinismOutput
		if err := json.Unmarshal(x.state.Output, &out); err != nil {
			t.Fatal(err)
		}
		return x, out, w.logs
	}
	a, outA, logsA := run(epoch, "i", false)
	b, outB, logsB := run(epoch, "i", true)

	t.Run("same history in independent runs", func(t *testing.T) {
		if d := diffHistories(a.hist, b.hist); d != "" {
			t.Fatalf("histories differ: %s", d)
		}
		sameLogs(t, logsA, logsB)
	})
	t.Run("time is logical", func(t *testing.T) {
		// One turn after a 1 ms durable timer: exactly the turn time of the timer's turn.
		if want := epoch + 1e6; outA.Now != want {
			t.Errorf("time.Now() = %d, want the logical %d", outA.Now, want)
		}
		_, later, _ := run(epoch+3600e9, "i", false)
		if later.Now != outA.Now+3600e9 {
			t.Errorf("an hour later: now %d, want %d", later.Now, outA.Now+3600e9)
		}
		if later.Rand != outA.Rand || later.UUID != outA.UUID || later.Crypto != outA.Crypto {
			t.Errorf("randomness depends on the clock: %+v vs %+v", later, outA)
		}
	})
	t.Run("randomness is seeded by the instance", func(t *testing.T) {
		_, other, _ := run(epoch, "j", false)
		if other.Rand == outA.Rand && other.UUID == outA.UUID {
			t.Errorf("instances i and j drew the same random values %+v", other)
		}
		if strings.Join(other.Map, ",") == strings.Join(outA.Map, ",") {
			t.Logf("map order equal for i and j (possible, not required to differ)")
		}
	})
	t.Run("replay reproduces every value", func(t *testing.T) {
		// A fresh runtime and engine replay the completed history: the guest recomputes the
		// output and the engine checks it byte for byte against the recorded one.
		for k := range 3 {
			rt := newRuntime(t, Config{})
			m, err := rt.Load(context.Background(), wasm)
			if err != nil {
				t.Fatal(err)
			}
			eng, err := replay.New(replay.Config{InstanceID: "i", Execution: 1}, a.hist)
			if err != nil {
				t.Fatal(err)
			}
			inst, err := rt.Instantiate(context.Background(), m, eng, "i", 1)
			if err != nil {
				t.Fatal(err)
			}
			res := inst.Run(context.Background())
			inst.Close()
			if res.State != Completed {
				t.Fatalf("replay %d: %+v", k, res)
			}
			if got := eng.Outcome(); got == nil || got.Kind != history.KindExecutionCompleted || string(got.Result) != string(a.state.Output) {
				t.Fatalf("replay %d outcome %+v", k, got)
			}
			if len(eng.History()) != len(a.hist) {
				t.Fatalf("replay %d changed the history length", k)
			}
		}
	})
	for _, l := range logsA {
		if strings.Contains(l.Message, "replaying true") {
			t.Errorf("a log line was kept while replaying: %q", l.Message)
		}
	}
	_ = outB
}

// sameLogs fails unless two runs logged the same lines (at least one).
func sameLogs(t *testing.T, a, b []Log) {
	t.Helper()
	if len(a) == 0 || len(a) != len(b) {
		t.Fatalf("logs: %d vs %d lines", len(a), len(b))
	}
	for k := range a {
		if a[k].Message != b[k].Message {
			t.Errorf("log %d: %q vs %q", k, a[k].Message, b[k].Message)
		}
	}
}
