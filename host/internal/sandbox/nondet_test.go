package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/durohost/durohost/abi"
	"github.com/durohost/durohost/history"
	"github.com/durohost/durohost/host/internal/replay"
	"github.com/durohost/durohost/store"
)

const nondetGuest = "conformance/guests/nondet"

// TestNondeterminism changes the code between turns (variant a records, variant b replays) and
// checks the structured error: stable code, event index, what history recorded, what the code
// did now.
func TestNondeterminism(t *testing.T) {
	wasmA := buildGuest(t, nondetGuest, "")
	wasmB := buildGuest(t, nondetGuest, "-X=main.variant=b")
	tests := []struct {
		orch         string
		turnsA       int // turns recorded with variant a before the switch
		code         string
		recordedKind history.Kind // 0: nothing recorded
		gotKind      history.Kind // 0: nothing done
		mention      []string     // the message names both sides
	}{
		{"nd_name", 1, abi.CodeCommandMismatch, history.KindActivityScheduled, history.KindActivityScheduled, []string{`"step_a"`, `"step_b"`}},
		{"nd_input", 1, abi.CodeCommandMismatch, history.KindActivityScheduled, history.KindActivityScheduled, []string{`"1"`, `"2"`}},
		{"nd_kind", 1, abi.CodeCommandMismatch, history.KindActivityScheduled, history.KindTimerCreated, []string{"activity_scheduled", "timer_created"}},
		{"nd_await", 2, abi.CodeCommandMismatch, history.KindActivityScheduled, history.KindTimerCreated, []string{"activity_scheduled", "timer_created"}},
		{"nd_extra", 1, abi.CodeExtraCommand, 0, history.KindActivityScheduled, []string{`"extra"`}},
		{"nd_missing", 1, abi.CodeMissingCommand, history.KindActivityScheduled, 0, []string{"made no decision"}},
	}
	for _, tc := range tests {
		t.Run(tc.orch, func(t *testing.T) {
			w := newWorld(t, wasmA, false, Config{})
			w.acts["step"] = ok(`"ok"`)
			w.acts["step_a"] = ok(`"ok"`)
			w.start("i", tc.orch, "null")
			for range tc.turnsA {
				w.settle(100)
				w.fire()
			}
			mB, err := w.rt.Load(context.Background(), wasmB)
			if err != nil {
				t.Fatal(err)
			}
			w.m = mB
			w.run(100)
			x := w.inst["i"]
			f := x.state.Failure
			if x.state.Status != store.StatusFailed || f == nil {
				t.Fatalf("status %v, failure %+v; want failed", x.state.Status, f)
			}
			if f.Code != tc.code || f.Kind != abi.FailureInfrastructure {
				t.Fatalf("failure %+v, want code %s", f, tc.code)
			}
			for _, s := range tc.mention {
				if !strings.Contains(f.Message, s) {
					t.Errorf("message %q does not mention %s", f.Message, s)
				}
			}
			var d struct {
				Index    int64          `json:"index"`
				Recorded *history.Event `json:"recorded"`
				Got      *history.Event `json:"got"`
			}
			if err := json.Unmarshal(f.Details, &d); err != nil {
				t.Fatalf("details %s: %v", f.Details, err)
			}
			if d.Index <= 0 {
				t.Errorf("index %d", d.Index)
			}
			if (d.Recorded == nil) != (tc.recordedKind == 0) || d.Recorded != nil && d.Recorded.Kind != tc.recordedKind {
				t.Errorf("recorded = %+v, want kind %v", d.Recorded, tc.recordedKind)
			}
			if d.Recorded != nil && d.Recorded.ID != d.Index {
				t.Errorf("recorded event ID %d, index %d", d.Recorded.ID, d.Index)
			}
			if (d.Got == nil) != (tc.gotKind == 0) || d.Got != nil && d.Got.Kind != tc.gotKind {
				t.Errorf("got = %+v, want kind %v", d.Got, tc.gotKind)
			}
			// The failure is recorded after the turn's inputs; decisions of the failed turn are not.
			last := x.hist[len(x.hist)-1]
			if last.Kind != history.KindExecutionFailed {
				t.Errorf("last event %v, want execution_failed", last.Kind)
			}
		})
	}
}

// TestNondeterminismOutcome replays a completed history against changed code, as the replay
// tool does: the different output is a nondeterminism error of its own code.
func TestNondeterminismOutcome(t *testing.T) {
	w := newWorld(t, buildGuest(t, nondetGuest, ""), false, Config{})
	w.acts["step"] = ok(`"ok"`)
	w.start("i", "nd_output", "null")
	w.run(100)
	x := w.inst["i"]
	if x.state.Status != store.StatusCompleted {
		t.Fatalf("status %v", x.state.Status)
	}
	for _, tc := range []struct {
		wasm []byte
		want string
	}{{buildGuest(t, nondetGuest, ""), ""}, {buildGuest(t, nondetGuest, "-X=main.variant=b"), abi.CodeOutcomeMismatch}} {
		m, err := w.rt.Load(context.Background(), tc.wasm)
		if err != nil {
			t.Fatal(err)
		}
		eng, err := replay.New(replay.Config{InstanceID: "i", Execution: 1}, x.hist)
		if err != nil {
			t.Fatal(err)
		}
		inst, err := w.rt.Instantiate(context.Background(), m, eng, "i", 1)
		if err != nil {
			t.Fatal(err)
		}
		res := inst.Run(context.Background())
		inst.Close()
		var nd *replay.NondeterminismError
		switch {
		case tc.want == "" && res.State != Completed:
			t.Errorf("same code: %+v, want completed", res)
		case tc.want != "" && (res.State != Failed || !errors.As(res.Err, &nd) && replay.AsFailure(res.Err).Code != tc.want):
			t.Errorf("changed code: %+v, want %s", res, tc.want)
		case tc.want != "" && replay.AsFailure(res.Err).Code != tc.want:
			t.Errorf("changed code: code %s, want %s", replay.AsFailure(res.Err).Code, tc.want)
		}
	}
}
