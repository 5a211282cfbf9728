package wasmopt

// sectionMemory is the memory section's ID.
const sectionMemory byte = 5

// pageBytes is the size of a WebAssembly page.
const pageBytes = 1 << 16

// MaxImage bounds the memory image DataImage builds: the end of the highest data segment.
const MaxImage = 256 << 20

// DataImage splits a module into the same module without its data segments and the image of
// its initial memory: the bytes its active data segments write, from address 0 to the end of
// the highest one, later segments overwriting earlier ones. Instantiating the stripped module
// in a memory that starts out holding the image (zeros beyond it) gives the memory that
// instantiating the module gives, byte for byte: a host can then map the image copy-on-write
// instead of letting the runtime copy every segment into fresh memory at each instantiation.
//
// It applies to the modules MergeDataSegments applies to (a memory the module defines, every
// segment active on memory 0 at an i32.const offset, no memory.init or data.drop) whose
// segments all lie within the memory's initial size, so that instantiating the original cannot
// fail on a segment, and whose image is at most MaxImage bytes. For any other module (or one
// without data) it returns the module unchanged (the same slice) and a nil image. Malformed
// input is an error wrapping ErrMalformed.
func DataImage(wasm []byte) (stripped, image []byte, err error) {
	l, ok, err := scanLayout(wasm)
	if err != nil {
		return nil, nil, err
	}
	if !ok {
		return wasm, nil, nil
	}
	secs, data, count, code, mem := l.secs, l.data, l.count, l.code, l.mem
	if data < 0 || mem < 0 {
		return wasm, nil, nil
	}
	initial, ok, err := initialMemory(wasm[:secs[mem].end], secs[mem].body)
	if err != nil || !ok {
		return wasm, nil, err
	}
	ds := secs[data]
	segs, ok, err := readData(wasm[:ds.end], ds.body)
	if err != nil || !ok || len(segs) == 0 {
		return wasm, nil, err
	}
	var end uint64
	for _, s := range segs {
		if !s.mergeable() {
			return wasm, nil, nil
		}
		end = max(end, s.end())
	}
	if end > initial || end > MaxImage {
		return wasm, nil, nil
	}
	if count >= 0 {
		cs := secs[count]
		n, after, err := readU32(wasm[:cs.end], cs.body)
		if err != nil {
			return nil, nil, malformed(cs.body, "data count section: %v", err)
		}
		if after != cs.end || int(n) != len(segs) {
			return wasm, nil, nil // invalid: left for the compiler to reject
		}
		// memory.init and data.drop are valid only with a data count section.
		if code >= 0 && mayIndexData(wasm[secs[code].body:secs[code].end]) {
			return wasm, nil, nil
		}
	}
	image = make([]byte, end)
	for _, s := range segs {
		copy(image[s.offset:], s.init)
	}
	out := make([]byte, 0, len(wasm)-(ds.end-ds.start)+8)
	prev := 0
	for i, s := range secs {
		switch i {
		case count:
			out = append(out, wasm[prev:s.start]...)
			out = appendSection(out, sectionDataCount, appendU32(nil, 0))
			prev = s.end
		case data:
			out = append(out, wasm[prev:s.start]...)
			out = appendSection(out, sectionData, appendU32(nil, 0))
			prev = s.end
		}
	}
	return append(out, wasm[prev:]...), image, nil
}

// initialMemory reads the memory section whose contents are b[p:] and returns the initial
// size in bytes of its only memory. ok is false when there is not exactly one memory or it is
// not a plain 32-bit memory (shared or 64-bit memories are left alone).
func initialMemory(b []byte, p int) (bytes uint64, ok bool, err error) {
	n, q, err := readU32(b, p)
	if err != nil {
		return 0, false, malformed(p, "memory section: count: %v", err)
	}
	if n != 1 || q >= len(b) {
		return 0, false, nil
	}
	flags := b[q]
	if flags > 1 {
		return 0, false, nil
	}
	pages, _, err := readU32(b, q+1)
	if err != nil {
		return 0, false, malformed(q+1, "memory section: minimum: %v", err)
	}
	return uint64(pages) * pageBytes, true, nil
}
