package sandbox

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/durohost/durohost/history"
	"github.com/durohost/durohost/host/internal/replay"
)

// BenchmarkInstantiate measures a cold instantiation of the Go test guest: a new module
// instance with its Go runtime initialised (_initialize), ready to run.
func BenchmarkInstantiate(b *testing.B) {
	rt := newRuntime(b, Config{})
	m, err := rt.Load(context.Background(), buildGuest(b, featuresGuest, ""))
	if err != nil {
		b.Fatal(err)
	}
	start := []history.Event{{ID: 1, Kind: history.KindTurnStarted, Time: epoch}, {ID: 2, Kind: history.KindExecutionStarted, Name: "hello"}}
	b.ResetTimer()
	for b.Loop() {
		eng, err := replay.New(replay.Config{InstanceID: "i", Execution: 1}, start)
		if err != nil {
			b.Fatal(err)
		}
		inst, err := rt.Instantiate(context.Background(), m, eng, "i", 1)
		if err != nil {
			b.Fatal(err)
		}
		inst.Close()
	}
}

// BenchmarkColdTurn measures one cold turn (instantiate, replay the whole history, make the
// next decision) of the Go guest's "sequence" orchestration with histories of about 10, 100
// and 1000 events.
func BenchmarkColdTurn(b *testing.B) {
	wasm := buildGuest(b, featuresGuest, "")
	for _, events := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("events=%d", events), func(b *testing.B) {
			w := newWorld(b, wasm, false, Config{})
			w.acts["step"] = echoStep
			steps := events / 3
			w.start("i", "sequence", fmt.Sprint(steps+3))
			for len(w.inst["i"].hist) < events {
				w.settle(10 * steps)
				if !w.fire() {
					b.Fatal("sequence ended early")
				}
			}
			x := w.inst["i"]
			input := x.queue
			hist := x.hist
			b.ReportMetric(float64(len(hist)), "events")
			b.ResetTimer()
			for b.Loop() {
				eng, err := replay.New(replay.Config{InstanceID: "i", Execution: 1}, hist)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := eng.BeginTurn(w.now, input); err != nil {
					b.Fatal(err)
				}
				inst, err := w.rt.Instantiate(context.Background(), w.m, eng, "i", 1)
				if err != nil {
					b.Fatal(err)
				}
				if res := inst.Run(context.Background()); res.State != Suspended {
					b.Fatalf("turn: %+v", res)
				}
				inst.Close()
			}
		})
	}
}

// BenchmarkLiveTurn measures a turn on the fast path: the guest is parked in await; the turn
// delivers an activity completion, the guest schedules the next activity and parks again.
func BenchmarkLiveTurn(b *testing.B) {
	rt := newRuntime(b, Config{})
	m, err := rt.Load(context.Background(), buildGuest(b, featuresGuest, ""))
	if err != nil {
		b.Fatal(err)
	}
	eng, err := replay.New(replay.Config{InstanceID: "i", Execution: 1, MaxEvents: 1 << 30}, nil)
	if err != nil {
		b.Fatal(err)
	}
	start := history.Event{Kind: history.KindExecutionStarted, Name: "sequence", Input: []byte("2000000")}
	if _, err := eng.BeginTurn(epoch, []history.Event{start}); err != nil {
		b.Fatal(err)
	}
	inst, err := rt.Instantiate(context.Background(), m, eng, "i", 1)
	if err != nil {
		b.Fatal(err)
	}
	defer inst.Close()
	res := inst.Run(context.Background())
	now := int64(epoch)
	b.ResetTimer()
	for b.Loop() {
		if res.State != Suspended {
			b.Fatalf("turn: %+v", res)
		}
		c := eng.Commit()
		eng.MarkCommitted()
		now += 1000
		done := history.Event{Kind: history.KindActivityCompleted, Ref: c.Activities[0].EventID, Result: []byte(`"x"`)}
		if _, err := eng.BeginTurn(now, []history.Event{done}); err != nil {
			b.Fatal(err)
		}
		res = inst.Run(context.Background())
	}
	b.ReportMetric(float64(len(eng.History())), "events")
}

// BenchmarkHostCall measures a host function round trip (is_replaying) from a WAT guest.
func BenchmarkHostCall(b *testing.B) {
	rt := newRuntime(b, Config{})
	m, err := rt.Load(context.Background(), readFixture(b, "calls.wasm"))
	if err != nil {
		b.Fatal(err)
	}
	const calls = 1_000_000
	start := history.Event{Kind: history.KindExecutionStarted, Name: "calls"}
	b.ResetTimer()
	for b.Loop() {
		_, res := turn(b, rt, m, "c", nil, 1, start)
		if res.State != Completed {
			b.Fatalf("%+v", res)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/calls, "ns/call")
}

// BenchmarkInstanceLife measures the life of a one-activity orchestration's instance, as a
// start→result of W3 lives it: instantiated (warm, or new with NoWarm), its first turn run,
// the activity's result delivered, its last turn run, closed. ns/op is the wall time of that
// path (warm instances are instantiated beside it); cpu-ns/op the process's CPU time, the
// background instantiations included.
func BenchmarkInstanceLife(b *testing.B) {
	wasm := buildGuest(b, featuresGuest, "")
	for _, noWarm := range []bool{false, true} {
		b.Run(map[bool]string{false: "warm", true: "new"}[noWarm], func(b *testing.B) {
			rt := newRuntime(b, Config{NoWarm: noWarm})
			m, err := rt.Load(context.Background(), wasm)
			if err != nil {
				b.Fatal(err)
			}
			start := history.Event{Kind: history.KindExecutionStarted, Name: "sequence", Input: []byte("1")}
			cpu0 := processCPU()
			b.ResetTimer()
			for b.Loop() {
				eng, err := replay.New(replay.Config{InstanceID: "i", Execution: 1}, nil)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := eng.BeginTurn(epoch, []history.Event{start}); err != nil {
					b.Fatal(err)
				}
				inst, err := rt.Instantiate(context.Background(), m, eng, "i", 1)
				if err != nil {
					b.Fatal(err)
				}
				if res := inst.Run(context.Background()); res.State != Suspended {
					b.Fatalf("first turn: %+v", res)
				}
				c := eng.Commit()
				eng.MarkCommitted()
				done := history.Event{Kind: history.KindActivityCompleted, Ref: c.Activities[0].EventID, Result: []byte(`"x"`)}
				if _, err := eng.BeginTurn(epoch+1000, []history.Event{done}); err != nil {
					b.Fatal(err)
				}
				if res := inst.Run(context.Background()); res.State != Completed {
					b.Fatalf("last turn: %+v", res)
				}
				inst.Close()
			}
			b.StopTimer()
			b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

// processCPU returns the CPU time the process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
