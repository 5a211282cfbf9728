package wasmopt_test

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"

	"github.com/durohost/durohost/host/internal/wasmopt"
)

// vec is a vector: its length and its entries.
func vec(entries ...[]byte) []byte {
	return cat(append([][]byte{u32(uint32(len(entries)))}, entries...)...)
}

// code is a code section entry: its size, the local declarations (count, type pairs) and the
// instructions (the final end included).
func code(locals [][2]uint32, instrs ...byte) []byte {
	var decls [][]byte
	for _, l := range locals {
		decls = append(decls, cat(u32(l[0]), []byte{byte(l[1])}))
	}
	body := cat(vec(decls...), instrs)
	return cat(u32(uint32(len(body))), body)
}

// body is a module with one function () -> () of the given instructions (the final end
// included) and no locals.
func body(instrs ...byte) []byte {
	return mod(sec(1, vec([]byte{0x60, 0, 0})), sec(3, vec([]byte{0})), sec(10, vec(code(nil, instrs...))))
}

// v128 is 16 bytes of a v128 constant or shuffle.
var v128 = bytes.Repeat([]byte{1}, 16)

// kitchenSink is a valid module with every kind of section, imports of each kind, and two
// functions whose bodies have blocks, a loop, SIMD and data.drop.
var kitchenSink = func() []byte {
	f1 := code([][2]uint32{{2, 0x7f}, {1, 0x7e}}, cat(
		[]byte{0x02, 0x40, 0x03, 0x40, 0x41, 1, 0x04, 0x40}, // block, loop, i32.const 1, if
		[]byte{0x0c, 2, 0x05, 0x01, 0x0b, 0x0b, 0x0b},       // br 2, else, nop, end end end
		[]byte{0x20, 0, 0x41, 7, 0x6a, 0x21, 1},             // local.get 0, i32.const 7, i32.add, local.set 1
		[]byte{0x42, 0x7f, 0x1a},                            // i64.const -1, drop
		[]byte{0xfd, 0x0c}, v128, []byte{0xfd, 0x62, 0x1a},  // v128.const, i8x16.popcnt, drop
		[]byte{0xfc, 9, 1}, // data.drop 1
		[]byte{0x0b})...)
	f2 := code(nil, 0x20, 0, 0x0b)
	return mod(
		sec(0, name("first"), []byte("x")),
		sec(1, vec([]byte{0x60, 0, 0}, []byte{0x60, 2, 0x7f, 0x7e, 1, 0x7d}, []byte{0x60, 1, 0x7f, 1, 0x7f})),
		sec(2, vec(
			cat(name("env"), name("f"), []byte{0}, u32(1)),
			cat(name("env"), name("t"), []byte{1, 0x70, 1, 1, 2}),
			cat(name("env"), name("m"), []byte{2, 1, 1, 3}),
			cat(name("env"), name("g"), []byte{3, 0x7f, 0}),
		)),
		sec(3, vec([]byte{0}, []byte{2})),
		sec(4, vec([]byte{0x6f, 0, 0})),
		sec(6, vec([]byte{0x7e, 1, 0x42, 0x7f, 0x0b})),
		sec(7, vec(cat(name("run"), []byte{0, 1}), cat(name("mem"), []byte{2, 0}), cat(name("g"), []byte{3, 1}), cat(name("tab"), []byte{1, 1}))),
		sec(8, u32(1)),
		sec(9, vec([]byte{0, 0x41, 0, 0x0b, 1, 2})),
		sec(12, u32(2)),
		sec(10, vec(f1, f2)),
		sec(11, vec(active(16, "hello"), passive("p"))),
		sec(0, name("go:buildid"), []byte("id")),
	)
}()

// TestParse reads the kitchen-sink module (which wazero compiles) and checks every part of the
// layout.
func TestParse(t *testing.T) {
	ctx := context.Background()
	r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
	defer r.Close(ctx)
	if _, err := r.CompileModule(ctx, kitchenSink); err != nil {
		t.Fatalf("wazero does not compile the test module: %v", err)
	}
	m, err := wasmopt.Parse(kitchenSink)
	if err != nil {
		t.Fatal(err)
	}
	var ids []wasmopt.SectionID
	for _, s := range m.Sections {
		ids = append(ids, s.ID)
		if kitchenSink[s.Start] != byte(s.ID) || s.Body <= s.Start || s.End < s.Body {
			t.Errorf("section %v at %d, %d, %d", s.ID, s.Start, s.Body, s.End)
		}
	}
	wantIDs := []wasmopt.SectionID{wasmopt.SectionCustom, wasmopt.SectionType, wasmopt.SectionImport, wasmopt.SectionFunction,
		wasmopt.SectionTable, wasmopt.SectionGlobal, wasmopt.SectionExport, wasmopt.SectionStart, wasmopt.SectionElement,
		wasmopt.SectionDataCount, wasmopt.SectionCode, wasmopt.SectionData, wasmopt.SectionCustom}
	check := func(what string, got, want any) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %+v, want %+v", what, got, want)
		}
	}
	check("sections", ids, wantIDs)
	i32, i64, f32 := wasmopt.ValueI32, wasmopt.ValueI64, wasmopt.ValueF32
	check("types", m.Types, []wasmopt.FuncType{{}, {Params: []wasmopt.ValueType{i32, i64}, Results: []wasmopt.ValueType{f32}},
		{Params: []wasmopt.ValueType{i32}, Results: []wasmopt.ValueType{i32}}})
	check("imports", m.Imports, []wasmopt.Import{
		{Module: "env", Name: "f", Kind: wasmopt.KindFunc, Type: 1},
		{Module: "env", Name: "t", Kind: wasmopt.KindTable, Table: wasmopt.Table{Type: wasmopt.ValueFuncref, Min: 1, Max: 2, HasMax: true}},
		{Module: "env", Name: "m", Kind: wasmopt.KindMemory, Memory: wasmopt.Memory{Min: 1, Max: 3, HasMax: true}},
		{Module: "env", Name: "g", Kind: wasmopt.KindGlobal, Global: wasmopt.GlobalType{Type: i32}},
	})
	check("functions", m.Functions, []uint32{0, 2})
	check("tables", m.Tables, []wasmopt.Table{{Type: wasmopt.ValueExternref}})
	check("memories", len(m.Memories), 0)
	if len(m.Globals) != 1 || m.Globals[0].GlobalType != (wasmopt.GlobalType{Type: i64, Mutable: true}) ||
		!bytes.Equal(kitchenSink[m.Globals[0].Init:m.Globals[0].InitEnd], []byte{0x42, 0x7f, 0x0b}) {
		t.Errorf("globals = %+v", m.Globals)
	}
	check("exports", m.Exports, []wasmopt.Export{{Name: "run", Kind: wasmopt.KindFunc, Index: 1},
		{Name: "mem", Kind: wasmopt.KindMemory}, {Name: "g", Kind: wasmopt.KindGlobal, Index: 1}, {Name: "tab", Kind: wasmopt.KindTable, Index: 1}})
	check("start", [2]any{m.Start, m.HasStart}, [2]any{uint32(1), true})
	check("element segments", m.ElementSegments, 1)
	check("data count", [2]any{m.DataCount, m.HasDataCount}, [2]any{uint32(2), true})
	check("data indexed", m.DataIndexed, true)
	if len(m.Code) != 2 {
		t.Fatalf("%d bodies", len(m.Code))
	}
	c := m.Code[0]
	check("body 0", [5]any{c.Locals, c.Depth, c.LoopDepth, c.Instructions, c.LoopCost()}, [5]any{uint64(3), 3, 1, 21, uint64(9)})
	if c.End-c.Offset != c.Size || kitchenSink[c.End-1] != 0x0b || kitchenSink[c.Expr] != 0x02 {
		t.Errorf("body 0 at %d, %d, %d (%d bytes)", c.Offset, c.Expr, c.End, c.Size)
	}
	c = m.Code[1]
	check("body 1", [4]any{c.Locals, c.Depth, c.Instructions, c.Size}, [4]any{uint64(0), 0, 2, 4})
	check("code size", m.CodeSize, m.Sections[10].End-m.Sections[10].Body)
	if len(m.Data) != 2 {
		t.Fatalf("%d data segments", len(m.Data))
	}
	d := m.Data[0]
	if !d.Active || !d.Constant || d.Offset != 16 || string(d.Init) != "hello" || !bytes.Equal(kitchenSink[d.OffsetExpr:d.OffsetEnd], []byte{0x41, 16, 0x0b}) {
		t.Errorf("data segment 0 = %+v", d)
	}
	if i := bytes.Index(kitchenSink, []byte("hello")); &d.Init[0] != &kitchenSink[i] {
		t.Errorf("data segment 0 is a copy, want a sub-slice of the module")
	}
	if d = m.Data[1]; d.Active || string(d.Init) != "p" {
		t.Errorf("data segment 1 = %+v", d)
	}
	var customs []string
	for _, c := range m.Custom {
		customs = append(customs, c.Name)
	}
	check("custom sections", customs, []string{"first", "go:buildid"})
	check("custom body", string(kitchenSink[m.Custom[1].Body:m.Custom[1].End]), "id")

	// Accessors.
	sig1 := m.Types[1]
	check("imported functions", m.ImportedFuncs(), []wasmopt.FuncImport{{Module: "env", Name: "f", Index: 0, Type: sig1}})
	check("exported functions", m.ExportedFuncs(), []wasmopt.FuncExport{{Name: "run", Index: 1, Type: m.Types[0]}})
	check("imported memories", m.ImportedMemories(), []wasmopt.MemoryImport{{Module: "env", Name: "m", Memory: wasmopt.Memory{Min: 1, Max: 3, HasMax: true}}})
	check("exported memories", m.ExportedMemories(), []wasmopt.MemoryExport{{Name: "mem", Memory: wasmopt.Memory{Min: 1, Max: 3, HasMax: true}}})
	check("signature", sig1.String(), "(i32, i64) -> (f32)")
	check("function count", m.NumFuncs(), 3)
	if ft, ok := m.FuncTypeOf(2); !ok || !reflect.DeepEqual(ft, m.Types[2]) {
		t.Errorf("FuncTypeOf(2) = %v, %v", ft, ok)
	}
	if _, ok := m.FuncTypeOf(3); ok {
		t.Errorf("FuncTypeOf(3) found a function")
	}
	check("imports memory, global", [2]bool{m.ImportsMemory(), m.ImportsGlobal()}, [2]bool{true, true})
	check("snapshottable", m.Snapshottable(), false) // a start section
	check("bytes", &m.Bytes()[0], &kitchenSink[0])
}

// TestParseSections checks the parts of the layout that the kitchen-sink module leaves out.
func TestParseSections(t *testing.T) {
	tests := []struct {
		name   string
		wasm   []byte
		check  func(m *wasmopt.Module) bool
		wazero bool // wazero compiles it too
	}{
		{"empty module", mod(), func(m *wasmopt.Module) bool { return len(m.Sections) == 0 && m.NumFuncs() == 0 && !m.HasStart }, false},
		{"shared memory", mod(sec(5, vec([]byte{3, 1, 2}))), func(m *wasmopt.Module) bool {
			return m.Memories[0] == wasmopt.Memory{Min: 1, Max: 2, HasMax: true, Shared: true}
		}, false},
		{"memory without maximum", mod(memory(7)), func(m *wasmopt.Module) bool { return m.Memories[0] == wasmopt.Memory{Min: 7} }, false},
		{"element segments of every form", mod(
			sec(1, vec([]byte{0x60, 0, 0})), sec(3, vec([]byte{0})), sec(4, vec([]byte{0x70, 0, 1})),
			sec(9, vec(
				[]byte{0, 0x41, 0, 0x0b, 1, 0},
				[]byte{1, 0, 1, 0},
				[]byte{2, 0, 0x41, 0, 0x0b, 0, 1, 0},
				[]byte{3, 0, 1, 0},
				[]byte{4, 0x41, 0, 0x0b, 1, 0xd2, 0, 0x0b},
				[]byte{5, 0x70, 2, 0xd2, 0, 0x0b, 0xd0, 0x70, 0x0b},
				[]byte{6, 0, 0x41, 0, 0x0b, 0x70, 1, 0xd2, 0, 0x0b},
				[]byte{7, 0x70, 1, 0xd2, 0, 0x0b},
			)),
			sec(10, vec(code(nil, 0x0b)))), func(m *wasmopt.Module) bool { return m.ElementSegments == 8 && m.Elements == 9 }, true},
		{"data segment with a global offset and one on memory 1", mod(memory(1), global(4), data(activeGlobal(0, "g"), activeMem(1, 3, "m"))), func(m *wasmopt.Module) bool {
			return !m.Data[0].Constant && m.Data[0].Active && m.Data[1].Memory == 1 && m.Data[1].Constant && m.Data[1].Offset == 3
		}, false},
		{"data segment with an extended constant offset", mod(memory(1), data(cat([]byte{0, 0x41, 1, 0x41, 2, 0x6a, 0x0b, 1}, []byte("x")))),
			func(m *wasmopt.Module) bool { return m.Data[0].Active && !m.Data[0].Constant }, false},
		{"negative offset", mod(memory(1), data(active(-1, "b"))), func(m *wasmopt.Module) bool { return m.Data[0].Offset == 1<<32-1 }, false},
		{"global initialisers", mod(sec(6, vec(
			[]byte{0x7d, 0, 0x43, 0, 0, 0, 0, 0x0b},
			[]byte{0x7c, 0, 0x44, 0, 0, 0, 0, 0, 0, 0, 0, 0x0b},
			cat([]byte{0x7b, 0, 0xfd, 0x0c}, v128, []byte{0x0b}),
			[]byte{0x6f, 1, 0xd0, 0x6f, 0x0b},
			[]byte{0x7f, 0, 0x23, 0, 0x0b},
		))), func(m *wasmopt.Module) bool { return len(m.Globals) == 5 && m.Globals[4].Type == wasmopt.ValueI32 }, false},
		{"no data count", mod(memory(1), data(active(0, "a"))), func(m *wasmopt.Module) bool { return !m.HasDataCount && len(m.Data) == 1 }, false},
		{"name section", mod(sec(0, name("other"), []byte{0, 2, 1, 'm'}), sec(1, vec([]byte{0x60, 1, 0x7f, 0})), sec(3, vec([]byte{0})),
			sec(10, vec(code([][2]uint32{{1, 0x7e}}, 0x0b))),
			sec(0, name("name"), []byte{0, 2, 1, 'm', 1, 4, 1, 0, 1, 'f', 2, 9, 1, 0, 2, 0, 1, 'a', 1, 1, 'b', 9, 2, 'x', 'y'})),
			func(m *wasmopt.Module) bool { return len(m.Custom) == 2 }, true},
		{"custom sections anywhere", mod(sec(0, name("a")), sec(1, vec()), sec(0, name("b")), sec(0, name("")), memory(1), sec(0, name("c"))),
			func(m *wasmopt.Module) bool { return len(m.Custom) == 4 && m.Custom[3].Name == "c" && m.HasCustom("") }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := wasmopt.Parse(tt.wasm)
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(m) {
				t.Errorf("unexpected layout: %+v", m)
			}
			if tt.wazero {
				ctx := context.Background()
				r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
				defer r.Close(ctx)
				if _, err := r.CompileModule(ctx, tt.wasm); err != nil {
					t.Errorf("wazero does not compile it: %v", err)
				}
			}
		})
	}
}

// TestParseInstructions decodes bodies holding instructions of every immediate form and
// checks the number of instructions found.
func TestParseInstructions(t *testing.T) {
	tests := []struct {
		name   string
		instrs []byte // without the final end
		count  int    // instructions, final end not included
	}{
		{"no immediates", []byte{0x00, 0x01, 0x0f, 0x1a, 0x1b, 0x45, 0x6a, 0xa7, 0xbf, 0xc0, 0xc4, 0xd1}, 12},
		{"block types", []byte{0x02, 0x40, 0x0b, 0x02, 0x7f, 0x0b, 0x02, 0x7b, 0x0b, 0x02, 0x70, 0x0b, 0x02, 0x00, 0x0b, 0x02, 0xff, 0x7f, 0x0b, 0x02, 0x80, 0x00, 0x0b}, 14},
		{"branches", []byte{0x0c, 0x00, 0x0d, 0x80, 0x01, 0x0e, 0x02, 0x00, 0x01, 0x02}, 3},
		{"calls", []byte{0x10, 0x00, 0x11, 0x00, 0x00, 0x11, 0x00, 0x85, 0x00}, 3},
		{"select with types", []byte{0x1c, 0x02, 0x7f, 0x7b}, 1},
		{"variables and tables", []byte{0x20, 0, 0x21, 1, 0x22, 2, 0x23, 3, 0x24, 4, 0x25, 5, 0x26, 6}, 7},
		{"memory", []byte{0x28, 2, 0, 0x36, 2, 0x80, 0x80, 0x04, 0x3e, 0, 0, 0x3f, 0, 0x40, 0}, 5},
		{"constants", cat([]byte{0x41, 0x80, 0x7f, 0x42, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x43, 1, 2, 3, 4, 0x44}, make([]byte, 8)), 4},
		{"references", []byte{0xd0, 0x70, 0xd0, 0x6f, 0xd1, 0xd2, 0x00}, 4},
		{"saturating truncation", []byte{0xfc, 0, 0xfc, 7, 0xfc, 0x80, 0x00}, 3},
		{"bulk memory", []byte{0xfc, 8, 1, 0, 0xfc, 9, 1, 0xfc, 10, 0, 0, 0xfc, 11, 0}, 4},
		{"tables", []byte{0xfc, 12, 1, 0, 0xfc, 13, 1, 0xfc, 14, 0, 1, 0xfc, 15, 0, 0xfc, 16, 0, 0xfc, 17, 0}, 6},
		{"SIMD memory", []byte{0xfd, 0x00, 4, 0, 0xfd, 0x0b, 4, 16, 0xfd, 0x5c, 2, 0, 0xfd, 0x5d, 3, 0}, 4},
		{"SIMD lanes", []byte{0xfd, 0x54, 0, 0, 15, 0xfd, 0x5b, 3, 8, 1, 0xfd, 0x15, 15, 0xfd, 0x22, 1}, 4},
		{"SIMD constants", cat([]byte{0xfd, 0x0c}, v128, []byte{0xfd, 0x0d}, v128), 2},
		{"SIMD without immediates", []byte{0xfd, 0x0e, 0xfd, 0x4d, 0xfd, 0x53, 0xfd, 0x62}, 4},
		// wazero reads the opcode after 0xfd as one byte: an opcode from 0x80 on, encoded in
		// two bytes (the second 0x01), is for it an instruction and a nop.
		{"SIMD opcodes from 0x80", []byte{0xfd, 0x80, 0x01, 0xfd, 0xff, 0x01}, 4},
		{"SIMD opcode in a longer encoding", []byte{0xfd, 0x8c, 0x00}, 2}, // i16x8.shr_s, unreachable
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := wasmopt.Parse(body(append(tt.instrs, 0x0b)...))
			if err != nil {
				t.Fatal(err)
			}
			if got := m.Code[0].Instructions; got != tt.count+1 {
				t.Errorf("%d instructions, want %d", got-1, tt.count)
			}
		})
	}
}

// TestParseMalformed checks that malformed modules are refused with an error wrapping
// ErrMalformed that says where and what.
func TestParseMalformed(t *testing.T) {
	tooMany := u32(1<<32 - 1)
	tests := []struct {
		name    string
		wasm    []byte
		mention []string
	}{
		{"empty", nil, []string{"no \\0asm header"}},
		{"not wasm", []byte("\x7fELF\x01\x00\x00\x00"), []string{"no \\0asm header"}},
		{"truncated header", []byte("\x00asm\x01"), []string{"truncated header"}},
		{"version 2", []byte("\x00asm\x02\x00\x00\x00"), []string{"version 02000000"}},
		{"section past the end", cat(mod(), []byte{1, 5, 0}), []string{"offset 8", "type section of 5 bytes runs past the end"}},
		{"section size truncated", cat(mod(), []byte{1, 0x80}), []string{"offset 9", "unexpected end in LEB128"}},
		{"section size overflows", cat(mod(), []byte{1, 0xff, 0xff, 0xff, 0xff, 0x1f}), []string{"LEB128 integer too long or too large"}},
		{"section size of 6 bytes", cat(mod(), []byte{1, 0x80, 0x80, 0x80, 0x80, 0x80, 0}), []string{"too long or too large"}},
		{"unknown section", mod(sec(13)), []string{"unknown section ID 13"}},
		{"sections out of order", mod(memory(1), sec(1, vec())), []string{"type section after the memory section"}},
		{"second section", mod(memory(1), memory(1)), []string{"second memory section"}},
		{"data count after code", mod(sec(10, vec()), dataCount(0)), []string{"data count section after the code section"}},
		{"entry count too large", mod(sec(1, tooMany)), []string{"type section", "4294967295 types cannot fit"}},
		{"bytes after the entries", mod(sec(1, vec(), []byte{0})), []string{"type section", "1 bytes after the last entry"}},
		{"type form", mod(sec(1, vec([]byte{0x5f, 0, 0}))), []string{"type 0", "form 0x5f"}},
		{"value type", mod(sec(1, vec([]byte{0x60, 1, 0x64, 0}))), []string{"type 0", "unknown value type 0x64"}},
		{"import kind", mod(sec(2, vec(cat(name("a"), name("b"), []byte{4, 0})))), []string{"import 0", `"a"."b": unknown kind 0x04`}},
		{"import name not UTF-8", mod(sec(2, vec(cat(name("a"), []byte{1, 0xff}, []byte{3, 0x7f, 0})))), []string{"import 0", "name is not valid UTF-8"}},
		{"import name past the end", mod(sec(2, vec(cat(name("a"), []byte{9, 'b'})))), []string{"name of 9 bytes runs past the end"}},
		{"import type index", mod(sec(2, vec(cat(name("a"), name("b"), []byte{0, 0})))), []string{"type index 0 out of range (0 types)"}},
		{"table limits", mod(sec(4, vec([]byte{0x70, 3, 1, 2}))), []string{"table 0", "limits: unknown flags 0x03"}},
		{"memory limits", mod(sec(5, vec([]byte{4, 1}))), []string{"memory 0", "limits: unknown flags 0x04"}},
		{"memory maximum", mod(sec(5, vec([]byte{1, 1, 0x80}))), []string{"memory 0", "maximum: unexpected end"}},
		{"table element type", mod(sec(4, vec([]byte{0x7f, 0, 1}))), []string{"unknown reference type 0x7f"}},
		{"global mutability", mod(sec(6, vec([]byte{0x7f, 2, 0x41, 0, 0x0b}))), []string{"global 0", "mutability 0x02"}},
		{"global initialiser", mod(sec(6, vec([]byte{0x7f, 0, 0x20, 0, 0x0b}))), []string{"global 0", "opcode 0x20 is not allowed in a constant expression"}},
		{"unterminated initialiser", mod(sec(6, vec([]byte{0x7f, 0, 0x41, 0}))), []string{"initialiser: unexpected end of section"}},
		{"export twice", mod(memory(1), sec(7, vec(cat(name("m"), []byte{2, 0}), cat(name("m"), []byte{2, 0})))), []string{"export 1", `a second export named "m"`}},
		{"export index", mod(sec(7, vec(cat(name("f"), []byte{0, 0})))), []string{`"f": index 0 out of range (0 of kind func)`}},
		{"export kind", mod(sec(7, vec(cat(name("f"), []byte{5, 0})))), []string{`"f": unknown kind 0x05`}},
		{"start index", mod(sec(8, u32(0))), []string{"start function 0 out of range (0 functions)"}},
		{"element flags", mod(sec(9, vec([]byte{8, 0}))), []string{"element segment 0", "unknown flags 8"}},
		{"element kind", mod(sec(9, vec([]byte{1, 1, 0}))), []string{"unknown element kind 0x01"}},
		{"data flags", mod(sec(11, vec([]byte{3, 0}))), []string{"data segment 0", "unknown flags 3"}},
		{"data past the end", mod(sec(11, vec([]byte{0, 0x41, 0, 0x0b, 5, 'a'}))), []string{"data segment 0", "5 bytes run past the end"}},
		{"data offset too long", mod(sec(11, vec([]byte{0, 0x41, 0xff, 0xff, 0xff, 0xff, 0x4f, 0x0b, 0}))), []string{"offset: LEB128 integer too long or too large"}},
		{"data count mismatch", mod(memory(1), dataCount(3), data(active(0, "a"))), []string{"data count 3, but the data section has 1 segments"}},
		{"functions without code", mod(sec(1, vec([]byte{0x60, 0, 0})), sec(3, vec([]byte{0}))), []string{"declares 1 functions, the code section has 0 bodies"}},
		{"code without functions", mod(sec(10, vec(code(nil, 0x0b)))), []string{"1 function bodies, but the function section declares 0"}},
		{"function type index", mod(sec(1, vec()), sec(3, vec([]byte{0}))), []string{"function 0", "type index 0 out of range"}},
		{"custom section name past the end", mod(sec(0, []byte{9, 'a'})), []string{"custom section name of 9 bytes runs past the end"}},

		{"name map larger than its subsection", mod(sec(0, name("name"), []byte{1, 5}, u32(1<<32-1))), []string{`custom section: name subsection 1: 4294967295 function names cannot fit`}},
		{"names of functions that do not exist", mod(sec(0, name("name"), []byte{1, 3, 1, 0, 0})), []string{"1 function names, more than the 0 there are"}},
		{"local names of a function that does not exist", cat(body(0x0b), sec(0, name("name"), []byte{2, 4, 1, 5, 0, 0})), []string{"local names of function 5, out of range (1 functions)"}},
		{"names of locals that do not exist", cat(body(0x0b), sec(0, name("name"), []byte{2, 6, 1, 0, 1, 0, 1, 'x'})), []string{"1 local names, more than the 0 there are"}},
		{"name subsection past the end", mod(sec(0, name("name"), []byte{0, 9, 1})), []string{"name subsection 0 of 9 bytes runs past the end"}},
		{"name subsection longer than its entries", mod(sec(0, name("name"), []byte{0, 3, 1, 'm', 0})), []string{"1 bytes after the last entry of name subsection 0"}},

		// Function bodies.
		{"unknown opcode", body(0x01, 0xc5, 0x0b), []string{"offset 24", "code section: function 0: unknown opcode 0xc5"}},
		{"exported function", mod(sec(1, vec([]byte{0x60, 0, 0})), sec(3, vec([]byte{0})), sec(7, vec(cat(name("run"), []byte{0, 0}))), sec(10, vec(code(nil, 0xc6, 0x0b)))),
			[]string{`code section: function 0 (export "run"): unknown opcode 0xc6`}},
		{"opcode of a proposal", body(0x1f, 0x40, 0x00, 0x0b, 0x0b), []string{"function 0", "try_table (exception handling) is not part of WebAssembly 2.0"}},
		{"atomics", body(0xfe, 0x03, 0x00, 0x0b), []string{"unknown opcode 0xfe: prefix of threads"}},
		{"unknown 0xfc opcode", body(0xfc, 18, 0x0b), []string{"unknown opcode 0xfc 18"}},
		{"unknown 0xfd opcode", body(0xfd, 0x9a, 0x01, 0x0b), []string{"unknown opcode 0xfd 0x9a"}},
		{"0xfd opcode cut short", body(0xfd), []string{"opcode after prefix 0xfd: unexpected end of body"}},
		{"end before the end of the body", body(0x0b, 0x01, 0x0b), []string{"offset 23", "final end comes 2 bytes before the end of its declared size"}},
		{"unbalanced block", body(0x02, 0x40, 0x02, 0x40, 0x0b), []string{"the body ends inside 1 open blocks"}},
		{"no final end", body(0x01), []string{"the body ends without its final end"}},
		{"else outside an if", body(0x02, 0x40, 0x05, 0x0b, 0x0b), []string{"else outside an if"}},
		{"second else", body(0x41, 0, 0x04, 0x40, 0x05, 0x05, 0x0b, 0x0b), []string{"else outside an if"}},
		{"body size past the section", mod(sec(1, vec([]byte{0x60, 0, 0})), sec(3, vec([]byte{0})), sec(10, vec([]byte{9, 0, 0x0b}))),
			[]string{"function 0", "a body of 9 bytes runs past the end of the section"}},
		{"empty body", mod(sec(1, vec([]byte{0x60, 0, 0})), sec(3, vec([]byte{0})), sec(10, vec([]byte{0}))), []string{"1 function bodies cannot fit"}},
		{"locals cut short", mod(sec(1, vec([]byte{0x60, 0, 0})), sec(3, vec([]byte{0})), sec(10, vec([]byte{1, 0x80}))), []string{"function 0", "number of local declarations: unexpected end"}},
		{"immediate too long", body(0x41, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00, 0x0b), []string{"i32.const: LEB128 integer too long or too large"}},
		{"i64 immediate too large", body(0x42, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x0b), []string{"i64.const: LEB128"}},
		{"index immediate cut short", body(0x20), []string{"immediate of opcode 0x20: unexpected end"}},
		{"f64 cut short", body(0x44, 0, 0, 0x0b), []string{"immediate of opcode 0x44: unexpected end of body"}},
		{"v128 cut short", body(0xfd, 0x0c, 0, 0x0b), []string{"unexpected end of body"}},
		{"too many locals", mod(sec(1, vec([]byte{0x60, 0, 0})), sec(3, vec([]byte{0})), sec(10, vec(code([][2]uint32{{1<<32 - 1, 0x7f}, {1, 0x7f}}, 0x0b)))),
			[]string{"more than 2^32-1 locals"}},
		{"local type", mod(sec(1, vec([]byte{0x60, 0, 0})), sec(3, vec([]byte{0})), sec(10, vec(code([][2]uint32{{1, 0x40}}, 0x0b)))), []string{"local type: unknown value type 0x40"}},
		{"block type index", body(0x02, 0x05, 0x0b, 0x0b), []string{"block type index 5 out of range (1 types)"}},
		{"negative block type", body(0x02, 0x60, 0x0b, 0x0b), []string{"unknown block type -32"}},
		{"block type too negative", body(0x02, 0xbf, 0x7f, 0x0b, 0x0b), []string{"unknown block type -65"}},
		{"br_table too long", body(0x0e, 0xff, 0xff, 0x03, 0x0b), []string{"br_table: 65535 labels cannot fit"}},
		{"memory index not zero", body(0x3f, 0x01, 0x1a, 0x0b), []string{"opcode 0x3f: reserved byte is not 0x00"}},
		{"memory.copy index", body(0xfc, 10, 0, 1, 0x0b), []string{"reserved byte is not 0x00"}},
		{"select type", body(0x1c, 1, 0x40, 0x0b), []string{"select: unknown value type 0x40"}},
		{"ref.null type", body(0xd0, 0x7f, 0x0b), []string{"ref.null: not a reference type"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := wasmopt.Parse(tt.wasm)
			if !errors.Is(err, wasmopt.ErrMalformed) {
				t.Fatalf("Parse = %v, %v; want ErrMalformed", m, err)
			}
			for _, s := range tt.mention {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
		})
	}
}
