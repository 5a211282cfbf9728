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
