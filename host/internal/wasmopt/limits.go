package wasmopt

import "fmt"

// Limits bound what a module may hold before it is compiled, so that a hostile module costs
// little to refuse: wazero cannot interrupt the compilation of one function, whose time grows
// with the square of its block nesting and with its locals² × its nesting of loops; its
// decoder allocates for every entry a module declares; a memory or table's minimum is
// allocated at every instantiation. See RATIONALE.md, "Why check function bodies before
// compiling?". A zero field takes its value from DefaultLimits.
type Limits struct {
	// MaxFunctions bounds the functions, imported and defined.
	MaxFunctions int
	// MaxBodySize bounds one function body, in bytes.
	MaxBodySize int
	// MaxLocals bounds the locals one function body declares (parameters not counted).
	MaxLocals int
	// MaxDepth bounds the nesting of blocks (block, loop, if) in one function body: wazero's
	// compile time grows with its square.
	MaxDepth int
	// MaxLoopCost bounds Code.LoopCost (locals² × nesting of loops) of one function body:
	// wazero's compile time grows with it when the body reads its locals inside nested loops.
	MaxLoopCost uint64
	// MaxInstructions bounds the instructions of one function body.
	MaxInstructions int
	// MaxCodeSize bounds the code section, in bytes.
	MaxCodeSize int
	// MaxDataSegments bounds the data segments.
	MaxDataSegments int
	// MaxGlobals bounds the globals, imported and defined (each costs memory at every
	// instantiation).
	MaxGlobals int
	// MaxTypes, MaxTables, MaxElementSegments, MaxElements and MaxCustomSections bound the
	// function types, the tables (imported and defined), the element segments and their
	// entries, and the custom sections: wazero's decoder (and Parse) allocate tens of bytes
	// for each entry a module declares, a few bytes each.
	MaxTypes, MaxTables, MaxElementSegments, MaxElements, MaxCustomSections int
	// MaxImports and MaxExports bound the entries of the import and export sections.
	MaxImports, MaxExports int
	// MaxMemoryPages bounds the minimum size of every memory, imported or defined, in 64 KiB
	// pages: the caller passes its memory limit, so that the memory a module starts with,
	// and the data image that fills it, fit in what an instance may use.
	MaxMemoryPages uint32
	// MaxTableSize bounds the minimum size of every table, imported or defined, in elements
	// (each costs 8 bytes at every instantiation).
	MaxTableSize uint32
}

// DefaultLimits accept every module of the repository with a margin of 4 at least (a test
// checks it): the Go guests, the largest, nest blocks 549 deep at most (MaxDepth 3000), their
// largest function body is 29 KB with 13,335 instructions and 20 locals, and they have about
// 3,100 functions, 3.3 MB of code and 54,000 data segments. At MaxDepth and MaxLoopCost one
// function compiles in about a quarter of a second, at twice them in under a second (figures
// in RATIONALE.md, "Why check function bodies before compiling?"). MaxMemoryPages is the
// 65536 pages a 32-bit memory can have: callers pass their memory limit.
var DefaultLimits = Limits{
	MaxFunctions:       100_000,
	MaxBodySize:        1 << 20,
	MaxLocals:          50_000,
	MaxDepth:           3000,
	MaxLoopCost:        100_000_000,
	MaxInstructions:    500_000,
	MaxCodeSize:        32 << 20,
	MaxDataSegments:    1_000_000,
	MaxGlobals:         100_000,
	MaxTypes:           100_000,
	MaxTables:          100,
	MaxElementSegments: 100_000,
	MaxElements:        1 << 20,
	MaxCustomSections:  1000,
	MaxImports:         1000,
	MaxExports:         10_000,
	MaxMemoryPages:     65536,
	MaxTableSize:       1 << 20,
}

// normalized returns l with its zero fields set from DefaultLimits.
func (l Limits) normalized() Limits {
	d := DefaultLimits
	set := func(v *int, def int) {
		if *v == 0 {
			*v = def
		}
	}
	set(&l.MaxFunctions, d.MaxFunctions)
	set(&l.MaxBodySize, d.MaxBodySize)
	set(&l.MaxLocals, d.MaxLocals)
	set(&l.MaxDepth, d.MaxDepth)
	set(&l.MaxInstructions, d.MaxInstructions)
	set(&l.MaxCodeSize, d.MaxCodeSize)
	set(&l.MaxDataSegments, d.MaxDataSegments)
	set(&l.MaxGlobals, d.MaxGlobals)
	set(&l.MaxTypes, d.MaxTypes)
	set(&l.MaxTables, d.MaxTables)
	set(&l.MaxElementSegments, d.MaxElementSegments)
	set(&l.MaxElements, d.MaxElements)
	set(&l.MaxCustomSections, d.MaxCustomSections)
	if l.MaxLoopCost == 0 {
		l.MaxLoopCost = d.MaxLoopCost
	}
	set(&l.MaxImports, d.MaxImports)
	set(&l.MaxExports, d.MaxExports)
	if l.MaxMemoryPages == 0 {
		l.MaxMemoryPages = d.MaxMemoryPages
	}
	if l.MaxTableSize == 0 {
		l.MaxTableSize = d.MaxTableSize
	}
	return l
}

// overCount returns an error wrapping ErrLimit when n things are more than max.
func overCount(n, max int, what string) error {
	if n > max {
		return fmt.Errorf("%w: %d %s, more than the limit of %d", ErrLimit, n, what, max)
	}
	return nil
}

// ParseChecked is Parse followed by Check, except that a vector longer than its limit (types,
// imports, functions, tables, globals, exports, element segments and their elements, data
// segments, custom sections) is refused as soon as its length is read, before anything is
// allocated for it: Parse alone allocates up to about 40 bytes for each entry of a module,
// whose entries can take 2 bytes each. The error wraps ErrMalformed or ErrLimit.
func ParseChecked(wasm []byte, l Limits) (*Module, error) {
	l = l.normalized()
	m, err := parse(wasm, &l)
	if err != nil {
		return nil, err
	}
	if err := Check(m, l); err != nil {
		return nil, err
	}
	return m, nil
}

// Check reports whether m stays within l (zero fields: DefaultLimits), before anything is
// compiled. The error wraps ErrLimit and names the limit, the value and where: for a
// function, its index and the name it is exported under. It reads only what Parse measured,
// so it costs next to nothing.
func Check(m *Module, l Limits) error {
	l = l.normalized()
	over := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrLimit, fmt.Sprintf(format, args...))
	}
	counts := []struct {
		n, max int
		what   string
	}{
		{m.NumFuncs(), l.MaxFunctions, "functions"},
		{len(m.Imports), l.MaxImports, "imports"},
		{len(m.Exports), l.MaxExports, "exports"},
		{len(m.Data), l.MaxDataSegments, "data segments"},
		{m.importedGlobals + len(m.Globals), l.MaxGlobals, "globals"},
		{len(m.Types), l.MaxTypes, "types"},
		{m.importedTables + len(m.Tables), l.MaxTables, "tables"},
		{m.ElementSegments, l.MaxElementSegments, "element segments"},
		{m.Elements, l.MaxElements, "elements in element segments"},
		{len(m.Custom), l.MaxCustomSections, "custom sections"},
	}
	for _, c := range counts {
		if err := overCount(c.n, c.max, c.what); err != nil {
			return err
		}
	}
	if m.CodeSize > l.MaxCodeSize {
		return over("a code section of %d bytes, more than the limit of %d", m.CodeSize, l.MaxCodeSize)
	}
	memory := func(what string, mem Memory) error {
		if mem.Min > l.MaxMemoryPages {
			return over("%s starts with %d pages of 64 KiB, more than the limit of %d", what, mem.Min, l.MaxMemoryPages)
		}
		return nil
	}
	table := func(what string, t Table) error {
		if t.Min > l.MaxTableSize {
			return over("%s starts with %d elements, more than the limit of %d", what, t.Min, l.MaxTableSize)
		}
		return nil
	}
	for _, im := range m.Imports {
		var err error
		switch im.Kind {
		case KindMemory:
			err = memory(fmt.Sprintf("imported memory %s.%s", im.Module, im.Name), im.Memory)
		case KindTable:
			err = table(fmt.Sprintf("imported table %s.%s", im.Module, im.Name), im.Table)
		}
		if err != nil {
			return err
		}
	}
	for i, mem := range m.Memories {
		if err := memory(fmt.Sprintf("memory %d", m.importedMemories+i), mem); err != nil {
			return err
		}
	}
	for i, t := range m.Tables {
		if err := table(fmt.Sprintf("table %d", m.importedTables+i), t); err != nil {
			return err
		}
	}
	for i, c := range m.Code {
		fn := func() string { return fmt.Sprintf("%s (body at offset %d)", m.funcName(m.importedFuncs+i), c.Offset) }
		switch {
		case c.Size > l.MaxBodySize:
			return over("%s: a body of %d bytes, more than the limit of %d", fn(), c.Size, l.MaxBodySize)
		case c.Locals > uint64(l.MaxLocals):
			return over("%s: %d locals, more than the limit of %d", fn(), c.Locals, l.MaxLocals)
		case c.Depth > l.MaxDepth:
			return over("%s: blocks nested %d deep, more than the limit of %d", fn(), c.Depth, l.MaxDepth)
		case c.LoopCost() > l.MaxLoopCost:
			return over("%s: %d locals in loops nested %d deep (locals² × depth %d), more than the limit of %d",
				fn(), c.Locals, c.LoopDepth, c.LoopCost(), l.MaxLoopCost)
		case c.Instructions > l.MaxInstructions:
			return over("%s: %d instructions, more than the limit of %d", fn(), c.Instructions, l.MaxInstructions)
		}
	}
	return nil
}
