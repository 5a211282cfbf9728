package conformance_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/durohost/durohost/abi"
	"github.com/durohost/durohost/history"
	"github.com/durohost/durohost/host"
	"github.com/durohost/durohost/store"
	"github.com/durohost/durohost/store/sqlite"
)

// rustGuest holds the Rust test guest (conformance/guests/rust): its sources and the modules
// built from them, committed so that the tests need no Rust toolchain; build.sh there rebuilds
// them, and CI checks that they match their sources (.ci/fixtures.d/rust.sh).
const rustGuest = "guests/rust"

func init() {
	registerGuestLanguage("rust", func(t *testing.T) ([]byte, []byte) {
		return readRustGuest(t, "guest.wasm"), readRustGuest(t, "guest-b.wasm")
	})
}

func readRustGuest(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(rustGuest, name))
	if err != nil {
		t.Fatalf("the Rust test guest %s is not built: %v (run %s/build.sh)", name, err, rustGuest)
	}
	return b
}

// parkedCounts is how many instances BenchmarkParkedInstances parks per language: a Go
// instance holds megabytes, a Rust one kilobytes (the goal: 10,000 Rust instances in
// one host under 1 GiB).
var parkedCounts = map[string]int{"go": 500, "rust": 10000}

// BenchmarkParkedInstances parks many instances of the test guest of every language in one
// host (each waits for an event that never comes, held in the live cache) and reports the
// memory of one parked instance (the live cache's accounting and the process's RSS growth)
// and the mean time to instantiate a guest for a first turn (the host's
// instantiate_duration_seconds). It measures once: run it with -benchtime=1x.
//
//	go test ./conformance/ -run '^$' -bench ParkedInstances -benchtime=1x
func BenchmarkParkedInstances(b *testing.B) {
	for _, l := range guestLanguages {
		n, ok := parkedCounts[l.name]
		if !ok {
			continue
		}
		b.Run(l.name, func(b *testing.B) {
			t := &testing.T{}
			guest, _ := l.build(t)
			if t.Failed() {
				b.Fatal("building the guest failed")
			}
			for i := 0; i < b.N; i++ {
				parkInstances(b, guest, n)
			}
		})
	}
}

func parkInstances(b *testing.B, guest []byte, n int) {
	ctx := context.Background()
	st, err := sqlite.Open(filepath.Join(b.TempDir(), "parked.db"), sqlite.WithSynchronous(sqlite.SyncOff))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	var parked atomic.Int64
	seen := sync.Map{}
	h, err := host.New(st, host.WithCompilationCache(cacheDir), host.WithObserver(func(e host.Event) {
		if len(e.Events) > 0 {
			if _, dup := seen.LoadOrStore(e.InstanceID, true); !dup {
				parked.Add(1)
			}
		}
	}))
	if err != nil {
		b.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	if err := h.EnableMetrics(reg); err != nil {
		b.Fatal(err)
	}
	if _, err := h.LoadModule(ctx, guest); err != nil {
		b.Fatal(err)
	}
	if err := h.Start(); err != nil {
		b.Fatal(err)
	}
	defer h.Stop(ctx)
	runtime.GC()
	rss0 := processRSS(b)
	input := []byte(`{"steps":[{"event":"never"}]}`)
	b.ResetTimer()
	for i := range n {
		if _, err := h.Client().Start(ctx, "sc_receive", input, host.WithInstanceID(fmt.Sprintf("p%05d", i))); err != nil {
			b.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Minute)
	for parked.Load() < int64(n) {
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d instances parked after 10 minutes", parked.Load(), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	b.StopTimer()
	runtime.GC()
	rss := processRSS(b)
	mfs, err := reg.Gather()
	if err != nil {
		b.Fatal(err)
	}
	var liveN, liveBytes, instSum, instCount float64
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			switch mf.GetName() {
			case "durohost_live_cache_instances":
				liveN += m.GetGauge().GetValue()
			case "durohost_live_cache_bytes":
				liveBytes += m.GetGauge().GetValue()
			case "durohost_instantiate_duration_seconds":
				instSum += m.GetHistogram().GetSampleSum()
				instCount += float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	b.ReportMetric(float64(n), "instances")
	b.ReportMetric(liveN, "live_instances")
	if liveN > 0 {
		b.ReportMetric(liveBytes/liveN/1024, "live_KiB/instance")
	}
	b.ReportMetric(float64(rss-rss0)/float64(n)/1024, "rss_KiB/instance")
	b.ReportMetric(float64(rss)/(1<<20), "rss_MiB")
	if instCount > 0 {
		b.ReportMetric(instSum/instCount*1e6, "instantiate_us")
	}
}

// processRSS returns the resident memory of the process (Linux).
func processRSS(b *testing.B) int64 {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Skipf("no /proc/self/status: %v", err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return kb << 10
		}
	}
	b.Skip("no VmRSS in /proc/self/status")
	return 0
}

// BenchmarkColdReplay replays one golden history (activity.success: sc_call, two turns)
// against the test guest of every language: each operation instantiates the guest afresh and
// replays the history, the cost of a cold turn without the store.
//
//	go test ./conformance/ -run '^$' -bench ColdReplay
func BenchmarkColdReplay(b *testing.B) {
	data, err := os.ReadFile(filepath.Join("testdata", "histories", "activity.success.json"))
	if err != nil {
		b.Fatal(err)
	}
	var f struct {
		Histories []struct {
			InstanceID string          `json:"instance_id"`
			Execution  uint32          `json:"execution"`
			History    json.RawMessage `json:"history"`
		} `json:"histories"`
	}
	if err := json.Unmarshal(data, &f); err != nil || len(f.Histories) == 0 {
		b.Fatalf("golden history: %v", err)
	}
	gh := f.Histories[0]
	events, err := history.UnmarshalHistory(gh.History)
	if err != nil {
		b.Fatal(err)
	}
	for _, l := range guestLanguages {
		b.Run(l.name, func(b *testing.B) {
			t := &testing.T{}
			guest, _ := l.build(t)
			if t.Failed() {
				b.Fatal("building the guest failed")
			}
			st, err := sqlite.Open(filepath.Join(b.TempDir(), "replay.db"), sqlite.WithSynchronous(sqlite.SyncOff))
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			h, err := host.New(st, host.WithCompilationCache(cacheDir))
			if err != nil {
				b.Fatal(err)
			}
			defer h.Stop(context.Background())
			r, err := h.Replayer(context.Background(), guest)
			if err != nil {
				b.Fatal(err)
			}
			defer r.Close()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				d, err := r.Replay(context.Background(), gh.InstanceID, gh.Execution, events)
				if err != nil || d != nil {
					b.Fatalf("replay: %v %v", err, d)
				}
			}
		})
	}
}

// TestRustPanic checks what the Rust SDK promises for a panicking orchestration: on wasm32 a
// panic aborts, so the SDK reports it with complete before the trap, and the host records the
// application failure `panic` (not DH-TRAP-001) with the Go SDK's message, which replays
// unchanged. sc_select panics on a future kind it does not know.
func TestRustPanic(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	h, err := host.New(openSQLite(t), host.WithCompilationCache(cacheDir))
	if err != nil {
		t.Fatal(err)
	}
	guest := readRustGuest(t, "guest.wasm")
	if _, err := h.LoadModule(ctx, guest); err != nil {
		t.Fatal(err)
	}
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Stop(context.Background()) })
	for _, tc := range []struct {
		name, orchestration, input, event, message string
	}{
		{"first turn", "sc_select", `{"futures":[{"kind":"bogus"}]}`, "",
			`orchestration sc_select panicked: unknown future kind "bogus"`},
		// The second step dequeues from a queue with no name, which the SDK refuses with a
		// panic, in the turn the event "a" starts (the instance was parked in await).
		{"after a wait", "sc_receive", `{"steps":[{"event":"a"},{}]}`, "a",
			`orchestration sc_receive panicked: durohost: dequeue with an empty queue name`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, err := h.Client().Start(ctx, tc.orchestration, []byte(tc.input))
			if err != nil {
				t.Fatal(err)
			}
			if tc.event != "" {
				waitForKind(ctx, t, h, id, history.KindEventSubscribed) // parked in await
				if err := h.Client().RaiseEvent(ctx, id, tc.event, []byte(`1`)); err != nil {
					t.Fatal(err)
				}
			}
			inst, err := h.Client().Wait(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			f := inst.Failure
			if inst.Status != store.StatusFailed || f == nil || f.Kind != abi.FailureApplication || f.Code != "panic" || f.Message != tc.message {
				t.Fatalf("status %v, failure %+v; want failed with application failure panic: %s", inst.Status, f, tc.message)
			}
			if !strings.HasPrefix(string(f.Details), `"panicked at `) || !strings.Contains(string(f.Details), ".rs:") {
				t.Errorf("details %q: want the JSON string \"panicked at FILE:LINE:COLUMN\"", f.Details)
			}
			events, err := h.Client().History(ctx, id, 1)
			if err != nil {
				t.Fatal(err)
			}
			turns := 0
			for _, e := range events {
				if e.Kind == history.KindTurnStarted {
					turns++
				}
			}
			wantTurns := 1
			if tc.event != "" {
				wantTurns = 2
			}
			if turns != wantTurns {
				t.Errorf("the history has %d turns, want %d", turns, wantTurns)
			}
			r, err := h.Replayer(ctx, guest)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if d, err := r.Replay(ctx, id, 1, events); err != nil || d != nil {
				t.Fatalf("replaying the panic: %v %v", d, err)
			}
		})
	}
}

// waitForKind waits until the history of the instance's first execution holds an event of
// kind k.
func waitForKind(ctx context.Context, t *testing.T, h *host.Host, id string, k history.Kind) {
	t.Helper()
	for {
		events, err := h.Client().History(ctx, id, 1)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range events {
			if e.Kind == k {
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("instance %s: no event of kind %v in its history: %v", id, k, ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// runRustScripted runs durohost_run of the Rust test guest once against host functions that
// answer start_info with info and every result with completion (answers the real host never
// gives: malformed CBOR), and returns the outcome the guest completed with.
func runRustScripted(t *testing.T, info, completion []byte) *abi.Outcome {
	t.Helper()
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	wasi_snapshot_preview1.MustInstantiate(ctx, rt)
	sizeThenRead := func(m api.Module, answer []byte, p, c int32) int32 {
		if int(c) >= len(answer) {
			m.Memory().Write(uint32(p), answer)
		}
		return int32(len(answer))
	}
	var outcome *abi.Outcome
	_, err := rt.NewHostModuleBuilder(abi.ImportModule).
		NewFunctionBuilder().WithFunc(func(_ context.Context, m api.Module, p, c int32) int32 {
		return sizeThenRead(m, info, p, c)
	}).Export("start_info").
		NewFunctionBuilder().WithFunc(func(context.Context, int32, int32) int32 { return 1 }).Export("schedule").
		NewFunctionBuilder().WithFunc(func(context.Context, int32, int32) int32 { return 0 }).Export("await").
		NewFunctionBuilder().WithFunc(func(_ context.Context, m api.Module, _ uint32, p, c int32) int32 {
		return sizeThenRead(m, completion, p, c)
	}).Export("result").
		NewFunctionBuilder().WithFunc(func(context.Context, uint32) int32 { return 0 }).Export("cancel").
		NewFunctionBuilder().WithFunc(func(context.Context, int32, int32) int32 { return 0 }).Export("set_status").
		NewFunctionBuilder().WithFunc(func(_ context.Context, m api.Module, p, n int32) int32 {
		b, _ := m.Memory().Read(uint32(p), uint32(n))
		outcome = &abi.Outcome{}
		if err := abi.Unmarshal(b, outcome); err != nil {
			t.Errorf("the guest's outcome %x: %v", b, err)
		}
		return 0
	}).Export("complete").
		NewFunctionBuilder().WithFunc(func(context.Context, int32, int32, int32) {}).Export("log").
		NewFunctionBuilder().WithFunc(func(context.Context) int32 { return 0 }).Export("is_replaying").
		Instantiate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	mod, err := rt.InstantiateWithConfig(ctx, readRustGuest(t, "guest.wasm"), wazero.NewModuleConfig())
	if err != nil {
		t.Fatal(err)
	}
	// A panic reports its failure with complete, then traps: the trap is expected then.
	_, _ = mod.ExportedFunction(abi.ExportRun).Call(ctx)
	if outcome == nil {
		t.Fatal("the guest did not complete")
	}
	return outcome
}

// TestRustHostAnswers feeds the Rust SDK's CBOR decoder host answers the real host never
// gives. The orchestration is sc_call of activity "a": it completes with the activity's
// result, and a completion that does not decode is a panic. A byte string whose 64-bit length
// does not fit the guest's 32-bit address space must be refused, not read modulo 2^32 (on
// wasm32 a length of 2^32+1 read as 1 accepted the message below as the result "1").
func TestRustHostAnswers(t *testing.T) {
	info := []byte("\xa2\x02\x67sc_call\x06\x50{\"activity\":\"a\"}")
	for _, tc := range []struct {
		name       string
		completion []byte
		want       string // the outcome's output, or "failed: " and words of its failure
	}{
		{"result", []byte("\xa1\x01\x411"), "1"},
		{"non-shortest head", []byte("\xa1\x01\x5b\x00\x00\x00\x00\x00\x00\x00\x011"), "1"},
		{"64-bit length", []byte("\xa1\x01\x5b\x00\x00\x00\x01\x00\x00\x00\x011"), "failed: panic string longer than the message"},
		{"trailing bytes", []byte("\xa1\x01\x411\x00"), "failed: panic trailing bytes"},
		// Keys the message does not define, and duplicates, are refused as the Go SDK refuses
		// them (they were skipped, and a deeply nested value overflowed the stack).
		{"unknown key", []byte("\xa2\x01\x411\x18\x63\x82\x01\x02"), "failed: panic unknown Completion field 99"},
		{"unknown key with a deeply nested value", append([]byte("\xa2\x01\x411\x18\x63"), bytes.Repeat([]byte{0x81}, 100000)...), "failed: panic unknown Completion field 99"},
		{"duplicate key", []byte("\xa2\x01\x411\x01\x412"), "failed: panic duplicate key 1"},
		{"empty", []byte{}, "failed: panic unexpected end"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := runRustScripted(t, info, tc.completion)
			got := string(o.Output)
			if o.Failure != nil {
				got = "failed: " + o.Failure.Code + " " + o.Failure.Message
			}
			if want, ok := strings.CutPrefix(tc.want, "failed: "); ok {
				code, words, _ := strings.Cut(want, " ")
				if o.Failure == nil || o.Failure.Code != code || !strings.Contains(o.Failure.Message, words) {
					t.Errorf("outcome %s; want a failure %s: ...%s...", got, code, words)
				}
			} else if got != tc.want {
				t.Errorf("outcome %s; want the output %s", got, tc.want)
			}
		})
	}
}

// TestRustDeepJSON runs the SDK's JSON parser at its nesting limit inside the guest's 32 KiB
// stack: an input nested json::MAX_DEPTH (64) deep parses (sc_select then panics on its
// future of no kind, an application failure, not a trap), and one level more is refused with
// a clear error instead of overflowing the stack.
func TestRustDeepJSON(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	h, err := host.New(openSQLite(t), host.WithCompilationCache(cacheDir))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.LoadModule(ctx, readRustGuest(t, "guest.wasm")); err != nil {
		t.Fatal(err)
	}
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Stop(context.Background()) })
	// {"futures":[ nested arrays ]}: the object and the futures array are two levels.
	nested := func(depth int) []byte {
		return []byte(`{"futures":[` + strings.Repeat("[", depth-2) + strings.Repeat("]", depth-2) + `]}`)
	}
	for _, tc := range []struct {
		depth       int
		code, where string
	}{
		{64, "panic", `unknown future kind ""`},
		{65, "bad_payload", "nested too deeply"},
	} {
		id, err := h.Client().Start(ctx, "sc_select", nested(tc.depth))
		if err != nil {
			t.Fatal(err)
		}
		inst, err := h.Client().Wait(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		f := inst.Failure
		if inst.Status != store.StatusFailed || f == nil || f.Code != tc.code || !strings.Contains(f.Message, tc.where) {
			t.Errorf("depth %d: status %v, failure %+v; want failed with %s: ...%s...", tc.depth, inst.Status, f, tc.code, tc.where)
		}
	}
}
