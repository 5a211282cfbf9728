package testguest

import "testing"

// HighData returns the hand-written WAT guest of the conformance suite (hello.wasm, which
// registers "wat_hello") with its memory grown to pages and a data segment of size bytes at
// address at, made distinct from every other call's module by n (a custom section): a small
// module whose initial memory reaches far, as a hostile upload's would.
func HighData(t testing.TB, pages uint32, at uint32, size int, n int) []byte {
	t.Helper()
	return rewriteHello(t, "durohost.test", n, func(id byte, body []byte) []byte {
		switch id {
		case 5: // memory: one memory of pages, no maximum
			return appendULEB([]byte{1, 0}, pages)
		case 11: // data: one more active segment on memory 0 at i32.const at
			return appendToVector(body, 1, func(b []byte) []byte {
				b = append(b, 0, 0x41)
				b = appendSLEB(b, int32(at))
				b = append(b, 0x0b)
				b = appendULEB(b, uint32(size))
				for i := range size {
					b = append(b, byte(i*7+n))
				}
				return b
			})
		}
		return body
	})
}
