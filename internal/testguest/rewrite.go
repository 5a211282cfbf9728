package testguest

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// rewriteHello returns the hand-written WAT guest of the conformance suite (hello.wasm, which
// registers "wat_hello") with each section's body passed through edit (by section ID), and a
// custom section named name holding n appended, so that modules made with different n differ.
func rewriteHello(t testing.TB, name string, n int, edit func(id byte, body []byte) []byte) []byte {
	t.Helper()
	wasm, err := os.ReadFile(filepath.Join(Root(), "conformance", "testdata", "wat", "hello.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	out := append([]byte(nil), wasm[:8]...)
	for p := 8; p < len(wasm); {
		id := wasm[p]
		size, q := readULEB(wasm, p+1)
		body := edit(id, wasm[q:q+int(size)])
		p = q + int(size)
		out = append(out, id)
		out = appendULEB(out, uint32(len(body)))
		out = append(out, body...)
	}
	payload := fmt.Appendf(nil, "%d", n)
	custom := appendULEB(nil, uint32(len(name)))
	custom = append(append(custom, name...), payload...)
	out = append(out, 0)
	out = appendULEB(out, uint32(len(custom)))
	return append(out, custom...)
}

// appendToVector returns a vector section's body with count more entries, written by add
// after the existing ones.
func appendToVector(body []byte, more int, add func([]byte) []byte) []byte {
	count, r := readULEB(body, 0)
	nb := appendULEB(nil, count+uint32(more))
	return add(append(nb, body[r:]...))
}

func readULEB(b []byte, p int) (uint32, int) {
	v, n := binary.Uvarint(b[p:])
	return uint32(v), p + n
}

func appendULEB(b []byte, v uint32) []byte { return binary.AppendUvarint(b, uint64(v)) }

func appendSLEB(b []byte, v int32) []byte {
	x := int64(v)
	for {
		c := byte(x & 0x7f)
		x >>= 7
		if (x == 0 && c&0x40 == 0) || (x == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}
