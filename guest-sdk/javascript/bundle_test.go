package javascript

import (
	"bytes"
	"errors"
	"testing"

	"github.com/fxamacker/cbor/v2"
)

// customSections returns the custom sections of a module by name (their contents after the
// name), failing on a malformed module.
func customSections(t *testing.T, wasm []byte) map[string][][]byte {
	t.Helper()
	if !bytes.HasPrefix(wasm, []byte("\x00asm\x01\x00\x00\x00")) {
		t.Fatal("not a WebAssembly module")
	}
	uleb := func(b []byte) (uint64, int) {
		var v uint64
		for i, c := range b {
			v |= uint64(c&0x7f) << (7 * i)
			if c < 0x80 {
				return v, i + 1
			}
		}
		t.Fatal("truncated LEB128")
		return 0, 0
	}
	out := map[string][][]byte{}
	for p := 8; p < len(wasm); {
		id := wasm[p]
		size, n := uleb(wasm[p+1:])
		body := wasm[p+1+n : p+1+n+int(size)]
		if id == 0 {
			l, m := uleb(body)
			name := string(body[m : m+int(l)])
			out[name] = append(out[name], body[m+int(l):])
		}
		p += 1 + n + int(size)
	}
	return out
}

func TestBundle(t *testing.T) {
	script := []byte(`durohost.register("x", function* (ctx) { return 1; });`)
	a, err := Bundle(script)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Bundle(script)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Fatal("the same script gives different modules")
	}
	if !bytes.HasPrefix(a, Runtime) {
		t.Fatal("the module does not start with the runtime")
	}
	secs := customSections(t, a)[FilesSection]
	if len(secs) != 1 {
		t.Fatalf("%d %s sections, want 1", len(secs), FilesSection)
	}
	var files map[string][]byte
	if err := cbor.Unmarshal(secs[0], &files); err != nil {
		t.Fatal(err)
	}
	if len(files) != 2 || !bytes.Equal(files[MainFile], script) || !bytes.Equal(files[SDKFile], SDK) {
		t.Fatalf("bundled files %v", files)
	}
	if _, err := Bundle([]byte{0xff}); !errors.Is(err, ErrBadScript) {
		t.Fatalf("a script that is not UTF-8: %v", err)
	}
}
