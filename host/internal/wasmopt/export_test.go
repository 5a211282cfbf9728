package wasmopt

// DataSegments returns the number of segments in a module's data section (tests only).
func DataSegments(wasm []byte) (int, error) {
	m, err := Parse(wasm)
	if err != nil {
		return 0, err
	}
	return len(m.Data), nil
}

// Sections returns a module's sections other than data and data count, each with its
// header, in order (tests only).
func Sections(wasm []byte) ([][]byte, error) {
	m, err := Parse(wasm)
	if err != nil {
		return nil, err
	}
	var out [][]byte
	for _, s := range m.Sections {
		if s.ID != SectionData && s.ID != SectionDataCount {
			out = append(out, wasm[s.Start:s.End])
		}
	}
	return out, nil
}

// Exported for tests.
var (
	ReadU32   = readU32
	ReadS32   = readS32
	ReadS64   = readS64
	ReadS33   = readS33
	AppendU32 = appendU32
	AppendS32 = appendS32
)

// MaxImage bounds the flat memory image DataImage builds (tests only).
const MaxImage = 256 << 20

// The transformations on bytes, as the tests compare them (the host reads a module once
// with Parse and applies the methods).

// Snapshottable parses wasm and reports (*Module).Snapshottable.
func Snapshottable(wasm []byte) (bool, error) {
	m, err := Parse(wasm)
	if err != nil {
		return false, err
	}
	return m.Snapshottable(), nil
}

// ExportGlobals parses wasm and applies (*Module).ExportGlobals.
func ExportGlobals(wasm []byte) (out []byte, names []string, err error) {
	m, err := Parse(wasm)
	if err != nil {
		return nil, nil, err
	}
	return m.ExportGlobals()
}

// DataImage parses wasm and applies (*Module).DataImage, returning the image flat: image[a]
// is the byte at address a, up to the end of the highest segment. Modules whose image would
// be larger than MaxImage are returned unchanged with a nil image.
func DataImage(wasm []byte) (stripped, image []byte, err error) {
	m, err := Parse(wasm)
	if err != nil {
		return nil, nil, err
	}
	stripped, img, err := m.DataImage()
	if err != nil || img == nil {
		return stripped, nil, err
	}
	if img.Size > MaxImage {
		return wasm, nil, nil
	}
	image = make([]byte, img.Size)
	for _, s := range img.Segments {
		copy(image[s.Offset:], s.Data)
	}
	return stripped, image, nil
}

// MergeDataSegments parses wasm and applies (*Module).MergeDataSegments.
func MergeDataSegments(wasm []byte) ([]byte, error) {
	m, err := Parse(wasm)
	if err != nil {
		return nil, err
	}
	return m.MergeDataSegments()
}
