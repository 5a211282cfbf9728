package wasmopt

import "strconv"

// Section IDs ExportGlobals and Snapshottable read.
const (
	sectionCustom byte = 0
	sectionGlobal byte = 6
	sectionExport byte = 7
	sectionStart  byte = 8
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
func Snapshottable(wasm []byte) (bool, error) {
	secs, err := sections(wasm)
	if err != nil {
		return false, err
	}
	goBuilt := false
	for _, s := range secs {
		switch s.id {
		case sectionStart:
			return false, nil
		case sectionCustom:
			n, q, err := readU32(wasm[:s.end], s.body)
			if err != nil || uint64(q)+uint64(n) > uint64(s.end) {
				return false, malformed(s.body, "custom section name runs past the end of the section")
			}
			if string(wasm[q:q+int(n)]) == goBuildID {
				goBuilt = true
			}
		}
	}
	return goBuilt, nil
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
// (i32, i64, f32, f64) with a constant initialiser it can read, and that have an export
// section with no name starting with GlobalExportPrefix. Other modules are returned unchanged
// (the same slice) with nil names, as are modules without a mutable global. Malformed input
// is an error wrapping ErrMalformed.
func ExportGlobals(wasm []byte) (out []byte, names []string, err error) {
	secs, err := sections(wasm)
	if err != nil {
		return nil, nil, err
	}
	glob, exp := -1, -1
	for i, s := range secs {
		switch s.id {
		case sectionImport:
			imports, err := importsKind(wasm[:s.end], s.body, importGlobal)
			if err != nil || imports {
				return wasm, nil, err
			}
		case sectionGlobal:
			glob = i
		case sectionExport:
			exp = i
		}
	}
	if glob < 0 || exp < 0 {
		return wasm, nil, nil
	}
	mutable, ok, err := mutableGlobals(wasm[:secs[glob].end], secs[glob].body)
	if err != nil || !ok || len(mutable) == 0 {
		return wasm, nil, err
	}
	es := secs[exp]
	count, p, err := readU32(wasm[:es.end], es.body)
	if err != nil {
		return nil, nil, malformed(es.body, "export section: count: %v", err)
	}
	entries := p
	for i := uint32(0); i < count; i++ {
		size, q, err := readU32(wasm[:es.end], p)
		if err != nil || uint64(q)+uint64(size)+2 > uint64(es.end) {
			return nil, nil, malformed(p, "export %d: name runs past the end of the section", i)
		}
		name := string(wasm[q : q+int(size)])
		if len(name) >= len(GlobalExportPrefix) && name[:len(GlobalExportPrefix)] == GlobalExportPrefix {
			return wasm, nil, nil
		}
		p = q + int(size) + 1 // kind
		if _, p, err = readU32(wasm[:es.end], p); err != nil {
			return nil, nil, malformed(p, "export %d: index: %v", i, err)
		}
	}
	if p != es.end {
		return nil, nil, malformed(p, "export section: %d bytes after the last export", es.end-p)
	}
	body := appendU32(nil, count+uint32(len(mutable)))
	body = append(body, wasm[entries:es.end]...)
	for _, idx := range mutable {
		name := GlobalExportPrefix + strconv.Itoa(int(idx))
		names = append(names, name)
		body = appendU32(body, uint32(len(name)))
		body = append(body, name...)
		body = append(body, 0x03) // global
		body = appendU32(body, idx)
	}
	out = make([]byte, 0, len(wasm)+len(body))
	out = append(out, wasm[:es.start]...)
	out = appendSection(out, sectionExport, body)
	return append(out, wasm[es.end:]...), names, nil
}

// mutableGlobals reads the global section whose contents are b[p:] and returns the indices of
// its mutable globals. ok is false when a mutable global is not of a number type or an
// initialiser uses an instruction this reader does not know.
func mutableGlobals(b []byte, p int) (idx []uint32, ok bool, err error) {
	n, q, err := readU32(b, p)
	if err != nil {
		return nil, false, malformed(p, "global section: count: %v", err)
	}
	p = q
	for i := uint32(0); i < n; i++ {
		if p+2 > len(b) {
			return nil, false, malformed(p, "global %d: unexpected end in global type", i)
		}
		typ, mut := b[p], b[p+1]
		p += 2
		if mut == 1 {
			if typ < 0x7c || typ > 0x7f { // not f64, f32, i64 or i32
				return nil, false, nil
			}
			idx = append(idx, i)
		}
		if p, ok, err = skipConstExpr(b, p); err != nil || !ok {
			return nil, false, err
		}
	}
	if p != len(b) {
		return nil, false, malformed(p, "global section: %d bytes after the last global", len(b)-p)
	}
	return idx, true, nil
}

// skipConstExpr returns where the constant expression at b[p:] ends (after its end opcode).
// ok is false for an instruction it does not know.
func skipConstExpr(b []byte, p int) (int, bool, error) {
	for p < len(b) {
		op := b[p]
		p++
		switch op {
		case 0x0b: // end
			return p, true, nil
		case 0x41, 0x42: // i32.const, i64.const: signed LEB128
			for p < len(b) && b[p]&0x80 != 0 {
				p++
			}
			p++
		case 0x43: // f32.const
			p += 4
		case 0x44: // f64.const
			p += 8
		case 0x23, 0xd2: // global.get, ref.func: index
			var err error
			if _, p, err = readU32(b, p); err != nil {
				return 0, false, malformed(p, "constant expression: index: %v", err)
			}
		case 0xd0: // ref.null: heap type
			p++
		case 0x6a, 0x6b, 0x6c, 0x7c, 0x7d, 0x7e: // extended constant arithmetic
		default:
			return 0, false, nil
		}
	}
	return 0, false, malformed(p, "constant expression: %v", errExprEnd)
}
