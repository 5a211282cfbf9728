//go:build unix

package sandbox

import (
	"bytes"
	"testing"
)

// TestReservedMemoryRecycledZeroed: a recycled mapping is handed out again with every byte its
// previous guest could reach zeroed, and a mapping freed while its guest runs is recycled only
// once the guest call has returned.
func TestReservedMemoryRecycledZeroed(t *testing.T) {
	const max = 64 * 65536 // a size no other test uses, so the pool is ours
	first := newMemory(nil, nil)
	first.allocator().Allocate(0, max)
	b := first.Reallocate(3 * 65536)
	if len(b) != 3*65536 {
		t.Fatalf("len %d", len(b))
	}
	for i := range b {
		b[i] = 0xAB
	}
	first.enter()
	first.Free()
	if n := len(pool[max]); n != 0 {
		t.Fatalf("freed while busy: %d pooled, want 0", n)
	}
	first.release()
	if n := len(pool[max]); n != 1 {
		t.Fatalf("after release: %d pooled, want 1", n)
	}

	second := newMemory(nil, nil)
	second.allocator().Allocate(0, max)
	c := second.Reallocate(65536)
	if &c[0] != &b[0] {
		t.Fatal("the pooled mapping was not reused")
	}
	grown := second.Reallocate(4 * 65536)
	if !bytes.Equal(grown, make([]byte, len(grown))) {
		t.Fatal("a recycled memory is not zeroed")
	}
	if second.Reallocate(max+65536) != nil {
		t.Fatal("grew beyond the reservation")
	}
	second.Free()
}
