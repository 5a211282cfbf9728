package server

import (
	"errors"
	"io"
	"net/http"
	"os"
	"sync/atomic"
)

// firstChunk is the buffer a request body starts in, whatever length the client declares.
const firstChunk = 16 << 10

// bodyArrived, when set (by tests), is called when the first bytes of a body arrive.
var bodyArrived atomic.Pointer[func()]

// readBody reads r to its end, refusing more than limit bytes with an *http.MaxBytesError.
// Its buffer grows with what arrives, never with what is declared: it starts at firstChunk and
// at most doubles each time it is full, so a client that declares 64 MiB and sends one byte
// costs 16 KiB, not 64 MiB. The declared length (the request's ContentLength; -1 when not
// known) only caps a growth, so that a body of the declared length ends in a buffer of exactly
// its size; a body longer than declared (not from net/http, which stops at the declared
// length) grows on. At most limit+1 bytes are read.
func readBody(r io.Reader, declared, limit int64) ([]byte, error) {
	size := min(int64(firstChunk), limit+1)
	if declared >= 0 {
		size = min(size, declared)
	}
	buf := make([]byte, 0, size)
	for {
		if len(buf) == cap(buf) {
			n := int64(len(buf))
			if n > limit {
				return nil, &http.MaxBytesError{Limit: limit}
			}
			if n == declared {
				// What was declared has arrived: look for the end without growing the buffer.
				var one [1]byte
				k, err := io.ReadFull(r, one[:])
				if err == io.EOF {
					return buf, nil
				}
				if err != nil {
					return nil, err
				}
				buf, declared = append(buf, one[:k]...), -1
				continue
			}
			next := min(max(2*n, firstChunk), limit+1)
			if declared > n {
				next = min(next, declared)
			}
			grown := make([]byte, n, next)
			copy(grown, buf)
			buf = grown
		}
		k, err := r.Read(buf[len(buf):cap(buf)])
		if k > 0 && len(buf) == 0 {
			if hook := bodyArrived.Load(); hook != nil {
				(*hook)()
			}
		}
		buf = buf[:len(buf)+k]
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	if int64(len(buf)) > limit {
		return nil, &http.MaxBytesError{Limit: limit}
	}
	return buf, nil
}

// readRequestBody reads the body of r with readBody; what names it in messages ("the body",
// "the module"). A body larger than limit is 413 too_large, one that does not arrive within
// the connection's read deadline 408 request_timeout.
func readRequestBody(r *http.Request, what string, limit int64) ([]byte, error) {
	data, err := readBody(r.Body, r.ContentLength, limit)
	if err == nil {
		return data, nil
	}
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return nil, errorf(http.StatusRequestEntityTooLarge, CodeTooLarge, "%s is larger than the limit of %d bytes", what, limit)
	case errors.Is(err, os.ErrDeadlineExceeded):
		return nil, errorf(http.StatusRequestTimeout, CodeRequestTimeout, "%s did not arrive within the server's read timeout", what)
	}
	return nil, errorf(http.StatusBadRequest, CodeBadRequest, "read %s: %v", what, err)
}
