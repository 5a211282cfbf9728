package sandbox

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/durohost/durohost/abi"
	"github.com/durohost/durohost/history"
	"github.com/durohost/durohost/store"
)

// TestLoadRejects checks that modules breaking the ABI's rules are refused at load time with
// an error naming every problem.
func TestLoadRejects(t *testing.T) {
	hello := readFixture(t, "hello.wasm")
	tests := []struct {
		name    string
		wasm    []byte
		mention []string
	}{
		{"forbidden imports", readFixture(t, "forbidden.wasm"), []string{
			"forbidden function env.exit", "unknown ABI function durohost_v1.nope",
			"durohost_v1.schedule with signature (i32) -> (i32)", "unknown WASI function wasi_snapshot_preview1.sock_open"}},
		{"missing exports", readFixture(t, "noexports.wasm"), []string{
			"does not export function durohost_run", "exports durohost_abi_version with signature (i32) -> (i32)", `does not export its memory as "memory"`}},
		{"wrong ABI version", readFixture(t, "badversion.wasm"), []string{"ABI version 2"}},
		{"not WebAssembly", []byte("#!/bin/sh\necho hello\n"), []string{"not a WebAssembly binary"}},
		{"empty", nil, []string{"not a WebAssembly binary"}},
		{"truncated", hello[:len(hello)/2], []string{"invalid orchestration module"}},
	}
	rt := newRuntime(t, Config{})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := rt.Load(context.Background(), tc.wasm)
			if !errors.Is(err, ErrInvalidModule) {
				t.Fatalf("err = %v, want ErrInvalidModule", err)
			}
			for _, s := range tc.mention {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
		})
	}
	t.Run("too large", func(t *testing.T) {
		small := newRuntime(t, Config{MaxModuleSize: 100})
		if _, err := small.Load(context.Background(), hello); !errors.Is(err, ErrInvalidModule) || !strings.Contains(err.Error(), "limit of 100") {
			t.Fatalf("err = %v", err)
		}
	})
	assertHealthy(t, rt)
}

// assertHealthy runs the good WAT guest to completion on rt.
func assertHealthy(t *testing.T, rt *Runtime) {
	t.Helper()
	m, err := rt.Load(context.Background(), readFixture(t, "hello.wasm"))
	if err != nil {
		t.Fatalf("good guest after hostile one: %v", err)
	}
	start := history.Event{Kind: history.KindExecutionStarted, Name: "wat_hello"}
	eng, res := turn(t, rt, m, "good", nil, 1, start)
	if res.State != Suspended {
		t.Fatalf("good guest turn 1: %+v", res)
	}
	done := history.Event{Kind: history.KindActivityCompleted, Ref: eng.Commit().Activities[0].EventID, Result: []byte(`"ok"`)}
	eng, res = turn(t, rt, m, "good", eng.History(), 2, done)
	if res.State != Completed || string(eng.Commit().State.Output) != `"ok"` {
		t.Fatalf("good guest turn 2: %+v", res)
	}
}

// TestHostileGuests runs guests that misbehave at run time: each fails its instance with its
// own clear error, and the same runtime then runs a good guest fine.
func TestHostileGuests(t *testing.T) {
	tests := []struct {
		fixture string
		cfg     Config
		turns   int // turns before the failing one (each completes the pending activity)
		code    string
		mention string
	}{
		{"loop.wasm", Config{TurnTimeout: 200 * time.Millisecond}, 0, abi.CodeTurnTimeout, "budget of 200ms"},
		{"grow.wasm", Config{MemoryLimitPages: 64}, 0, abi.CodeMemoryLimit, "memory limit of 64 pages"},
		{"badptr.wasm", Config{}, 0, abi.CodeBadPointer, "outside guest memory"},
		{"badcbor.wasm", Config{}, 0, abi.CodeBadMessage, "not valid CBOR"},
		{"badhandle.wasm", Config{}, 0, abi.CodeUnknownHandle, "handle 999"},
		{"trap.wasm", Config{}, 1, abi.CodeTrap, "unreachable"},
		{"bigpayload.wasm", Config{}, 0, abi.CodePayloadTooLarge, "16777216 bytes"},
	}
	for _, tc := range tests {
		t.Run(strings.TrimSuffix(tc.fixture, ".wasm"), func(t *testing.T) {
			rt := newRuntime(t, tc.cfg)
			m, err := rt.Load(context.Background(), readFixture(t, tc.fixture))
			if err != nil {
				t.Fatal(err)
			}
			start := history.Event{Kind: history.KindExecutionStarted, Name: "hostile"}
			eng, res := turn(t, rt, m, "h", nil, 1, start)
			for k := range tc.turns {
				if res.State != Suspended {
					t.Fatalf("turn %d: %+v", k+1, res)
				}
				c := eng.Commit()
				done := history.Event{Kind: history.KindActivityCompleted, Ref: c.Activities[0].EventID, Result: []byte(`1`)}
				eng, res = turn(t, rt, m, "h", eng.History(), int64(k+2), done)
			}
			if res.State != Failed {
				t.Fatalf("state %v (%v), want failed", res.State, res.Err)
			}
			c := eng.Commit()
			f := c.State.Failure
			if c.State.Status != store.StatusFailed || f == nil || f.Code != tc.code || !strings.Contains(f.Message, tc.mention) {
				t.Fatalf("recorded %v %+v, want code %s mentioning %q", c.State.Status, f, tc.code, tc.mention)
			}
			if len(c.Activities) != 0 {
				t.Errorf("a failed turn enqueued activities: %+v", c.Activities)
			}
			assertHealthy(t, rt)
		})
	}
}

// TestTrapAfterComplete: a guest that traps after a successful complete (a Rust panic,
// reported with complete, then aborted) keeps the outcome it gave, on every replay too.
func TestTrapAfterComplete(t *testing.T) {
	rt := newRuntime(t, Config{})
	m, err := rt.Load(context.Background(), readFixture(t, "completetrap.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	start := history.Event{Kind: history.KindExecutionStarted, Name: "hostile"}
	eng, res := turn(t, rt, m, "ct", nil, 1, start)
	if res.State != Completed || res.Err != nil {
		t.Fatalf("state %v (%v), want completed", res.State, res.Err)
	}
	c := eng.Commit()
	if c.State.Status != store.StatusCompleted || string(c.State.Output) != `"done"` || c.State.Failure != nil {
		t.Fatalf("recorded %v output %s failure %+v, want completed with \"done\"", c.State.Status, c.State.Output, c.State.Failure)
	}
	assertHealthy(t, rt)
}

// TestHostileGoGuest runs the Go guest's misbehaving orchestrations.
func TestHostileGoGuest(t *testing.T) {
	wasm := buildGuest(t, featuresGuest, "")
	tests := []struct {
		orch, input string
		cfg         Config
		kind        abi.FailureKind
		code        string
		mention     string
	}{
		{"spin", "null", Config{TurnTimeout: 300 * time.Millisecond}, abi.FailureInfrastructure, abi.CodeTurnTimeout, "budget"},
		{"grow", "null", Config{MemoryLimitPages: 256, TurnTimeout: time.Minute}, abi.FailureInfrastructure, abi.CodeMemoryLimit, "memory limit"},
		{"panic", "null", Config{}, abi.FailureApplication, "", "kaboom"},
		{"big_output", "5000000", Config{}, abi.FailureInfrastructure, abi.CodePayloadTooLarge, "complete: message of 5000011 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.orch, func(t *testing.T) {
			w := newWorld(t, wasm, false, tc.cfg)
			w.start("i", tc.orch, tc.input)
			w.run(10)
			f := w.inst["i"].state.Failure
			if w.inst["i"].state.Status != store.StatusFailed || f == nil || f.Kind != tc.kind ||
				(tc.code != "" && f.Code != tc.code) || !strings.Contains(f.Message, tc.mention) {
				t.Fatalf("status %v failure %+v; want kind %v code %q mentioning %q", w.inst["i"].state.Status, f, tc.kind, tc.code, tc.mention)
			}
			// The same runtime then runs a good orchestration of the same module.
			w.acts["greet"] = ok(`"fine"`)
			w.start("good", "hello", `"x"`)
			w.run(10)
			if w.inst["good"].state.Status != store.StatusCompleted {
				t.Fatalf("good orchestration after %s: %+v", tc.orch, w.inst["good"].state)
			}
		})
	}
}
