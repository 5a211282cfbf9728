package wasmopt

import (
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
// The error is nil for a module Parse accepted.
func (m *Module) MergeDataSegments() ([]byte, error) {
	wasm, segs := m.wasm, m.Data
	if !m.dataSegmentsFoldable() {
		return wasm, nil
	}
	for _, s := range segs {
		if s.end() > maxAddress {
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
	ds := m.Sections[m.dataSec]
	out := make([]byte, 0, len(wasm)-(ds.End-ds.Start)+1+5+size+5)
	prev := 0
	for i, s := range m.Sections {
		switch i {
		case m.dataCountSec:
			out = append(out, wasm[prev:s.Start]...)
			out = appendSection(out, byte(SectionDataCount), appendU32(nil, uint32(len(spans))))
			prev = s.End
		case m.dataSec:
			out = append(out, wasm[prev:s.Start]...)
			out = append(out, byte(SectionData))
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
				copy(out[at[of[k]]+int(uint64(sg.Offset)-spans[of[k]].start):], sg.Init)
			}
			prev = s.End
		}
	}
	return append(out, wasm[prev:]...), nil
}

// dataSegmentsFoldable reports whether the module's data segments can be folded into the
// initial contents of its memory: it has some, it imports no memory (gaps are zero only in a
// memory the module defines, and a failed instantiation leaves the segments written before
// the failure in an imported one), every segment is active on memory 0 at an i32.const
// offset, and no body names a segment (memory.init, data.drop).
func (m *Module) dataSegmentsFoldable() bool {
	if len(m.Data) == 0 || m.importedMemories > 0 || m.DataIndexed {
		return false
	}
	for _, s := range m.Data {
		if !s.mergeable() {
			return false
		}
	}
	return true
}

// appendSection appends a section with its ID and size.
func appendSection(b []byte, id byte, body []byte) []byte {
	b = append(b, id)
	b = appendU32(b, uint32(len(body)))
	return append(b, body...)
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
func group(segs []DataSegment) (spans []span, of []int) {
	order := make([]int, len(segs))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(segs[a].Offset, segs[b].Offset) })
	of = make([]int, len(segs))
	for _, i := range order {
		s := segs[i]
		if n := len(spans); n > 0 && uint64(s.Offset) <= spans[n-1].end+MaxGap {
			spans[n-1].end = max(spans[n-1].end, s.end())
		} else {
			spans = append(spans, span{uint64(s.Offset), s.end()})
		}
		of[i] = len(spans) - 1
	}
	return spans, of
}
