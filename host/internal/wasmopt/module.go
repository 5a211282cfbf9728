package wasmopt

import (
	"fmt"
	"slices"
	"strings"
)

// SectionID identifies a section of the binary format (specification §5.5.2).
type SectionID byte

// The sections of a WebAssembly 2.0 module.
const (
	SectionCustom SectionID = iota
	SectionType
	SectionImport
	SectionFunction
	SectionTable
	SectionMemory
	SectionGlobal
	SectionExport
	SectionStart
	SectionElement
	SectionCode
	SectionData
	SectionDataCount
)

var sectionNames = [...]string{"custom", "type", "import", "function", "table", "memory", "global",
	"export", "start", "element", "code", "data", "data count"}

// String returns the section's name as the specification writes it ("data count").
func (id SectionID) String() string {
	if int(id) < len(sectionNames) {
		return sectionNames[id]
	}
	return fmt.Sprintf("unknown section %d", byte(id))
}

// ValueType is a value type, encoded as in the binary format (the same bytes as wazero's
// api.ValueType).
type ValueType byte

// The value types of WebAssembly 2.0.
const (
	ValueI32       ValueType = 0x7f
	ValueI64       ValueType = 0x7e
	ValueF32       ValueType = 0x7d
	ValueF64       ValueType = 0x7c
	ValueV128      ValueType = 0x7b
	ValueFuncref   ValueType = 0x70
	ValueExternref ValueType = 0x6f
)

// String returns the type's name in the text format ("i32").
func (v ValueType) String() string {
	switch v {
	case ValueI32:
		return "i32"
	case ValueI64:
		return "i64"
	case ValueF32:
		return "f32"
	case ValueF64:
		return "f64"
	case ValueV128:
		return "v128"
	case ValueFuncref:
		return "funcref"
	case ValueExternref:
		return "externref"
	}
	return fmt.Sprintf("0x%02x", byte(v))
}

// number reports whether v is one of the number types i32, i64, f32, f64.
func (v ValueType) number() bool { return v >= ValueF64 && v <= ValueI32 }

// valueType reports whether b encodes a value type.
func valueType(b byte) bool {
	return (b >= byte(ValueV128) && b <= byte(ValueI32)) || b == byte(ValueFuncref) || b == byte(ValueExternref)
}

// refType reports whether b encodes a reference type.
func refType(b byte) bool { return b == byte(ValueFuncref) || b == byte(ValueExternref) }

// FuncType is a function signature. Its slices belong to the Module: callers must not change
// them.
type FuncType struct {
	Params, Results []ValueType
}

// String writes the signature as "(i32, i64) -> (i32)".
func (t FuncType) String() string {
	list := func(vs []ValueType) string {
		s := make([]string, len(vs))
		for i, v := range vs {
			s[i] = v.String()
		}
		return "(" + strings.Join(s, ", ") + ")"
	}
	return list(t.Params) + " -> " + list(t.Results)
}

// ExternKind is the kind of an import or export.
type ExternKind byte

// The kinds of imports and exports.
const (
	KindFunc   ExternKind = 0
	KindTable  ExternKind = 1
	KindMemory ExternKind = 2
	KindGlobal ExternKind = 3
)

// String returns the kind's name in the text format ("func").
func (k ExternKind) String() string {
	switch k {
	case KindFunc:
		return "func"
	case KindTable:
		return "table"
	case KindMemory:
		return "memory"
	case KindGlobal:
		return "global"
	}
	return fmt.Sprintf("kind %d", byte(k))
}

// Memory is a memory type: its limits in 64 KiB pages.
type Memory struct {
	Min, Max uint32
	// HasMax is false when the memory has no maximum (Max is then 0).
	HasMax bool
	// Shared is true for a shared memory (threads proposal; wazero compiles it only with
	// threads enabled).
	Shared bool
}

// Table is a table type: the reference type of its elements and its limits in elements.
type Table struct {
	Type     ValueType
	Min, Max uint32
	// HasMax is false when the table has no maximum (Max is then 0).
	HasMax bool
}

// GlobalType is the type of a global.
type GlobalType struct {
	Type    ValueType
	Mutable bool
}

// Import is an entry of the import section. Which of Type, Table, Memory and Global holds
// its type depends on Kind.
type Import struct {
	Module, Name string
	Kind         ExternKind
	// Type is an imported function's type index.
	Type   uint32
	Table  Table
	Memory Memory
	Global GlobalType
}

// Global is a global the module defines.
type Global struct {
	GlobalType
	// Init and InitEnd delimit its initialiser, a constant expression with its end opcode,
	// as offsets into the module.
	Init, InitEnd int
}

// Export is an entry of the export section: Index is in the index space of its Kind
// (imports first).
type Export struct {
	Name  string
	Kind  ExternKind
	Index uint32
}

// Section is where a section lies in the module: Start is the offset of its ID byte, Body of
// its contents (after the size), End just past it.
type Section struct {
	ID               SectionID
	Start, Body, End int
}

// CustomSection is a custom section's name and where its contents (after the name) lie.
type CustomSection struct {
	Name string
	// Section is the section's position in Module.Sections.
	Section   int
	Body, End int
}

// Code is a defined function's body as the decoder found it.
type Code struct {
	// Offset is where the body starts (after its size), Expr where its instructions start
	// (after the locals), End just past its final end opcode.
	Offset, Expr, End int
	// Size is the body's declared size in bytes (End - Offset).
	Size int
	// Locals is the number of locals the body declares (parameters not included).
	Locals uint64
	// Depth is the deepest nesting of blocks (block, loop, if) in the body: 0 for a body
	// without blocks.
	Depth int
	// LoopDepth is the deepest nesting of loops in the body.
	LoopDepth int
	// Instructions is the number of instructions in the body, its final end included, as
	// wazero decodes them: a SIMD instruction whose opcode is 0x80 or more counts twice
	// (wazero reads the second byte of its opcode, 0x01, as a nop).
	Instructions int
}

// LoopCost returns Locals² × LoopDepth: the term of wazero's compile time that grows fastest
// with a body's locals, since every local read inside nested loops costs work at each of
// them (see Limits.MaxLoopCost). It is 0 for a body without loops.
func (c Code) LoopCost() uint64 {
	if c.Locals > 1<<32-1 {
		return 1<<64 - 1
	}
	l := c.Locals * c.Locals
	if d := uint64(c.LoopDepth); d != 0 && l > (1<<64-1)/d {
		return 1<<64 - 1
	}
	return l * uint64(c.LoopDepth)
}

// DataSegment is a data segment. Init is a sub-slice of the module's bytes.
type DataSegment struct {
	// Active is false for a passive segment.
	Active bool
	// Memory is the index of the memory an active segment initialises.
	Memory uint32
	// Constant is true when an active segment's offset is a single i32.const; Offset is then
	// its value, as an unsigned address.
	Constant bool
	Offset   uint32
	// OffsetExpr and OffsetEnd delimit an active segment's offset expression, end opcode
	// included, as offsets into the module.
	OffsetExpr, OffsetEnd int
	// Init is the segment's bytes (a sub-slice of the module: callers must not change it).
	Init []byte
	at   int // offset of Init in the module
}

// end is the address just past a constant segment.
func (s DataSegment) end() uint64 { return uint64(s.Offset) + uint64(len(s.Init)) }

// mergeable reports whether the segment can be folded into a memory image: active, memory 0,
// constant offset.
func (s DataSegment) mergeable() bool { return s.Active && s.Memory == 0 && s.Constant }

// Module is the layout of a WebAssembly module as Parse reads it in one pass: every section,
// and in each what the host's checks and transformations read. Its fields are read only;
// slices of bytes are sub-slices of the module, which must not change while the Module is
// in use.
type Module struct {
	wasm []byte

	// Sections are the module's sections in order, custom sections included.
	Sections []Section
	// Types are the function types of the type section.
	Types []FuncType
	// Imports are the entries of the import section, in order.
	Imports []Import
	// Functions are the type indices of the functions the module defines (the function
	// section), in order: function index len(imported functions)+i has type Functions[i].
	Functions []uint32
	// Tables and Memories are those the module defines (imported ones are in Imports).
	Tables   []Table
	Memories []Memory
	// Globals are the globals the module defines.
	Globals []Global
	// Exports are the entries of the export section, in order.
	Exports []Export
	// Start is the start function's index when HasStart.
	Start    uint32
	HasStart bool
	// ElementSegments is the number of element segments, Elements the number of their
	// entries.
	ElementSegments, Elements int
	// DataCount is the data count section's value when HasDataCount.
	DataCount    uint32
	HasDataCount bool
	// Code holds the bodies of the functions the module defines, in order.
	Code []Code
	// CodeSize is the size of the code section's contents (0 without one).
	CodeSize int
	// DataIndexed is true when some body uses memory.init or data.drop, the instructions
	// that name data segments by index.
	DataIndexed bool
	// Data are the data segments.
	Data []DataSegment
	// Custom are the custom sections, in order.
	Custom []CustomSection

	// Numbers of imports of each kind: the index spaces start with them.
	importedFuncs, importedTables, importedMemories, importedGlobals int
	// Positions in Sections of sections the transformations rewrite (-1: absent).
	exportSec, dataSec, dataCountSec int
}

// moved returns the layout of out, which is m's bytes with those before from unchanged and
// those from from on moved by delta (one section in between was rewritten; the caller fixes
// its entry in Sections and what it holds).
func (m *Module) moved(out []byte, from, delta int) *Module {
	n := *m
	n.wasm = out
	mv := func(off int) int {
		if off >= from {
			return off + delta
		}
		return off
	}
	n.Sections = slices.Clone(m.Sections)
	for i := range n.Sections {
		s := &n.Sections[i]
		s.Start, s.Body, s.End = mv(s.Start), mv(s.Body), mv(s.End)
	}
	n.Custom = slices.Clone(m.Custom)
	for i := range n.Custom {
		c := &n.Custom[i]
		c.Body, c.End = mv(c.Body), mv(c.End)
	}
	n.Globals = slices.Clone(m.Globals)
	for i := range n.Globals {
		g := &n.Globals[i]
		g.Init, g.InitEnd = mv(g.Init), mv(g.InitEnd)
	}
	n.Code = slices.Clone(m.Code)
	for i := range n.Code {
		c := &n.Code[i]
		c.Offset, c.Expr, c.End = mv(c.Offset), mv(c.Expr), mv(c.End)
	}
	n.Data = slices.Clone(m.Data)
	for i := range n.Data {
		s := &n.Data[i]
		if s.Active {
			s.OffsetExpr, s.OffsetEnd = mv(s.OffsetExpr), mv(s.OffsetEnd)
		}
		s.at = mv(s.at)
		s.Init = out[s.at : s.at+len(s.Init) : s.at+len(s.Init)]
	}
	return &n
}

// Bytes returns the module's bytes (those given to Parse).
func (m *Module) Bytes() []byte { return m.wasm }

// FuncImport is an imported function with its signature.
type FuncImport struct {
	Module, Name string
	// Index is the function's index (imports come first in the function index space).
	Index uint32
	Type  FuncType
}

// FuncExport is an exported function with its signature.
type FuncExport struct {
	Name  string
	Index uint32
	Type  FuncType
}

// MemoryImport is an imported memory.
type MemoryImport struct {
	Module, Name string
	Memory       Memory
}

// MemoryExport is an exported memory.
type MemoryExport struct {
	Name   string
	Index  uint32
	Memory Memory
}

// NumFuncs returns the number of functions, imported and defined.
func (m *Module) NumFuncs() int { return m.importedFuncs + len(m.Functions) }

// FuncTypeOf returns the signature of the function with index idx (imports first), and false
// when there is no such function.
func (m *Module) FuncTypeOf(idx uint32) (FuncType, bool) {
	if uint64(idx) >= uint64(m.NumFuncs()) {
		return FuncType{}, false
	}
	if int(idx) >= m.importedFuncs {
		return m.Types[m.Functions[int(idx)-m.importedFuncs]], true
	}
	n := 0
	for _, im := range m.Imports {
		if im.Kind == KindFunc {
			if n == int(idx) {
				return m.Types[im.Type], true
			}
			n++
		}
	}
	panic("unreachable: imported function count out of step with imports")
}

// memoryOf returns the type of the memory with index idx (imports first).
func (m *Module) memoryOf(idx uint32) Memory {
	if int(idx) >= m.importedMemories {
		return m.Memories[int(idx)-m.importedMemories]
	}
	n := 0
	for _, im := range m.Imports {
		if im.Kind == KindMemory {
			if n == int(idx) {
				return im.Memory
			}
			n++
		}
	}
	panic("unreachable: imported memory count out of step with imports")
}

// ImportedFuncs returns the imported functions with their signatures, in order.
func (m *Module) ImportedFuncs() []FuncImport {
	out := make([]FuncImport, 0, m.importedFuncs)
	for _, im := range m.Imports {
		if im.Kind == KindFunc {
			out = append(out, FuncImport{Module: im.Module, Name: im.Name, Index: uint32(len(out)), Type: m.Types[im.Type]})
		}
	}
	return out
}

// ExportedFuncs returns the exported functions with their signatures, in export order.
func (m *Module) ExportedFuncs() []FuncExport {
	var out []FuncExport
	for _, e := range m.Exports {
		if e.Kind == KindFunc {
			t, _ := m.FuncTypeOf(e.Index)
			out = append(out, FuncExport{Name: e.Name, Index: e.Index, Type: t})
		}
	}
	return out
}

// ImportedMemories returns the imported memories, in order.
func (m *Module) ImportedMemories() []MemoryImport {
	var out []MemoryImport
	for _, im := range m.Imports {
		if im.Kind == KindMemory {
			out = append(out, MemoryImport{Module: im.Module, Name: im.Name, Memory: im.Memory})
		}
	}
	return out
}

// ExportedMemories returns the exported memories, in export order.
func (m *Module) ExportedMemories() []MemoryExport {
	var out []MemoryExport
	for _, e := range m.Exports {
		if e.Kind == KindMemory {
			out = append(out, MemoryExport{Name: e.Name, Index: e.Index, Memory: m.memoryOf(e.Index)})
		}
	}
	return out
}

// ImportsGlobal reports whether the module imports a global.
func (m *Module) ImportsGlobal() bool { return m.importedGlobals > 0 }

// ImportsMemory reports whether the module imports a memory.
func (m *Module) ImportsMemory() bool { return m.importedMemories > 0 }

// HasCustom reports whether the module has a custom section of that name.
func (m *Module) HasCustom(name string) bool {
	for _, c := range m.Custom {
		if c.Name == name {
			return true
		}
	}
	return false
}

// funcName describes function idx (in the function index space) for an error: its index,
// and the name it is exported under if any.
func (m *Module) funcName(idx int) string {
	for _, e := range m.Exports {
		if e.Kind == KindFunc && int(e.Index) == idx {
			return fmt.Sprintf("function %d (export %q)", idx, e.Name)
		}
	}
	return fmt.Sprintf("function %d", idx)
}
