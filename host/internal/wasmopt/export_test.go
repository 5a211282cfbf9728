package wasmopt

// DataSegments returns the number of segments in a module's data section (tests only).
func DataSegments(wasm []byte) (int, error) {
	secs, err := sections(wasm)
	if err != nil {
		return 0, err
	}
	for _, s := range secs {
		if s.id == sectionData {
			n, _, err := readU32(wasm[:s.end], s.body)
			return int(n), err
		}
	}
	return 0, nil
}

// Sections returns a module's sections other than data and data count, each with its
// header, in order (tests only).
func Sections(wasm []byte) ([][]byte, error) {
	secs, err := sections(wasm)
	if err != nil {
		return nil, err
	}
	var out [][]byte
	for _, s := range secs {
		if s.id != sectionData && s.id != sectionDataCount {
			out = append(out, wasm[s.start:s.end])
		}
	}
	return out, nil
}

// Exported for tests.
var (
	ReadU32   = readU32
	ReadS32   = readS32
	AppendU32 = appendU32
	AppendS32 = appendS32
	MayIndex  = mayIndexData
)
