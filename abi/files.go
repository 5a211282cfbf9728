package abi

import (
	"fmt"

	"github.com/fxamacker/cbor/v2"
)

// StreamFilesSection names the custom section in which a stream-form module bundles
// read-only files, served under /durohost/files (ABI.md, "Stream form"): a CBOR map of paths
// to byte strings.
const StreamFilesSection = "durohost.files"

// AppendStreamFiles returns module with files appended as its StreamFilesSection, encoded in
// CBOR's core deterministic form, so that the result depends on the module and the files
// only (the bundlers of the interpreted SDKs build their modules with it).
func AppendStreamFiles(module []byte, files map[string][]byte) ([]byte, error) {
	enc, err := cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		return nil, err
	}
	payload, err := enc.Marshal(files)
	if err != nil {
		return nil, fmt.Errorf("encode bundled files: %w", err)
	}
	var body []byte
	body = appendULEB(body, uint64(len(StreamFilesSection)))
	body = append(body, StreamFilesSection...)
	body = append(body, payload...)
	out := make([]byte, 0, len(module)+len(body)+16)
	out = append(out, module...)
	out = append(out, 0) // custom section
	out = appendULEB(out, uint64(len(body)))
	return append(out, body...), nil
}

func appendULEB(b []byte, v uint64) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v != 0 {
			c |= 0x80
		}
		b = append(b, c)
		if v == 0 {
			return b
		}
	}
}
