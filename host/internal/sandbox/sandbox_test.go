package sandbox

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/durohost/durohost/history"
	"github.com/durohost/durohost/host/internal/replay"
)

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "conformance", "testdata", "wat", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func newRuntime(t testing.TB, cfg Config) *Runtime {
	t.Helper()
	if cfg.CacheDir == "" {
		cfg.CacheDir = cacheDir
	}
	rt, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close(context.Background()) })
	return rt
}

// turn runs one cold turn: a fresh engine over recorded, the inputs as the new turn, a fresh
// instance. It returns the engine (history and commit) and the run result.
func turn(t testing.TB, rt *Runtime, m *Module, id string, recorded []history.Event, now int64, inputs ...history.Event) (*replay.Engine, Result) {
	t.Helper()
	eng, err := replay.New(replay.Config{InstanceID: id, Execution: 1}, recorded)
	if err != nil {
		t.Fatal(err)
	}
	ts, err := eng.BeginTurn(now, inputs)
	if err != nil {
		eng.Fail(err)
		return eng, Result{State: Failed, Err: err}
	}
	if !ts.Run {
		return eng, Result{}
	}
	inst, err := rt.Instantiate(context.Background(), m, eng, id, 1)
	if err != nil {
		t.Fatal(err)
	}
	res := inst.Run(context.Background())
	inst.Close()
	return eng, res
}

func TestWATHello(t *testing.T) {
	rt := newRuntime(t, Config{})
	m, err := rt.Load(context.Background(), readFixture(t, "hello.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	if !m.Has("wat_hello", "") || len(m.Orchestrations) != 1 {
		t.Fatalf("registrations = %+v", m.Orchestrations)
	}
	start := history.Event{Kind: history.KindExecutionStarted, Name: "wat_hello", Input: []byte(`null`)}
	eng, res := turn(t, rt, m, "i1", nil, 1000, start)
	if res.State != Suspended {
		t.Fatalf("turn 1: %+v", res)
	}
	c := eng.Commit()
	if len(c.Activities) != 1 || c.Activities[0].Name != "greet" || string(c.Activities[0].Input) != `"wat"` {
		t.Fatalf("activities = %+v", c.Activities)
	}
	h1 := eng.History()
	done := history.Event{Kind: history.KindActivityCompleted, Ref: c.Activities[0].EventID, Result: []byte(`"hello wat"`)}
	eng2, res := turn(t, rt, m, "i1", h1, 2000, done)
	if res.State != Completed {
		t.Fatalf("turn 2: %+v", res)
	}
	c2 := eng2.Commit()
	if string(c2.State.Output) != `"hello wat"` {
		t.Fatalf("output = %q, status %v", c2.State.Output, c2.State.Status)
	}
}
