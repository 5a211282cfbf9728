package conformance_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/durohost/durohost/abi"
	durable "github.com/durohost/durohost/guest-sdk/go"
	"github.com/durohost/durohost/history"
	"github.com/durohost/durohost/host"
	"github.com/durohost/durohost/internal/testguest"
	"github.com/durohost/durohost/store"
	"github.com/durohost/durohost/store/sqlite"
)

// asGuest is the AssemblyScript test guest: assembly/*.ts built with the AssemblyScript guest
// SDK (guest-sdk/assemblyscript) into committed fixtures (conformance/guests/assemblyscript/
// build.sh; CI rebuilds them and checks they match), so that the suite runs where only Go is
// installed.
const asGuest = "guests/assemblyscript"

func init() {
	registerGuestLanguage("assemblyscript", func(t *testing.T) ([]byte, []byte) {
		return readASFixture(t, "guest.wasm"), readASFixture(t, "guest-b.wasm")
	})
	// BenchmarkParkedInstances (rust_test.go) parks as many AssemblyScript instances as Rust
	// ones: both hold kilobytes.
	parkedCounts["assemblyscript"] = 10000
}

// readASFixture reads a committed module of the AssemblyScript test guest.
func readASFixture(t *testing.T, name string) []byte {
	t.Helper()
	path := filepath.Join(asGuest, name)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("AssemblyScript test guest: %v (rebuild it with %s/build.sh)", err, asGuest)
	}
	return b
}

// benchGuests are the benchmark guests of durohost bench in Go and AssemblyScript, the
// subjects of the benchmarks below.
func benchGuests(b *testing.B) []struct {
	name string
	wasm []byte
} {
	as, err := os.ReadFile(filepath.Join("..", "internal", "bench", "guest-assemblyscript", "bench.wasm"))
	if err != nil {
		b.Fatal(err)
	}
	return []struct {
		name string
		wasm []byte
	}{{"go", testguest.Build(b, "internal/bench/guest", "")}, {"assemblyscript", as}}
}

// BenchmarkColdFirstTurn measures a cold start of an instance of the benchmark guest: a new
// instance of the compiled module (from the host's snapshot of an initialised one) that runs
// the first turn of bench_sequence (decode the start, schedule an activity, park in await),
// through Host.Replay, for the Go and the AssemblyScript guests.
func BenchmarkColdFirstTurn(b *testing.B) {
	now := time.Unix(1_800_000_000, 0).UnixNano()
	events := []history.Event{
		{ID: 1, Kind: history.KindTurnStarted, Time: now},
		{ID: 2, Kind: history.KindExecutionStarted, Time: now, Name: "bench_sequence", Input: []byte("10")},
		{ID: 3, Kind: history.KindActivityScheduled, Time: now, Name: "noop", Input: []byte(`"x"`)},
	}
	for _, g := range benchGuests(b) {
		b.Run(g.name, func(b *testing.B) {
			st, err := sqlite.Open(sqlite.MemoryPath)
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			h, err := host.New(st, host.WithCompilationCache(cacheDir))
			if err != nil {
				b.Fatal(err)
			}
			defer h.Stop(context.Background())
			r, err := h.Replayer(context.Background(), g.wasm)
			if err != nil {
				b.Fatal(err)
			}
			defer r.Close()
			for b.Loop() {
				d, err := r.Replay(context.Background(), "i", 1, events)
				if err != nil || d != nil {
					b.Fatalf("replay: %v %v", d, err)
				}
			}
		})
	}
}

// TestASParkedMemory checks that an instance of the AssemblyScript benchmark guest parked in
// await after the first turn of bench_sequence holds one 64 KiB page of linear memory (a plain
// wazero instance whose host functions answer like the host's): what a live instance keeps
// besides the runtime's fixed costs. (The Go guest's is about 3.8 MiB.)
func TestASParkedMemory(t *testing.T) {
	as, err := os.ReadFile(filepath.Join("..", "internal", "bench", "guest-assemblyscript", "bench.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	size := parkedMemory(t, as)
	t.Logf("the AssemblyScript guest parks in await with %d KiB of linear memory", size>>10)
	if size > 64<<10 {
		t.Errorf("the AssemblyScript guest parks with %d KiB of linear memory, more than 64 KiB", size>>10)
	}
}

// errParked unwinds a guest parked in await by parkedMemory.
var errParked = errors.New("parked")

// parkedMemory runs the first turn of bench_sequence in wasm and returns the size of its
// linear memory when it awaits.
func parkedMemory(t *testing.T, wasm []byte) uint32 {
	t.Helper()
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	wasi_snapshot_preview1.MustInstantiate(ctx, rt)
	info := abi.AppendStartInfo(nil, &abi.StartInfo{Name: "bench_sequence", InstanceID: "i", ExecutionID: 1, Input: []byte("10")})
	var handle int32
	var parked uint32
	_, err := rt.NewHostModuleBuilder(abi.ImportModule).
		NewFunctionBuilder().WithFunc(func(_ context.Context, m api.Module, p, c int32) int32 {
		if int(c) >= len(info) {
			m.Memory().Write(uint32(p), info)
		}
		return int32(len(info))
	}).Export("start_info").
		NewFunctionBuilder().WithFunc(func(context.Context, int32, int32) int32 { handle++; return handle }).Export("schedule").
		NewFunctionBuilder().WithFunc(func(_ context.Context, m api.Module, _, _ int32) int32 {
		parked = m.Memory().Size()
		panic(errParked)
	}).Export("await").
		NewFunctionBuilder().WithFunc(func(context.Context, uint32, int32, int32) int32 { return -1 }).Export("result").
		NewFunctionBuilder().WithFunc(func(context.Context, uint32) int32 { return 0 }).Export("cancel").
		NewFunctionBuilder().WithFunc(func(context.Context, int32, int32) int32 { return 0 }).Export("set_status").
		NewFunctionBuilder().WithFunc(func(context.Context, int32, int32) int32 { return 0 }).Export("complete").
		NewFunctionBuilder().WithFunc(func(context.Context, int32, int32, int32) {}).Export("log").
		NewFunctionBuilder().WithFunc(func(context.Context) int32 { return 0 }).Export("is_replaying").
		Instantiate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	mod, err := rt.InstantiateWithConfig(ctx, wasm, wazero.NewModuleConfig().WithStartFunctions("_initialize"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mod.ExportedFunction(abi.ExportRun).Call(ctx); !errors.Is(err, errParked) {
		t.Fatalf("the guest did not park in await: %v", err)
	}
	return parked
}

// asChecks runs orchestrations of the AssemblyScript test guest on a host of its own and
// returns a function that runs one to its output.
func asChecks(t *testing.T) func(t *testing.T, name string, input []byte) []byte {
	run := asInstances(t)
	return func(t *testing.T, name string, input []byte) []byte {
		t.Helper()
		inst := run(t, name, input)
		if inst.Status != store.StatusCompleted {
			t.Fatalf("%s(%s): %s %+v", name, input, inst.Status, inst.Failure)
		}
		return inst.Output
	}
}

// asInstances runs orchestrations of the AssemblyScript test guest on a host of its own and
// returns a function that runs one to its end.
func asInstances(t *testing.T) func(t *testing.T, name string, input []byte) *store.Instance {
	ctx := context.Background()
	h, err := host.New(openSQLite(t), host.WithCompilationCache(cacheDir))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.LoadModule(ctx, readASFixture(t, "guest.wasm")); err != nil {
		t.Fatal(err)
	}
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Stop(ctx) })
	return func(t *testing.T, name string, input []byte) *store.Instance {
		t.Helper()
		id, err := h.Client().Start(ctx, name, input)
		if err != nil {
			t.Fatal(err)
		}
		wctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		inst, err := h.Client().Wait(wctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return inst
	}
}

// TestASJSON checks that the AssemblyScript SDK's JSON writes what Go's encoding/json writes:
// strings decoded and written back (as_quote), and payloads compacted as a json.RawMessage
// (as_compact), by orchestrations of the test guest.
func TestASJSON(t *testing.T) {
	run := asChecks(t)
	for _, s := range []string{
		"", "plain", `quote " backslash \ slash /`, "<tag> & 'more'", "\u2028 and \u2029",
		"\x00\x01\x07\b\f\n\r\t\x1f\x7f", "é ü ß 日本語", "emoji 😀 \U0001F680", "\ufffd",
	} {
		t.Run("quote/"+s, func(t *testing.T) {
			in, _ := json.Marshal(s)
			if got, want := run(t, "as_quote", in), in; !bytes.Equal(got, want) {
				t.Errorf("as_quote(%s) = %s, want %s", in, got, want)
			}
		})
	}
	// Escapes Go's decoder turns into other characters: a lone surrogate becomes U+FFFD.
	for _, in := range []string{`"\ud800"`, `"a\udc00b"`, `"\ud83d\ude00"`, `"\u00e9\u0041\/"`, "\"\xff\"", "\"x\xe2\x82\"", "\"\xed\xa0\x80\""} {
		t.Run("quote/"+in, func(t *testing.T) {
			var s string
			if err := json.Unmarshal([]byte(in), &s); err != nil {
				t.Fatal(err)
			}
			want, _ := json.Marshal(s)
			if got := run(t, "as_quote", []byte(in)); !bytes.Equal(got, want) {
				t.Errorf("as_quote(%s) = %s, want %s", in, got, want)
			}
		})
	}
	t.Run("numbers", func(t *testing.T) {
		xs := []float64{0, 1, -1, 42, 1e20, 1e21, 1.5e21, 0.1, -0.25, 1.0 / 3, 2.5e-7, 1e-6, 123456.789, 5e-324, 1.7976931348623157e308,
			-1e20, 1.2345678901234568e20, 9007199254740992, 1e15 + 0.5, 3.14159, 6.02214076e23, -1e-7}
		in, _ := json.Marshal(xs)
		if got := run(t, "as_number", in); !bytes.Equal(got, in) {
			t.Errorf("as_number(%s) =\n%s, want the same", in, got)
		}
	})
	for _, in := range []string{
		`{ "a" : [ 1, 2.5e3, -0.1 ], "b" : { } , "c":"x y <&>" }`, "[\n\t true ,false, null ]", `"\u2028 \" "`, ` 42 `,
		// Invalid UTF-8 (a stray continuation, an invalid lead byte before the closing quote,
		// truncated sequences, overlong forms, an encoded surrogate, past U+10FFFF), which Go
		// reads byte by byte as U+FFFD; valid 2-, 3- and 4-byte sequences around them. The
		// SDK's payloads are strings: it writes U+FFFD where Go's RawMessage keeps the bytes.
		"\"\xff\"", `{"a":"` + "\xff" + `","b":1}`, "[\"a\x80b\",\"\xe2\x82\",\"\xf0\x9f\x98\"]", "\"\xc0\xaf \xe0\x80\xaf\"",
		"\"\xed\xa0\x80\xed\xbf\xbf\"", "\"\xf4\x90\x80\x80 \xf8\x88\x80\x80\x80\"", "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xc3\"",
	} {
		t.Run("compact/"+in, func(t *testing.T) {
			want, err := json.Marshal(json.RawMessage(string([]rune(in))))
			if err != nil {
				t.Fatal(err)
			}
			if got := run(t, "as_compact", []byte(in)); !bytes.Equal(got, want) {
				t.Errorf("as_compact(%s) = %s, want %s", in, got, want)
			}
		})
	}
}

// TestASGoFormats checks the SDK's ports of Go code whose results history records: the waits
// of retry policies (math.Pow with an integer exponent, truncated to nanoseconds) and the
// formatting of durations in attempt timeout messages (time.Duration.String).
func TestASGoFormats(t *testing.T) {
	run := asChecks(t)
	for _, p := range []durable.RetryPolicy{
		{InitialInterval: time.Second, BackoffCoefficient: 2},
		{InitialInterval: 300 * time.Millisecond, BackoffCoefficient: 1.1, MaxInterval: time.Hour},
		{InitialInterval: 7 * time.Millisecond, BackoffCoefficient: 1.5, MaxInterval: 10 * time.Minute},
		{InitialInterval: 1234 * time.Millisecond, BackoffCoefficient: 3.7, MaxInterval: 1000 * time.Hour},
		{InitialInterval: time.Millisecond, BackoffCoefficient: 1.0000001, MaxInterval: time.Hour},
		{},
	} {
		const attempts = 40
		in, _ := json.Marshal(map[string]any{"initial_ms": p.InitialInterval.Milliseconds(), "coefficient": p.BackoffCoefficient,
			"max_ms": p.MaxInterval.Milliseconds(), "attempts": attempts})
		want := make([]int64, attempts)
		for i := range want {
			want[i] = int64(p.Interval(i + 1))
		}
		wantJSON, _ := json.Marshal(want)
		if got := run(t, "as_backoff", in); !bytes.Equal(got, wantJSON) {
			t.Errorf("as_backoff(%s) =\n%s, want\n%s", in, got, wantJSON)
		}
	}
	ds := []time.Duration{0, 1, 999, time.Microsecond, 1500 * time.Nanosecond, time.Millisecond, 1234567 * time.Nanosecond,
		time.Second, 1500 * time.Millisecond, time.Minute, 61 * time.Second, 90 * time.Minute, 100*time.Hour + time.Nanosecond, -time.Second}
	in, _ := json.Marshal(ds)
	want := make([]string, len(ds))
	for i, d := range ds {
		want[i] = d.String()
	}
	wantJSON, _ := json.Marshal(want)
	if got := run(t, "as_duration", in); !bytes.Equal(got, wantJSON) {
		t.Errorf("as_duration(%s) =\n%s, want\n%s", in, got, wantJSON)
	}
}

// TestASPanic checks that a `throw` or an abort in an AssemblyScript orchestration fails the
// execution as a Go panic does (the SDK's abort handler calls complete, then traps): the host
// records the application failure `panic` with the Go SDK's message and details
// "panicked at FILE:LINE:COLUMN", not DH-TRAP-001, in the live and the cold modes, and the
// history replays unchanged. as_throw throws (the compiler gives the abort its place, which
// goes into the details); sc_select aborts on a future kind it does not know; the SDK aborts
// on a dequeue from a queue with no name (an abort() call has no place: no details).
func TestASPanic(t *testing.T) {
	guest := readASFixture(t, "guest.wasm")
	for _, mode := range []struct {
		name string
		opts []host.Option
	}{{"live", nil}, {"cold", []host.Option{host.WithLiveCache(0)}}} {
		t.Run(mode.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			h, err := host.New(openSQLite(t), append([]host.Option{host.WithCompilationCache(cacheDir)}, mode.opts...)...)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := h.LoadModule(ctx, guest); err != nil {
				t.Fatal(err)
			}
			if err := h.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { h.Stop(context.Background()) })
			for _, tc := range []struct {
				name, orchestration, input, event, message string
				place                                      bool
			}{
				{"throw", "as_throw", `"boom \u00e9"`, "", "orchestration as_throw panicked: boom \u00e9", true},
				{"throw after a timer", "as_throw", `"later"`, "", "orchestration as_throw panicked: later", true},
				{"first turn", "sc_select", `{"futures":[{"kind":"bogus"}]}`, "",
					`orchestration sc_select panicked: unknown future kind "bogus"`, false},
				// The second step dequeues from a queue with no name, which the SDK refuses
				// with an abort, in the turn the event "a" starts (the instance was parked in
				// await; in the cold mode that turn replays the first).
				{"after a wait", "sc_receive", `{"steps":[{"event":"a"},{}]}`, "a",
					`orchestration sc_receive panicked: durohost: dequeue with an empty queue name`, false},
			} {
				t.Run(tc.name, func(t *testing.T) {
					id, err := h.Client().Start(ctx, tc.orchestration, []byte(tc.input))
					if err != nil {
						t.Fatal(err)
					}
					if tc.event != "" {
						waitForKind(ctx, t, h, id, history.KindEventSubscribed)
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
					if tc.place && (!strings.HasPrefix(string(f.Details), `"panicked at `) || !strings.Contains(string(f.Details), "sdk.ts:")) {
						t.Errorf("details %q: want the JSON string \"panicked at FILE:LINE:COLUMN\"", f.Details)
					}
					if !tc.place && len(f.Details) != 0 {
						t.Errorf("details %q: want none (an abort call has no place)", f.Details)
					}
					events, err := h.Client().History(ctx, id, 1)
					if err != nil {
						t.Fatal(err)
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
		})
	}
}

// logLines is a slog.Handler that keeps the messages of the records of source "guest".
type logLines struct {
	mu    sync.Mutex
	lines []string
}

func (l *logLines) Enabled(context.Context, slog.Level) bool { return true }
func (l *logLines) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logLines) WithGroup(string) slog.Handler            { return l }
func (l *logLines) Handle(_ context.Context, r slog.Record) error {
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "source" && a.Value.String() == "guest" {
			l.mu.Lock()
			l.lines = append(l.lines, r.Message)
			l.mu.Unlock()
		}
		return true
	})
	return nil
}

// TestASLogBeforeFirstCommand checks that a line an AssemblyScript orchestration logs before
// its first command reaches the host's logger once (is_replaying answers 0 in a turn history
// has not recorded), in the live and the cold modes: as_log logs, then fails without
// scheduling anything. The abort handler's line of a throw is logged too.
func TestASLogBeforeFirstCommand(t *testing.T) {
	guest := readASFixture(t, "guest.wasm")
	for _, mode := range []struct {
		name string
		opts []host.Option
	}{{"live", nil}, {"cold", []host.Option{host.WithLiveCache(0)}}} {
		t.Run(mode.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			lines := &logLines{}
			opts := append([]host.Option{host.WithCompilationCache(cacheDir), host.WithLogger(slog.New(lines))}, mode.opts...)
			h, err := host.New(openSQLite(t), opts...)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := h.LoadModule(ctx, guest); err != nil {
				t.Fatal(err)
			}
			if err := h.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { h.Stop(context.Background()) })
			for _, tc := range []struct{ orchestration, input, code, line string }{
				{"as_log", `"hello before any command"`, "logged", "hello before any command"},
				{"as_throw", `"thrown before any command"`, "panic", "abort: thrown before any command at "},
			} {
				id, err := h.Client().Start(ctx, tc.orchestration, []byte(tc.input))
				if err != nil {
					t.Fatal(err)
				}
				inst, err := h.Client().Wait(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				if inst.Status != store.StatusFailed || inst.Failure == nil || inst.Failure.Code != tc.code {
					t.Fatalf("%s: status %v, failure %+v; want failed with code %s", tc.orchestration, inst.Status, inst.Failure, tc.code)
				}
				lines.mu.Lock()
				n := 0
				for _, l := range lines.lines {
					if strings.HasPrefix(l, tc.line) {
						n++
					}
				}
				got := slices.Clone(lines.lines)
				lines.mu.Unlock()
				if n != 1 {
					t.Errorf("%s: the guest's lines %q hold %d lines starting %q, want 1", tc.orchestration, got, n, tc.line)
				}
			}
		})
	}
}

// scriptedRun runs durohost_run of wasm once in a plain wazero instance whose start_info
// answers info and whose other host functions answer as for a first turn that never
// completes anything (await parks). It returns the outcomes given to complete, decoded, and
// the error the call ended with (nil when the guest returned).
func scriptedRun(t *testing.T, wasm, info []byte) ([]abi.Outcome, error) {
	t.Helper()
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	wasi_snapshot_preview1.MustInstantiate(ctx, rt)
	var outcomes []abi.Outcome
	var handle int32
	_, err := rt.NewHostModuleBuilder(abi.ImportModule).
		NewFunctionBuilder().WithFunc(func(_ context.Context, m api.Module, p, c int32) int32 {
		if int(c) >= len(info) {
			m.Memory().Write(uint32(p), info)
		}
		return int32(len(info))
	}).Export("start_info").
		NewFunctionBuilder().WithFunc(func(context.Context, int32, int32) int32 { handle++; return handle }).Export("schedule").
		NewFunctionBuilder().WithFunc(func(context.Context, int32, int32) int32 { panic(errParked) }).Export("await").
		NewFunctionBuilder().WithFunc(func(context.Context, uint32, int32, int32) int32 { return -1 }).Export("result").
		NewFunctionBuilder().WithFunc(func(context.Context, uint32) int32 { return 0 }).Export("cancel").
		NewFunctionBuilder().WithFunc(func(context.Context, int32, int32) int32 { return 0 }).Export("set_status").
		NewFunctionBuilder().WithFunc(func(_ context.Context, m api.Module, p, n int32) int32 {
		b, _ := m.Memory().Read(uint32(p), uint32(n))
		var o abi.Outcome
		if err := abi.DecodeOutcome(b, &o); err != nil {
			t.Errorf("complete with a malformed outcome %x: %v", b, err)
		}
		outcomes = append(outcomes, o)
		return 0
	}).Export("complete").
		NewFunctionBuilder().WithFunc(func(context.Context, int32, int32, int32) {}).Export("log").
		NewFunctionBuilder().WithFunc(func(context.Context) int32 { return 0 }).Export("is_replaying").
		Instantiate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	mod, err := rt.InstantiateWithConfig(ctx, wasm, wazero.NewModuleConfig().WithStartFunctions("_initialize"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = mod.ExportedFunction(abi.ExportRun).Call(ctx)
	return outcomes, err
}

// TestASStartInfoLengths checks that the SDK's CBOR reader refuses a text or byte string of
// StartInfo whose length does not fit in the message, also when it is past 4 GiB (the
// length was narrowed to 32 bits before the check, so 2^32+3 read as 3 bytes): the guest
// traps without completing. A well-formed StartInfo (the control) completes.
func TestASStartInfoLengths(t *testing.T) {
	guest := readASFixture(t, "guest.wasm")
	head64 := func(major byte, n uint64) []byte {
		return binary.BigEndian.AppendUint64([]byte{major<<5 | 27}, n)
	}
	text := func(s string) []byte { return append([]byte{3<<5 | byte(len(s))}, s...) }
	for _, tc := range []struct {
		name string
		info []byte
		ok   bool
	}{
		{"well formed", slices.Concat([]byte{0xa3, 0x02}, text("as_log"), []byte{0x04}, text("i"), []byte{0x06, 0x44}, []byte(`"hi"`)), true},
		{"name past 4 GiB", slices.Concat([]byte{0xa2, 0x02}, head64(3, 1<<32+6), []byte("as_log"), []byte{0x04}, text("i")), false},
		{"input past 4 GiB", slices.Concat([]byte{0xa3, 0x02}, text("as_log"), []byte{0x04}, text("i"), []byte{0x06}, head64(2, 1<<32+4), []byte(`"hi"`)), false},
		{"unknown key, bytes past 4 GiB", slices.Concat([]byte{0xa3, 0x02}, text("as_log"), []byte{0x04}, text("i"), []byte{0x18, 0x63}, head64(2, 1<<32+1), []byte("x")), false},
		{"name past the end", slices.Concat([]byte{0xa2, 0x02, 0x78, 0x40}, []byte("as_log"), []byte{0x04}, text("i")), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			outcomes, err := scriptedRun(t, guest, tc.info)
			if tc.ok {
				if err != nil || len(outcomes) != 1 || outcomes[0].Failure == nil || outcomes[0].Failure.Code != "logged" {
					t.Fatalf("outcomes %+v, error %v; want as_log's failure logged", outcomes, err)
				}
				return
			}
			if err == nil || len(outcomes) != 0 {
				t.Fatalf("outcomes %+v, error %v; want a trap before any complete", outcomes, err)
			}
		})
	}
}

// TestASJSONDepth checks the nesting limit of the SDK's JSON parser: 512 levels parse, deeper
// text is a bad_payload that names the limit, not a trap (the parser recurses once per level,
// and its former limit, 1,000, was past the stack: a stack overflow, DH-TRAP-001).
func TestASJSONDepth(t *testing.T) {
	run := asInstances(t)
	nest := func(n int) []byte {
		return []byte(strings.Repeat(`{"a":[`, n/2) + strings.Repeat("[", n%2) + "1" + strings.Repeat("]", n%2) + strings.Repeat("]}", n/2))
	}
	for _, tc := range []struct {
		levels int
		ok     bool
	}{{100, true}, {512, true}, {513, false}, {1000, false}, {100000, false}} {
		in := nest(tc.levels)
		inst := run(t, "as_compact", in)
		switch {
		case tc.ok && (inst.Status != store.StatusCompleted || !bytes.Equal(inst.Output, in)):
			t.Errorf("%d levels: %s %+v, want the text back", tc.levels, inst.Status, inst.Failure)
		case !tc.ok && (inst.Status != store.StatusFailed || inst.Failure == nil || inst.Failure.Code != "bad_payload" ||
			!strings.Contains(inst.Failure.Message, "JSON nested too deeply (more than 512 levels)")):
			t.Errorf("%d levels: %s %+v, want the bad_payload JSON nested too deeply", tc.levels, inst.Status, inst.Failure)
		}
	}
}

// TestASLoneSurrogates checks that a string holding a lone surrogate (half of a pair, cut by
// substring; UTF-8 cannot encode it) reaches the host as U+FFFD, as Go converts such a rune,
// in an output, a custom status and a log line: AssemblyScript's default encoding (WTF-8)
// wrote the surrogate's three bytes, invalid UTF-8.
func TestASLoneSurrogates(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	lines := &logLines{}
	h, err := host.New(openSQLite(t), host.WithCompilationCache(cacheDir), host.WithLogger(slog.New(lines)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.LoadModule(ctx, readASFixture(t, "guest.wasm")); err != nil {
		t.Fatal(err)
	}
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Stop(context.Background()) })
	id, err := h.Client().Start(ctx, "as_raw", []byte(`"a\udc00b\ud83d\ude00"`))
	if err != nil {
		t.Fatal(err)
	}
	inst, err := h.Client().Wait(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	const want = "a\ufffdb\ufffd" // \udc00 decoded as U+FFFD, \ud83d cut from its pair
	if inst.Status != store.StatusCompleted || string(inst.Output) != `"`+want+`"` {
		t.Errorf("%s %+v, output %q; want %q", inst.Status, inst.Failure, inst.Output, `"`+want+`"`)
	}
	if string(inst.CustomStatus) != want {
		t.Errorf("custom status %q, want %q", inst.CustomStatus, want)
	}
	lines.mu.Lock()
	defer lines.mu.Unlock()
	if !slices.Contains(lines.lines, want) {
		t.Errorf("log lines %q, want one %q", lines.lines, want)
	}
}
