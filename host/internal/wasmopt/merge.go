// Package wasmopt rewrites WebAssembly modules so that they are cheaper to instantiate,
// without changing what they do.
//
// Each transformation reads only the parts of the binary format it changes and copies
// everything else byte for byte; it returns its input (the same slice) when it has nothing
// to gain or does not apply, and an error wrapping ErrMalformed for input it cannot read.
// Validation of the module as a whole is left to the compiler.
package wasmopt

import (
	"bytes"
	"cmp"
	"slices"
)

// MaxGap is the largest run of zero bytes MergeDataSegments writes to join two segments.
// Joining costs copying the gap at instantiation and storing it in the module; a segment
// costs a header in the module and a constant expression evaluated at instantiation (about
// 40 ns in wazero v1.12, the time to copy a few hundred bytes).
const MaxGap = 256

// maxAddress bounds the addresses of the segments MergeDataSegments merges: beyond 2 GiB,
// runtimes differ in how they read an i32 offset, and no real module puts data there.
const maxAddress = 1 << 31

// MergeDataSegments rewrites a module's data section so that its active data segments become
// as few as possible: segments that overlap, touch or lie at most MaxGap bytes apart are
// joined into one, gaps filled with zeros. The memory the module starts with is the same
// byte for byte (later segments still overwrite earlier ones where they overlap), and
// instantiation still fails if and only if a segment lies outside the initial memory.
//
// It applies to modules that define their memory (an imported memory does not start out
// zero), whose data segments are all active, initialising memory 0 at a constant
// (i32.const) offset, and whose code has no memory.init or data.drop (the only instructions
// that name segments by index; with no passive segment they can only name dropped ones, but
// the index must still exist). The data count section, if any, is updated. Toolchains such
// as Go's emit tens of thousands of such segments, AssemblyScript one per static object.
//
// Other modules are returned unchanged (the same slice), as are modules with nothing to
// merge and those whose data section would grow past twice the module's size plus 64 KiB
// (mostly gaps: a bound on what a hostile module can make this allocate). The custom "name"
// section's data segment names, if any, are not renumbered (they are debugging information).
func MergeDataSegments(wasm []byte) ([]byte, error) {
	l, ok, err := scanLayout(wasm)
	if err != nil {
		return nil, err
	}
	if !ok {
		return wasm, nil
	}
	secs, data, count, code := l.secs, l.data, l.count, l.code
	if data < 0 {
		return wasm, nil
	}
	ds := secs[data]
	segs, ok, err := readData(wasm[:ds.end], ds.body)
	if err != nil {
		return nil, err
	}
	if !ok {
		return wasm, nil
	}
	for _, s := range segs {
		if !s.mergeable() || s.end() > maxAddress {
			return wasm, nil
		}
	}
	if count >= 0 {
		cs := secs[count]
		n, end, err := readU32(wasm[:cs.end], cs.body)
		if err != nil {
			return nil, malformed(cs.body, "data count section: %v", err)
		}
		if end != cs.end || int(n) != len(segs) {
			return wasm, nil // invalid: left for the compiler to reject
		}
		if code >= 0 && mayIndexData(wasm[secs[code].body:secs[code].end]) {
			return wasm, nil
		}
	}
	spans, of := group(segs)
	if len(spans) >= len(segs) {
		return wasm, nil
	}
	size := len(appendU32(nil, uint32(len(spans))))
	for _, sp := range spans {
		size += spanHeader(sp) + int(sp.end-sp.start)
	}
	if size > 2*len(wasm)+64<<10 {
		return wasm, nil // mostly gaps
	}
	out := make([]byte, 0, len(wasm)-(ds.end-ds.start)+1+5+size+5)
	prev := 0
	for i, s := range secs {
		switch i {
		case count:
			out = append(out, wasm[prev:s.start]...)
			out = appendSection(out, sectionDataCount, appendU32(nil, uint32(len(spans))))
			prev = s.end
		case data:
			out = append(out, wasm[prev:s.start]...)
			out = append(out, sectionData)
			out = appendU32(out, uint32(size))
			out = appendU32(out, uint32(len(spans)))
			at := make([]int, len(spans)) // where each span's bytes start in out
			for j, sp := range spans {
				out = append(out, 0x00, 0x41) // active, memory 0; i32.const
				out = appendS32(out, int32(sp.start))
				out = append(out, 0x0b) // end
				out = appendU32(out, uint32(sp.end-sp.start))
				at[j] = len(out)
				out = out[:len(out)+int(sp.end-sp.start)] // zeros: out was allocated with this capacity
			}
			for k, sg := range segs { // in order: where segments overlap, the later one wins
				copy(out[at[of[k]]+int(uint64(sg.offset)-spans[of[k]].start):], sg.init)
			}
			prev = s.end
		}
	}
	return append(out, wasm[prev:]...), nil
}

// layout is a module's sections with the positions of those the data transformations read
// (-1: absent).
type layout struct {
	secs                   []section
	data, count, code, mem int
}

// scanLayout splits wasm into its sections and finds the data, data count, code and memory
// sections. ok is false when the module imports a memory: gaps are zero only in a memory the
// module defines, and a failed instantiation leaves the segments written before the failure
// in an imported one, so neither transformation applies.
func scanLayout(wasm []byte) (l layout, ok bool, err error) {
	if l.secs, err = sections(wasm); err != nil {
		return l, false, err
	}
	l.data, l.count, l.code, l.mem = -1, -1, -1, -1
	for i, s := range l.secs {
		switch s.id {
		case sectionImport:
			mem, err := importsMemory(wasm[:s.end], s.body)
			if err != nil || mem {
				return l, false, err
			}
		case sectionMemory:
			l.mem = i
		case sectionData:
			l.data = i
		case sectionDataCount:
			l.count = i
		case sectionCode:
			l.code = i
		}
	}
	return l, true, nil
}

// appendSection appends a section with its ID and size.
func appendSection(b []byte, id byte, body []byte) []byte {
	b = append(b, id)
	b = appendU32(b, uint32(len(body)))
	return append(b, body...)
}

// mayIndexData reports whether a code section may hold memory.init or data.drop, the
// instructions that name data segments by index: whether anywhere in it a 0xfc prefix byte
// is followed by a LEB128 u32 equal to 8 or 9. A false answer is certain (instructions are
// encoded as such bytes, in any LEB128 form); a true one may come from immediates.
func mayIndexData(code []byte) bool {
	for p := bytes.IndexByte(code, 0xfc); p >= 0; {
		if op, _, err := readU32(code, p+1); err == nil && (op == 8 || op == 9) {
			return true
		}
		next := bytes.IndexByte(code[p+1:], 0xfc)
		if next < 0 {
			break
		}
		p += 1 + next
	}
	return false
}

// span is a range of addresses [start, end) of initial memory.
type span struct{ start, end uint64 }

// spanHeader is the size of the header of a data segment for sp (flags, offset expression,
// size).
func spanHeader(sp span) int {
	return 2 + len(appendS32(nil, int32(sp.start))) + 1 + len(appendU32(nil, uint32(sp.end-sp.start)))
}

// group sorts the ranges of segments (all mergeable, below maxAddress) into spans sorted by
// address, joining ranges that overlap or lie no more than MaxGap bytes apart, and returns
// the span of each segment. Spans never overlap, so the bytes of a gap are zero in the
// initial memory too.
func group(segs []segment) (spans []span, of []int) {
	order := make([]int, len(segs))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(segs[a].offset, segs[b].offset) })
	of = make([]int, len(segs))
	for _, i := range order {
		s := segs[i]
		if n := len(spans); n > 0 && uint64(s.offset) <= spans[n-1].end+MaxGap {
			spans[n-1].end = max(spans[n-1].end, s.end())
		} else {
			spans = append(spans, span{uint64(s.offset), s.end()})
		}
		of[i] = len(spans) - 1
	}
	return spans, of
}
