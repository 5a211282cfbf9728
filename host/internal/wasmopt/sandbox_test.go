package wasmopt_test

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/durohost/durohost/history"
	"github.com/durohost/durohost/host/internal/replay"
	"github.com/durohost/durohost/host/internal/sandbox"
	"github.com/durohost/durohost/host/internal/wasmopt"
	"github.com/durohost/durohost/internal/testguest"
)

// TestMergedGuestInSandbox runs orchestrations of the Go test guest, original and
// transformed, through the sandbox turn by turn (a cold instance each turn, activities
// answered, timers fired) and checks that the histories and logs are identical.
func TestMergedGuestInSandbox(t *testing.T) {
	orig := testguest.Build(t, "conformance/guests/go", "")
	merged, err := wasmopt.MergeDataSegments(orig)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir() // compilation cache shared by the runs
	tests := []struct{ name, input string }{
		{"hello", `"wasmopt"`},
		{"determinism", `null`},
		{"fanout", `3`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := drive(t, dir, orig, tt.name, tt.input)
			b := drive(t, dir, merged, tt.name, tt.input)
			if last := a[len(a)-1]; !strings.Contains(last, fmt.Sprintf("Kind:%v ", history.KindExecutionCompleted)) {
				t.Fatalf("orchestration did not complete: %s", last)
			}
			if !reflect.DeepEqual(a, b) {
				t.Errorf("transcripts differ:\noriginal:    %v\ntransformed: %v", a, b)
			}
		})
	}
}

// drive runs the orchestration name to its end in module wasm (compiled modules cached in
// cacheDir) and returns a transcript:
// every event of its history and every line it logged.
func drive(t *testing.T, cacheDir string, wasm []byte, name, input string) []string {
	t.Helper()
	ctx := context.Background()
	var transcript []string
	rt, err := sandbox.New(ctx, sandbox.Config{CacheDir: cacheDir, Log: func(l sandbox.Log) {
		transcript = append(transcript, fmt.Sprintf("log %d %s", l.Level, l.Message))
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(ctx)
	m, err := rt.Load(ctx, wasm)
	if err != nil {
		t.Fatal(err)
	}
	const id = "wasmopt-1"
	now := int64(1_700_000_000_000_000_000)
	var hist []history.Event
	inputs := []history.Event{{Kind: history.KindExecutionStarted, Name: name, Input: []byte(input)}}
	for turn := 0; len(inputs) > 0; turn++ {
		if turn == 20 {
			t.Fatal("no end after 20 turns")
		}
		eng, err := replay.New(replay.Config{InstanceID: id, Execution: 1}, hist)
		if err != nil {
			t.Fatal(err)
		}
		ts, err := eng.BeginTurn(now, inputs)
		if err != nil {
			t.Fatal(err)
		}
		inputs = nil
		if ts.Run {
			inst, err := rt.Instantiate(ctx, m, eng, id, 1)
			if err != nil {
				t.Fatal(err)
			}
			res := inst.Run(ctx)
			inst.Close()
			transcript = append(transcript, fmt.Sprintf("turn %d: state %v err %v", turn, res.State, res.Err))
		}
		c := eng.Commit()
		eng.MarkCommitted()
		hist = eng.History()
		for _, a := range c.Activities {
			inputs = append(inputs, history.Event{Kind: history.KindActivityCompleted, Ref: a.EventID, Result: fmt.Appendf(nil, "%q", a.Name), Execution: a.Execution})
		}
		for _, msg := range c.Messages {
			if msg.InstanceID == id {
				now = max(now, msg.VisibleAt.UnixNano())
				inputs = append(inputs, msg.Event)
			}
		}
		now += 1e6
	}
	for _, e := range hist {
		transcript = append(transcript, fmt.Sprintf("%+v", e))
	}
	return transcript
}
