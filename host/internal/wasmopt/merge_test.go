package wasmopt_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/tetratelabs/wazero"

	"github.com/durohost/durohost/host/internal/wasmopt"
	"github.com/durohost/durohost/internal/testguest"
)

// Builders of small modules in the binary format.

func u32(v uint32) []byte { return wasmopt.AppendU32(nil, v) }
func s32(v int32) []byte  { return wasmopt.AppendS32(nil, v) }

func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

func sec(id byte, parts ...[]byte) []byte {
	body := cat(parts...)
	return cat([]byte{id}, u32(uint32(len(body))), body)
}

func mod(secs ...[]byte) []byte {
	return cat(append([][]byte{[]byte("\x00asm\x01\x00\x00\x00")}, secs...)...)
}

func memory(min uint32) []byte { return sec(5, []byte{1, 0}, u32(min)) }

func data(segs ...[]byte) []byte {
	return sec(11, append([][]byte{u32(uint32(len(segs)))}, segs...)...)
}

func active(off int32, s string) []byte {
	return cat([]byte{0, 0x41}, s32(off), []byte{0x0b}, u32(uint32(len(s))), []byte(s))
}

func activeMem(mem uint32, off int32, s string) []byte {
	return cat([]byte{2}, u32(mem), []byte{0x41}, s32(off), []byte{0x0b}, u32(uint32(len(s))), []byte(s))
}

func activeGlobal(g uint32, s string) []byte {
	return cat([]byte{0, 0x23}, u32(g), []byte{0x0b}, u32(uint32(len(s))), []byte(s))
}

func name(s string) []byte { return cat(u32(uint32(len(s))), []byte(s)) }

func passive(s string) []byte { return cat([]byte{1}, u32(uint32(len(s))), []byte(s)) }

func dataCount(n uint32) []byte { return sec(12, u32(n)) }

// global is an immutable i32 global initialised to v.
func global(v int32) []byte { return sec(6, []byte{1, 0x7f, 0, 0x41}, s32(v), []byte{0x0b}) }

// function is a type, function and code section with one function () -> () of body
// (instructions, without the final end).
func function(body ...byte) [][]byte {
	f := cat([]byte{0}, body, []byte{0x0b}) // no locals
	return [][]byte{sec(1, []byte{1, 0x60, 0, 0}), sec(3, []byte{1, 0}), sec(10, []byte{1}, u32(uint32(len(f))), f)}
}

// memoryInit is memory.init of segment 0 for 0 bytes: valid while segment 0 exists.
var memoryInit = []byte{0x41, 0, 0x41, 0, 0x41, 0, 0xfc, 8, 0, 0}

// interpreter is a runtime configuration that compiles fast, for small modules; with a small
// memory limit and closing modules when their context is done (a fuzzed start section may
// loop forever).
func interpreter() wazero.RuntimeConfig {
	return wazero.NewRuntimeConfigInterpreter().WithMemoryLimitPages(256).WithCloseOnContextDone(true)
}

// sparse returns n segments of one byte, each gap bytes after the previous one.
func sparse(n, gap int) [][]byte {
	segs := make([][]byte, n)
	for i := range segs {
		segs[i] = active(int32(i*gap), "x")
	}
	return segs
}

// mergeCases are modules with what MergeDataSegments makes of them: want is the number of
// data segments, or -1 for the input returned as is.
var mergeCases = []struct {
	name string
	wasm []byte
	want int
}{
	{"no data", mod(memory(1)), -1},
	{"no sections", mod(), -1},
	{"one segment", mod(memory(1), data(active(8, "abc"))), -1},
	{"adjacent", mod(memory(1), data(active(0, "ab"), active(2, "cd"))), 1},
	{"small gap", mod(memory(1), data(active(0, "ab"), active(2+wasmopt.MaxGap, "cd"))), 1},
	{"large gap", mod(memory(1), data(active(0, "ab"), active(3+wasmopt.MaxGap, "cd"))), -1},
	{"two groups", mod(memory(1), data(active(0, "ab"), active(4, "cd"), active(5000, "ef"), active(5003, "gh"))), 2},
	{"later overwrites", mod(memory(1), data(active(10, "aaaa"), active(11, "bb"), active(9, "ccc"))), 1},
	{"unsorted", mod(memory(1), data(active(2, "cd"), active(0, "ab"), active(300, "x"))), 2},
	{"empty segments", mod(memory(1), data(active(5, ""), active(6, "x"), active(6, ""))), 1},
	{"explicit memory 0", mod(memory(1), data(activeMem(0, 0, "ab"), active(2, "cd"))), 1},
	{"out of bounds", mod(memory(1), data(active(65530, "abc"), active(65534, "def"))), 1},
	{"empty out of bounds", mod(memory(1), data(active(65530, "a"), active(65600, ""))), 1},
	{"imported memory", mod(sec(2, []byte{1}, name("env"), name("memory"), []byte{2, 0, 1}), data(active(0, "a"), active(1, "b"))), -1},
	{"imported function and table", mod(sec(1, []byte{1, 0x60, 0, 0}),
		sec(2, []byte{3}, name("env"), name("f"), []byte{0, 0}, name("env"), name("t"), []byte{1, 0x70, 1, 1, 2}, name("env"), name("g"), []byte{3, 0x7f, 0}),
		memory(1), data(active(0, "a"), active(1, "b"))), 1},
	{"no memory", mod(data(active(0, "a"), active(1, "b"))), 1},
	{"data count", mod(memory(1), dataCount(2), data(active(0, "a"), active(1, "b"))), 1},
	{"data count and memory.init", mod(append(append([][]byte{}, function(memoryInit...)[:2]...),
		memory(1), dataCount(2), function(memoryInit...)[2], data(active(0, "a"), active(1, "b")))...), -1},
	{"passive", mod(memory(1), data(active(0, "a"), passive("p"), active(1, "b"))), -1},
	{"global offset", mod(memory(1), global(4), data(active(0, "a"), activeGlobal(0, "g"), active(1, "b"))), -1},
	{"memory 1", mod(memory(1), data(active(0, "a"), activeMem(1, 1, "b"))), -1},
	{"negative offset", mod(memory(1), data(active(0, "a"), active(-1, "b"))), -1},
	{"mostly gaps", mod(memory(2), data(sparse(400, wasmopt.MaxGap+1)...)), -1},
	{"beyond 2 GiB", mod(memory(1), data(active(1<<30, "a"), active(1<<31-1, "bc"))), -1},
}

// TestMergeDataSegments checks the result of MergeDataSegments on small modules, and that it
// is equivalent to the original (see equivalent).
func TestMergeDataSegments(t *testing.T) {
	for _, tt := range mergeCases {
		t.Run(tt.name, func(t *testing.T) {
			got, err := wasmopt.MergeDataSegments(tt.wasm)
			if err != nil {
				t.Fatal(err)
			}
			if tt.want < 0 {
				if &got[0] != &tt.wasm[0] || len(got) != len(tt.wasm) {
					t.Fatalf("module changed, want it returned as is")
				}
				return
			}
			n, err := wasmopt.DataSegments(got)
			if err != nil {
				t.Fatal(err)
			}
			if n != tt.want {
				t.Errorf("%d data segments, want %d", n, tt.want)
			}
			equivalent(t, interpreter(), tt.wasm, got, false)
		})
	}
}

func TestMergeDataSegmentsMalformed(t *testing.T) {
	tests := []struct {
		name string
		wasm []byte
	}{
		{"empty", nil},
		{"short", []byte("\x00asm")},
		{"not wasm", []byte("\x7fELF\x01\x00\x00\x00")},
		{"version 2", []byte("\x00asm\x02\x00\x00\x00")},
		{"component", []byte("\x00asm\x0d\x00\x01\x00")},
		{"section past the end", cat(mod(), []byte{1, 5, 0})},
		{"section size too long", cat(mod(), []byte{1, 0xff, 0xff, 0xff, 0xff, 0x0f})},
		{"section size truncated", cat(mod(), []byte{1, 0x80})},
		{"unknown section", mod(sec(13))},
		{"two data sections", mod(memory(1), data(active(0, "a")), data(active(1, "b")))},
		{"two data count sections", mod(dataCount(0), dataCount(0))},
		{"empty data section", mod(sec(11))},
		{"too many segments", mod(sec(11, u32(100), active(0, "a")))},
		{"unknown flags", mod(sec(11, u32(1), []byte{3, 0}))},
		{"truncated flags", mod(sec(11, u32(1), []byte{0x80}))},
		{"truncated memory index", mod(sec(11, u32(1), []byte{2}))},
		{"truncated offset", mod(sec(11, u32(1), []byte{0}))},
		{"truncated i32.const", mod(sec(11, u32(1), []byte{0, 0x41}))},
		{"offset too long", mod(sec(11, u32(1), []byte{0, 0x41, 0xff, 0xff, 0xff, 0xff, 0x4f, 0x0b, 0}))},
		{"no end", mod(sec(11, u32(1), []byte{0, 0x41, 0}))},
		{"truncated size", mod(sec(11, u32(1), []byte{0, 0x41, 0, 0x0b}))},
		{"bytes past the end", mod(sec(11, u32(1), []byte{0, 0x41, 0, 0x0b, 5, 'a'}))},
		{"bytes after the segments", mod(sec(11, u32(1), active(0, "a"), []byte{0}))},
		{"import name past the end", mod(sec(2, []byte{1}, name("env"), []byte{9, 'm'}))},
		{"truncated import", mod(sec(2, []byte{1}, name("env"), name("f"), []byte{0}))},
		{"truncated table import", mod(sec(2, []byte{1}, name("env"), name("t"), []byte{1, 0x70}))},
		{"bad data count", mod(memory(1), sec(12, []byte{0x80}), data(active(0, "a"), active(1, "b")))},
		{"data count mismatch", mod(memory(1), dataCount(3), data(active(0, "a"), active(1, "b")))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := wasmopt.MergeDataSegments(tt.wasm)
			if !errors.Is(err, wasmopt.ErrMalformed) {
				t.Fatalf("got %d bytes, error %v; want ErrMalformed", len(got), err)
			}
			t.Log(err)
		})
	}
}

func TestLEB128(t *testing.T) {
	tests := []struct {
		enc      []byte
		unsigned int64 // -1: invalid
		signed   int64 // 1 << 40: invalid
	}{
		{[]byte{0}, 0, 0},
		{[]byte{0x3f}, 63, 63},
		{[]byte{0x40}, 64, -64},
		{[]byte{0x7f}, 127, -1},
		{[]byte{0xc0, 0}, 64, 64},
		{[]byte{0xbf, 0x7f}, 16319, -65},
		{[]byte{0x80, 0x80, 0}, 0, 0}, // not the shortest: allowed
		{[]byte{0xff, 0xff, 0xff, 0xff, 0x07}, 1<<31 - 1, 1<<31 - 1},
		{[]byte{0x80, 0x80, 0x80, 0x80, 0x78}, -1, -1 << 31},
		{[]byte{0xff, 0xff, 0xff, 0xff, 0x0f}, 1<<32 - 1, 1 << 40},
		{[]byte{0xff, 0xff, 0xff, 0xff, 0x7f}, -1, -1},
		{[]byte{0x80, 0x80, 0x80, 0x80, 0x80, 0}, -1, 1 << 40},
		{[]byte{0x80}, -1, 1 << 40},
		{nil, -1, 1 << 40},
	}
	for _, tt := range tests {
		u, n, err := wasmopt.ReadU32(tt.enc, 0)
		switch {
		case tt.unsigned < 0 && err == nil:
			t.Errorf("ReadU32(% x) = %d, want an error", tt.enc, u)
		case tt.unsigned >= 0 && (err != nil || int64(u) != tt.unsigned || n != len(tt.enc)):
			t.Errorf("ReadU32(% x) = %d, %d, %v; want %d", tt.enc, u, n, err, tt.unsigned)
		}
		s, n, err := wasmopt.ReadS32(tt.enc, 0)
		switch {
		case tt.signed == 1<<40 && err == nil:
			t.Errorf("ReadS32(% x) = %d, want an error", tt.enc, s)
		case tt.signed != 1<<40 && (err != nil || int64(s) != tt.signed || n != len(tt.enc)):
			t.Errorf("ReadS32(% x) = %d, %d, %v; want %d", tt.enc, s, n, err, tt.signed)
		}
	}
	for _, v := range []int32{0, 1, -1, 63, 64, -64, -65, 1 << 20, -1 << 20, 1<<31 - 1, -1 << 31} {
		if got, _, err := wasmopt.ReadS32(wasmopt.AppendS32(nil, v), 0); err != nil || got != v {
			t.Errorf("AppendS32(%d) reads back as %d, %v", v, got, err)
		}
	}
	for _, v := range []uint32{0, 127, 128, 1 << 20, 1<<32 - 1} {
		if got, _, err := wasmopt.ReadU32(wasmopt.AppendU32(nil, v), 0); err != nil || got != v {
			t.Errorf("AppendU32(%d) reads back as %d, %v", v, got, err)
		}
	}
}

// FuzzMergeDataSegments checks that MergeDataSegments never panics, that what it returns is
// stable (a second pass returns it as is) and equivalent to its input: compiled and
// instantiated with wazero, both fail at the same stage or give the same memory.
func FuzzMergeDataSegments(f *testing.F) {
	for _, c := range mergeCases {
		f.Add(c.wasm)
	}
	seeds, _ := filepath.Glob(filepath.Join(testguest.Root(), "conformance", "testdata", "wat", "*.wasm"))
	seeds = append(seeds, "testdata/guest.wasm", "testdata/guest-as.wasm")
	for _, path := range seeds {
		b, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, wasm []byte) {
		got, err := wasmopt.MergeDataSegments(wasm)
		if err != nil {
			if !errors.Is(err, wasmopt.ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if len(got) == len(wasm) && (len(got) == 0 || &got[0] == &wasm[0]) {
			return
		}
		again, err := wasmopt.MergeDataSegments(got)
		if err != nil || len(again) != len(got) || &again[0] != &got[0] {
			t.Fatalf("a second pass changed the module (error %v)", err)
		}
		equivalent(t, interpreter(), wasm, got, false)
	})
}
