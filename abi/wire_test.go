package abi

import (
	"bytes"
	"encoding/hex"
	"math"
	"reflect"
	"strings"
	"testing"
)

// The hand-written codecs of wire.go must be indistinguishable from Marshal and Unmarshal.
// Each test compares them with the reflection codec: the encoders byte for byte, the decoders
// on error or not and on the decoded value (reflect.DeepEqual, which tells a nil slice from an
// empty one). The decoders are also checked without their fallback: whatever the fast path
// accepts, Unmarshal must accept with the same value.

var (
	long300   = strings.Repeat("x", 300)
	long70000 = strings.Repeat("y", 70000)
	badUTF8   = "a\xffb"
	limits    = []int64{0, 1, 23, 24, 255, 256, 65535, 65536, math.MaxUint32, math.MaxUint32 + 1,
		math.MaxInt64, -1, -24, -25, -256, -257, -65536, -65537, math.MinInt64}
)

func testCommands() []Command {
	cs := []Command{
		{},
		{Kind: CommandActivity, Name: "step", Input: []byte("12")},
		{Kind: CommandActivity, Name: "step", Input: []byte{}},
		{Kind: CommandTimer, Delay: 1500000000},
		{Kind: CommandWaitEvent, Name: "approve"},
		{Kind: CommandSubOrchestration, Name: "child", Version: "2", InstanceID: "c-1", Input: []byte(`{"a":1}`)},
		{Kind: CommandStartOrchestration, Name: long300, Input: []byte(long70000), Version: "é", InstanceID: badUTF8},
		{Kind: 255, Name: "x"},
	}
	for _, d := range limits {
		cs = append(cs, Command{Kind: CommandTimer, Delay: d})
	}
	return cs
}

func testFailures() []*Failure {
	return []*Failure{
		{},
		{Kind: FailureApplication, Message: "boom"},
		{Kind: FailureInfrastructure, Code: CodeCommandMismatch, Message: "differs", Details: []byte(`{"i":3}`)},
		{Kind: FailureTimeout, Details: []byte{}},
		{Kind: 200, Code: long300, Message: badUTF8},
	}
}

func testCompletions() []Completion {
	cs := []Completion{{}, {Result: []byte{}}, {Result: []byte(`"x"`)}, {Result: []byte(long70000)}}
	for _, f := range testFailures() {
		cs = append(cs, Completion{Failure: f}, Completion{Result: []byte("r"), Failure: f})
	}
	return cs
}

func testOutcomes() []Outcome {
	out := []Outcome{
		{},
		{Kind: OutcomeCompleted, Output: []byte(`[1,2]`)},
		{Kind: OutcomeContinuedAsNew, Input: []byte("7"), Version: "3"},
		{Kind: OutcomeDescribe, Orchestrations: []Registration{}},
		{Kind: OutcomeDescribe, Orchestrations: []Registration{{Name: "a"}, {Name: "b", Version: "1.2"}, {}}},
		{Kind: OutcomeDescribe, Orchestrations: make([]Registration, 30)},
		{Kind: 9, Output: []byte{1}, Input: []byte{2}, Version: "v", Failure: &Failure{Kind: 1}},
	}
	for _, f := range testFailures() {
		out = append(out, Outcome{Kind: OutcomeFailed, Failure: f})
	}
	return out
}

func testStartInfos() []StartInfo {
	ss := []StartInfo{
		{},
		{Mode: ModeDescribe},
		{Name: "sequence", InstanceID: "i", ExecutionID: 1, Input: []byte("1000"), StartTime: 1700000000000000000},
		{Mode: 7, Name: "n", Version: "v", InstanceID: "id", ExecutionID: math.MaxUint32, Input: []byte{},
			ParentID: "p", CustomStatus: []byte("s"), StartTime: -1},
		{Name: long300, CustomStatus: []byte(long70000), ParentID: badUTF8},
	}
	for _, d := range limits {
		ss = append(ss, StartInfo{StartTime: d, ExecutionID: uint32(d)})
	}
	return ss
}

// checkAppend compares an Append function with Marshal, into an empty and a used buffer.
func checkAppend[T any](t *testing.T, v *T, appendFn func([]byte, *T) []byte) {
	t.Helper()
	want, err := Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if got := appendFn(nil, v); !bytes.Equal(got, want) {
		t.Fatalf("%+v:\nappend  %x\nMarshal %x", *v, got, want)
	}
	prefix := []byte("prefix")
	if got := appendFn(prefix, v); !bytes.Equal(got[:len(prefix)], []byte("prefix")) || !bytes.Equal(got[len(prefix):], want) {
		t.Fatalf("%+v: appending to a used buffer gives %x", *v, got)
	}
}

// checkDecode compares a Decode function with Unmarshal on b, and its fast path alone.
func checkDecode[T any](t *testing.T, b []byte, decode func([]byte, *T) error, fast func(*reader, *T)) (fastOK bool) {
	t.Helper()
	var want T
	werr := Unmarshal(b, &want)
	var got T
	gerr := decode(b, &got)
	if (gerr == nil) != (werr == nil) {
		t.Fatalf("%x: decode error %v, Unmarshal error %v", b, gerr, werr)
	}
	if werr == nil && !reflect.DeepEqual(got, want) {
		t.Fatalf("%x: decode gives\n%#v\nUnmarshal gives\n%#v", b, got, want)
	}
	r := reader{b: b}
	var f T
	fast(&r, &f)
	if !r.end() {
		return false
	}
	if werr != nil {
		t.Fatalf("%x: the fast path accepts what Unmarshal rejects: %v", b, werr)
	}
	if !reflect.DeepEqual(f, want) {
		t.Fatalf("%x: fast path gives\n%#v\nUnmarshal gives\n%#v", b, f, want)
	}
	return true
}

// checkCanonical checks that the fast path decodes a canonical encoding, unless Unmarshal
// rejects it (a string that is not valid UTF-8).
func checkCanonical[T any](t *testing.T, v *T, decode func([]byte, *T) error, fast func(*reader, *T)) {
	t.Helper()
	b, err := Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if ok := checkDecode(t, b, decode, fast); !ok && Unmarshal(b, new(T)) == nil {
		t.Fatalf("%+v: the fast path does not decode its canonical encoding %x", *v, b)
	}
}

func TestAppendMatchesMarshal(t *testing.T) {
	for _, c := range testCommands() {
		checkAppend(t, &c, AppendCommand)
	}
	for _, c := range testCompletions() {
		checkAppend(t, &c, AppendCompletion)
	}
	for _, o := range testOutcomes() {
		checkAppend(t, &o, AppendOutcome)
	}
	for _, s := range testStartInfos() {
		checkAppend(t, &s, AppendStartInfo)
	}
}

func TestDecodeCanonical(t *testing.T) {
	for _, c := range testCommands() {
		checkCanonical(t, &c, DecodeCommand, (*reader).command)
	}
	for _, c := range testCompletions() {
		checkCanonical(t, &c, DecodeCompletion, (*reader).completion)
	}
	for _, o := range testOutcomes() {
		checkCanonical(t, &o, DecodeOutcome, (*reader).outcome)
	}
	for _, s := range testStartInfos() {
		checkCanonical(t, &s, DecodeStartInfo, (*reader).startInfo)
	}
}

// TestDecodeNonCanonical feeds the decoders valid encodings the host or another SDK may send
// besides the canonical one, and invalid ones. fast says whether the fast path must decode it.
func TestDecodeNonCanonical(t *testing.T) {
	tests := []struct {
		name string
		hex  string
		fast bool
	}{
		{"failure not a map", "a2014178028201", false},
		{"empty", "a0", true},
		{"reordered", "a202a101010141 78", true},
		{"long heads", "b8 02 18 01 59 0001 78 19 0002 ba 00000001 1b 0000000000000001 1a 00000002", true},
		{"empty failure", "a102a0", true},
		{"zero kind", "a102a10100", true},
		{"empty strings", "a2 0140 02a4 0100 0260 0360 0440", true},
		{"nothing", "", false},
		{"truncated", "a20141", false},
		{"truncated head", "a201 59 00", false},
		{"trailing", "a0 00", false},
		{"two messages", "a0 a0", false},
		{"not a map", "80", false},
		{"array of pairs", "820141", false},
		{"duplicate key", "a2014178014179", false},
		{"duplicate key, long head", "a20141781801 4179", false},
		{"duplicate failure key", "a102a2010101 02", false},
		{"unknown key", "a1034100", false},
		{"key zero", "a1004100", false},
		{"negative key", "a1204100", false},
		{"text key", "a1613141 78", false},
		{"text key of a field name", "a166526573756c744178", false},
		{"byte string key", "a1413141 78", false},
		{"huge key", "a11bffffffffffffffff4100", false},
		{"result as text", "a1016178", false},
		{"result as int", "a10101", false},
		{"result null", "a101f6", false},
		{"result undefined", "a101f7", false},
		{"failure null", "a102f6", false},
		{"failure as array", "a10280", false},
		{"kind negative", "a102a10120", false},
		{"kind 255", "a102a10118ff", true},
		{"kind 256", "a102a101190100", false},
		{"kind as float", "a102a101f93c00", false},
		{"kind as bool", "a102a101f5", false},
		{"code as bytes", "a102a1024178", false},
		{"invalid UTF-8", "a102a10261ff", false},
		{"indefinite map", "bf014178ff", false},
		{"indefinite bytes", "a1015f41784179ff", false},
		{"indefinite text", "a102a1027f61786179ff", false},
		{"indefinite, no break", "bf014178", false},
		{"tagged map", "d818a0", false},
		{"tagged result", "a101d8184178", false},
		{"self-described", "d9d9f7a0", false},
		{"bignum result", "a101c24101", false},
		{"reserved head", "a1015c", false},
		{"break alone", "ff", false},
		{"map too large", "bb7fffffffffffffff", false},
		{"bytes too large", "a1015b7fffffffffffffff", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := hex.DecodeString(strings.ReplaceAll(tt.hex, " ", ""))
			if err != nil {
				t.Fatal(err)
			}
			if ok := checkDecode(t, b, DecodeCompletion, (*reader).completion); ok != tt.fast {
				t.Errorf("fast path decodes it: %v, want %v", ok, tt.fast)
			}
			// The same bytes as the other messages: only agreement with Unmarshal matters.
			checkDecode(t, b, DecodeCommand, (*reader).command)
			checkDecode(t, b, DecodeOutcome, (*reader).outcome)
			checkDecode(t, b, DecodeStartInfo, (*reader).startInfo)
		})
	}
}

func TestDecodeResets(t *testing.T) {
	c := Completion{Result: []byte("old"), Failure: &Failure{Message: "old"}}
	if err := DecodeCompletion([]byte{0xa0}, &c); err != nil || c.Result != nil || c.Failure != nil {
		t.Fatalf("got %+v, %v; want the zero Completion", c, err)
	}
	s := StartInfo{Name: "old"}
	if err := DecodeStartInfo([]byte{0xa0, 0x00}, &s); err == nil || s.Name != "" {
		t.Fatalf("got %+v, %v; want an error and the zero StartInfo", s, err)
	}
}

// TestDecodeDoesNotAlias checks that decoded payloads do not share the input buffer, which
// the guest SDK reuses.
func TestDecodeDoesNotAlias(t *testing.T) {
	b := AppendCompletion(nil, &Completion{Result: []byte("abc"), Failure: &Failure{Details: []byte("d")}})
	var c Completion
	if err := DecodeCompletion(b, &c); err != nil {
		t.Fatal(err)
	}
	for i := range b {
		b[i] = 0
	}
	if string(c.Result) != "abc" || string(c.Failure.Details) != "d" {
		t.Fatalf("decoded values changed with the input: %+v %+v", c, c.Failure)
	}
}

func TestCodecAllocations(t *testing.T) {
	cmd := Command{Kind: CommandActivity, Name: "step", Input: []byte("12")}
	buf := make([]byte, 0, 64)
	if n := testing.AllocsPerRun(100, func() { buf = AppendCommand(buf[:0], &cmd) }); n != 0 {
		t.Errorf("AppendCommand into a large enough buffer: %v allocations, want 0", n)
	}
	b := AppendCompletion(nil, &Completion{Result: []byte(`"x"`)})
	var c Completion
	if n := testing.AllocsPerRun(100, func() { _ = DecodeCompletion(b, &c) }); n != 1 {
		t.Errorf("DecodeCompletion of a result: %v allocations, want 1 (the result)", n)
	}
}

func seedDecode[T any](f *testing.F, msgs []T) {
	for _, m := range msgs {
		b, err := Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0xa0})
	f.Add([]byte{0xbf, 0x01, 0x41, 0x78, 0xff})
}

// FuzzDecodeCompletion checks that DecodeCompletion and Unmarshal agree on any input.
func FuzzDecodeCompletion(f *testing.F) {
	seedDecode(f, testCompletions())
	f.Fuzz(func(t *testing.T, b []byte) { checkDecode(t, b, DecodeCompletion, (*reader).completion) })
}

// FuzzDecodeStartInfo checks that DecodeStartInfo and Unmarshal agree on any input.
func FuzzDecodeStartInfo(f *testing.F) {
	seedDecode(f, testStartInfos())
	f.Fuzz(func(t *testing.T, b []byte) { checkDecode(t, b, DecodeStartInfo, (*reader).startInfo) })
}

// FuzzDecodeCommand checks that DecodeCommand and Unmarshal agree on any input.
func FuzzDecodeCommand(f *testing.F) {
	seedDecode(f, testCommands())
	f.Fuzz(func(t *testing.T, b []byte) { checkDecode(t, b, DecodeCommand, (*reader).command) })
}

// FuzzDecodeOutcome checks that DecodeOutcome and Unmarshal agree on any input.
func FuzzDecodeOutcome(f *testing.F) {
	seedDecode(f, testOutcomes())
	f.Fuzz(func(t *testing.T, b []byte) { checkDecode(t, b, DecodeOutcome, (*reader).outcome) })
}

// FuzzCommandEncoding checks AppendCommand against Marshal on random commands, and that the
// fast decoder reads them back.
func FuzzCommandEncoding(f *testing.F) {
	for _, c := range testCommands() {
		f.Add(uint8(c.Kind), c.Name, c.Input, c.Version, c.InstanceID, c.Delay)
	}
	f.Fuzz(func(t *testing.T, kind uint8, name string, input []byte, version, instanceID string, delay int64) {
		c := Command{Kind: CommandKind(kind), Name: name, Input: input, Version: version, InstanceID: instanceID, Delay: delay}
		checkAppend(t, &c, AppendCommand)
		checkCanonical(t, &c, DecodeCommand, (*reader).command)
	})
}

// failureOf builds a fuzzed failure; kind 0 with everything empty stands for none.
func failureOf(present bool, kind uint8, code, message string, details []byte) *Failure {
	if !present {
		return nil
	}
	return &Failure{Kind: FailureKind(kind), Code: code, Message: message, Details: details}
}

// FuzzCompletionEncoding checks AppendCompletion against Marshal on random completions.
func FuzzCompletionEncoding(f *testing.F) {
	f.Add([]byte("r"), true, uint8(1), "code", "message", []byte("details"))
	f.Add([]byte(nil), false, uint8(0), "", "", []byte(nil))
	f.Fuzz(func(t *testing.T, result []byte, failed bool, kind uint8, code, message string, details []byte) {
		c := Completion{Result: result, Failure: failureOf(failed, kind, code, message, details)}
		checkAppend(t, &c, AppendCompletion)
		checkCanonical(t, &c, DecodeCompletion, (*reader).completion)
	})
}

// FuzzOutcomeEncoding checks AppendOutcome against Marshal on random outcomes. regs lists
// registrations as "name@version" separated by commas; "-" stands for an empty list.
func FuzzOutcomeEncoding(f *testing.F) {
	f.Add(uint8(2), []byte("o"), true, uint8(1), "code", "message", []byte("d"), []byte("in"), "v", "a,b@1,@")
	f.Add(uint8(4), []byte(nil), false, uint8(0), "", "", []byte(nil), []byte(nil), "", "-")
	f.Fuzz(func(t *testing.T, kind uint8, output []byte, failed bool, fkind uint8, code, message string,
		details, input []byte, version, regs string) {
		o := Outcome{Kind: OutcomeKind(kind), Output: output, Failure: failureOf(failed, fkind, code, message, details),
			Input: input, Version: version}
		switch regs {
		case "":
		case "-":
			o.Orchestrations = []Registration{}
		default:
			for _, r := range strings.Split(regs, ",") {
				name, v, _ := strings.Cut(r, "@")
				o.Orchestrations = append(o.Orchestrations, Registration{Name: name, Version: v})
			}
		}
		checkAppend(t, &o, AppendOutcome)
		checkCanonical(t, &o, DecodeOutcome, (*reader).outcome)
	})
}

// FuzzStartInfoEncoding checks AppendStartInfo against Marshal on random start infos.
func FuzzStartInfoEncoding(f *testing.F) {
	f.Add(uint8(0), "n", "v", "i", uint32(1), []byte("in"), "p", []byte("s"), int64(1))
	f.Fuzz(func(t *testing.T, mode uint8, name, version, id string, exec uint32, input []byte, parent string,
		status []byte, start int64) {
		s := StartInfo{Mode: Mode(mode), Name: name, Version: version, InstanceID: id, ExecutionID: exec,
			Input: input, ParentID: parent, CustomStatus: status, StartTime: start}
		checkAppend(t, &s, AppendStartInfo)
		checkCanonical(t, &s, DecodeStartInfo, (*reader).startInfo)
	})
}

var (
	benchCommand    = Command{Kind: CommandActivity, Name: "step", Input: []byte("12")}
	benchCompletion = Completion{Result: []byte(`"x"`)}
	benchStartInfo  = StartInfo{Name: "sequence", InstanceID: "i", ExecutionID: 1, Input: []byte("1000"),
		StartTime: 1700000000000000000}
)

// The benchmarks compare the two codecs. They matter most in the guest:
// GOOS=wasip1 GOARCH=wasm go test -exec 'wazero run' -run XXX -bench . ./abi/

func BenchmarkMarshalCommand(b *testing.B) {
	for b.Loop() {
		if _, err := Marshal(&benchCommand); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendCommand(b *testing.B) {
	var buf []byte
	for b.Loop() {
		buf = AppendCommand(buf[:0], &benchCommand)
	}
}

func BenchmarkUnmarshalCompletion(b *testing.B) {
	data := AppendCompletion(nil, &benchCompletion)
	for b.Loop() {
		var c Completion
		if err := Unmarshal(data, &c); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeCompletion(b *testing.B) {
	data := AppendCompletion(nil, &benchCompletion)
	for b.Loop() {
		var c Completion
		if err := DecodeCompletion(data, &c); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUnmarshalStartInfo(b *testing.B) {
	data := AppendStartInfo(nil, &benchStartInfo)
	for b.Loop() {
		var s StartInfo
		if err := Unmarshal(data, &s); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeStartInfo(b *testing.B) {
	data := AppendStartInfo(nil, &benchStartInfo)
	for b.Loop() {
		var s StartInfo
		if err := DecodeStartInfo(data, &s); err != nil {
			b.Fatal(err)
		}
	}
}
