package conformance_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/durohost/durohost/abi"
	durable "github.com/durohost/durohost/guest-sdk/go"
	"github.com/durohost/durohost/host"
	"github.com/durohost/durohost/store"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

// cGuest is the C test guest: guest.c built with the C guest SDK into committed fixtures
// (conformance/guests/c/build.sh; CI rebuilds them and checks they match), so that the suite
// runs where only Go is installed.
const cGuest = "guests/c"

func init() {
	registerGuestLanguage("c", func(t *testing.T) ([]byte, []byte) {
		return readCFixture(t, "guest.wasm"), readCFixture(t, "guest-b.wasm")
	})
}

// readCFixture reads a committed module of the C test guest.
func readCFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(cGuest, name))
	if err != nil {
		t.Fatalf("C test guest: %v (rebuild it with %s/build.sh)", err, cGuest)
	}
	return b
}

// lockedBuffer is a buffer written by the host's logger and read by the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// cHost starts a host running the C test guest, with the activity "echo" and its logs in
// logs.
func cHost(t *testing.T, logs *lockedBuffer) *host.Host {
	t.Helper()
	h, err := host.New(openSQLite(t), host.WithCompilationCache(cacheDir),
		host.WithLogger(slog.New(slog.NewTextHandler(logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	if err := h.RegisterActivity("echo", func(_ context.Context, in []byte) ([]byte, error) { return in, nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := h.LoadModule(context.Background(), readCFixture(t, "guest.wasm")); err != nil {
		t.Fatal(err)
	}
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Stop(context.Background()) })
	return h
}

// runC runs one orchestration of the C test guest to its end.
func runC(t *testing.T, h *host.Host, name string, input []byte) *store.Instance {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	id, err := h.Client().Start(ctx, name, input)
	if err != nil {
		t.Fatal(err)
	}
	inst, err := h.Client().Wait(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return inst
}

// TestCSDK checks what the C SDK promises beyond the scenarios: its JSON is encoding/json's
// byte for byte, its retry intervals are the Go SDK's to the nanosecond, its arena grows for
// large payloads, and misuse stops the guest with a logged reason.
func TestCSDK(t *testing.T) {
	logs := &lockedBuffer{}
	h := cHost(t, logs)

	t.Run("json", func(t *testing.T) {
		strs := []string{`"plain"`, `"a\"b\\c/d\/e"`, `"<x> & y"`, `"\u003c\u0026\u003e"`, `"tab\tnl\nnul\u0000\u001f\u007f"`,
			`"\b\f\r"`, `"é 日本 😀"`, `"\ud83d\ude00"`, `"\u2028 \u2029"`, "\"\u2028\"", `"\ud800 lone"`, `"\udc00\ud800x"`,
			"\"\xff invalid \xc3\x28 \xe2\x82\"", `""`}
		raws := []string{` { "a" : [1, 2 ,3] , "b":"<x> & y" } `, `"a\"b \u2028"`, "\"\u2028\"", `null`, `[ ]`, `-1.5e+3`, "\n\ttrue\r"}
		in := fmt.Sprintf(`{"strings":[%s],"raw":[%s]}`, strings.Join(strs, ","), strings.Join(raws, ","))
		var want struct {
			Strings []string          `json:"strings"`
			Raw     []json.RawMessage `json:"raw"`
		}
		for _, s := range strs {
			var v string
			if err := json.Unmarshal([]byte(s), &v); err != nil {
				t.Fatalf("%s: %v", s, err)
			}
			want.Strings = append(want.Strings, v)
		}
		for _, r := range raws {
			want.Raw = append(want.Raw, json.RawMessage(r))
		}
		wantJSON, err := json.Marshal(want)
		if err != nil {
			t.Fatal(err)
		}
		inst := runC(t, h, "c_json", []byte(in))
		if inst.Status != store.StatusCompleted || !bytes.Equal(inst.Output, wantJSON) {
			t.Errorf("status %v, failure %v\n got %s\nwant %s", inst.Status, inst.Failure, inst.Output, wantJSON)
		}
	})

	t.Run("json_read", func(t *testing.T) {
		// dh_json_valid against json.Valid, dh_json_to_int against json.Unmarshal into an
		// int64, on texts at the edges of the grammar.
		texts := []string{`1`, `-0`, `01`, `-01`, `[01]`, `0.5`, `1e3`, `1.`, `-`, `+1`, ` 7 `, `9223372036854775807`,
			`-9223372036854775808`, `9223372036854775808`, "\"\x00\"", "\"\\\x00\"", `"\x"`, `"\u00e9"`, `"\u00g9"`,
			"\"a\x1fb\"", `[1,]`, `{"a":1,}`, `{"a" 1}`, `{1:2}`, `[`, `]`, ``, ` `, `nul`, `truex`, `[true,false,null]`,
			`{"a":{"b":[{}]}}`, `"\ud800"`, strings.Repeat("[", 100) + strings.Repeat("]", 100)}
		in, err := json.Marshal(texts)
		if err != nil {
			t.Fatal(err)
		}
		inst := runC(t, h, "c_json_read", in)
		var got [][2]json.RawMessage
		if err := json.Unmarshal(inst.Output, &got); err != nil || len(got) != len(texts) {
			t.Fatalf("status %v, failure %v, output %s: %v", inst.Status, inst.Failure, inst.Output, err)
		}
		for i, text := range texts {
			wantInt := "null"
			var v int64
			if strings.TrimSpace(text) != "null" && json.Unmarshal([]byte(text), &v) == nil {
				wantInt = fmt.Sprint(v)
			}
			if want := fmt.Sprint(json.Valid([]byte(text))); string(got[i][0]) != want || string(got[i][1]) != wantInt {
				t.Errorf("%q: C valid %s, int %s; Go valid %s, int %s", text, got[i][0], got[i][1], want, wantInt)
			}
		}
	})

	t.Run("json_get_absent", func(t *testing.T) {
		// A key dh_json_get does not find leaves the value empty, not as it was.
		for _, in := range []string{`{"a":1}`, `{}`, `[1]`, `{"absent":1,`, `{"a":1 "absent":2}`} {
			inst := runC(t, h, "c_json_get_absent", []byte(in))
			if string(inst.Output) != `{"found":false,"len":0}` {
				t.Errorf("%s: status %v, failure %v, output %s; want {\"found\":false,\"len\":0}", in, inst.Status, inst.Failure, inst.Output)
			}
		}
	})

	t.Run("retry_interval", func(t *testing.T) {
		type spec struct {
			InitialMS   int64   `json:"initial_ms"`
			Coefficient float64 `json:"coefficient"`
			MaxMS       int64   `json:"max_ms"`
			Attempt     int     `json:"attempt"`
		}
		var specs []spec
		var want []int64
		for _, coef := range []float64{0, 1, 1.1, 1.5, 2, 2.7182818, 3} {
			for _, attempt := range []int{0, 1, 2, 3, 7, 13, 30} {
				for _, s := range []spec{{7, coef, 0, attempt}, {0, coef, 0, attempt}, {3, coef, 1_000_000, attempt}} {
					specs = append(specs, s)
					p := durable.RetryPolicy{InitialInterval: time.Duration(s.InitialMS) * time.Millisecond,
						BackoffCoefficient: s.Coefficient, MaxInterval: time.Duration(s.MaxMS) * time.Millisecond}
					want = append(want, int64(p.Interval(s.Attempt)))
				}
			}
		}
		in, err := json.Marshal(specs)
		if err != nil {
			t.Fatal(err)
		}
		inst := runC(t, h, "c_interval", in)
		var got []int64
		if err := json.Unmarshal(inst.Output, &got); err != nil || len(got) != len(want) {
			t.Fatalf("status %v, failure %v, output %s: %v", inst.Status, inst.Failure, inst.Output, err)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("%+v: C interval %d, Go %d", specs[i], got[i], want[i])
			}
		}
	})

	t.Run("arena_grows", func(t *testing.T) {
		const n = 3 << 20 // beyond the static block and one memory.grow step, under the payload limit
		inst := runC(t, h, "c_memory", []byte(fmt.Sprint(n)))
		if inst.Status != store.StatusCompleted || string(inst.Output) != fmt.Sprintf(`{"len":%d}`, n) {
			t.Errorf("status %v, failure %v, output %.100s", inst.Status, inst.Failure, inst.Output)
		}
	})

	t.Run("fail_error_copies", func(t *testing.T) {
		// dh_fail_error's failure is encoded after the orchestration returns: the guest
		// overwrites the buffers it passed before it returns.
		inst := runC(t, h, "c_fail_copy", nil)
		f := inst.Failure
		if inst.Status != store.StatusFailed || f == nil || f.Kind != abi.FailureApplication || f.Code != "copied_code" ||
			f.Message != "copied message" || string(f.Details) != `{"copied":1}` {
			t.Errorf("status %v, failure %+v; want failed with copied_code, \"copied message\" and details {\"copied\":1}", inst.Status, f)
		}
	})

	t.Run("release_keeps_held", func(t *testing.T) {
		// dh_arena_release after a dropped retrying call, the custom status and dh_return,
		// with the released memory overwritten each time: the SDK still uses all three.
		inst := runC(t, h, "c_release", nil)
		if inst.Status != store.StatusCompleted || string(inst.Output) != `{"status":"held"}` {
			t.Errorf("status %v, failure %v, output %q; want completed with {\"status\":\"held\"}", inst.Status, inst.Failure, inst.Output)
		}
	})

	t.Run("misuse", func(t *testing.T) {
		for _, tc := range []struct{ input, log string }{
			{`"cancelled"`, "dh_select: future 1 was cancelled"},
			{`"after_end"`, "dh_call_activity after the orchestration ended its execution"},
			{`"alloc_overflow"`, "durohost: out of memory: an allocation of 4294967295 bytes"},
			{`"strndup_overflow"`, "durohost: out of memory: an allocation of 4294967295 + 1 bytes"},
			{`"null_code"`, "durohost: dh_retry_policy.non_retryable_codes[1] is NULL"},
			{`"null_input"`, "durohost: dh_call_activity with a NULL payload of 3 bytes"},
			{`"null_output"`, "durohost: dh_return with a NULL payload of 4 bytes"},
			{`"null_ctx"`, "durohost: dh_instance_id with a NULL context"},
		} {
			inst := runC(t, h, "c_misuse", []byte(tc.input))
			if inst.Status != store.StatusFailed || inst.Failure == nil || inst.Failure.Code != abi.CodeTrap {
				t.Errorf("%s: status %v, failure %v; want failed with %s", tc.input, inst.Status, inst.Failure, abi.CodeTrap)
			}
			if !strings.Contains(logs.String(), tc.log) {
				t.Errorf("%s: the logs lack %q:\n%s", tc.input, tc.log, logs.String())
			}
		}
		inst := runC(t, h, "c_misuse", []byte(`"log"`))
		if inst.Status != store.StatusCompleted || string(inst.Output) != `"fine"` {
			t.Errorf("logging after dh_return: status %v, failure %v, output %s", inst.Status, inst.Failure, inst.Output)
		}
		if want := "logged after dh_return by c_misuse"; !strings.Contains(logs.String(), want) {
			t.Errorf("the logs lack %q:\n%s", want, logs.String())
		}
	})
}

// cAnswers scripts the host functions for runCScripted: the StartInfo, the completion of every
// handle, and a length the second call of a size-then-read result adds to the true one.
type cAnswers struct {
	startInfo, completion []byte
	skew                  int32
}

// cRun is what runCScripted saw: the outcome passed to complete (nil when none), the error of
// durohost_run (a trap), the guest's logs, and the caps of the result calls.
type cRun struct {
	outcome *abi.Outcome
	err     error
	logs    string
	caps    []int32
}

// runCScripted runs durohost_run of the C test guest once against host functions that give
// the scripted answers (which the real host never would: malformed or unusual CBOR).
func runCScripted(t *testing.T, a cAnswers) cRun {
	t.Helper()
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	wasi_snapshot_preview1.MustInstantiate(ctx, rt)
	var run cRun
	var logs strings.Builder
	sizeThenRead := func(m api.Module, answer []byte, p, c, skew int32) int32 {
		if int(c) >= len(answer) {
			m.Memory().Write(uint32(p), answer)
		}
		return int32(len(answer)) + skew
	}
	_, err := rt.NewHostModuleBuilder(abi.ImportModule).
		NewFunctionBuilder().WithFunc(func(_ context.Context, m api.Module, p, c int32) int32 {
		return sizeThenRead(m, a.startInfo, p, c, 0)
	}).Export("start_info").
		NewFunctionBuilder().WithFunc(func(context.Context, int32, int32) int32 { return 1 }).Export("schedule").
		NewFunctionBuilder().WithFunc(func(context.Context, int32, int32) int32 { return 0 }).Export("await").
		NewFunctionBuilder().WithFunc(func(_ context.Context, m api.Module, _ uint32, p, c int32) int32 {
		run.caps = append(run.caps, c)
		skew := int32(0)
		if len(run.caps) > 1 {
			skew = a.skew
		}
		return sizeThenRead(m, a.completion, p, c, skew)
	}).Export("result").
		NewFunctionBuilder().WithFunc(func(context.Context, uint32) int32 { return 0 }).Export("cancel").
		NewFunctionBuilder().WithFunc(func(context.Context, int32, int32) int32 { return 0 }).Export("set_status").
		NewFunctionBuilder().WithFunc(func(_ context.Context, m api.Module, p, n int32) int32 {
		b, _ := m.Memory().Read(uint32(p), uint32(n))
		run.outcome = &abi.Outcome{}
		if err := abi.Unmarshal(b, run.outcome); err != nil {
			t.Errorf("the guest's outcome %x: %v", b, err)
		}
		return 0
	}).Export("complete").
		NewFunctionBuilder().WithFunc(func(_ context.Context, m api.Module, _, p, n int32) {
		b, _ := m.Memory().Read(uint32(p), uint32(n))
		logs.Write(b)
		logs.WriteString("\n")
	}).Export("log").
		NewFunctionBuilder().WithFunc(func(context.Context) int32 { return 0 }).Export("is_replaying").
		Instantiate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	mod, err := rt.InstantiateWithConfig(ctx, readCFixture(t, "guest.wasm"), wazero.NewModuleConfig().WithStartFunctions("_initialize"))
	if err != nil {
		t.Fatal(err)
	}
	_, run.err = mod.ExportedFunction(abi.ExportRun).Call(ctx)
	run.logs = logs.String()
	return run
}

// TestCSDKHostAnswers feeds the C SDK host answers the real host never gives: StartInfo and
// completions with unknown or duplicate keys, trailing bytes, truncation, indefinite lengths,
// longer heads than needed (valid CBOR), and a size-then-read whose second length differs.
// The orchestration is c_memory with input 1: it calls an activity with "x" and completes
// with {"len":1} when the result is "x" again.
func TestCSDKHostAnswers(t *testing.T) {
	entries := []byte("\x02\x68c_memory\x04\x61i\x05\x01\x06\x411")
	info := append([]byte{0xa4}, entries...)
	ok := []byte("\xa1\x01\x43\"x\"")
	big := append([]byte("\xa1\x01\x59\x4e\x20"), bytes.Repeat([]byte("y"), 20000)...)
	for _, tc := range []struct {
		name         string
		info, answer []byte
		skew         int32
		output       string // completed with this output
		code         string // or failed with this code
		message      string // and a message holding this
		trap         string // or trapped, logging this
	}{
		{name: "ok", info: info, answer: ok, output: `{"len":1}`},
		{name: "long heads", info: []byte("\xb8\x04\x18\x02\x78\x08c_memory\x19\x00\x04\x61i\x1a\x00\x00\x00\x05\x1b\x00\x00\x00\x00\x00\x00\x00\x01\x06\x41" + "1"),
			answer: []byte("\xb9\x00\x01\x1a\x00\x00\x00\x01\x5b\x00\x00\x00\x00\x00\x00\x00\x03\"x\""), output: `{"len":1}`},
		{name: "start info unknown key", info: append(append([]byte{0xa5}, entries...), 0x0a, 0x00), code: abi.CodeBadMessage, message: "unknown StartInfo field"},
		{name: "start info duplicate key", info: append(append([]byte{0xa5}, entries...), 0x05, 0x02), code: abi.CodeBadMessage, message: "duplicate key"},
		{name: "start info trailing bytes", info: append(slices.Clone(info), 0x00), code: abi.CodeBadMessage, message: "trailing bytes"},
		{name: "start info truncated", info: info[:len(info)-1], code: abi.CodeBadMessage, message: "truncated message"},
		{name: "start info indefinite", info: append(append([]byte{0xbf}, entries...), 0xff), code: abi.CodeBadMessage, message: "indefinite length"},
		{name: "start info empty", info: []byte{}, code: abi.CodeBadMessage, message: "truncated message"},
		{name: "failure", info: info, answer: []byte("\xa1\x02\xa3\x01\x01\x02\x64boom\x03\x66failed"), code: "boom", message: "failed"},
		{name: "completion empty", info: info, answer: []byte{}, trap: "decode completion of handle 1: truncated message"},
		{name: "completion unknown key", info: info, answer: []byte("\xa1\x03\x40"), trap: "unknown completion field"},
		{name: "completion duplicate key", info: info, answer: []byte("\xa2\x01\x40\x01\x40"), trap: "duplicate key"},
		{name: "completion trailing bytes", info: info, answer: append(slices.Clone(ok), 0xf6), trap: "trailing bytes"},
		{name: "completion not a map", info: info, answer: []byte("\x43\"x\""), trap: "expected a map"},
		{name: "failure unknown field", info: info, answer: []byte("\xa1\x02\xa2\x01\x01\x05\x00"), trap: "unknown failure field"},
		{name: "failure code not text", info: info, answer: []byte("\xa1\x02\xa2\x01\x01\x02\x41x"), trap: "expected a text string"},
		{name: "size then read", info: info, answer: big, output: `{"len":-1}`},
		{name: "size then read, another size", info: info, answer: big, skew: 1, trap: "size 20005, then 20006"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run := runCScripted(t, cAnswers{startInfo: tc.info, completion: tc.answer, skew: tc.skew})
			switch {
			case tc.trap != "":
				if run.err == nil || !strings.Contains(run.logs, tc.trap) {
					t.Errorf("error %v, outcome %+v, logs %q; want a trap logging %q", run.err, run.outcome, run.logs, tc.trap)
				}
			case run.err != nil || run.outcome == nil:
				t.Errorf("error %v, outcome %+v, logs %q", run.err, run.outcome, run.logs)
			case tc.output != "":
				if run.outcome.Kind != abi.OutcomeCompleted || string(run.outcome.Output) != tc.output {
					t.Errorf("outcome %+v (%s); want completed with %s", run.outcome, run.outcome.Output, tc.output)
				}
			default:
				f := run.outcome.Failure
				if run.outcome.Kind != abi.OutcomeFailed || f == nil || f.Code != tc.code || !strings.Contains(f.Message, tc.message) {
					t.Errorf("outcome %+v, failure %+v; want failed with %s and %q", run.outcome, f, tc.code, tc.message)
				}
			}
			if tc.name == "size then read" && (len(run.caps) != 2 || run.caps[1] < int32(len(big))) {
				t.Errorf("result calls with caps %v; want a second call with room for %d bytes", run.caps, len(big))
			}
		})
	}
}
