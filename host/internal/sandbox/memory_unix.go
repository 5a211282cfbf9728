//go:build unix

package sandbox

import (
	"sync"
	"syscall"

	"github.com/tetratelabs/wazero/experimental"
	"golang.org/x/sys/unix"
)

// reservedMemory is a guest's linear memory backed by an anonymous mapping reserved at the
// memory's maximum size: growing it makes pages accessible in place instead of copying the
// whole memory into a larger slice, which is most of a Go guest's initialisation otherwise
// (the Go runtime grows its memory many times while it starts).
//
// Mappings are recycled through a pool: a recycled mapping is zeroed over the bytes its
// previous guest could reach, so a guest always starts from zeroed memory, as WebAssembly
// requires. wazero frees a module's memory when the module is closed, which the sandbox may do
// from another goroutine while the guest still runs (turn time budget), so a mapping returns to
// the pool only once its guest call has returned (release).
type reservedMemory struct {
	mu        sync.Mutex
	buf       []byte // the whole reservation
	committed int    // bytes readable and writable
	max       uint64
	busy      bool // a guest call may be executing on this memory
	freed     bool // Free was called
	// img, when set, is the module's initial memory, mapped over the start of the
	// reservation (the module was compiled without its data segments). Such a mapping is
	// unmapped when freed, not pooled.
	img *dataImage
	// budget counts the committed bytes of every guest (accounted: this memory's share);
	// refused is called (without mu held) when growing would exceed it.
	budget    *memoryBudget
	accounted int64
	refused   func()
	// prefault: a memory that cannot be restored from a pooled one copies its image instead
	// of mapping it (a warm instance's, see warm.go).
	prefault bool
}

var (
	pageSize = syscall.Getpagesize()

	poolMu sync.Mutex
	pool   = map[int][][]byte{} // free reservations by size, committed bytes in poolCommitted
	// poolCommitted remembers how many bytes of a pooled reservation are accessible (and so
	// may hold a previous guest's data).
	poolCommitted = map[*byte]int{}
	// poolBytes is the sum of poolCommitted (what the pool keeps resident).
	poolBytes int
)

// maxPooled bounds the reservations kept for reuse per size, maxPoolBytes the committed bytes
// of all of them (they stay resident).
const (
	maxPooled    = 64
	maxPoolBytes = 256 << 20
)

func newMemory(img *dataImage, budget *memoryBudget) *reservedMemory {
	return &reservedMemory{img: img, budget: budget}
}

// setRefused sets what to call when the guest memory budget refuses to let it grow.
func (m *reservedMemory) setRefused(fn func()) { m.refused = fn }

// allocator returns the wazero allocator handing out this memory (one memory per instance).
func (m *reservedMemory) allocator() experimental.MemoryAllocator {
	return experimental.MemoryAllocatorFunc(func(_, max uint64) experimental.LinearMemory {
		m.max = max
		return m
	})
}

func roundPage(n uint64) uint64 { return (n + uint64(pageSize) - 1) &^ uint64(pageSize-1) }

// Reallocate implements experimental.LinearMemory.
func (m *reservedMemory) Reallocate(size uint64) []byte {
	b, refused := m.reallocate(size)
	if refused && m.refused != nil {
		m.refused()
	}
	return b
}

func (m *reservedMemory) reallocate(size uint64) (b []byte, refused bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.freed {
		return nil, false
	}
	if m.buf == nil {
		reserve := roundPage(max(m.max, size, uint64(pageSize)))
		if m.img != nil {
			reserve = max(reserve, uint64(m.img.size))
		}
		need := int(roundPage(size))
		if m.img != nil && m.img.reuse(m, int(reserve), need) {
			// Restored from the image's pool.
		} else if m.img != nil || !m.reuse(int(reserve), need) {
			b, err := syscall.Mmap(-1, 0, int(reserve), syscall.PROT_NONE, syscall.MAP_PRIVATE|syscall.MAP_ANON|mapNoReserve)
			if err != nil {
				return nil, false
			}
			m.buf = b
		}
		if m.img != nil && m.committed == 0 {
			// A memory that cannot start from its image must not start at all: the module
			// has no data segments of its own.
			start := m.img.mapOver
			if m.prefault {
				start = m.img.copyOver
			}
			if err := start(m.buf); err != nil {
				syscall.Munmap(m.buf)
				m.buf = nil
				return nil, false
			}
			m.committed = m.img.size
		}
		// The first allocation is never refused (wazero cannot take a memory that is not
		// there): over the budget, it is charged all the same and reported refused, so that
		// the instance is stopped before it runs (see instantiate).
		if !m.budget.tryAcquire(int64(m.committed)) {
			m.budget.force(int64(m.committed))
			refused = true
		}
		m.accounted = int64(m.committed)
	}
	if size > uint64(len(m.buf)) {
		return nil, refused
	}
	if want := int(roundPage(size)); want > m.committed {
		if !m.budget.tryAcquire(int64(want - m.committed)) {
			if refused {
				// The first allocation: it must exist; the instance is stopped anyway.
				m.budget.force(int64(want - m.committed))
			} else {
				return nil, true
			}
		}
		if err := unix.Mprotect(m.buf[m.committed:want], unix.PROT_READ|unix.PROT_WRITE); err != nil {
			m.budget.release(int64(want - m.committed))
			return nil, refused
		}
		m.accounted += int64(want - m.committed)
		m.committed = want
	}
	return m.buf[:size:size], refused
}

// decommit makes the bytes of b beyond need inaccessible and gives their pages back to the
// system, and returns how many bytes stay committed: a recycled mapping is charged (and
// cleared) only for what its new guest starts with, whatever its last guest had grown to.
func decommit(b []byte, committed, need int) int {
	if committed <= need {
		return committed
	}
	tail := b[need:committed]
	unix.Madvise(tail, unix.MADV_DONTNEED)
	unix.Mprotect(tail, unix.PROT_NONE)
	return need
}

// reuse takes a pooled reservation of the given size, keeps committed what the new guest
// needs at first (need bytes) and zeroes it.
func (m *reservedMemory) reuse(size, need int) bool {
	poolMu.Lock()
	free := pool[size]
	if len(free) == 0 {
		poolMu.Unlock()
		return false
	}
	b := free[len(free)-1]
	pool[size] = free[:len(free)-1]
	committed := poolCommitted[&b[0]]
	delete(poolCommitted, &b[0])
	poolBytes -= committed
	poolMu.Unlock()
	committed = decommit(b, committed, need)
	clear(b[:committed])
	m.buf, m.committed = b, committed
	return true
}

// Free implements experimental.LinearMemory: the mapping goes back to the pool now, or when the
// running guest call returns.
func (m *reservedMemory) Free() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.freed = true
	if !m.busy {
		m.recycle()
	}
}

// enter marks that guest code may run on the memory from now on.
func (m *reservedMemory) enter() {
	m.mu.Lock()
	m.busy = true
	m.mu.Unlock()
}

// release marks that no guest code runs on the memory any more, and recycles it if it was freed.
func (m *reservedMemory) release() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.busy = false
	if m.freed {
		m.recycle()
	}
}

func (m *reservedMemory) recycle() {
	m.budget.release(m.accounted)
	m.accounted = 0
	if m.buf == nil {
		return
	}
	b, committed := m.buf, m.committed
	m.buf, m.committed = nil, 0
	if m.img != nil {
		if !m.img.recycle(b, committed) {
			syscall.Munmap(b)
		}
		return
	}
	poolMu.Lock()
	if len(pool[len(b)]) < maxPooled && poolBytes+committed <= maxPoolBytes {
		pool[len(b)] = append(pool[len(b)], b)
		poolCommitted[&b[0]] = committed
		poolBytes += committed
		poolMu.Unlock()
		return
	}
	poolMu.Unlock()
	syscall.Munmap(b)
}
