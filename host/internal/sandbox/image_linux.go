package sandbox

import (
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// imageSupported: linear memories can start from a module's data image (see dataImage).
const imageSupported = true

// dataImage is a module's initial memory (wasmopt.DataImage) in an unlinked temporary file.
// A guest's memory maps it copy-on-write over the start of its reservation: instantiation
// then copies no data segment, the pages a guest only reads stay shared with every other
// instance of the module (the page cache), and only the pages it writes are copied, when it
// writes them. The file is deleted from its directory at once; it lives as long as the
// descriptor and the mappings.
type dataImage struct {
	f    *os.File
	size int // page-rounded length of the file
	// bytes is the image (owned: the caller must not change it), for restoring a pooled memory
	// by copying.
	bytes []byte

	// pool holds freed memories of this module for reuse, with the bytes they had committed.
	mu     sync.Mutex
	pool   []pooledMemory
	closed bool
}

type pooledMemory struct {
	buf       []byte
	committed int
}

// newDataImage keeps image (which the caller must not change afterwards) and writes it to an
// anonymous memory file (memfd: faults on its mappings never wait for a disk), or, where the
// kernel has none, to an unlinked temporary file.
func newDataImage(image []byte) (*dataImage, error) {
	var f *os.File
	if fd, err := unix.MemfdCreate("durohost-image", unix.MFD_CLOEXEC); err == nil {
		f = os.NewFile(uintptr(fd), "durohost-image")
	} else {
		if f, err = os.CreateTemp("", "durohost-image-*"); err != nil {
			return nil, fmt.Errorf("memory image: %w", err)
		}
		os.Remove(f.Name())
	}
	size := int(roundPage(uint64(len(image))))
	if _, err := f.Write(image); err != nil {
		f.Close()
		return nil, fmt.Errorf("memory image: %w", err)
	}
	if err := f.Truncate(int64(size)); err != nil {
		f.Close()
		return nil, fmt.Errorf("memory image: %w", err)
	}
	return &dataImage{f: f, size: size, bytes: image}, nil
}

// close releases the descriptor and the pooled memories; mappings made from it stay valid,
// and memories freed later are unmapped instead of pooled.
func (d *dataImage) close() error {
	if d == nil {
		return nil
	}
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	pool := d.pool
	d.pool, d.closed = nil, true
	d.mu.Unlock()
	for _, p := range pool {
		imagePoolBytes.Add(-int64(p.committed))
		syscall.Munmap(p.buf)
	}
	return d.f.Close()
}

// resident returns the bytes the image keeps in memory (its descriptor's pages and the copy
// restores read), for the module cache's accounting.
func (d *dataImage) resident() int64 {
	if d == nil {
		return 0
	}
	return 2 * int64(len(d.bytes))
}

// mapOver maps the image copy-on-write, readable and writable, over the start of buf (a
// reservation of at least d.size bytes).
func (d *dataImage) mapOver(buf []byte) error {
	_, _, errno := syscall.Syscall6(syscall.SYS_MMAP, uintptr(unsafe.Pointer(&buf[0])), uintptr(d.size),
		syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_FIXED, d.f.Fd(), 0)
	if errno != 0 {
		return fmt.Errorf("map memory image: %w", errno)
	}
	return nil
}

// maxImagePoolBytes bounds the committed bytes of the freed memories all images keep for
// reuse (they stay resident).
const maxImagePoolBytes = 512 << 20

// imagePoolBytes counts them.
var imagePoolBytes atomic.Int64

// recycle keeps a freed memory of this image for reuse; false when the pool is full.
func (d *dataImage) recycle(buf []byte, committed int) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed || len(d.pool) >= maxPooled {
		return false
	}
	if imagePoolBytes.Add(int64(committed)) > maxImagePoolBytes {
		imagePoolBytes.Add(-int64(committed))
		return false
	}
	d.pool = append(d.pool, pooledMemory{buf, committed})
	return true
}

// reuse hands m a pooled memory of at least size bytes, restored to the image: the image is
// copied over its start and the rest of what the last guest could reach is zeroed. Copying
// into pages that are already the process's costs less than mapping the image again, after
// which every page the next guest touches would fault again (a cold turn of the Go test guest
// took 3.0 ms that way, 1.0 ms with the copy).
func (d *dataImage) reuse(m *reservedMemory, size int) bool {
	d.mu.Lock()
	n := len(d.pool)
	if n == 0 || len(d.pool[n-1].buf) < size {
		d.mu.Unlock()
		return false
	}
	p := d.pool[n-1]
	d.pool = d.pool[:n-1]
	d.mu.Unlock()
	imagePoolBytes.Add(-int64(p.committed))
	copied := copy(p.buf, d.bytes)
	clear(p.buf[copied:p.committed])
	m.buf, m.committed = p.buf, p.committed
	return true
}
