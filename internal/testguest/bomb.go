package testguest

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

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
	wasm, err := os.ReadFile(filepath.Join(Root(), "conformance", "testdata", "wat", "hello.wasm"))
	if err != nil {
		t.Fatal(err)
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
	out := append([]byte(nil), wasm[:8]...)
	for p := 8; p < len(wasm); {
		id := wasm[p]
		size, q := readULEB(wasm, p+1)
		sec := wasm[q : q+int(size)]
		p = q + int(size)
		switch id {
		case 1: // types: one more, () -> (), for the new functions
			count, r := readULEB(sec, 0)
			typeIndex = count
			nb := appendULEB(nil, count+1)
			sec = append(append(nb, sec[r:]...), 0x60, 0, 0)
		case 3: // functions: funcs more of the new type, after the module's own
			count, r := readULEB(sec, 0)
			nb := appendULEB(nil, count+uint32(funcs))
			nb = append(nb, sec[r:]...)
			for range funcs {
				nb = appendULEB(nb, typeIndex)
			}
			sec = nb
		case 10: // code: their bodies, in the same order
			count, r := readULEB(sec, 0)
			nb := appendULEB(nil, count+uint32(funcs))
			nb = append(nb, sec[r:]...)
			for range funcs {
				nb = appendULEB(nb, uint32(len(body)))
				nb = append(nb, body...)
			}
			sec = nb
		}
		out = append(out, id)
		out = appendULEB(out, uint32(len(sec)))
		out = append(out, sec...)
	}
	name := "durohost.test.nested"
	payload := fmt.Appendf(nil, "%d", n)
	custom := appendULEB(nil, uint32(len(name)))
	custom = append(append(custom, name...), payload...)
	out = append(out, 0)
	out = appendULEB(out, uint32(len(custom)))
	return append(out, custom...)
}
