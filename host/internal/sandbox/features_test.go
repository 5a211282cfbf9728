package sandbox

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/durohost/durohost/abi"
	"github.com/durohost/durohost/history"
	"github.com/durohost/durohost/store"
)

const featuresGuest = "conformance/guests/go"

func echoStep(_ int, in []byte) ([]byte, *abi.Failure, time.Duration) {
	return []byte(`"step-` + string(in) + `"`), nil, 0
}

// featureCase runs one orchestration of the Go test guest through the world.
type featureCase struct {
	name   string
	orch   string
	input  string
	acts   map[string]activity
	inject func(w *world) // called once the instance is waiting (after the first settle)
	status store.Status
	output string                       // expected output JSON (when status is completed)
	check  func(t *testing.T, w *world) // extra checks
}

var featureCases = []featureCase{
	{name: "hello", orch: "hello", input: `"World"`, acts: map[string]activity{"greet": func(_ int, in []byte) ([]byte, *abi.Failure, time.Duration) {
		var s string
		json.Unmarshal(in, &s)
		return []byte(`"Hello, ` + s + `!"`), nil, 0
	}}, status: store.StatusCompleted, output: `"Hello, World!"`},
	{name: "sequence", orch: "sequence", input: `3`, acts: map[string]activity{"step": echoStep},
		status: store.StatusCompleted, output: `["step-0","step-1","step-2"]`},
	{name: "fanout in schedule order", orch: "fanout", input: `4`, acts: map[string]activity{"step": func(_ int, in []byte) ([]byte, *abi.Failure, time.Duration) {
		// later steps finish first: join must still return schedule order
		n := int(in[0] - '0')
		return []byte(`"step-` + string(in) + `"`), nil, time.Duration(10-n) * time.Millisecond
	}}, status: store.StatusCompleted, output: `["step-0","step-1","step-2","step-3"]`},
	{name: "timer", orch: "timer", input: `1500`, status: store.StatusCompleted, check: func(t *testing.T, w *world) {
		var out struct{ Before, After int64 }
		json.Unmarshal(w.inst["i"].state.Output, &out)
		if out.After-out.Before != 1500 {
			t.Errorf("timer: before %d after %d, want 1500 ms apart", out.Before, out.After)
		}
	}},
	{name: "external event", orch: "event", inject: func(w *world) { w.raise("i", "approve", `{"ok":true}`) },
		status: store.StatusCompleted, output: `{"ok":true}`},
	{name: "race event wins", orch: "race", input: `60000`, inject: func(w *world) { w.raise("i", "approve", `"yes"`) },
		status: store.StatusCompleted, output: `"event:\"yes\""`, check: wantKinds(history.KindFutureCancelled)},
	{name: "race timer wins", orch: "race", input: `10`,
		status: store.StatusCompleted, output: `"timeout"`, check: wantKinds(history.KindFutureCancelled)},
	{name: "queue FIFO", orch: "queue", input: `3`, inject: func(w *world) {
		w.enqueue("i", "q", `1`)
		w.enqueue("i", "q", `2`)
		w.enqueue("i", "q", `3`)
	}, status: store.StatusCompleted, output: `[1,2,3]`},
	{name: "sub-orchestration derived ID", orch: "child", input: `"kid"`, acts: map[string]activity{"greet": ok(`"hi kid"`)},
		status: store.StatusCompleted, output: `"hi kid"`, check: func(t *testing.T, w *world) {
			if _, ok := w.inst["i:1:3"]; !ok {
				t.Errorf("no child with derived ID i:1:3; instances %v", w.order)
			}
		}},
	{name: "sub-orchestration explicit ID", orch: "child_explicit", input: `"kid"`, acts: map[string]activity{"greet": ok(`"hi kid"`)},
		status: store.StatusCompleted, output: `"hi kid"`, check: func(t *testing.T, w *world) {
			if c, ok := w.inst["i-child"]; !ok || c.state.ParentID != "i" {
				t.Errorf("no child i-child with parent i; instances %v", w.order)
			}
		}},
	{name: "detached", orch: "detached", input: `"solo"`, acts: map[string]activity{"greet": ok(`"hi solo"`)},
		status: store.StatusCompleted, output: `"i:1:3"`, check: func(t *testing.T, w *world) {
			c, ok := w.inst["i:1:3"]
			if !ok || c.state.ParentID != "" || c.state.Status != store.StatusCompleted {
				t.Errorf("detached instance: %+v", c)
			}
		}},
	{name: "continue as new", orch: "continue", input: `0`, status: store.StatusCompleted, output: `3`, check: func(t *testing.T, w *world) {
		x := w.inst["i"]
		if x.exec != 4 || len(x.past) != 3 {
			t.Errorf("executions: current %d, past %d; want 4 and 3", x.exec, len(x.past))
		}
		if string(x.state.CustomStatus) != `2` {
			t.Errorf("custom status carried = %q, want 2", x.state.CustomStatus)
		}
	}},
	{name: "custom status", orch: "status", status: store.StatusCompleted, output: `"done"`, check: func(t *testing.T, w *world) {
		if cs := w.inst["i"].state.CustomStatus; cs != nil {
			t.Errorf("custom status = %q, want cleared", cs)
		}
		var sets []string
		for _, ev := range w.inst["i"].hist {
			if ev.Kind == history.KindCustomStatusSet {
				sets = append(sets, string(ev.Result))
			}
		}
		if strings.Join(sets, ",") != `"a","b",` {
			t.Errorf("status events = %q", sets)
		}
	}},
	{name: "retry then success", orch: "retry", acts: map[string]activity{"flaky": func(attempt int, _ []byte) ([]byte, *abi.Failure, time.Duration) {
		if attempt < 3 {
			return nil, &abi.Failure{Kind: abi.FailureApplication, Message: "flaky"}, 0
		}
		return []byte(`"third time"`), nil, 0
	}}, status: store.StatusCompleted, output: `"third time"`, check: func(t *testing.T, w *world) {
		if w.attempts["flaky"] != 3 {
			t.Errorf("flaky ran %d times, want 3", w.attempts["flaky"])
		}
	}},
	{name: "retry exhausted", orch: "retry", acts: map[string]activity{"flaky": func(int, []byte) ([]byte, *abi.Failure, time.Duration) {
		return nil, &abi.Failure{Kind: abi.FailureApplication, Message: "always"}, 0
	}}, status: store.StatusFailed, check: func(t *testing.T, w *world) {
		if w.attempts["flaky"] != 3 {
			t.Errorf("flaky ran %d times, want 3", w.attempts["flaky"])
		}
	}},
	{name: "attempt timeout", orch: "attempt_timeout", acts: map[string]activity{"slow": func(attempt int, _ []byte) ([]byte, *abi.Failure, time.Duration) {
		if attempt == 1 {
			return []byte(`"late"`), nil, time.Hour
		}
		return []byte(`"fast"`), nil, 0
	}}, status: store.StatusCompleted, output: `"fast"`, check: wantKinds(history.KindFutureCancelled)},
	{name: "orchestration fails", orch: "fail", status: store.StatusFailed, check: func(t *testing.T, w *world) {
		f := w.inst["i"].state.Failure
		if f == nil || f.Kind != abi.FailureApplication || !strings.Contains(f.Message, "boom") {
			t.Errorf("failure = %+v", f)
		}
	}},
	{name: "activity failure propagates", orch: "activity_fail", acts: map[string]activity{"fails": func(int, []byte) ([]byte, *abi.Failure, time.Duration) {
		return nil, &abi.Failure{Kind: abi.FailureApplication, Code: "E42", Message: "disk full"}, 0
	}}, status: store.StatusFailed, check: func(t *testing.T, w *world) {
		f := w.inst["i"].state.Failure
		if f == nil || !strings.Contains(f.Message, "disk full") {
			t.Errorf("failure = %+v", f)
		}
	}},
	{name: "versioned latest", orch: "versioned", status: store.StatusCompleted, output: `"v2"`},
	{name: "select activity wins", orch: "select_activity", acts: map[string]activity{"a": ok(`1`)},
		status: store.StatusCompleted, output: `"activity"`},
	{name: "select timer wins, activity withdrawn", orch: "select_activity", acts: map[string]activity{"a": func(int, []byte) ([]byte, *abi.Failure, time.Duration) {
		return []byte(`1`), nil, time.Hour
	}}, status: store.StatusCompleted, output: `"timer"`, check: wantKinds(history.KindFutureCancelled)},
	{name: "info", orch: "info", status: store.StatusCompleted, check: func(t *testing.T, w *world) {
		var out map[string]any
		json.Unmarshal(w.inst["i"].state.Output, &out)
		if out["instance_id"] != "i" || out["name"] != "info" || out["execution_id"] != float64(1) || out["replaying"] != false {
			t.Errorf("info = %v", out)
		}
	}},
}

func wantKinds(kinds ...history.Kind) func(t *testing.T, w *world) {
	return func(t *testing.T, w *world) {
		t.Helper()
		for _, k := range kinds {
			found := false
			for _, ev := range w.inst["i"].hist {
				found = found || ev.Kind == k
			}
			if !found {
				t.Errorf("history has no %s event", k)
			}
		}
	}
}

// TestFeatures runs every SDK feature of the Go guest through the engine with in-memory
// histories, cold (replay at every turn) and live (fast path), and checks that both modes
// record the same history.
func TestFeatures(t *testing.T) {
	wasm := buildGuest(t, featuresGuest, "")
	for _, tc := range featureCases {
		t.Run(tc.name, func(t *testing.T) {
			var histories [2]map[string][]history.Event
			for mode, live := range []bool{false, true} {
				w := newWorld(t, wasm, live, Config{})
				for name, fn := range tc.acts {
					w.acts[name] = fn
				}
				w.start("i", tc.orch, orNull(tc.input))
				if tc.inject != nil {
					w.settle(500)
					tc.inject(w)
				}
				w.run(500)
				x := w.inst["i"]
				if x.state.Status != tc.status {
					t.Fatalf("live=%v: status %v, want %v (failure %+v)", live, x.state.Status, tc.status, x.state.Failure)
				}
				if tc.output != "" && !jsonEqual(x.state.Output, []byte(tc.output)) {
					t.Fatalf("live=%v: output %s, want %s", live, x.state.Output, tc.output)
				}
				if tc.check != nil {
					tc.check(t, w)
				}
				histories[mode] = map[string][]history.Event{}
				for id, y := range w.inst {
					histories[mode][id] = y.hist
				}
			}
			for id, cold := range histories[0] {
				if d := diffHistories(cold, histories[1][id]); d != "" {
					t.Errorf("instance %s: cold and live histories differ: %s", id, d)
				}
			}
		})
	}
}

func orNull(s string) string {
	if s == "" {
		return "null"
	}
	return s
}

func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return bytes.Equal(a, b)
	}
	ja, _ := json.Marshal(x)
	jb, _ := json.Marshal(y)
	return bytes.Equal(ja, jb)
}

// diffHistories compares two histories event by event through their CBOR form.
func diffHistories(a, b []history.Event) string {
	if len(a) != len(b) {
		return "lengths " + itoa(len(a)) + " and " + itoa(len(b))
	}
	for i := range a {
		x, _ := a[i].Encode()
		y, _ := b[i].Encode()
		if !bytes.Equal(x, y) {
			return "event " + itoa(i+1) + ": " + a[i].Kind.String() + " vs " + b[i].Kind.String()
		}
	}
	return ""
}

func itoa(i int) string { return jsonInt(i) }

func jsonInt(i int) string { b, _ := json.Marshal(i); return string(b) }
