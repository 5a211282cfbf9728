package sandbox

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/fxamacker/cbor/v2"
)

// FuzzCBORItemLen checks the stream's framer on any bytes: it never panics, a length it
// returns lies within the bytes and ends an item the CBOR library does not find truncated,
// bytes it finds incomplete are not a well-formed item, and a framer resumed after an
// incomplete prefix returns what a fresh one does on the whole. The seeds run in go test.
func FuzzCBORItemLen(f *testing.F) {
	for _, seed := range [][]byte{
		{0x01}, {0x19, 0x01, 0x00, 0xff}, {0x82, 0x02, 0xa1, 0x01, 0x41, 0x61, 0x00},
		{0xc1, 0x1a, 0, 0, 0, 1}, {}, {0x19, 0x01}, {0x43, 0x61}, {0x82, 0x01}, {0x9f, 0xff}, {0x1c},
		[]byte(strings.Repeat("\x81", 100) + "\x00"),
		{0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		{0xbb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		{0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00},
		{0x83, 0x02, 0x42, 0x61, 0x62, 0x80, 0x00},
		{0x82, 0x07, 0xf6, 0x82, 0x01, 0x00},
		{0xa0, 0x80, 0x40, 0x60, 0xf7, 0xf9, 0x00, 0x00, 0xfb, 1, 2, 3, 4, 5, 6, 7, 8},
	} {
		f.Add(seed, uint(len(seed)/2))
	}
	f.Fuzz(func(t *testing.T, b []byte, split uint) {
		n, err := cborItemLen(b)
		switch {
		case err == nil:
			if n < 1 || n > len(b) {
				t.Fatalf("length %d of %d bytes", n, len(b))
			}
			if werr := cbor.Wellformed(b[:n]); errors.Is(werr, io.ErrUnexpectedEOF) || errors.As(werr, new(*cbor.ExtraneousDataError)) {
				t.Fatalf("framed %d bytes of %x, the CBOR library says: %v", n, b, werr)
			}
		case errors.Is(err, errShortItem):
			if n != 0 {
				t.Fatalf("length %d with %v", n, err)
			}
			if cbor.Wellformed(b) == nil {
				t.Fatalf("%x is a well-formed item, framed as incomplete", b)
			}
		default:
			if n != 0 || err.Error() == "" {
				t.Fatalf("length %d with error %q", n, err)
			}
		}
		k := int(split % uint(len(b)+1))
		var fr framer
		if _, perr := fr.next(b[:k]); !errors.Is(perr, errShortItem) {
			return
		}
		rn, rerr := fr.next(b)
		if rn != n || (rerr == nil) != (err == nil) || (rerr != nil && rerr.Error() != err.Error()) {
			t.Fatalf("resumed after %d bytes of %x: %d, %v; fresh: %d, %v", k, b, rn, rerr, n, err)
		}
	})
}
