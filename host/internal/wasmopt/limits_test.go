package wasmopt_test

import (
	"bytes"
	"errors"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/durohost/durohost/host/internal/wasmopt"
	"github.com/durohost/durohost/internal/testguest"
)

// nest is a module whose one function () -> () nests d blocks opened by op (0x02 block,
// 0x03 loop, 0x04 if: each preceded by i32.const 0), with locals i32 locals read in the
// innermost one.
func nest(d int, op byte, locals uint32) []byte {
	var instrs []byte
	for range d {
		if op == 0x04 {
			instrs = append(instrs, 0x41, 0)
		}
		instrs = append(instrs, op, 0x40)
	}
	for i := range locals {
		instrs = append(instrs, 0x20)
		instrs = append(instrs, u32(i)...)
		instrs = append(instrs, 0x1a)
	}
	for range d + 1 {
		instrs = append(instrs, 0x0b)
	}
	var decls [][2]uint32
	if locals > 0 {
		decls = append(decls, [2]uint32{locals, 0x7f})
	}
	return mod(sec(1, vec([]byte{0x60, 0, 0})), sec(3, vec([]byte{0})), sec(10, vec(code(decls, instrs...))))
}

// TestCheckNestingBomb: a function nesting 12,500 blocks (0.7 s or more for wazero to compile)
// is refused, the error naming the function and the depth.
func TestCheckNestingBomb(t *testing.T) {
	m, err := wasmopt.Parse(nest(12500, 0x02, 0))
	if err != nil {
		t.Fatal(err)
	}
	err = wasmopt.Check(m, wasmopt.DefaultLimits)
	if !errors.Is(err, wasmopt.ErrLimit) {
		t.Fatalf("Check = %v, want ErrLimit", err)
	}
	for _, s := range []string{"function 0", "blocks nested 12500 deep", "limit of 3000"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not mention %q", err, s)
		}
	}
}

// TestCheck checks every limit, just below and just above it.
func TestCheck(t *testing.T) {
	twoFuncs := mod(sec(1, vec([]byte{0x60, 0, 0})), sec(3, vec([]byte{0}, []byte{0})), sec(10, vec(code(nil, 0x0b), code(nil, 0x01, 0x01, 0x0b))))
	imports := mod(sec(2, vec(cat(name("a"), name("m"), []byte{2, 0, 5}), cat(name("a"), name("t"), []byte{1, 0x70, 0, 9}), cat(name("a"), name("g"), []byte{3, 0x7f, 0}))))
	exports := mod(sec(6, vec([]byte{0x7f, 0, 0x41, 0, 0x0b}, []byte{0x7f, 0, 0x41, 0, 0x0b})), sec(7, vec(cat(name("a"), []byte{3, 0}), cat(name("b"), []byte{3, 1}))))
	segments := mod(memory(1), data(active(0, "a"), active(1, "b"), active(2, "c")))
	tables := mod(sec(4, vec([]byte{0x70, 0, 10})))
	elements := mod(sec(1, vec([]byte{0x60, 0, 0})), sec(3, vec([]byte{0})), sec(9, vec([]byte{1, 0, 2, 0, 0}, []byte{1, 0, 1, 0})), sec(10, vec(code(nil, 0x0b))))
	tests := []struct {
		name    string
		wasm    []byte
		ok, not wasmopt.Limits // within ok, beyond not
		mention string
	}{
		{"functions", twoFuncs, wasmopt.Limits{MaxFunctions: 2}, wasmopt.Limits{MaxFunctions: 1}, "2 functions, more than the limit of 1"},
		{"body size", twoFuncs, wasmopt.Limits{MaxBodySize: 4}, wasmopt.Limits{MaxBodySize: 3}, "function 1 (body at offset 26): a body of 4 bytes"},
		{"locals", nest(0, 0x02, 5), wasmopt.Limits{MaxLocals: 5}, wasmopt.Limits{MaxLocals: 4}, "function 0 (body at offset 22): 5 locals"},
		{"depth", nest(7, 0x04, 0), wasmopt.Limits{MaxDepth: 7}, wasmopt.Limits{MaxDepth: 6}, "blocks nested 7 deep"},
		{"loop cost", nest(3, 0x03, 10), wasmopt.Limits{MaxLoopCost: 300}, wasmopt.Limits{MaxLoopCost: 299}, "10 locals in loops nested 3 deep (locals² × depth 300)"},
		{"instructions", twoFuncs, wasmopt.Limits{MaxInstructions: 3}, wasmopt.Limits{MaxInstructions: 2}, "3 instructions"},
		{"code size", twoFuncs, wasmopt.Limits{MaxCodeSize: 9}, wasmopt.Limits{MaxCodeSize: 8}, "a code section of 9 bytes"},
		{"data segments", segments, wasmopt.Limits{MaxDataSegments: 3}, wasmopt.Limits{MaxDataSegments: 2}, "3 data segments"},
		{"imports", imports, wasmopt.Limits{MaxImports: 3}, wasmopt.Limits{MaxImports: 2}, "3 imports"},
		{"exports", exports, wasmopt.Limits{MaxExports: 2}, wasmopt.Limits{MaxExports: 1}, "2 exports"},
		{"globals", exports, wasmopt.Limits{MaxGlobals: 2}, wasmopt.Limits{MaxGlobals: 1}, "2 globals"},
		{"imported globals", imports, wasmopt.Limits{MaxGlobals: 1, MaxImports: 3}, wasmopt.Limits{MaxGlobals: 1, MaxImports: 2}, "3 imports"},
		{"types", mod(sec(1, vec([]byte{0x60, 0, 0}, []byte{0x60, 0, 0}))), wasmopt.Limits{MaxTypes: 2}, wasmopt.Limits{MaxTypes: 1}, "2 types"},
		{"imported tables", mod(sec(2, vec(cat(name("a"), name("t"), []byte{1, 0x70, 0, 1}))), sec(4, vec([]byte{0x70, 0, 1}))),
			wasmopt.Limits{MaxTables: 2}, wasmopt.Limits{MaxTables: 1}, "2 tables"},
		{"element segments", elements, wasmopt.Limits{MaxElementSegments: 2}, wasmopt.Limits{MaxElementSegments: 1}, "2 element segments"},
		{"elements", elements, wasmopt.Limits{MaxElements: 3}, wasmopt.Limits{MaxElements: 2}, "3 elements in element segments"},
		{"custom sections", mod(sec(0, name("a")), sec(0, name("b"))), wasmopt.Limits{MaxCustomSections: 2}, wasmopt.Limits{MaxCustomSections: 1}, "2 custom sections"},
		{"memory", mod(memory(64)), wasmopt.Limits{MaxMemoryPages: 64}, wasmopt.Limits{MaxMemoryPages: 63}, "memory 0 starts with 64 pages of 64 KiB, more than the limit of 63"},
		{"imported memory", imports, wasmopt.Limits{MaxMemoryPages: 5}, wasmopt.Limits{MaxMemoryPages: 4}, "imported memory a.m starts with 5 pages"},
		{"table", tables, wasmopt.Limits{MaxTableSize: 10}, wasmopt.Limits{MaxTableSize: 9}, "table 0 starts with 10 elements"},
		{"imported table", imports, wasmopt.Limits{MaxTableSize: 9}, wasmopt.Limits{MaxTableSize: 8}, "imported table a.t starts with 9 elements"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := wasmopt.Parse(tt.wasm)
			if err != nil {
				t.Fatal(err)
			}
			if err := wasmopt.Check(m, tt.ok); err != nil {
				t.Errorf("within the limit: %v", err)
			}
			err = wasmopt.Check(m, tt.not)
			if !errors.Is(err, wasmopt.ErrLimit) || !strings.Contains(err.Error(), tt.mention) {
				t.Errorf("beyond the limit: %v, want ErrLimit mentioning %q", err, tt.mention)
			}
			if _, err := wasmopt.ParseChecked(tt.wasm, tt.ok); err != nil {
				t.Errorf("ParseChecked within the limit: %v", err)
			}
			_, err = wasmopt.ParseChecked(tt.wasm, tt.not)
			if !errors.Is(err, wasmopt.ErrLimit) || !strings.Contains(err.Error(), tt.mention) {
				t.Errorf("ParseChecked beyond the limit: %v, want ErrLimit mentioning %q", err, tt.mention)
			}
		})
	}
}

// TestDefaultLimitsAcceptRepositoryModules checks that every module of the repository is
// within DefaultLimits with a margin of 4 (each limit divided by 4), and logs the figures the
// limits were chosen from.
func TestDefaultLimitsAcceptRepositoryModules(t *testing.T) {
	type module struct {
		name string
		wasm func(t *testing.T) []byte
	}
	var modules []module
	for i, pkg := range append(goGuests, "internal/bench/guest") {
		if testing.Short() && i > 0 {
			break
		}
		modules = append(modules, module{pkg, func(t *testing.T) []byte { return testguest.Build(t, pkg, "") }})
	}
	fixtures, err := filepath.Glob(filepath.Join(testguest.Root(), "conformance", "testdata", "wat", "*.wasm"))
	if err != nil || len(fixtures) == 0 {
		t.Fatalf("no WAT fixtures: %v", err)
	}
	fixtures = append(fixtures, "testdata/guest.wasm", "testdata/guest-as.wasm")
	for _, path := range fixtures {
		modules = append(modules, module{filepath.Base(path), func(t *testing.T) []byte { return readFile(t, path) }})
	}
	d := wasmopt.DefaultLimits
	quarter := wasmopt.Limits{
		MaxFunctions: d.MaxFunctions / 4, MaxBodySize: d.MaxBodySize / 4, MaxLocals: d.MaxLocals / 4,
		MaxDepth: d.MaxDepth / 4, MaxLoopCost: d.MaxLoopCost / 4, MaxInstructions: d.MaxInstructions / 4,
		MaxCodeSize: d.MaxCodeSize / 4, MaxDataSegments: d.MaxDataSegments / 4, MaxGlobals: d.MaxGlobals / 4,
		MaxImports: d.MaxImports / 4, MaxExports: d.MaxExports / 4, MaxMemoryPages: d.MaxMemoryPages / 4,
		MaxTableSize: d.MaxTableSize / 4, MaxTypes: d.MaxTypes / 4, MaxTables: d.MaxTables / 4,
		MaxElementSegments: d.MaxElementSegments / 4, MaxElements: d.MaxElements / 4, MaxCustomSections: d.MaxCustomSections / 4,
	}
	for _, mo := range modules {
		t.Run(mo.name, func(t *testing.T) {
			m, err := wasmopt.Parse(mo.wasm(t))
			if err != nil {
				t.Fatal(err)
			}
			if err := wasmopt.Check(m, quarter); err != nil {
				t.Fatalf("not within a quarter of DefaultLimits: %v", err)
			}
			var depth, size, instrs int
			var locals, loopCost uint64
			for _, c := range m.Code {
				depth, size, instrs = max(depth, c.Depth), max(size, c.Size), max(instrs, c.Instructions)
				locals, loopCost = max(locals, c.Locals), max(loopCost, c.LoopCost())
			}
			t.Logf("%d functions, code %d bytes, %d data segments; largest of one function: depth %d, body %d bytes, %d instructions, %d locals, loop cost %d",
				m.NumFuncs(), m.CodeSize, len(m.Data), depth, size, instrs, locals, loopCost)
		})
	}
}

// TestParseCheckedAllocatesLittle: a module of a million empty data segments (2 MB) is refused
// by ParseChecked before anything is allocated for them; Parse would allocate tens of MB.
func TestParseCheckedAllocatesLittle(t *testing.T) {
	const n = 1_000_000
	segs := bytes.Repeat([]byte{1, 0}, n) // passive, empty
	wasm := mod(memory(1), sec(11, u32(n), segs))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := wasmopt.ParseChecked(wasm, wasmopt.Limits{MaxDataSegments: 1000})
	runtime.ReadMemStats(&after)
	if !errors.Is(err, wasmopt.ErrLimit) || !strings.Contains(err.Error(), "1000000 data segments, more than the limit of 1000") {
		t.Fatalf("ParseChecked = %v, want ErrLimit", err)
	}
	if a := after.TotalAlloc - before.TotalAlloc; a > 64<<10 {
		t.Errorf("ParseChecked allocated %d bytes", a)
	}
	if _, err := wasmopt.ParseChecked(mod(sec(0, name("x"))), wasmopt.Limits{}); err != nil {
		t.Errorf("ParseChecked with the default limits: %v", err)
	}
	if _, err := wasmopt.ParseChecked([]byte("nope"), wasmopt.Limits{}); !errors.Is(err, wasmopt.ErrMalformed) {
		t.Errorf("ParseChecked of a malformed module = %v, want ErrMalformed", err)
	}
}
