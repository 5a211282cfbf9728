package wasmopt

// imm is what follows an opcode in the instruction stream (specification §5.4).
type imm uint8

const (
	immUnknown imm = iota // not an opcode of WebAssembly 2.0
	immNone
	immBlock      // block, loop, if: a block type; opens a block
	immElse       // else
	immEnd        // end: closes a block, or the body
	immIndex      // one u32 index
	immIndex2     // two u32 indices
	immBrTable    // a vector of labels and a default label
	immMemarg     // alignment and offset (u32, u32)
	immZero       // one reserved 0x00 byte (a memory index)
	immZero2      // two reserved 0x00 bytes (memory.copy)
	immI32        // s32
	immI64        // s64
	immF32        // 4 bytes
	immF64        // 8 bytes
	immSelect     // a vector of value types
	immRefNull    // a reference type
	immMisc       // 0xfc prefix: a u32 opcode and its immediates
	immVec        // 0xfd prefix: an opcode byte and its immediates
	immIndexZero  // memory.init: a data index and a reserved 0x00 byte
	immMemargLane // SIMD load/store lane: memarg and a lane index byte
	immLane       // SIMD lane index byte
	immBytes16    // v128.const, i8x16.shuffle: 16 bytes
)

// ops gives the immediates of every one-byte opcode of WebAssembly 2.0.
var ops = func() (t [256]imm) {
	set := func(from, to byte, k imm) {
		for op := int(from); op <= int(to); op++ {
			t[op] = k
		}
	}
	set(0x00, 0x01, immNone)   // unreachable, nop
	set(0x02, 0x04, immBlock)  // block, loop, if
	t[0x05] = immElse          //
	t[0x0b] = immEnd           //
	set(0x0c, 0x0d, immIndex)  // br, br_if
	t[0x0e] = immBrTable       //
	t[0x0f] = immNone          // return
	t[0x10] = immIndex         // call
	t[0x11] = immIndex2        // call_indirect: type, table
	set(0x1a, 0x1b, immNone)   // drop, select
	t[0x1c] = immSelect        // select t*
	set(0x20, 0x26, immIndex)  // local.get/set/tee, global.get/set, table.get/set
	set(0x28, 0x3e, immMemarg) // loads and stores
	set(0x3f, 0x40, immZero)   // memory.size, memory.grow
	t[0x41] = immI32
	t[0x42] = immI64
	t[0x43] = immF32
	t[0x44] = immF64
	set(0x45, 0xc4, immNone) // numeric instructions, sign extension
	t[0xd0] = immRefNull
	t[0xd1] = immNone  // ref.is_null
	t[0xd2] = immIndex // ref.func
	t[0xfc] = immMisc
	t[0xfd] = immVec
	return t
}()

// miscOps gives the immediates of the 0xfc opcodes of WebAssembly 2.0.
var miscOps = [...]imm{
	0: immNone, 1: immNone, 2: immNone, 3: immNone, // i32.trunc_sat_*
	4: immNone, 5: immNone, 6: immNone, 7: immNone, // i64.trunc_sat_*
	8:  immIndexZero, // memory.init
	9:  immIndex,     // data.drop
	10: immZero2,     // memory.copy
	11: immZero,      // memory.fill
	12: immIndex2,    // table.init: element, table
	13: immIndex,     // elem.drop
	14: immIndex2,    // table.copy
	15: immIndex,     // table.grow
	16: immIndex,     // table.size
	17: immIndex,     // table.fill
}

// vecOps gives the immediates of the 0xfd opcodes of WebAssembly 2.0 (SIMD).
var vecOps = func() (t [256]imm) {
	for op := range t {
		t[op] = immNone
	}
	for op := 0x00; op <= 0x0b; op++ { // v128.load*, v128.store
		t[op] = immMemarg
	}
	t[0x5c], t[0x5d] = immMemarg, immMemarg   // v128.load32_zero, v128.load64_zero
	t[0x0c], t[0x0d] = immBytes16, immBytes16 // v128.const, i8x16.shuffle
	for op := 0x15; op <= 0x22; op++ {        // extract_lane, replace_lane
		t[op] = immLane
	}
	for op := 0x54; op <= 0x5b; op++ { // v128.load*_lane, v128.store*_lane
		t[op] = immMemargLane
	}
	// Opcodes SIMD leaves unassigned.
	for _, op := range []int{0x9a, 0xa2, 0xa5, 0xa6, 0xaf, 0xb0, 0xb2, 0xb3, 0xb4, 0xbb, 0xc2, 0xc5, 0xc6,
		0xcf, 0xd0, 0xd2, 0xd3, 0xd4, 0xe2, 0xee} {
		t[op] = immUnknown
	}
	return t
}()

// proposals names opcodes of proposals beyond WebAssembly 2.0, for errors.
var proposals = map[byte]string{
	0x06: "try (legacy exception handling)", 0x07: "catch (legacy exception handling)",
	0x08: "throw (exception handling)", 0x09: "rethrow (legacy exception handling)",
	0x0a: "throw_ref (exception handling)", 0x12: "return_call (tail calls)",
	0x13: "return_call_indirect (tail calls)", 0x14: "call_ref (typed function references)",
	0x15: "return_call_ref (typed function references)", 0x18: "delegate (legacy exception handling)",
	0x19: "catch_all (legacy exception handling)", 0x1f: "try_table (exception handling)",
	0xd3: "ref.eq (garbage collection)", 0xd4: "ref.as_non_null (typed function references)",
	0xd5: "br_on_null (typed function references)", 0xd6: "br_on_non_null (typed function references)",
	0xfb: "prefix of garbage collection", 0xfe: "prefix of threads (atomics)",
}

// body decodes the body of function fn (in the function index space) at b[start:end], after
// its size, into c.
func (p *parser) body(c *Code, start, end int) {
	b := p.b[:end]
	p.p = start
	p.end = end
	// Locals: a vector of (count, type).
	n := p.count("local declarations", 2)
	for range n {
		at := p.p
		k := p.u32("local count")
		if c.Locals += uint64(k); c.Locals > 1<<32-1 {
			p.fail(at, "more than 2^32-1 locals")
		}
		p.valType("local type")
	}
	c.Expr = p.p
	// open holds the kind of every open block (the opcode: block, loop, if; else once an if
	// has met its else).
	open := p.open[:0]
	q, maxDepth, loops, maxLoops, instructions := p.p, 0, 0, 0, 0
	var err error
	for q < end {
		at := q
		op := b[q]
		q++
		instructions++
		switch ops[op] {
		case immNone:
		case immBlock:
			if q >= end {
				p.fail(at, "block type: unexpected end of body")
			}
			// A block type is an s33: negative for the empty type (-64, 0x40) or a value type
			// (its byte), a type index otherwise. wazero reads it as an s33 in any encoding.
			var t int64
			if bt := b[q]; bt < 0x80 {
				t, q = int64(bt), q+1
				if bt&0x40 != 0 {
					t -= 0x80
				}
			} else if t, q, err = readS33(b, q); err != nil {
				p.fail(at+1, "block type: %v", err)
			}
			if t < 0 {
				if t < -64 || (t != -64 && !valueType(byte(t+0x80))) {
					p.fail(at+1, "unknown block type %d", t)
				}
			} else if t >= int64(len(p.m.Types)) {
				p.fail(at+1, "block type index %d out of range (%d types)", t, len(p.m.Types))
			}
			open = append(open, op)
			maxDepth = max(maxDepth, len(open))
			if op == 0x03 {
				loops++
				maxLoops = max(maxLoops, loops)
			}
		case immElse:
			if len(open) == 0 || open[len(open)-1] != 0x04 {
				p.fail(at, "else outside an if")
			}
			open[len(open)-1] = 0x05
		case immEnd:
			if len(open) == 0 {
				if q != end {
					p.fail(at, "the body's final end comes %d bytes before the end of its declared size", end-q)
				}
				c.End, c.Depth, c.LoopDepth, c.Instructions = q, maxDepth, maxLoops, instructions
				p.p, p.open = q, open
				return
			}
			if open[len(open)-1] == 0x03 {
				loops--
			}
			open = open[:len(open)-1]
		case immIndex:
			if q < end && b[q] < 0x80 {
				q++
				continue
			}
			q = p.skipU32(b, q, at)
		case immIndex2:
			q = p.skipU32(b, q, at)
			q = p.skipU32(b, q, at)
		case immBrTable:
			var k uint32
			if k, q, err = readU32(b, q); err != nil {
				p.fail(at+1, "br_table: label count: %v", err)
			}
			if uint64(k) >= uint64(end-q) {
				p.fail(at+1, "br_table: %d labels cannot fit in the %d bytes left", k, end-q)
			}
			for range k + 1 {
				q = p.skipU32(b, q, at)
			}
		case immMemarg:
			if q+1 < end && b[q] < 0x80 && b[q+1] < 0x80 {
				q += 2
				continue
			}
			q = p.skipU32(b, q, at)
			q = p.skipU32(b, q, at)
		case immZero:
			q = p.zero(b, q, at)
		case immI32:
			if q < end && b[q] < 0x80 {
				q++
				continue
			}
			if _, q, err = readS32(b, q); err != nil {
				p.fail(at+1, "i32.const: %v", err)
			}
		case immI64:
			if q < end && b[q] < 0x80 {
				q++
				continue
			}
			if _, q, err = readS64(b, q); err != nil {
				p.fail(at+1, "i64.const: %v", err)
			}
		case immF32:
			q = p.skip(b, q, 4, at)
		case immF64:
			q = p.skip(b, q, 8, at)
		case immSelect:
			var k uint32
			if k, q, err = readU32(b, q); err != nil {
				p.fail(at+1, "select: type count: %v", err)
			}
			if uint64(k) > uint64(end-q) {
				p.fail(at+1, "select: %d types cannot fit in the %d bytes left", k, end-q)
			}
			for range k {
				if !valueType(b[q]) {
					p.fail(q, "select: unknown value type 0x%02x", b[q])
				}
				q++
			}
		case immRefNull:
			if q >= end || !refType(b[q]) {
				p.fail(at+1, "ref.null: not a reference type")
			}
			q++
		case immMisc:
			var sub uint32
			sub, q = p.subOpcode(b, q, at)
			if int(sub) >= len(miscOps) {
				p.fail(at, "unknown opcode 0xfc %d", sub)
			}
			switch miscOps[sub] {
			case immIndexZero:
				p.m.DataIndexed = true
				q = p.skipU32(b, q, at)
				q = p.zero(b, q, at)
			case immIndex:
				if sub == 9 { // data.drop
					p.m.DataIndexed = true
				}
				q = p.skipU32(b, q, at)
			case immIndex2:
				q = p.skipU32(b, q, at)
				q = p.skipU32(b, q, at)
			case immZero:
				q = p.zero(b, q, at)
			case immZero2:
				q = p.zero(b, q, at)
				q = p.zero(b, q, at)
			}
		case immVec:
			// wazero reads the opcode after 0xfd as one byte, not as the u32 of the binary
			// format: an opcode from 0x80 on, encoded as that byte and 0x01, is for it that
			// opcode and a nop. Reading it the same way keeps the instructions (and the
			// blocks) this decoder finds those the compiler will find.
			if q >= end {
				p.fail(at, "opcode after prefix 0xfd: unexpected end of body")
			}
			sub := b[q]
			q++
			if vecOps[sub] == immUnknown {
				p.fail(at, "unknown opcode 0xfd 0x%02x", sub)
			}
			switch vecOps[sub] {
			case immMemarg:
				q = p.skipU32(b, q, at)
				q = p.skipU32(b, q, at)
			case immMemargLane:
				q = p.skipU32(b, q, at)
				q = p.skipU32(b, q, at)
				q = p.skip(b, q, 1, at)
			case immLane:
				q = p.skip(b, q, 1, at)
			case immBytes16:
				q = p.skip(b, q, 16, at)
			}
		default:
			if name, ok := proposals[op]; ok {
				p.fail(at, "unknown opcode 0x%02x: %s is not part of WebAssembly 2.0", op, name)
			}
			p.fail(at, "unknown opcode 0x%02x", op)
		}
	}
	p.open = open
	if len(open) > 0 {
		p.fail(end, "the body ends inside %d open blocks", len(open))
	}
	p.fail(end, "the body ends without its final end")
}

// skipU32 returns the offset just past the u32 at b[q:], an immediate of the instruction at at.
func (p *parser) skipU32(b []byte, q, at int) int {
	if q < len(b) && b[q] < 0x80 {
		return q + 1
	}
	_, q, err := readU32(b, q)
	if err != nil {
		p.fail(at, "immediate of opcode 0x%02x: %v", b[at], err)
	}
	return q
}

// skip returns q+n, failing if that is past the end of b.
func (p *parser) skip(b []byte, q, n, at int) int {
	if len(b)-q < n {
		p.fail(at, "immediate of opcode 0x%02x: unexpected end of body", b[at])
	}
	return q + n
}

// zero reads a reserved byte, which must be 0x00 (wazero accepts only that encoding).
func (p *parser) zero(b []byte, q, at int) int {
	if q >= len(b) || b[q] != 0 {
		p.fail(at, "opcode 0x%02x: reserved byte is not 0x00", b[at])
	}
	return q + 1
}

// subOpcode reads the u32 opcode after the prefix 0xfc.
func (p *parser) subOpcode(b []byte, q, at int) (uint32, int) {
	v, r, err := readU32(b, q)
	if err != nil {
		p.fail(at, "opcode after prefix 0x%02x: %v", b[at], err)
	}
	return v, r
}

// code reads the code section: every body, decoded.
func (p *parser) code() {
	m := p.m
	n := p.count("function bodies", 2)
	if n != len(m.Functions) {
		p.fail(p.p, "%d function bodies, but the function section declares %d functions", n, len(m.Functions))
	}
	m.Code = make([]Code, n)
	for i := range m.Code {
		c := &m.Code[i]
		at := p.p
		p.at("function", m.importedFuncs+i)
		size := p.u32("body size")
		if uint64(size) > uint64(p.end-p.p) {
			p.fail(at, "a body of %d bytes runs past the end of the section", size)
		}
		c.Offset, c.Size = p.p, int(size)
		sectionEnd := p.end
		p.fn = m.importedFuncs + i
		p.body(c, c.Offset, c.Offset+c.Size)
		p.fn, p.end = -1, sectionEnd
	}
}
