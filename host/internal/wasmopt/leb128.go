package wasmopt

// readU32 decodes an unsigned LEB128 u32 at b[p:], as strictly as the WebAssembly
// specification: at most 5 bytes, and the unused bits of the fifth byte must be zero. It
// returns the value and the offset just past it, or errLEBEnd or errLEBRange.
func readU32(b []byte, p int) (uint32, int, error) {
	var v uint32
	for i := 0; i < 5; i++ {
		if p+i >= len(b) {
			return 0, 0, errLEBEnd
		}
		c := b[p+i]
		if i == 4 && c&0xf0 != 0 {
			return 0, 0, errLEBRange
		}
		v |= uint32(c&0x7f) << (7 * i)
		if c&0x80 == 0 {
			return v, p + i + 1, nil
		}
	}
	panic("unreachable")
}

// readS32 decodes a signed LEB128 s32 at b[p:] with the specification's rules: at most 5
// bytes, and the unused bits of the fifth byte must repeat the sign bit.
func readS32(b []byte, p int) (int32, int, error) {
	var v uint32
	for i := 0; i < 5; i++ {
		if p+i >= len(b) {
			return 0, 0, errLEBEnd
		}
		c := b[p+i]
		if i == 4 {
			if c&0x80 != 0 || (c&0x78 != 0 && c&0x78 != 0x78) {
				return 0, 0, errLEBRange
			}
			return int32(v | uint32(c)<<28), p + 5, nil
		}
		v |= uint32(c&0x7f) << (7 * i)
		if c&0x80 == 0 {
			shift := 7 * (i + 1)
			if c&0x40 != 0 { // negative: sign-extend
				v |= ^uint32(0) << shift
			}
			return int32(v), p + i + 1, nil
		}
	}
	panic("unreachable")
}

// readS64 decodes a signed LEB128 s64 at b[p:]: at most 10 bytes, and the unused bits of the
// tenth byte must repeat the sign bit.
func readS64(b []byte, p int) (int64, int, error) {
	var v uint64
	for i := 0; i < 10; i++ {
		if p+i >= len(b) {
			return 0, 0, errLEBEnd
		}
		c := b[p+i]
		if i == 9 {
			if c != 0 && c != 0x7f {
				return 0, 0, errLEBRange
			}
			return int64(v | uint64(c)<<63), p + 10, nil
		}
		v |= uint64(c&0x7f) << (7 * i)
		if c&0x80 == 0 {
			shift := 7 * (i + 1)
			if c&0x40 != 0 {
				v |= ^uint64(0) << shift
			}
			return int64(v), p + i + 1, nil
		}
	}
	panic("unreachable")
}

// readS33 decodes a signed LEB128 s33 (a block type's type index) at b[p:]: at most 5 bytes,
// and the unused bits of the fifth byte must repeat the sign bit.
func readS33(b []byte, p int) (int64, int, error) {
	var v uint64
	for i := 0; i < 5; i++ {
		if p+i >= len(b) {
			return 0, 0, errLEBEnd
		}
		c := b[p+i]
		if i == 4 {
			if c&0x80 != 0 || (c&0x70 != 0 && c&0x70 != 0x70) {
				return 0, 0, errLEBRange
			}
			v |= uint64(c) << 28
			if c&0x10 != 0 {
				v |= ^uint64(1<<33 - 1)
			}
			return int64(v), p + 5, nil
		}
		v |= uint64(c&0x7f) << (7 * i)
		if c&0x80 == 0 {
			shift := 7 * (i + 1)
			if c&0x40 != 0 {
				v |= ^uint64(0) << shift
			}
			return int64(v), p + i + 1, nil
		}
	}
	panic("unreachable")
}

// appendU32 appends the shortest unsigned LEB128 encoding of v.
func appendU32(b []byte, v uint32) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

// appendS32 appends the shortest signed LEB128 encoding of v.
func appendS32(b []byte, v int32) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}
