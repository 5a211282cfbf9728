package sandbox

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/durohost/durohost/host/internal/wasmopt"
)

// imageSupported: linear memories can start from a module's data image (see dataImage).
const imageSupported = true

// dataImage is a module's initial memory (wasmopt.Image, or a snapshot's memory) in an
// anonymous memory file. A guest's memory maps the image's runs (the pages that hold data)
// copy-on-write over the start of its reservation; the rest of the image's size is fresh
// anonymous memory, zero until written. Instantiation then copies no data, the pages a guest
// only reads stay shared with every other instance of the module (the page cache), and only
// the pages it writes are copied, when it writes them. The file is sparse: the holes between
// runs (a module's data at a high address, the untouched pages of a snapshot) cost nothing,
// and no guest's read can fill them, since they are never mapped. The image is kept nowhere
// else: a pooled memory is restored by copying its runs from a read-only view of the file.
type dataImage struct {
	f    *os.File
	size int // page-rounded size of the memory the image covers
	// runs are the page-rounded spans of the file that hold data (the rest are holes).
	runs []span
	// view is the file mapped read-only and shared (no copy of its pages).
	view []byte

	// pool holds freed memories of this module for reuse, with the bytes they had committed.
	mu     sync.Mutex
	pool   []pooledMemory
	closed bool
}

// span is [start, end) in bytes.
type span struct{ start, end int }

type pooledMemory struct {
	buf       []byte
	committed int
}

// runGap joins runs closer than this: mapping a short hole with them costs less than another
// mapping (a guest's reads may fill it, at most runGap per run).
const runGap = 64 << 10

// newDataImage writes a module's data image to a memory file.
func newDataImage(img *wasmopt.Image) (*dataImage, error) {
	var runs []span
	for _, seg := range img.Segments {
		s := span{int(seg.Offset) &^ (pageSize - 1), int(roundPage(seg.Offset + uint64(len(seg.Data))))}
		runs = appendRun(runs, s)
	}
	return writeImage(int(roundPage(img.Size)), runs, img.WriteAt)
}

// newSnapshotImage writes mem, an initialised instance's memory, to a memory file, leaving
// its zero pages as holes. mem is only read.
func newSnapshotImage(mem []byte) (*dataImage, error) {
	var runs []span
	zero := make([]byte, pageSize)
	for p := 0; p < len(mem); p += pageSize {
		end := min(p+pageSize, len(mem))
		if !bytes.Equal(mem[p:end], zero[:end-p]) {
			runs = appendRun(runs, span{p, int(roundPage(uint64(end)))})
		}
	}
	return writeImage(int(roundPage(uint64(len(mem)))), runs, func(w io.WriterAt) error {
		for _, r := range runs {
			if _, err := w.WriteAt(mem[r.start:min(r.end, len(mem))], int64(r.start)); err != nil {
				return err
			}
		}
		return nil
	})
}

// appendRun adds s to runs, joining it to the last run when they are close.
func appendRun(runs []span, s span) []span {
	if n := len(runs); n > 0 && s.start-runs[n-1].end < runGap {
		runs[n-1].end = max(runs[n-1].end, s.end)
		return runs
	}
	return append(runs, s)
}

// writeImage creates the memory file of an image of size bytes (page-rounded) whose runs write
// fills (an anonymous memory file, memfd: faults on its mappings never wait for a disk; where
// the kernel has none, an unlinked temporary file).
func writeImage(size int, runs []span, write func(io.WriterAt) error) (*dataImage, error) {
	var f *os.File
	if fd, err := unix.MemfdCreate("durohost-image", unix.MFD_CLOEXEC); err == nil {
		f = os.NewFile(uintptr(fd), "durohost-image")
	} else {
		if f, err = os.CreateTemp("", "durohost-image-*"); err != nil {
			return nil, fmt.Errorf("memory image: %w", err)
		}
		os.Remove(f.Name())
	}
	fail := func(err error) (*dataImage, error) {
		f.Close()
		return nil, fmt.Errorf("memory image: %w", err)
	}
	if err := f.Truncate(int64(size)); err != nil {
		return fail(err)
	}
	if err := write(f); err != nil {
		return fail(err)
	}
	d := &dataImage{f: f, size: size, runs: runs}
	if size > 0 {
		view, err := syscall.Mmap(int(f.Fd()), 0, size, syscall.PROT_READ, syscall.MAP_SHARED)
		if err != nil {
			return fail(err)
		}
		d.view = view
	}
	return d, nil
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
	if d.view != nil {
		syscall.Munmap(d.view)
	}
	return d.f.Close()
}

// resident returns the bytes the image keeps in memory (the pages of its runs), for the module
// cache's accounting.
func (d *dataImage) resident() int64 {
	if d == nil {
		return 0
	}
	var n int64
	for _, r := range d.runs {
		n += int64(r.end - r.start)
	}
	return n
}

// mapOver makes the image's size of buf (a reservation of at least d.size bytes) readable and
// writable, zero, and maps the image's runs copy-on-write over it.
func (d *dataImage) mapOver(buf []byte) error {
	if d.size == 0 {
		return nil
	}
	if err := syscall.Mprotect(buf[:d.size], syscall.PROT_READ|syscall.PROT_WRITE); err != nil {
		return fmt.Errorf("map memory image: %w", err)
	}
	for _, r := range d.runs {
		_, _, errno := syscall.Syscall6(syscall.SYS_MMAP, uintptr(unsafe.Pointer(&buf[r.start])), uintptr(r.end-r.start),
			syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_FIXED, d.f.Fd(), uintptr(r.start))
		if errno != 0 {
			return fmt.Errorf("map memory image: %w", errno)
		}
	}
	return nil
}

// copyOver makes the image's size of buf readable and writable and copies the image's runs
// into it: mapOver's result, with every page of the runs already the guest's own (a warm
// instance pays its page faults before its start, not during its first turn).
func (d *dataImage) copyOver(buf []byte) error {
	if d.size == 0 {
		return nil
	}
	if err := syscall.Mprotect(buf[:d.size], syscall.PROT_READ|syscall.PROT_WRITE); err != nil {
		return fmt.Errorf("copy memory image: %w", err)
	}
	for _, r := range d.runs {
		copy(buf[r.start:r.end], d.view[r.start:r.end])
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
func (d *dataImage) reuse(m *reservedMemory, size, need int) bool {
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
	committed := decommit(p.buf, p.committed, max(need, d.size))
	at := 0
	for _, r := range d.runs {
		clear(p.buf[at:r.start])
		copy(p.buf[r.start:r.end], d.view[r.start:r.end])
		at = r.end
	}
	clear(p.buf[at:committed])
	m.buf, m.committed = p.buf, committed
	return true
}
