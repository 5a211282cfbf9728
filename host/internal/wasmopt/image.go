package wasmopt

import (
	"cmp"
	"container/heap"
	"fmt"
	"io"
	"slices"
)

// pageBytes is the size of a WebAssembly page.
const pageBytes = 1 << 16

// Image is the initial contents of a module's memory as its active data segments write them:
// zeros except where a segment lies. It refers to the module's bytes and allocates nothing
// in proportion to the memory it describes.
type Image struct {
	// Size is the end of the highest data segment (exactly, not rounded to a page): the
	// image covers addresses [0, Size). It is at most the memory's initial size.
	Size uint64
	// Segments are the bytes the data segments leave in memory, sorted by address and
	// non-overlapping: where segments overlap, the later one in the module has overwritten
	// the earlier ones (specification §4.5.4). Empty segments leave nothing.
	Segments []Segment
}

// Segment is bytes of an Image at an address.
type Segment struct {
	Offset uint64
	// Data is a sub-slice of the module's bytes: callers must not change it.
	Data []byte
}

// DataBytes returns the number of bytes of the image that segments cover (the others are
// zero).
func (img *Image) DataBytes() int {
	n := 0
	for _, s := range img.Segments {
		n += len(s.Data)
	}
	return n
}

// Writes of Image.WriteAt: segments closer than joinGap are written together, the gap
// between them written as zeros, in runs of at most maxRun bytes. A gap smaller than a 4 KiB
// page cannot hold a whole page, so every page-sized hole of the image stays unwritten.
const (
	joinGap = 4 << 10
	maxRun  = 1 << 20
)

// WriteAt writes the image's segments to w at their addresses, and nothing else but the
// zeros of gaps smaller than 4 KiB between segments it writes together (fewer, larger
// writes; at most 1 MiB of buffer). w must read as zeros where nothing is written: a new
// file or memory file, sized with a truncate, whose holes then cost nothing.
func (img *Image) WriteAt(w io.WriterAt) error {
	var buf []byte
	segs := img.Segments
	for i := 0; i < len(segs); {
		j := i + 1 // segs[i:j] is the run
		for j < len(segs) && segs[j].Offset-segEnd(segs[j-1]) < joinGap && segEnd(segs[j])-segs[i].Offset <= maxRun {
			j++
		}
		off := segs[i].Offset
		data := segs[i].Data
		if j-i > 1 {
			size := int(segEnd(segs[j-1]) - off)
			buf = slices.Grow(buf[:0], size)[:size]
			clear(buf)
			for _, s := range segs[i:j] {
				copy(buf[s.Offset-off:], s.Data)
			}
			data = buf
		}
		if _, err := w.WriteAt(data, int64(off)); err != nil {
			return fmt.Errorf("write memory image at %d: %w", off, err)
		}
		i = j
	}
	return nil
}

// segEnd is the address just past s.
func segEnd(s Segment) uint64 { return s.Offset + uint64(len(s.Data)) }

// DataImage splits the module into the same module without its data segments and the image
// of its initial memory: the bytes its active data segments write, later segments
// overwriting earlier ones. Instantiating the stripped module in a memory that starts out
// holding the image (zeros elsewhere) gives the memory that instantiating the module gives,
// byte for byte: a host can then map the image copy-on-write instead of letting the runtime
// copy every segment into fresh memory at each instantiation.
//
// It applies to the modules MergeDataSegments applies to (a memory the module defines, every
// segment active on memory 0 at an i32.const offset, no memory.init or data.drop) that
// define exactly one memory, neither shared nor 64-bit, and whose segments all lie within
// that memory's initial size, so that instantiating the original cannot fail on a segment.
// For any other module (or one without data) it returns the module's bytes unchanged (the
// same slice) and a nil image. The image refers to the module's bytes; nothing proportional
// to its Size is allocated. The error is nil for a module Parse accepted.
func (m *Module) DataImage() (stripped []byte, img *Image, err error) {
	wasm := m.wasm
	if !m.dataSegmentsFoldable() || len(m.Memories) != 1 || m.Memories[0].Shared {
		return wasm, nil, nil
	}
	initial := uint64(m.Memories[0].Min) * pageBytes
	img = &Image{}
	sorted := true
	var prevEnd uint64
	for _, s := range m.Data {
		img.Size = max(img.Size, s.end())
		if len(s.Init) > 0 {
			sorted = sorted && uint64(s.Offset) >= prevEnd
			prevEnd = s.end()
		}
	}
	if img.Size > initial {
		return wasm, nil, nil
	}
	if sorted {
		img.Segments = make([]Segment, 0, len(m.Data))
		for _, s := range m.Data {
			if len(s.Init) > 0 {
				img.Segments = append(img.Segments, Segment{Offset: uint64(s.Offset), Data: s.Init})
			}
		}
	} else {
		img.Segments = resolve(m.Data)
	}
	ds := m.Sections[m.dataSec]
	out := make([]byte, 0, len(wasm)-(ds.End-ds.Start)+8)
	prev := 0
	for i, s := range m.Sections {
		switch i {
		case m.dataCountSec:
			out = append(out, wasm[prev:s.Start]...)
			out = appendSection(out, byte(SectionDataCount), appendU32(nil, 0))
			prev = s.End
		case m.dataSec:
			out = append(out, wasm[prev:s.Start]...)
			out = appendSection(out, byte(SectionData), appendU32(nil, 0))
			prev = s.End
		}
	}
	return append(out, wasm[prev:]...), img, nil
}

// resolve returns what segments (active, constant) leave in memory, sorted by address: a
// sweep over the addresses where a segment starts or ends, keeping the segments that cover
// the current address in a heap by their position in the module, the last one winning.
// O(n log n) in the number of segments, whatever their sizes.
func resolve(segs []DataSegment) []Segment {
	var bounds []uint64
	var byStart []int
	for i, s := range segs {
		if len(s.Init) > 0 {
			bounds = append(bounds, uint64(s.Offset), s.end())
			byStart = append(byStart, i)
		}
	}
	slices.Sort(bounds)
	bounds = slices.Compact(bounds)
	slices.SortStableFunc(byStart, func(a, b int) int { return cmp.Compare(segs[a].Offset, segs[b].Offset) })
	var active lastFirst
	var out []Segment
	winner, next := -1, 0
	for k := 0; k+1 < len(bounds); k++ {
		x, y := bounds[k], bounds[k+1]
		for ; next < len(byStart) && uint64(segs[byStart[next]].Offset) == x; next++ {
			heap.Push(&active, byStart[next])
		}
		for active.Len() > 0 && segs[active[0]].end() <= x {
			heap.Pop(&active)
		}
		if active.Len() == 0 {
			winner = -1
			continue
		}
		w := active[0]
		s := segs[w]
		if n := len(out); w == winner && segEnd(out[n-1]) == x {
			start := out[n-1].Offset - uint64(s.Offset)
			out[n-1].Data = s.Init[start : y-uint64(s.Offset)]
		} else {
			out = append(out, Segment{Offset: x, Data: s.Init[x-uint64(s.Offset) : y-uint64(s.Offset)]})
		}
		winner = w
	}
	return out
}

// lastFirst is a heap of segment positions, the highest (the latest in the module) on top.
type lastFirst []int

func (h lastFirst) Len() int           { return len(h) }
func (h lastFirst) Less(i, j int) bool { return h[i] > h[j] }
func (h lastFirst) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *lastFirst) Push(x any)        { *h = append(*h, x.(int)) }
func (h *lastFirst) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
