package abi

import (
	"math"
	"unicode/utf8"
)

// Hand-written codecs of the messages that cross the ABI on every operation. Marshal and
// Unmarshal work by reflection, which costs microseconds per message in a WebAssembly guest;
// these functions do the same work in a fraction of that, with one allocation per decoded
// payload or string and none for an encoding appended to a reused buffer.
//
// They do not define a second wire format:
//
//   - The Append functions produce exactly the bytes Marshal produces: core deterministic
//     encoding, map keys in ascending order, shortest heads, and a field omitted exactly when
//     its struct tag says omitempty and its value is zero.
//   - The Decode functions decode the form the Append functions (and Marshal) produce, and
//     everything that differs from it only by longer heads or by field order. Any other
//     input (indefinite lengths, tags, null values, text keys, duplicate or unknown keys,
//     wrong types, trailing bytes, ...) is handed to Unmarshal, so they accept, reject and
//     decode exactly what Unmarshal does, with its errors.
//
// wire_test.go proves both with table and fuzz tests.

// CBOR major types.
const (
	majorUint  = 0
	majorNeg   = 1
	majorBytes = 2
	majorText  = 3
	majorArray = 4
	majorMap   = 5
)

// appendHead appends the shortest head of a data item of major type major with argument n.
func appendHead(dst []byte, major byte, n uint64) []byte {
	m := major << 5
	switch {
	case n < 24:
		return append(dst, m|byte(n))
	case n <= math.MaxUint8:
		return append(dst, m|24, byte(n))
	case n <= math.MaxUint16:
		return append(dst, m|25, byte(n>>8), byte(n))
	case n <= math.MaxUint32:
		return append(dst, m|26, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return append(dst, m|27, byte(n>>56), byte(n>>48), byte(n>>40), byte(n>>32),
		byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}

// appendKey appends a small map key (1 to 23).
func appendKey(dst []byte, key byte) []byte { return append(dst, key) }

func appendInt(dst []byte, v int64) []byte {
	if v >= 0 {
		return appendHead(dst, majorUint, uint64(v))
	}
	return appendHead(dst, majorNeg, uint64(^v)) // -1 - v
}

func appendBytes(dst []byte, b []byte) []byte {
	return append(appendHead(dst, majorBytes, uint64(len(b))), b...)
}

func appendText(dst []byte, s string) []byte {
	return append(appendHead(dst, majorText, uint64(len(s))), s...)
}

// count returns 1 for true, for map sizes.
func count(present bool) uint64 {
	if present {
		return 1
	}
	return 0
}

// AppendCommand appends the CBOR encoding of c to dst and returns the extended buffer. The
// bytes are those Marshal(c) returns.
func AppendCommand(dst []byte, c *Command) []byte {
	n := 1 + count(c.Name != "") + count(len(c.Input) > 0) + count(c.Version != "") +
		count(c.InstanceID != "") + count(c.Delay != 0)
	dst = appendHead(dst, majorMap, n)
	dst = appendHead(appendKey(dst, 1), majorUint, uint64(c.Kind))
	if c.Name != "" {
		dst = appendText(appendKey(dst, 2), c.Name)
	}
	if len(c.Input) > 0 {
		dst = appendBytes(appendKey(dst, 3), c.Input)
	}
	if c.Version != "" {
		dst = appendText(appendKey(dst, 4), c.Version)
	}
	if c.InstanceID != "" {
		dst = appendText(appendKey(dst, 5), c.InstanceID)
	}
	if c.Delay != 0 {
		dst = appendInt(appendKey(dst, 6), c.Delay)
	}
	return dst
}

func appendFailure(dst []byte, f *Failure) []byte {
	n := 1 + count(f.Code != "") + count(f.Message != "") + count(len(f.Details) > 0)
	dst = appendHead(dst, majorMap, n)
	dst = appendHead(appendKey(dst, 1), majorUint, uint64(f.Kind))
	if f.Code != "" {
		dst = appendText(appendKey(dst, 2), f.Code)
	}
	if f.Message != "" {
		dst = appendText(appendKey(dst, 3), f.Message)
	}
	if len(f.Details) > 0 {
		dst = appendBytes(appendKey(dst, 4), f.Details)
	}
	return dst
}

// AppendCompletion appends the CBOR encoding of c to dst and returns the extended buffer. The
// bytes are those Marshal(c) returns.
func AppendCompletion(dst []byte, c *Completion) []byte {
	dst = appendHead(dst, majorMap, count(len(c.Result) > 0)+count(c.Failure != nil))
	if len(c.Result) > 0 {
		dst = appendBytes(appendKey(dst, 1), c.Result)
	}
	if c.Failure != nil {
		dst = appendFailure(appendKey(dst, 2), c.Failure)
	}
	return dst
}

// AppendOutcome appends the CBOR encoding of o to dst and returns the extended buffer. The
// bytes are those Marshal(o) returns.
func AppendOutcome(dst []byte, o *Outcome) []byte {
	n := 1 + count(len(o.Output) > 0) + count(o.Failure != nil) + count(len(o.Input) > 0) +
		count(o.Version != "") + count(len(o.Orchestrations) > 0)
	dst = appendHead(dst, majorMap, n)
	dst = appendHead(appendKey(dst, 1), majorUint, uint64(o.Kind))
	if len(o.Output) > 0 {
		dst = appendBytes(appendKey(dst, 2), o.Output)
	}
	if o.Failure != nil {
		dst = appendFailure(appendKey(dst, 3), o.Failure)
	}
	if len(o.Input) > 0 {
		dst = appendBytes(appendKey(dst, 4), o.Input)
	}
	if o.Version != "" {
		dst = appendText(appendKey(dst, 5), o.Version)
	}
	if len(o.Orchestrations) > 0 {
		dst = appendHead(appendKey(dst, 6), majorArray, uint64(len(o.Orchestrations)))
		for k := range o.Orchestrations {
			r := &o.Orchestrations[k]
			dst = appendHead(dst, majorMap, 1+count(r.Version != ""))
			dst = appendText(appendKey(dst, 1), r.Name)
			if r.Version != "" {
				dst = appendText(appendKey(dst, 2), r.Version)
			}
		}
	}
	return dst
}

// AppendStartInfo appends the CBOR encoding of s to dst and returns the extended buffer. The
// bytes are those Marshal(s) returns.
func AppendStartInfo(dst []byte, s *StartInfo) []byte {
	n := count(s.Mode != 0) + count(s.Name != "") + count(s.Version != "") +
		count(s.InstanceID != "") + count(s.ExecutionID != 0) + count(len(s.Input) > 0) +
		count(s.ParentID != "") + count(len(s.CustomStatus) > 0) + count(s.StartTime != 0)
	dst = appendHead(dst, majorMap, n)
	if s.Mode != 0 {
		dst = appendHead(appendKey(dst, 1), majorUint, uint64(s.Mode))
	}
	if s.Name != "" {
		dst = appendText(appendKey(dst, 2), s.Name)
	}
	if s.Version != "" {
		dst = appendText(appendKey(dst, 3), s.Version)
	}
	if s.InstanceID != "" {
		dst = appendText(appendKey(dst, 4), s.InstanceID)
	}
	if s.ExecutionID != 0 {
		dst = appendHead(appendKey(dst, 5), majorUint, uint64(s.ExecutionID))
	}
	if len(s.Input) > 0 {
		dst = appendBytes(appendKey(dst, 6), s.Input)
	}
	if s.ParentID != "" {
		dst = appendText(appendKey(dst, 7), s.ParentID)
	}
	if len(s.CustomStatus) > 0 {
		dst = appendBytes(appendKey(dst, 8), s.CustomStatus)
	}
	if s.StartTime != 0 {
		dst = appendInt(appendKey(dst, 9), s.StartTime)
	}
	return dst
}

// reader decodes the common form of a message. Once it meets anything else it sets bad, and
// every later read returns a zero value; the caller then hands the message to Unmarshal.
type reader struct {
	b   []byte
	off int
	bad bool
}

// head reads the head of a definite-length data item: its major type and argument.
func (r *reader) head() (major byte, arg uint64) {
	if r.bad || r.off >= len(r.b) {
		r.bad = true
		return 0xff, 0
	}
	ib := r.b[r.off]
	r.off++
	major, ai := ib>>5, ib&0x1f
	var n int
	switch {
	case ai < 24:
		return major, uint64(ai)
	case ai == 24:
		n = 1
	case ai == 25:
		n = 2
	case ai == 26:
		n = 4
	case ai == 27:
		n = 8
	default: // reserved, or indefinite length
		r.bad = true
		return 0xff, 0
	}
	if len(r.b)-r.off < n {
		r.bad = true
		return 0xff, 0
	}
	for _, c := range r.b[r.off : r.off+n] {
		arg = arg<<8 | uint64(c)
	}
	r.off += n
	return major, arg
}

// expect reads a head of the given major type.
func (r *reader) expect(major byte) uint64 {
	m, arg := r.head()
	if m != major {
		r.bad = true
		return 0
	}
	return arg
}

// uint reads an unsigned integer no larger than limit.
func (r *reader) uint(limit uint64) uint64 {
	v := r.expect(majorUint)
	if v > limit {
		r.bad = true
		return 0
	}
	return v
}

// int64 reads a signed integer that fits in an int64.
func (r *reader) int64() int64 {
	m, arg := r.head()
	if (m != majorUint && m != majorNeg) || arg > math.MaxInt64 {
		r.bad = true
		return 0
	}
	if m == majorNeg {
		return ^int64(arg) // -1 - arg
	}
	return int64(arg)
}

// raw reads the content of a byte or text string, without copying it.
func (r *reader) raw(major byte) []byte {
	n := r.expect(major)
	if r.bad || n > uint64(len(r.b)-r.off) {
		r.bad = true
		return nil
	}
	b := r.b[r.off : r.off+int(n)]
	r.off += int(n)
	return b
}

// bytes reads a byte string into a new slice; an empty one is non-nil, like Unmarshal's.
func (r *reader) bytes() []byte {
	b := r.raw(majorBytes)
	if r.bad {
		return nil
	}
	return append(make([]byte, 0, len(b)), b...)
}

// text reads a text string, which must be valid UTF-8.
func (r *reader) text() string {
	b := r.raw(majorText)
	if r.bad || !utf8.Valid(b) {
		r.bad = true
		return ""
	}
	return string(b)
}

// mapSize reads the head of a map of at most fields pairs (a larger map repeats a key).
func (r *reader) mapSize(fields int) int {
	n := r.expect(majorMap)
	if n > uint64(fields) {
		r.bad = true
		return 0
	}
	return int(n)
}

// key reads a map key: a field number from 1 to fields, not seen before in the map. It
// returns 0 when the key is anything else.
func (r *reader) key(seen *uint16, fields int) int {
	k := r.expect(majorUint)
	if r.bad || k < 1 || k > uint64(fields) || *seen&(1<<k) != 0 {
		r.bad = true
		return 0
	}
	*seen |= 1 << k
	return int(k)
}

// end reports whether the message was decoded in full.
func (r *reader) end() bool { return !r.bad && r.off == len(r.b) }

func (r *reader) failure() *Failure {
	f := new(Failure)
	var seen uint16
	for range r.mapSize(4) {
		switch r.key(&seen, 4) {
		case 1:
			f.Kind = FailureKind(r.uint(math.MaxUint8))
		case 2:
			f.Code = r.text()
		case 3:
			f.Message = r.text()
		case 4:
			f.Details = r.bytes()
		default:
			return nil
		}
	}
	return f
}

func (r *reader) completion(c *Completion) {
	var seen uint16
	for range r.mapSize(2) {
		switch r.key(&seen, 2) {
		case 1:
			c.Result = r.bytes()
		case 2:
			c.Failure = r.failure()
		default:
			return
		}
	}
}

func (r *reader) command(c *Command) {
	var seen uint16
	for range r.mapSize(6) {
		switch r.key(&seen, 6) {
		case 1:
			c.Kind = CommandKind(r.uint(math.MaxUint8))
		case 2:
			c.Name = r.text()
		case 3:
			c.Input = r.bytes()
		case 4:
			c.Version = r.text()
		case 5:
			c.InstanceID = r.text()
		case 6:
			c.Delay = r.int64()
		default:
			return
		}
	}
}

func (r *reader) outcome(o *Outcome) {
	var seen uint16
	for range r.mapSize(6) {
		switch r.key(&seen, 6) {
		case 1:
			o.Kind = OutcomeKind(r.uint(math.MaxUint8))
		case 2:
			o.Output = r.bytes()
		case 3:
			o.Failure = r.failure()
		case 4:
			o.Input = r.bytes()
		case 5:
			o.Version = r.text()
		case 6:
			// Every registration takes at least one byte: a larger count is malformed.
			n := r.expect(majorArray)
			if r.bad || n > uint64(len(r.b)-r.off) {
				r.bad = true
				return
			}
			o.Orchestrations = make([]Registration, n)
			for k := range o.Orchestrations {
				reg := &o.Orchestrations[k]
				var seen uint16
				for range r.mapSize(2) {
					switch r.key(&seen, 2) {
					case 1:
						reg.Name = r.text()
					case 2:
						reg.Version = r.text()
					default:
						return
					}
				}
			}
		default:
			return
		}
	}
}

func (r *reader) startInfo(s *StartInfo) {
	var seen uint16
	for range r.mapSize(9) {
		switch r.key(&seen, 9) {
		case 1:
			s.Mode = Mode(r.uint(math.MaxUint8))
		case 2:
			s.Name = r.text()
		case 3:
			s.Version = r.text()
		case 4:
			s.InstanceID = r.text()
		case 5:
			s.ExecutionID = uint32(r.uint(math.MaxUint32))
		case 6:
			s.Input = r.bytes()
		case 7:
			s.ParentID = r.text()
		case 8:
			s.CustomStatus = r.bytes()
		case 9:
			s.StartTime = r.int64()
		default:
			return
		}
	}
}

// DecodeCompletion decodes b into c. It accepts, rejects and decodes exactly what Unmarshal
// does; unlike Unmarshal it first sets c to the zero Completion, and leaves it zero on error.
func DecodeCompletion(b []byte, c *Completion) error {
	r := reader{b: b}
	*c = Completion{}
	if r.completion(c); r.end() {
		return nil
	}
	return unmarshalZero(b, c)
}

// DecodeCommand decodes b into c. It accepts, rejects and decodes exactly what Unmarshal
// does; unlike Unmarshal it first sets c to the zero Command, and leaves it zero on error.
func DecodeCommand(b []byte, c *Command) error {
	r := reader{b: b}
	*c = Command{}
	if r.command(c); r.end() {
		return nil
	}
	return unmarshalZero(b, c)
}

// DecodeOutcome decodes b into o. It accepts, rejects and decodes exactly what Unmarshal
// does; unlike Unmarshal it first sets o to the zero Outcome, and leaves it zero on error.
func DecodeOutcome(b []byte, o *Outcome) error {
	r := reader{b: b}
	*o = Outcome{}
	if r.outcome(o); r.end() {
		return nil
	}
	return unmarshalZero(b, o)
}

// DecodeStartInfo decodes b into s. It accepts, rejects and decodes exactly what Unmarshal
// does; unlike Unmarshal it first sets s to the zero StartInfo, and leaves it zero on error.
func DecodeStartInfo(b []byte, s *StartInfo) error {
	r := reader{b: b}
	*s = StartInfo{}
	if r.startInfo(s); r.end() {
		return nil
	}
	return unmarshalZero(b, s)
}

// unmarshalZero is the fallback of the Decode functions: Unmarshal into a zero value, stored
// into *v on success and discarded on error. Unmarshalling into a value of its own keeps v
// from escaping, so that callers can keep their message on the stack.
func unmarshalZero[T any](b []byte, v *T) error {
	x := new(T)
	err := Unmarshal(b, x)
	if err != nil {
		var zero T
		*v = zero
		return err
	}
	*v = *x
	return nil
}
