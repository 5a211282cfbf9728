package plugins

import (
	"errors"
	"fmt"
)

// moveImportsOf returns wasm with its imports of the kernel's functions movedFuncs moved to
// hostModule (the bytes themselves when it imports none of them). The module was checked (Describe):
// it is well formed and imports functions only.
func moveImportsOf(wasm []byte) ([]byte, error) {
	if len(wasm) < 8 {
		return nil, errors.New("no module header")
	}
	out := append([]byte(nil), wasm[:8]...)
	moved := false
	for p := 8; p < len(wasm); {
		id := wasm[p]
		size, n, err := uleb(wasm, p+1)
		if err != nil {
			return nil, err
		}
		start := p + 1 + n
		end := start + int(size)
		if end > len(wasm) || end < start {
			return nil, errors.New("a section runs past the end of the module")
		}
		if id != 2 {
			out = append(out, wasm[p:end]...)
			p = end
			continue
		}
		sec, m, err := moveImports(wasm[start:end])
		if err != nil {
			return nil, fmt.Errorf("import section: %w", err)
		}
		moved = moved || m
		out = append(out, 2)
		out = appendUleb(out, uint64(len(sec)))
		out = append(out, sec...)
		p = end
	}
	if !moved {
		return wasm, nil
	}
	return out, nil
}

// moveImports rewrites the body of an import section.
func moveImports(b []byte) (out []byte, moved bool, err error) {
	count, p, err := uleb(b, 0)
	if err != nil {
		return nil, false, err
	}
	out = appendUleb(nil, count)
	name := func() (string, error) {
		l, n, err := uleb(b, p)
		if err != nil {
			return "", err
		}
		p += n
		if p+int(l) > len(b) || p+int(l) < p {
			return "", errors.New("a name runs past the end of the section")
		}
		s := string(b[p : p+int(l)])
		p += int(l)
		return s, nil
	}
	for range count {
		mod, err := name()
		if err != nil {
			return nil, false, err
		}
		field, err := name()
		if err != nil {
			return nil, false, err
		}
		if p >= len(b) || b[p] != 0 {
			return nil, false, fmt.Errorf("import %s.%s is not a function", mod, field)
		}
		typ, n, err := uleb(b, p+1)
		if err != nil {
			return nil, false, err
		}
		p += 1 + n
		if mod == KernelModule && movedFuncs[field] {
			mod, moved = hostModule, true
		}
		out = appendUleb(out, uint64(len(mod)))
		out = append(out, mod...)
		out = appendUleb(out, uint64(len(field)))
		out = append(out, field...)
		out = append(out, 0)
		out = appendUleb(out, typ)
	}
	if p != len(b) {
		return nil, false, errors.New("bytes after the last import")
	}
	return out, moved, nil
}

// uleb reads an unsigned LEB128 of at most 32 bits at b[p:]: its value and length.
func uleb(b []byte, p int) (uint64, int, error) {
	var v uint64
	for i := 0; i < 5; i++ {
		if p+i >= len(b) {
			return 0, 0, errors.New("truncated LEB128")
		}
		c := b[p+i]
		v |= uint64(c&0x7f) << (7 * i)
		if c&0x80 == 0 {
			if v > 1<<32-1 {
				return 0, 0, errors.New("LEB128 larger than 32 bits")
			}
			return v, i + 1, nil
		}
	}
	return 0, 0, errors.New("LEB128 longer than 5 bytes")
}

func appendUleb(b []byte, v uint64) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v == 0 {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}
