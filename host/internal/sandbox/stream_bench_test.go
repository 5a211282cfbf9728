package sandbox

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/durohost/durohost/guest-sdk/javascript"
	"github.com/durohost/durohost/guest-sdk/python"
	"github.com/durohost/durohost/history"
	"github.com/durohost/durohost/host/internal/replay"
)

// streamGuest is a stream-form guest of the benchmarks, with the orchestration and input of a
// long sequence of activity calls.
type streamGuest struct {
	name, orchestration, input string
	wasm                       func(testing.TB) []byte
}

var streamGuests = []streamGuest{
	{"c", "sc_sequence", `{"activity":"a","count":2000000}`, func(b testing.TB) []byte {
		return readFile(b, "..", "..", "..", "conformance", "guests", "stream-c", "guest.wasm")
	}},
	{"javascript", "bench_sequence", "2000000", func(b testing.TB) []byte {
		m, err := javascript.Bundle(readFile(b, "..", "..", "..", "wasm-examples", "javascript", "bench", "main.js"))
		if err != nil {
			b.Fatal(err)
		}
		return m
	}},
	{"python", "bench_sequence", "2000000", func(b testing.TB) []byte {
		m, err := python.Bundle(readFile(b, "..", "..", "..", "wasm-examples", "python", "bench", "main.py"))
		if err != nil {
			b.Fatal(err)
		}
		return m
	}},
}

func readFile(b testing.TB, path ...string) []byte {
	data, err := os.ReadFile(filepath.Join(path...))
	if err != nil {
		b.Fatal(err)
	}
	return data
}

// BenchmarkStreamInstantiate measures a cold instantiation of the stream-form guests (from the
// snapshot of an initialised interpreter for the JavaScript and Python reactors), and reports
// the module's size.
func BenchmarkStreamInstantiate(b *testing.B) {
	for _, g := range streamGuests {
		b.Run(g.name, func(b *testing.B) {
			rt := newRuntime(b, Config{})
			wasm := g.wasm(b)
			m, err := rt.Load(context.Background(), wasm)
			if err != nil {
				b.Fatal(err)
			}
			start := []history.Event{{ID: 1, Kind: history.KindTurnStarted, Time: epoch}, {ID: 2, Kind: history.KindExecutionStarted, Name: g.orchestration}}
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
			b.ReportMetric(float64(len(wasm)), "module-bytes")
		})
	}
}

// BenchmarkStreamLiveTurn measures a live turn of the stream-form guests: parked in the write of
// an await call, the guest gets an activity completion, schedules the next activity and parks
// again.
func BenchmarkStreamLiveTurn(b *testing.B) {
	for _, g := range streamGuests {
		b.Run(g.name, func(b *testing.B) {
			rt := newRuntime(b, Config{})
			m, err := rt.Load(context.Background(), g.wasm(b))
			if err != nil {
				b.Fatal(err)
			}
			eng, err := replay.New(replay.Config{InstanceID: "i", Execution: 1, MaxEvents: 1 << 30}, nil)
			if err != nil {
				b.Fatal(err)
			}
			start := history.Event{Kind: history.KindExecutionStarted, Name: g.orchestration, Input: []byte(g.input)}
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
		})
	}
}

// BenchmarkStreamLoad measures loading a stream-form module whose code is in the compilation
// cache: validation, bundled files, the describing instance's initialisation and the snapshot
// (what every host that loads the module pays).
func BenchmarkStreamLoad(b *testing.B) {
	for _, g := range streamGuests {
		b.Run(g.name, func(b *testing.B) {
			rt := newRuntime(b, Config{})
			wasm := g.wasm(b)
			m, err := rt.Load(context.Background(), wasm) // compiled into the cache
			if err != nil {
				b.Fatal(err)
			}
			m.Close(context.Background())
			b.ResetTimer()
			for b.Loop() {
				m, err := rt.Load(context.Background(), wasm)
				if err != nil {
					b.Fatal(err)
				}
				m.Close(context.Background())
			}
		})
	}
}
