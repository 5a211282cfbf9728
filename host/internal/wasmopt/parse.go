package wasmopt

import (
	"bytes"
	"fmt"
	"unicode/utf8"
)

var header = []byte{0x00, 'a', 's', 'm', 0x01, 0x00, 0x00, 0x00}

// Parse reads a WebAssembly 2.0 module in one pass into its layout: every section, the
// entries of those the host reads, and every function body decoded instruction by instruction
// (see Code), without compiling anything. The Module refers to wasm, which must not change
// while the Module is in use.
//
// Parse checks what the binary format requires and what its accessors rely on: the header,
// section order and sizes, LEB128 integers, UTF-8 names, that every vector's declared length
// fits in the bytes that must hold it, the type, function and export indices it follows, and
// that every body ends with end at its declared size with its blocks balanced and holds only
// opcodes that wazero compiles with its default features (WebAssembly 2.0: sign extension,
// non-trapping float-to-int, multi-value, bulk memory, reference types, SIMD), read as wazero
// reads them (the opcode after the SIMD prefix 0xfd is one byte for wazero, not the u32 of
// the binary format: see Code.Instructions). It also reads
// the "name" custom section, which wazero decodes with every module, and refuses one that is
// not well formed or names functions or locals that do not exist (the specification lets a
// runtime ignore such a section; wazero allocates its maps by their declared sizes). Typing
// is left to the compiler. Errors wrap ErrMalformed and say where (offset, section, entry or
// function) and what.
func Parse(wasm []byte) (*Module, error) { return parse(wasm, nil) }

// parse is Parse, refusing vectors longer than lim's limits as it reads their lengths when lim
// is not nil.
func parse(wasm []byte, lim *Limits) (m *Module, err error) {
	p := &parser{b: wasm, end: len(wasm), fn: -1, index: -1, lim: lim, m: &Module{wasm: wasm, exportSec: -1, dataSec: -1, dataCountSec: -1}}
	defer func() {
		if r := recover(); r != nil {
			e, ok := r.(parseError)
			if !ok {
				panic(r)
			}
			m, err = nil, e.err
		}
	}()
	p.module()
	return p.m, nil
}

// parseError carries a parser's error up to Parse (the parser panics with it).
type parseError struct{ err error }

// parser reads a module; p is the offset it is at, end the end of the section it reads.
type parser struct {
	b      []byte
	p, end int
	m      *Module
	sec    SectionID
	inSec  bool
	// item and index name the entry being read ("data segment", 3), for errors; index -1
	// when there is none.
	item  string
	index int
	fn    int // index of the function whose body is being read, -1 outside bodies
	// open is the stack of open blocks of the body being read, kept for the next body.
	open []byte
	// lim, when not nil, bounds vectors as their lengths are read (ParseChecked).
	lim *Limits
}

// limit stops the parse when n things are more than max, if the parse is limited (max is
// then a field of p.lim).
func (p *parser) limit(n int, max func(*Limits) int, what string) {
	if p.lim != nil {
		if err := overCount(n, max(p.lim), what); err != nil {
			panic(parseError{err})
		}
	}
}

// at sets the entry being read, for errors.
func (p *parser) at(item string, index int) { p.item, p.index = item, index }

// fail stops the parse with an error about the byte at off.
func (p *parser) fail(off int, format string, args ...any) {
	where := ""
	if p.inSec {
		where = p.sec.String() + " section: "
	}
	if p.fn >= 0 {
		where += p.m.funcName(p.fn) + ": "
	} else if p.item != "" && p.index >= 0 {
		where += fmt.Sprintf("%s %d: ", p.item, p.index)
	} else if p.item != "" {
		where += p.item + ": "
	}
	panic(parseError{malformed(off, "%s%s", where, fmt.Sprintf(format, args...))})
}

// u32 reads an unsigned LEB128 u32; what names it in an error.
func (p *parser) u32(what string) uint32 {
	v, q, err := readU32(p.b[:p.end], p.p)
	if err != nil {
		p.fail(p.p, "%s: %v", what, err)
	}
	p.p = q
	return v
}

// byte1 reads one byte.
func (p *parser) byte1(what string) byte {
	if p.p >= p.end {
		p.fail(p.p, "%s: unexpected end of section", what)
	}
	p.p++
	return p.b[p.p-1]
}

// count reads the length of a vector of what (a plural noun), checking that that many entries of at least
// min bytes each can fit in what is left of the section (so that nothing is allocated for
// entries that are not there).
func (p *parser) count(what string, min int) int {
	at := p.p
	n, q, err := readU32(p.b[:p.end], p.p)
	if err != nil {
		p.fail(at, "number of %s: %v", what, err)
	}
	p.p = q
	if uint64(n)*uint64(min) > uint64(p.end-p.p) {
		p.fail(at, "%d %s cannot fit in the %d bytes left", n, what, p.end-p.p)
	}
	return int(n)
}

// name reads a name: a length and as many bytes of UTF-8.
func (p *parser) name(what string) string { return string(p.nameBytes(what)) }

// nameBytes reads a name and returns its bytes (a sub-slice of the module).
func (p *parser) nameBytes(what string) []byte {
	at := p.p
	n, q, err := readU32(p.b[:p.end], p.p)
	if err != nil {
		p.fail(at, "length of the %s: %v", what, err)
	}
	p.p = q
	if uint64(n) > uint64(p.end-p.p) {
		p.fail(at, "%s of %d bytes runs past the end of the section", what, n)
	}
	s := p.b[p.p : p.p+int(n)]
	if !utf8.Valid(s) {
		p.fail(p.p, "%s is not valid UTF-8", what)
	}
	p.p += int(n)
	return s
}

// valType reads a value type.
func (p *parser) valType(what string) ValueType {
	at := p.p
	b := p.byte1(what)
	if !valueType(b) {
		p.fail(at, "%s: unknown value type 0x%02x", what, b)
	}
	return ValueType(b)
}

// refType reads a reference type.
func (p *parser) refType(what string) ValueType {
	at := p.p
	b := p.byte1(what)
	if !refType(b) {
		p.fail(at, "%s: unknown reference type 0x%02x", what, b)
	}
	return ValueType(b)
}

// limits reads limits: flags, minimum, maximum if flagged. Shared limits are allowed only
// for memories.
func (p *parser) limits(memory bool) (min, max uint32, hasMax, shared bool) {
	at := p.p
	flags := p.byte1("limits")
	if flags > 3 || (!memory && flags > 1) {
		p.fail(at, "limits: unknown flags 0x%02x", flags)
	}
	min = p.u32("minimum")
	if flags&1 != 0 {
		max = p.u32("maximum")
	}
	return min, max, flags&1 != 0, flags&2 != 0
}

func (p *parser) memory() Memory {
	var m Memory
	m.Min, m.Max, m.HasMax, m.Shared = p.limits(true)
	return m
}

func (p *parser) table() Table {
	t := Table{Type: p.refType("element type")}
	t.Min, t.Max, t.HasMax, _ = p.limits(false)
	return t
}

func (p *parser) globalType() GlobalType {
	g := GlobalType{Type: p.valType("global type")}
	at := p.p
	switch mut := p.byte1("mutability"); mut {
	case 0:
	case 1:
		g.Mutable = true
	default:
		p.fail(at, "mutability 0x%02x is neither 0 nor 1", mut)
	}
	return g
}

// typeIndex reads a type index and checks that the type exists.
func (p *parser) typeIndex() uint32 {
	at := p.p
	t := p.u32("type index")
	if int64(t) >= int64(len(p.m.Types)) {
		p.fail(at, "type index %d out of range (%d types)", t, len(p.m.Types))
	}
	return t
}

// constExpr reads a constant expression up to and including its end opcode. i32 is its value
// when it is a single i32.const (ok).
func (p *parser) constExpr(what string) (i32 int32, ok bool) {
	start := p.p
	n := 0
	for {
		at := p.p
		op := p.byte1(what)
		n++
		var err error
		switch op {
		case 0x0b: // end
			return i32, ok && n == 2
		case 0x41: // i32.const
			i32, p.p, err = readS32(p.b[:p.end], p.p)
			ok = n == 1
		case 0x42: // i64.const
			_, p.p, err = readS64(p.b[:p.end], p.p)
		case 0x43, 0x44: // f32.const, f64.const
			size := 4 << (op - 0x43)
			if p.end-p.p < size {
				p.fail(at, "%s: constant cut short", what)
			}
			p.p += size
		case 0x23, 0xd2: // global.get, ref.func
			p.u32(what)
		case 0xd0: // ref.null
			p.refType(what)
		case 0xfd: // v128.const
			if sub := p.byte1(what); sub != 0x0c { // one byte, as wazero reads it
				p.fail(at, "%s: opcode 0xfd 0x%02x is not allowed in a constant expression", what, sub)
			}
			if p.end-p.p < 16 {
				p.fail(at, "%s: v128 constant cut short", what)
			}
			p.p += 16
		case 0x6a, 0x6b, 0x6c, 0x7c, 0x7d, 0x7e: // extended constant arithmetic
		default:
			p.fail(at, "%s: opcode 0x%02x is not allowed in a constant expression (it starts at %d)", what, op, start)
		}
		if err != nil {
			p.fail(at+1, "%s: %v", what, err)
		}
	}
}

// order ranks sections in the order the binary format requires (data count between element
// and code); custom sections may go anywhere.
func order(id SectionID) int {
	if id == SectionDataCount {
		return 2*int(SectionElement) + 1
	}
	return 2 * int(id)
}

// module reads the whole module.
func (p *parser) module() {
	b, m := p.b, p.m
	if len(b) < 4 || !bytes.Equal(b[:4], header[:4]) {
		panic(parseError{fmt.Errorf("%w: not a WebAssembly binary (no \\0asm header)", ErrMalformed)})
	}
	if len(b) < len(header) {
		panic(parseError{fmt.Errorf("%w: truncated header", ErrMalformed)})
	}
	if !bytes.Equal(b[4:8], header[4:]) {
		panic(parseError{fmt.Errorf("%w: binary format version %x, only version 1 is supported", ErrMalformed, b[4:8])})
	}
	var last SectionID
	for p.p = len(header); p.p < len(b); {
		start := p.p
		id := SectionID(b[p.p])
		if id > SectionDataCount {
			p.fail(start, "unknown section ID %d", id)
		}
		p.p++
		size := p.u32("size of the " + id.String() + " section")
		body := p.p
		end := body + int(size)
		if uint64(body)+uint64(size) > uint64(len(b)) {
			p.fail(start, "%s section of %d bytes runs past the end of the module", id, size)
		}
		if id != SectionCustom {
			if last != SectionCustom && order(id) <= order(last) {
				if id == last {
					p.fail(start, "second %s section", id)
				}
				p.fail(start, "%s section after the %s section", id, last)
			}
			last = id
		}
		idx := len(m.Sections)
		m.Sections = append(m.Sections, Section{ID: id, Start: start, Body: body, End: end})
		p.sec, p.inSec, p.end = id, true, end
		switch id {
		case SectionCustom:
			p.limit(len(m.Custom)+1, func(l *Limits) int { return l.MaxCustomSections }, "custom sections")
			name := p.name("custom section name")
			m.Custom = append(m.Custom, CustomSection{Name: name, Section: idx, Body: p.p, End: end})
			p.p = end
		case SectionType:
			p.types()
		case SectionImport:
			p.imports()
		case SectionFunction:
			n := p.count("functions", 1)
			p.limit(m.importedFuncs+n, func(l *Limits) int { return l.MaxFunctions }, "functions")
			m.Functions = make([]uint32, n)
			for i := range m.Functions {
				p.at("function", m.importedFuncs+i)
				m.Functions[i] = p.typeIndex()
			}
		case SectionTable:
			n := p.count("tables", 3)
			p.limit(m.importedTables+n, func(l *Limits) int { return l.MaxTables }, "tables")
			m.Tables = make([]Table, n)
			for i := range m.Tables {
				p.at("table", m.importedTables+i)
				m.Tables[i] = p.table()
			}
		case SectionMemory:
			m.Memories = make([]Memory, p.count("memories", 2))
			for i := range m.Memories {
				p.at("memory", m.importedMemories+i)
				m.Memories[i] = p.memory()
			}
		case SectionGlobal:
			n := p.count("globals", 3)
			p.limit(m.importedGlobals+n, func(l *Limits) int { return l.MaxGlobals }, "globals")
			m.Globals = make([]Global, n)
			for i := range m.Globals {
				p.at("global", m.importedGlobals+i)
				g := &m.Globals[i]
				g.GlobalType = p.globalType()
				g.Init = p.p
				p.constExpr("initialiser")
				g.InitEnd = p.p
			}
		case SectionExport:
			m.exportSec = idx
			p.exports()
		case SectionStart:
			at := p.p
			m.Start, m.HasStart = p.u32("start function index"), true
			if int64(m.Start) >= int64(m.NumFuncs()) {
				p.fail(at, "start function %d out of range (%d functions)", m.Start, m.NumFuncs())
			}
		case SectionElement:
			p.elements()
		case SectionDataCount:
			m.dataCountSec = idx
			m.DataCount, m.HasDataCount = p.u32("data count"), true
		case SectionCode:
			m.CodeSize = end - body
			p.code()
		case SectionData:
			m.dataSec = idx
			p.data()
		}
		p.at("", -1)
		if p.p != end {
			p.fail(p.p, "%d bytes after the last entry", end-p.p)
		}
		p.inSec, p.end = false, len(b)
	}
	if len(m.Functions) != len(m.Code) {
		p.fail(len(b), "the function section declares %d functions, the code section has %d bodies", len(m.Functions), len(m.Code))
	}
	for _, c := range m.Custom {
		if c.Name == "name" {
			p.sec, p.inSec = SectionCustom, true
			p.names(c.Body, c.End)
			p.inSec = false
		}
	}
	if m.HasDataCount && int64(m.DataCount) != int64(len(m.Data)) {
		p.fail(m.Sections[m.dataCountSec].Body, "data count %d, but the data section has %d segments", m.DataCount, len(m.Data))
	}
}

func (p *parser) types() {
	m := p.m
	n := p.count("types", 3)
	p.limit(n, func(l *Limits) int { return l.MaxTypes }, "types")
	m.Types = make([]FuncType, n)
	for i := range m.Types {
		p.at("type", i)
		at := p.p
		if form := p.byte1("form"); form != 0x60 {
			p.fail(at, "form 0x%02x, only function types (0x60) are supported", form)
		}
		for _, list := range []*[]ValueType{&m.Types[i].Params, &m.Types[i].Results} {
			k := p.count("value types", 1)
			if k == 0 {
				continue
			}
			vs := make([]ValueType, k)
			for j := range vs {
				vs[j] = p.valType("value type")
			}
			*list = vs
		}
	}
}

func (p *parser) imports() {
	m := p.m
	n := p.count("imports", 4)
	p.limit(n, func(l *Limits) int { return l.MaxImports }, "imports")
	m.Imports = make([]Import, n)
	for i := range m.Imports {
		p.at("import", i)
		im := &m.Imports[i]
		im.Module = p.name("module name")
		im.Name = p.name("name")
		at := p.p
		im.Kind = ExternKind(p.byte1("kind"))
		switch im.Kind {
		case KindFunc:
			im.Type = p.typeIndex()
			m.importedFuncs++
		case KindTable:
			im.Table = p.table()
			m.importedTables++
		case KindMemory:
			im.Memory = p.memory()
			m.importedMemories++
		case KindGlobal:
			im.Global = p.globalType()
			m.importedGlobals++
		default:
			p.fail(at, "%q.%q: unknown kind 0x%02x", im.Module, im.Name, byte(im.Kind))
		}
	}
}

func (p *parser) exports() {
	m := p.m
	n := p.count("exports", 3)
	p.limit(n, func(l *Limits) int { return l.MaxExports }, "exports")
	m.Exports = make([]Export, n)
	seen := make(map[string]bool, len(m.Exports))
	for i := range m.Exports {
		p.at("export", i)
		e := &m.Exports[i]
		at := p.p
		e.Name = p.name("name")
		if seen[e.Name] {
			p.fail(at, "a second export named %q", e.Name)
		}
		seen[e.Name] = true
		kat := p.p
		e.Kind = ExternKind(p.byte1("kind"))
		iat := p.p
		e.Index = p.u32("index")
		var space int
		switch e.Kind {
		case KindFunc:
			space = m.NumFuncs()
		case KindTable:
			space = m.importedTables + len(m.Tables)
		case KindMemory:
			space = m.importedMemories + len(m.Memories)
		case KindGlobal:
			space = m.importedGlobals + len(m.Globals)
		default:
			p.fail(kat, "%q: unknown kind 0x%02x", e.Name, byte(e.Kind))
		}
		if int64(e.Index) >= int64(space) {
			p.fail(iat, "%q: index %d out of range (%d of kind %s)", e.Name, e.Index, space, e.Kind)
		}
	}
}

// elements reads the element section (specification §5.5.12): the eight forms of segment.
func (p *parser) elements() {
	n := p.count("element segments", 2)
	p.limit(n, func(l *Limits) int { return l.MaxElementSegments }, "element segments")
	p.m.ElementSegments = n
	for i := range n {
		p.at("element segment", i)
		at := p.p
		flags := p.u32("flags")
		if flags > 7 {
			p.fail(at, "unknown flags %d", flags)
		}
		if flags&3 == 2 { // active with a table index
			p.u32("table index")
		}
		if flags&1 == 0 { // active
			p.constExpr("offset")
		}
		if flags&3 != 0 { // element kind or reference type
			kat := p.p
			if flags&4 == 0 {
				if k := p.byte1("element kind"); k != 0 {
					p.fail(kat, "unknown element kind 0x%02x", k)
				}
			} else {
				p.refType("reference type")
			}
		}
		k := p.count("elements", 1)
		p.m.Elements += k
		p.limit(p.m.Elements, func(l *Limits) int { return l.MaxElements }, "elements in element segments")
		for range k {
			if flags&4 == 0 {
				p.u32("function index")
			} else {
				p.constExpr("element")
			}
		}
	}
}

func (p *parser) data() {
	m := p.m
	n := p.count("data segments", 2)
	p.limit(n, func(l *Limits) int { return l.MaxDataSegments }, "data segments")
	m.Data = make([]DataSegment, n)
	for i := range m.Data {
		p.at("data segment", i)
		s := &m.Data[i]
		at := p.p
		switch flags := p.u32("flags"); flags {
		case 0:
			s.Active = true
		case 1:
		case 2:
			s.Active = true
			s.Memory = p.u32("memory index")
		default:
			p.fail(at, "unknown flags %d", flags)
		}
		if s.Active {
			s.OffsetExpr = p.p
			off, ok := p.constExpr("offset")
			s.OffsetEnd = p.p
			s.Constant, s.Offset = ok, uint32(off)
		}
		sat := p.p
		size := p.u32("size")
		if uint64(size) > uint64(p.end-p.p) {
			p.fail(sat, "%d bytes run past the end of the section", size)
		}
		s.Init, s.at = p.b[p.p:p.p+int(size):p.p+int(size)], p.p
		p.p += int(size)
	}
}

// names reads the contents of a "name" custom section at b[start:end] (specification
// appendix 7.4). Custom sections are otherwise opaque, but wazero decodes this one whenever it
// compiles a module, allocating its name maps by their declared sizes before reading them: a
// map of more entries than the subsection's bytes can hold, or names for functions or locals
// that do not exist, would make a small module allocate gigabytes. Such a section is refused,
// as are sections wazero would refuse (a subsection not ending at its declared size).
func (p *parser) names(start, end int) {
	m := p.m
	p.p, p.end = start, end
	for p.p < end {
		p.at("name subsection", -1)
		id := p.byte1("name subsection ID")
		at := p.p
		size := p.u32("name subsection size")
		if uint64(size) > uint64(end-p.p) {
			p.fail(at, "name subsection %d of %d bytes runs past the end of the section", id, size)
		}
		p.at("name subsection", int(id))
		subEnd := p.p + int(size)
		p.end = subEnd
		switch id {
		case 0: // module name
			p.nameBytes("module name")
		case 1: // function names
			n := p.names1("function names", uint64(m.NumFuncs()))
			for range n {
				p.u32("function index")
				p.nameBytes("function name")
			}
		case 2: // local names
			n := p.names1("functions", uint64(m.NumFuncs()))
			for range n {
				at := p.p
				idx := p.u32("function index")
				if uint64(idx) >= uint64(m.NumFuncs()) {
					p.fail(at, "local names of function %d, out of range (%d functions)", idx, m.NumFuncs())
				}
				t, _ := m.FuncTypeOf(idx)
				locals := uint64(len(t.Params))
				if int(idx) >= m.importedFuncs {
					locals += m.Code[int(idx)-m.importedFuncs].Locals
				}
				k := p.names1("local names", locals)
				for range k {
					p.u32("local index")
					p.nameBytes("local name")
				}
			}
		default: // other subsections: opaque
			p.p = subEnd
		}
		if p.p != subEnd {
			p.fail(p.p, "%d bytes after the last entry of name subsection %d", subEnd-p.p, id)
		}
		p.end = end
	}
	p.at("", -1)
}

// names1 reads the length of a name map: at most max entries, and no more than the bytes
// left can hold (2 bytes each at least).
func (p *parser) names1(what string, max uint64) int {
	at := p.p
	n := p.count(what, 2)
	if uint64(n) > max {
		p.fail(at, "%d %s, more than the %d there are", n, what, max)
	}
	return n
}
