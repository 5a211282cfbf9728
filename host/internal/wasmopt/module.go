package wasmopt

import (
	"bytes"
	"fmt"
)

// Section IDs of the WebAssembly binary format (specification §5.5.2).
const (
	sectionImport    byte = 2
	sectionCode      byte = 10
	sectionData      byte = 11
	sectionDataCount byte = 12
	maxSectionID     byte = 12
)

var header = []byte{0x00, 'a', 's', 'm', 0x01, 0x00, 0x00, 0x00}

// section is one section of a module: its ID, where it starts (the ID byte), where its
// contents start and where it ends, as offsets into the module.
type section struct {
	id               byte
	start, body, end int
}

// sections splits a module into its sections, checking the header and that every section
// fits. It does not look inside sections, and checks neither their order nor (apart from
// data and data count, which a transformation rewrites) their uniqueness: the compiler does.
func sections(wasm []byte) ([]section, error) {
	if len(wasm) < 4 || !bytes.Equal(wasm[:4], header[:4]) {
		return nil, fmt.Errorf("%w: not a WebAssembly binary (no \\0asm header)", ErrMalformed)
	}
	if len(wasm) < len(header) {
		return nil, fmt.Errorf("%w: truncated header", ErrMalformed)
	}
	if !bytes.Equal(wasm[4:8], header[4:]) {
		return nil, fmt.Errorf("%w: binary format version %x, only version 1 is supported", ErrMalformed, wasm[4:8])
	}
	var out []section
	seen := map[byte]bool{}
	for p := len(header); p < len(wasm); {
		id := wasm[p]
		if id > maxSectionID {
			return nil, malformed(p, "unknown section ID %d", id)
		}
		size, body, err := readU32(wasm, p+1)
		if err != nil {
			return nil, malformed(p+1, "size of section %d: %v", id, err)
		}
		end := body + int(size)
		if end > len(wasm) || end < body {
			return nil, malformed(p, "section %d of %d bytes runs past the end of the module", id, size)
		}
		if id == sectionData || id == sectionDataCount {
			if seen[id] {
				return nil, malformed(p, "second section with ID %d", id)
			}
			seen[id] = true
		}
		out = append(out, section{id: id, start: p, body: body, end: end})
		p = end
	}
	return out, nil
}

// segment is one data segment as read from the data section.
type segment struct {
	// active is false for a passive segment.
	active bool
	// memory is the index of the memory an active segment initialises.
	memory uint32
	// constant is true when the offset expression is a single i32.const.
	constant bool
	// offset is the value of a constant offset expression, as an unsigned address.
	offset uint32
	// init is the segment's bytes, a sub-slice of the module.
	init []byte
}

// end is the address just past the segment.
func (s segment) end() uint64 { return uint64(s.offset) + uint64(len(s.init)) }

// mergeable reports whether the segment can be folded into a memory image: active, memory 0,
// constant offset.
func (s segment) mergeable() bool { return s.active && s.memory == 0 && s.constant }

// readData decodes the data section whose contents are b[p:] (b ends with the section, so
// that offsets in errors are the module's). It stops at the first segment whose offset
// expression is not a single i32.const (ok is false then: its end cannot be found without
// decoding constant expressions in general, and such a module is left alone anyway).
func readData(b []byte, p int) (segs []segment, ok bool, err error) {
	n, q, err := readU32(b, p)
	if err != nil {
		return nil, false, malformed(p, "data section: segment count: %v", err)
	}
	p = q
	if uint64(n) > uint64(len(b)-p) { // each segment takes at least 2 bytes
		return nil, false, malformed(p, "data section: %d segments cannot fit in %d bytes", n, len(b)-p)
	}
	segs = make([]segment, 0, n)
	for i := uint32(0); i < n; i++ {
		start := p
		bad := func(what string, err error) error {
			return malformed(p, "data segment %d (at %d): %s: %v", i, start, what, err)
		}
		flag, q, err := readU32(b, p)
		if err != nil {
			return nil, false, bad("flags", err)
		}
		p = q
		s := segment{active: flag != 1}
		switch flag {
		case 0, 1:
		case 2:
			if s.memory, q, err = readU32(b, p); err != nil {
				return nil, false, bad("memory index", err)
			}
			p = q
		default:
			return nil, false, bad("flags", fmt.Errorf("unknown flags %d", flag))
		}
		if s.active {
			if p >= len(b) {
				return nil, false, bad("offset", errExprEnd)
			}
			if b[p] != 0x41 { // not i32.const
				return segs, false, nil
			}
			off, q, err := readS32(b, p+1)
			if err != nil {
				return nil, false, bad("offset", err)
			}
			if q >= len(b) {
				return nil, false, bad("offset", errExprEnd)
			}
			if b[q] != 0x0b { // not end: an extended constant expression
				return segs, false, nil
			}
			s.constant, s.offset, p = true, uint32(off), q+1
		}
		size, q, err := readU32(b, p)
		if err != nil {
			return nil, false, bad("size", err)
		}
		if uint64(q)+uint64(size) > uint64(len(b)) {
			return nil, false, bad("size", fmt.Errorf("%d bytes run past the end of the section", size))
		}
		s.init, p = b[q:q+int(size):q+int(size)], q+int(size)
		segs = append(segs, s)
	}
	if p != len(b) {
		return nil, false, malformed(p, "data section: %d bytes after the last segment", len(b)-p)
	}
	return segs, true, nil
}

// Import kinds.
const (
	importFunc   byte = 0x00
	importTable  byte = 0x01
	importMemory byte = 0x02
	importGlobal byte = 0x03
)

// importsMemory reports whether the import section whose contents are b[p:] may import a
// memory (it answers true for import kinds it does not know).
func importsMemory(b []byte, p int) (bool, error) { return importsKind(b, p, importMemory) }

// importsKind reports whether the import section whose contents are b[p:] may import
// something of the given kind: true when it does, or when it meets an import it cannot read
// past (an unknown kind, limits of an unknown form).
func importsKind(b []byte, p int, want byte) (bool, error) {
	n, q, err := readU32(b, p)
	if err != nil {
		return false, malformed(p, "import section: import count: %v", err)
	}
	p = q
	for i := uint32(0); i < n; i++ {
		for range 2 { // module and field names
			size, q, err := readU32(b, p)
			if err != nil {
				return false, malformed(p, "import %d: name: %v", i, err)
			}
			if uint64(q)+uint64(size) >= uint64(len(b)) {
				return false, malformed(p, "import %d: name of %d bytes runs past the end of the section", i, size)
			}
			p = q + int(size)
		}
		kind := b[p]
		p++
		if kind == want {
			return true, nil
		}
		limits := func(what string) (bool, error) { // flags, minimum, maximum if flagged
			if p >= len(b) {
				return false, malformed(p, "import %d: unexpected end in %s", i, what)
			}
			if b[p] > 1 {
				return true, nil // limits this reader does not know
			}
			p++
			for range 1 + int(b[p-1]) {
				if _, q, err = readU32(b, p); err != nil {
					return false, malformed(p, "import %d: %s: %v", i, what, err)
				}
				p = q
			}
			return false, nil
		}
		switch kind {
		case importFunc: // type index
			if _, q, err = readU32(b, p); err != nil {
				return false, malformed(p, "import %d: type index: %v", i, err)
			}
			p = q
		case importTable: // reference type, limits
			if p+1 >= len(b) {
				return false, malformed(p, "import %d: unexpected end in table type", i)
			}
			p++
			if unknown, err := limits("table limits"); unknown || err != nil {
				return unknown, err
			}
		case importMemory:
			if unknown, err := limits("memory limits"); unknown || err != nil {
				return unknown, err
			}
		case importGlobal: // value type, mutability
			p += 2
		default:
			return true, nil
		}
	}
	return false, nil
}
