package testguest

import "testing"

// Nested returns the hand-written WAT guest of the conformance suite (hello.wasm, which
// registers "wat_hello") with funcs more functions, none exported, each of whose bodies
// nests depth empty blocks, made distinct from every other call's module by n (a custom
// section). It stays a valid guest: a compiler's time grows with the square of a body's
// nesting, so that a depth past the host's limit is a compile bomb that the host must refuse
// before compiling, and many functions just under it a module that is slow to compile.
func Nested(t testing.TB, depth, funcs, n int) []byte {
	t.Helper()
	if depth < 0 || funcs < 0 {
		t.Fatalf("testguest.Nested: depth %d and funcs %d must not be negative", depth, funcs)
	}
	// One body: no locals, depth times "block (empty type)", depth times "end", and the
	// body's own end.
	body := []byte{0}
	for range depth {
		body = append(body, 0x02, 0x40)
	}
	for range depth + 1 {
		body = append(body, 0x0b)
	}
	var typeIndex uint32
	return rewriteHello(t, "durohost.test.nested", n, func(id byte, sec []byte) []byte {
		switch id {
		case 1: // types: one more, () -> (), for the new functions
			typeIndex, _ = readULEB(sec, 0)
			return appendToVector(sec, 1, func(b []byte) []byte { return append(b, 0x60, 0, 0) })
		case 3: // functions: funcs more of the new type, after the module's own
			return appendToVector(sec, funcs, func(b []byte) []byte {
				for range funcs {
					b = appendULEB(b, typeIndex)
				}
				return b
			})
		case 10: // code: their bodies, in the same order
			return appendToVector(sec, funcs, func(b []byte) []byte {
				for range funcs {
					b = appendULEB(b, uint32(len(body)))
					b = append(b, body...)
				}
				return b
			})
		}
		return sec
	})
}
