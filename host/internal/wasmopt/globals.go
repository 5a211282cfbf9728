package wasmopt

import (
	"slices"
	"strconv"
	"strings"
)

// goBuildID names the custom section the Go toolchain writes into every module it links.
const goBuildID = "go:buildid"

// Snapshottable reports whether an instance of the module is wholly described by its memory
// and its mutable globals once initialised, so that a snapshot of them can stand for
// initialisation: the module has no start section (wazero runs one at every instantiation,
// snapshot or not) and was linked by the Go toolchain (a "go:buildid" custom section), whose
// code never changes a table (its function table is static; tables are not part of a
// snapshot). Modules of other toolchains may fill tables while they initialise; they are not
// snapshotted.
func (m *Module) Snapshottable() bool {
	return !m.HasStart && m.HasCustom(goBuildID)
}

// GlobalExportPrefix starts the names under which ExportGlobals exports globals: the prefix
// and the global's index.
const GlobalExportPrefix = "durohost.global."

// ExportGlobals returns the module with every mutable global it defines also exported, as
// GlobalExportPrefix followed by the global's index, and those names, so that a host can read
// a module instance's whole state (its memory and its mutable globals) and write it into
// another instance of the same module: the state a module has once initialised can then be
// restored instead of recomputed. Exporting a global changes nothing the module does.
//
// It applies to modules that import no global, whose mutable globals are all of a number type
// (i32, i64, f32, f64), and that have an export section with no name starting with
// GlobalExportPrefix. For other modules, and modules without a mutable global, it returns the
// module's bytes unchanged (the same slice) and nil names. The error is nil for a module
// Parse accepted. WithGlobalsExported does the same and returns the new module's layout.
func (m *Module) ExportGlobals() (out []byte, names []string, err error) {
	n, names := m.WithGlobalsExported()
	return n.wasm, names, nil
}

// WithGlobalsExported is ExportGlobals returning the layout of the module it makes (its
// bytes are its Bytes), so that a transformation can follow without parsing the module again.
// It returns m itself when ExportGlobals does not apply.
func (m *Module) WithGlobalsExported() (*Module, []string) {
	mutable, ok := m.exportableGlobals()
	if !ok {
		return m, nil
	}
	wasm := m.wasm
	es := m.Sections[m.exportSec]
	_, entries, _ := readU32(wasm[:es.End], es.Body) // where the entries start, after the count
	body := appendU32(nil, uint32(len(m.Exports)+len(mutable)))
	body = append(body, wasm[entries:es.End]...)
	exports := slices.Grow(slices.Clone(m.Exports), len(mutable))
	names := make([]string, 0, len(mutable))
	for _, idx := range mutable {
		name := GlobalExportPrefix + strconv.Itoa(int(idx))
		names = append(names, name)
		exports = append(exports, Export{Name: name, Kind: KindGlobal, Index: idx})
		body = appendU32(body, uint32(len(name)))
		body = append(body, name...)
		body = append(body, byte(KindGlobal))
		body = appendU32(body, idx)
	}
	out := make([]byte, 0, len(wasm)+len(body))
	out = append(out, wasm[:es.Start]...)
	out = appendSection(out, byte(SectionExport), body)
	bodyAt := len(out) - len(body)
	out = append(out, wasm[es.End:]...)
	n := m.moved(out, es.End, len(out)-len(wasm))
	n.Sections[m.exportSec] = Section{ID: SectionExport, Start: es.Start, Body: bodyAt, End: bodyAt + len(body)}
	n.Exports = exports
	return n, names
}

// exportableGlobals returns the indices of the globals ExportGlobals exports, and false when
// it does not apply.
func (m *Module) exportableGlobals() (mutable []uint32, ok bool) {
	if m.importedGlobals > 0 || m.exportSec < 0 {
		return nil, false
	}
	for _, e := range m.Exports {
		if strings.HasPrefix(e.Name, GlobalExportPrefix) {
			return nil, false
		}
	}
	for i, g := range m.Globals {
		if !g.Mutable {
			continue
		}
		if !g.Type.number() {
			return nil, false
		}
		mutable = append(mutable, uint32(i))
	}
	return mutable, len(mutable) > 0
}
