package host_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/durohost/durohost/abi"
	"github.com/durohost/durohost/history"
	"github.com/durohost/durohost/host"
	"github.com/durohost/durohost/internal/testguest"
	"github.com/durohost/durohost/store/sqlite"
)

const nondetGuest = "conformance/guests/nondet"

// record runs orchestration name of wasm and returns the history of its first execution up to
// the first event of untilKind (a history the instance had: a turn that ends with that event).
func record(t *testing.T, wasm []byte, name string, untilKind history.Kind) []history.Event {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "r.db"))
	must(t, err)
	defer st.Close()
	h, err := host.New(st, host.WithCompilationCache(cacheDir))
	must(t, err)
	defer h.Stop(context.Background())
	_, err = h.LoadModule(context.Background(), wasm)
	must(t, err)
	for _, a := range []string{"step", "step_a"} {
		must(t, h.RegisterActivity(a, func(context.Context, []byte) ([]byte, error) { return []byte(`"ok"`), nil }))
	}
	must(t, h.Start())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	id, err := h.Client().Start(ctx, name, []byte(`null`), host.WithInstanceID("r1"))
	must(t, err)
	// The history up to the first event of untilKind: the instance may have gone on since
	// (its activities return at once), but that prefix is a history it had.
	for {
		hist, err := h.Client().History(ctx, id, 1)
		for i, ev := range hist {
			if err == nil && ev.Kind == untilKind {
				return hist[:i+1]
			}
		}
		if ctx.Err() != nil {
			t.Fatalf("%s never recorded %v: %+v", name, untilKind, hist)
		}
		time.Sleep(2 * time.Millisecond) // polling for a condition, bounded by ctx
	}
}

func TestReplay(t *testing.T) {
	wasmA := testguest.Build(t, nondetGuest, "")
	wasmB := testguest.Build(t, nondetGuest, "-X=main.variant=b")
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "replay.db"))
	must(t, err)
	defer st.Close()
	h, err := host.New(st, host.WithCompilationCache(cacheDir))
	must(t, err)
	defer h.Stop(context.Background())
	ctx := context.Background()

	output := record(t, wasmA, "nd_output", history.KindExecutionCompleted)
	name := record(t, wasmA, "nd_name", history.KindExecutionCompleted)
	running := record(t, wasmA, "nd_await", history.KindActivityScheduled)
	poisoned := append(running[:len(running):len(running)],
		history.Event{ID: int64(len(running) + 1), Kind: history.KindTurnStarted, Time: running[0].Time},
		history.Event{ID: int64(len(running) + 2), Kind: history.KindExecutionFailed, Time: running[0].Time,
			Failure: &abi.Failure{Kind: abi.FailureInfrastructure, Code: abi.CodePoison, Message: "poison"}})

	tests := []struct {
		name   string
		wasm   []byte
		events []history.Event
		code   string // "" for compatible
		index  int64
	}{
		{"same code, completed", wasmA, output, "", 0},
		{"same code, running", wasmA, running, "", 0},
		{"same code, ended by a host failure", wasmA, poisoned, "", 0},
		{"other output", wasmB, output, abi.CodeOutcomeMismatch, int64(len(output))},
		{"other activity", wasmB, name, abi.CodeCommandMismatch, 3},
		{"empty history", wasmB, nil, "", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := h.Replay(ctx, tc.wasm, "r1", 1, tc.events)
			must(t, err)
			switch {
			case tc.code == "" && d != nil:
				t.Fatalf("divergence %v, want none", d)
			case tc.code != "" && d == nil:
				t.Fatalf("no divergence, want %s", tc.code)
			case tc.code != "" && (d.Code != tc.code || d.Index != tc.index || d.Recorded == nil):
				t.Fatalf("divergence %+v, want %s at event %d", d, tc.code, tc.index)
			}
		})
	}
	t.Run("diff names both sides", func(t *testing.T) {
		d, err := h.Replay(ctx, wasmB, "r1", 1, name)
		must(t, err)
		if d == nil || d.Recorded.Name != "step_a" || d.Got == nil || d.Got.Name != "step_b" {
			t.Fatalf("divergence %+v", d)
		}
	})
	t.Run("malformed history", func(t *testing.T) {
		bad := append([]history.Event(nil), output...)
		bad[1].ID = 7
		if _, err := h.Replay(ctx, wasmA, "r1", 1, bad); err == nil {
			t.Fatal("no error for a malformed history")
		}
		if _, err := h.Replay(ctx, wasmA, "r1", 0, output); err == nil {
			t.Fatal("no error for execution 0")
		}
	})
}
