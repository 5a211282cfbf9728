package sandbox

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/fxamacker/cbor/v2"

	"github.com/durohost/durohost/abi"
	"github.com/durohost/durohost/history"
	"github.com/durohost/durohost/host/internal/replay"
	"github.com/durohost/durohost/store"
)

// readStreamFixture reads a stream-form test guest (testdata/stream, built by its build.sh).
func readStreamFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "stream", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// withFiles appends a durohost.files section to a module.
func withFiles(t testing.TB, wasm []byte, files map[string][]byte) []byte {
	t.Helper()
	payload, err := cbor.Marshal(files)
	if err != nil {
		t.Fatal(err)
	}
	body := append([]byte{byte(len(StreamFilesSection))}, StreamFilesSection...)
	body = append(body, payload...)
	out := append(append([]byte{}, wasm...), 0)
	for n := len(body); ; n >>= 7 { // the section's size, LEB128
		if n < 0x80 {
			out = append(out, byte(n))
			break
		}
		out = append(out, byte(n&0x7f|0x80))
	}
	return append(out, body...)
}

func TestStreamGuest(t *testing.T) {
	rt := newRuntime(t, Config{})
	m, err := rt.Load(context.Background(), withFiles(t, readStreamFixture(t, "guest.wasm"),
		map[string][]byte{"dir/greeting.txt": []byte(`"bundled"`), "dir/sub/x.py": nil, "top.txt": nil}))
	if err != nil {
		t.Fatal(err)
	}
	if !m.Stream || !m.Has("hello", "") || !m.Has("after_complete", "") {
		t.Fatalf("stream %v, registrations %+v", m.Stream, m.Orchestrations)
	}
	// A turn suspends in the write of an await call, the next one completes.
	start := history.Event{Kind: history.KindExecutionStarted, Name: "hello"}
	eng, res := turn(t, rt, m, "s1", nil, 1000, start)
	if res.State != Suspended {
		t.Fatalf("turn 1: %+v", res)
	}
	c := eng.Commit()
	if len(c.Activities) != 1 || c.Activities[0].Name != "a" || string(c.Activities[0].Input) != `"x"` {
		t.Fatalf("activities = %+v", c.Activities)
	}
	done := history.Event{Kind: history.KindActivityCompleted, Ref: c.Activities[0].EventID, Result: []byte(`"ok"`)}
	eng, res = turn(t, rt, m, "s1", eng.History(), 2000, done)
	if res.State != Completed || string(eng.Commit().State.Output) != `"ok"` {
		t.Fatalf("turn 2: %+v, output %q", res, eng.Commit().State.Output)
	}

	for _, tc := range []struct{ name, output string }{
		{"file", `"bundled"`},           // a bundled file reads as /durohost/files/<path>
		{"write_file", `"refused"`},     // bundled files and the directory are read-only
		{"list", `"greeting.txt sub/"`}, // bundled directories list their entries
	} {
		start := history.Event{Kind: history.KindExecutionStarted, Name: tc.name}
		eng, res := turn(t, rt, m, tc.name, nil, 1000, start)
		if res.State != Completed || string(eng.Commit().State.Output) != tc.output {
			t.Errorf("%s: %+v, output %q, want %s", tc.name, res, eng.Commit().State.Output, tc.output)
		}
	}
}

// TestStreamHostile: stream-form guests that break the stream's rules fail their instance with
// the code and a message naming the problem.
func TestStreamHostile(t *testing.T) {
	rt := newRuntime(t, Config{})
	m, err := rt.Load(context.Background(), readStreamFixture(t, "guest.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	big := []byte(`"` + strings.Repeat("x", 64<<10) + `"`)
	tests := []struct {
		name    string
		input   []byte
		code    string
		mention string
	}{
		{"notarray", nil, abi.CodeBadMessage, "must be a CBOR array"},
		{"indefinite", nil, abi.CodeBadMessage, "indefinite-length"},
		{"unknown", nil, abi.CodeBadMessage, "unknown call number"},
		{"noexit", nil, abi.CodeNoOutcome, "without calling complete"},
		{"exit0", nil, abi.CodeNoOutcome, "exited without calling complete"},
		{"exit3", nil, abi.CodeTrap, "exited with code 3"},
		{"unread", big, abi.CodeBadArgument, "left unread"},
		{"after_complete", nil, abi.CodeAfterComplete, "after complete"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			start := history.Event{Kind: history.KindExecutionStarted, Name: tc.name, Input: tc.input}
			eng, res := turn(t, rt, m, "h", nil, 1000, start)
			if res.State != Failed {
				t.Fatalf("state %v (%v), want failed", res.State, res.Err)
			}
			c := eng.Commit()
			f := c.State.Failure
			if c.State.Status != store.StatusFailed || f == nil || f.Code != tc.code || !strings.Contains(f.Message, tc.mention) {
				t.Fatalf("recorded %v %+v, want code %s mentioning %q", c.State.Status, f, tc.code, tc.mention)
			}
		})
	}
	assertHealthy(t, rt)
}

func TestStreamLoadRejects(t *testing.T) {
	rt := newRuntime(t, Config{})
	guest := readStreamFixture(t, "guest.wasm")
	tests := []struct {
		name    string
		wasm    []byte
		mention string
	}{
		{"no entry", readStreamFixture(t, "noentry.wasm"), "exports neither durohost_run nor _start"},
		{"bad files section", withRawSection(guest, StreamFilesSection, []byte{0xff}), "not a CBOR map"},
		{"escaping path", withFiles(t, guest, map[string][]byte{"../etc/passwd": nil}), `"../etc/passwd"`},
		{"two files sections", withFiles(t, withFiles(t, guest, nil), nil), "more than one"},
		// A map naming "a" twice: a1 61 61 40 (one entry) with the entry repeated and the count 2.
		{"duplicate path", withRawSection(guest, StreamFilesSection, []byte{0xa2, 0x61, 0x61, 0x40, 0x61, 0x61, 0x41, 0x78}), "duplicate map key"},
		{"file and directory", withFiles(t, guest, map[string][]byte{"lib/os": nil, "lib/os/path.py": nil}), `"lib/os" both as a file and as the directory of "lib/os/path.py"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := rt.Load(context.Background(), tc.wasm)
			if !errors.Is(err, ErrInvalidModule) || !strings.Contains(err.Error(), tc.mention) {
				t.Fatalf("err = %v, want ErrInvalidModule mentioning %q", err, tc.mention)
			}
		})
	}
}

// withRawSection appends a custom section with raw contents.
func withRawSection(wasm []byte, name string, payload []byte) []byte {
	body := append([]byte{byte(len(name))}, name...)
	body = append(body, payload...)
	out := append(append([]byte{}, wasm...), 0, byte(len(body)))
	return append(out, body...)
}

func TestCBORItemLen(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		n    int
		err  string
	}{
		{"uint", []byte{0x01}, 1, ""},
		{"uint16", []byte{0x19, 0x01, 0x00, 0xff}, 3, ""},
		{"array with map", []byte{0x82, 0x02, 0xa1, 0x01, 0x41, 0x61, 0x00}, 6, ""},
		{"tagged", []byte{0xc1, 0x1a, 0, 0, 0, 1}, 6, ""},
		{"empty", nil, 0, "incomplete"},
		{"short head", []byte{0x19, 0x01}, 0, "incomplete"},
		{"short string", []byte{0x43, 0x61}, 0, "incomplete"},
		{"short array", []byte{0x82, 0x01}, 0, "incomplete"},
		{"indefinite", []byte{0x9f, 0xff}, 0, "indefinite-length"},
		{"reserved", []byte{0x1c}, 0, "reserved additional information"},
		{"deep", []byte(strings.Repeat("\x81", 100) + "\x00"), 0, "nested more than"},
		{"huge string", []byte{0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, 0, "incomplete"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, err := cborItemLen(tc.in)
			if tc.err == "" {
				if err != nil || n != tc.n {
					t.Fatalf("cborItemLen = %d, %v; want %d", n, err, tc.n)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("cborItemLen = %d, %v; want an error mentioning %q", n, err, tc.err)
			}
		})
	}
}

// TestSpecStreamCalls: the table of stream calls in ABI.md is the one this package implements.
func TestSpecStreamCalls(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "..", "abi", "ABI.md"))
	if err != nil {
		t.Fatal(err)
	}
	sec := string(doc)
	i := strings.Index(sec, "\n## Stream form\n")
	if i < 0 {
		t.Fatal("ABI.md has no section Stream form")
	}
	sec = sec[i:]
	rows := regexp.MustCompile("(?m)^\\| ([a-z_]+) \\| ([0-9]+) \\|").FindAllStringSubmatch(sec, -1)
	got := map[uint64]string{}
	for _, r := range rows {
		n, _ := strconv.ParseUint(r[2], 10, 64)
		got[n] = r[1]
	}
	if len(got) != len(streamCallNames) || len(got) != len(abi.HostFunctions) {
		t.Fatalf("ABI.md lists %d stream calls, the package %d, the ABI %d host functions", len(got), len(streamCallNames), len(abi.HostFunctions))
	}
	for n, name := range streamCallNames {
		if got[n] != name {
			t.Errorf("call %d: ABI.md says %q, the package %q", n, got[n], name)
		}
	}
	for _, want := range []string{"`" + StreamPath[len(StreamDir)+1:] + "`", "`" + StreamDir + "`", "`" + StreamFilesSection + "`", "`" + ExportStart + "`"} {
		if !strings.Contains(sec, want) {
			t.Errorf("the section Stream form does not mention %s", want)
		}
	}
}

// TestStreamWriteBounded: one huge write of an unfinished call is refused once it passes the
// call limit, holding no more than about twice the limit in host memory (not the whole write,
// which a guest's memory budget allows to be far larger), and a call written a byte at a time
// is framed where the previous piece ended rather than scanned from its start.
func TestStreamWriteBounded(t *testing.T) {
	const payload = 1 << 10
	newStream := func() *stream {
		return &stream{inst: &Instance{rt: &Runtime{cfg: Config{MaxPayload: payload}}}}
	}
	limit := payload + 64<<10
	t.Run("huge write", func(t *testing.T) {
		s := newStream()
		p := make([]byte, 64<<20)
		p[0], p[1] = 0x9b, 0xff // an array of 2^64-ish elements: never complete
		for k := 2; k < 9; k++ {
			p[k] = 0xff
		}
		err := catchStop(func() { s.write(p) })
		var f *abi.Failure
		if !errors.As(err, &f) || f.Code != abi.CodePayloadTooLarge {
			t.Fatalf("write stopped with %v, want %s", err, abi.CodePayloadTooLarge)
		}
		if cap(s.in) > 3*limit {
			t.Fatalf("the stream holds %d bytes of a call for a limit of %d", cap(s.in), limit)
		}
	})
	t.Run("byte at a time", func(t *testing.T) {
		s := newStream()
		call := append([]byte{0x99, 0x10, 0x00}, make([]byte, 0x1000)...) // an array of 4096 zeros
		// The last byte would run the call.
		for k := range len(call) - 1 {
			s.write(call[k : k+1])
			if k >= 3 && s.frame.pos != k+1 {
				t.Fatalf("after %d bytes the framer resumes at byte %d", k+1, s.frame.pos)
			}
		}
	})
}

// catchStop runs fn and returns the error a stop unwound it with.
func catchStop(fn func()) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err, _ = v.(error)
		}
	}()
	fn()
	return nil
}

// TestStreamBuffersCharged: the answers a guest leaves unread are host memory held for it, so
// they count against the guest memory budget: a guest whose own memory fits but whose unread
// answers do not is stopped with ErrMemoryBudget (as one whose memory cannot grow), and the
// charge is given back when it ends.
func TestStreamBuffersCharged(t *testing.T) {
	wasm := readStreamFixture(t, "guest.wasm")
	probe := newRuntime(t, Config{})
	pm, err := probe.Load(context.Background(), wasm)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := replay.New(replay.Config{InstanceID: "probe", Execution: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := eng.BeginTurn(1000, []history.Event{{Kind: history.KindExecutionStarted, Name: "noexit"}}); err != nil {
		t.Fatal(err)
	}
	inst, err := probe.Instantiate(context.Background(), pm, eng, "probe", 1)
	if err != nil {
		t.Fatal(err)
	}
	own, _ := probe.GuestMemory()
	inst.Close()

	// Room for the guest's memory and a few MiB, not for the 8 MiB of answers "unread" leaves.
	rt := newRuntime(t, Config{GuestMemory: own + 4<<20})
	m, err := rt.Load(context.Background(), wasm)
	if err != nil {
		t.Fatal(err)
	}
	big := []byte(`"` + strings.Repeat("x", 64<<10) + `"`)
	start := history.Event{Kind: history.KindExecutionStarted, Name: "unread", Input: big}
	_, res := turn(t, rt, m, "h", nil, 1000, start)
	if !errors.Is(res.Err, ErrMemoryBudget) {
		t.Fatalf("state %v, err %v; want ErrMemoryBudget", res.State, res.Err)
	}
	if used, _ := rt.GuestMemory(); used != 0 {
		t.Fatalf("%d bytes still charged after the guest ended", used)
	}
}
