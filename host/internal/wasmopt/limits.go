package wasmopt

import "fmt"

// Limits bound what a module may hold before it is compiled, so that a hostile module costs
// little to refuse: the compiler's time grows with the square of a function's block nesting
// and cannot be interrupted within a function, and its memory with a body's locals; a memory
// or table's minimum is allocated at every instantiation. See RATIONALE.md, "Why check
// function bodies before compiling?". A zero field takes its value from DefaultLimits.
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

// DefaultLimits accept every module of the repository with a wide margin (the largest, the Go
// guests, reach about a tenth of each; see RATIONALE.md for the figures) and refuse what
// would keep the compiler busy for more than about a second: MaxDepth 1000 blocks, where the
// Go guests nest at most 112.
var DefaultLimits = Limits{
	MaxFunctions:    100_000,
	MaxBodySize:     1 << 20,
	MaxLocals:       50_000,
	MaxDepth:        3000,
	MaxLoopCost:     100_000_000,
	MaxInstructions: 500_000,
	MaxCodeSize:     32 << 20,
	MaxDataSegments: 1_000_000,
	MaxGlobals:      100_000,
	MaxImports:      1000,
	MaxExports:      10_000,
	MaxMemoryPages:  65536,
	MaxTableSize:    1 << 20,
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

// Check reports whether m stays within l (zero fields: DefaultLimits), before anything is
// compiled. The error wraps ErrLimit and names the limit, the value and where: for a
// function, its index and the name it is exported under. It reads only what Parse measured,
// so it costs next to nothing.
func Check(m *Module, l Limits) error {
	l = l.normalized()
	over := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrLimit, fmt.Sprintf(format, args...))
	}
	if n := m.NumFuncs(); n > l.MaxFunctions {
		return over("%d functions, more than the limit of %d", n, l.MaxFunctions)
	}
	if len(m.Imports) > l.MaxImports {
		return over("%d imports, more than the limit of %d", len(m.Imports), l.MaxImports)
	}
	if len(m.Exports) > l.MaxExports {
		return over("%d exports, more than the limit of %d", len(m.Exports), l.MaxExports)
	}
	if len(m.Data) > l.MaxDataSegments {
		return over("%d data segments, more than the limit of %d", len(m.Data), l.MaxDataSegments)
	}
	if n := m.importedGlobals + len(m.Globals); n > l.MaxGlobals {
		return over("%d globals, more than the limit of %d", n, l.MaxGlobals)
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
