package testguest

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// HighData returns the hand-written WAT guest of the conformance suite (hello.wasm, which
// registers "wat_hello") with its memory grown to pages and a data segment of size bytes at
// address at, made distinct from every other call's module by n (a custom section): a small
// module whose initial memory reaches far, as a hostile upload's would.
func HighData(t testing.TB, pages uint32, at uint32, size int, n int) []byte {
	t.Helper()
	wasm, err := os.ReadFile(filepath.Join(Root(), "conformance", "testdata", "wat", "hello.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	out := append([]byte(nil), wasm[:8]...)
	for p := 8; p < len(wasm); {
		id := wasm[p]
		size32, q := readULEB(wasm, p+1)
		body := wasm[q : q+int(size32)]
		p = q + int(size32)
		switch id {
		case 5: // memory: one memory of pages, no maximum
			body = appendULEB([]byte{1, 0}, pages)
		case 11: // data: one more active segment on memory 0 at i32.const at
			count, r := readULEB(body, 0)
			nb := appendULEB(nil, count+1)
			nb = append(nb, body[r:]...)
			nb = append(nb, 0, 0x41)
			nb = appendSLEB(nb, int32(at))
			nb = append(nb, 0x0b)
			nb = appendULEB(nb, uint32(size))
			for i := range size {
				nb = append(nb, byte(i*7+n))
			}
			body = nb
		}
		out = append(out, id)
		out = appendULEB(out, uint32(len(body)))
		out = append(out, body...)
	}
	name := "durohost.test"
	payload := fmt.Appendf(nil, "%d", n)
	custom := appendULEB(nil, uint32(len(name)))
	custom = append(append(custom, name...), payload...)
	out = append(out, 0)
	out = appendULEB(out, uint32(len(custom)))
	return append(out, custom...)
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
