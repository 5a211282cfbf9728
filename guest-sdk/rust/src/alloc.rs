//! The SDK's memory allocator for wasm32: small, so that a parked instance stays within one
//! 64 KiB page of linear memory where it can.
//!
//! Rust's default allocator on wasm32 (dlmalloc) takes its heap from `memory.grow` only: it
//! never uses the room between the end of the static data and the end of the initial memory,
//! so every guest that allocates at all grows to at least two pages, and dlmalloc grows in
//! large steps. This allocator starts at `__heap_base`, uses the initial memory first and grows
//! it one page at a time when it must. Blocks come in power-of-two size classes (16 bytes to
//! 2 GiB), each with a free list: allocation and release are O(1), and a block is reused only
//! for its class. Wasm is single-threaded (no atomics here), so no locking is needed.
//!
//! A guest that prefers the standard allocator enables the crate feature `system-allocator`.

use std::alloc::{GlobalAlloc, Layout};
use std::cell::UnsafeCell;

const PAGE: usize = 65536;
/// The smallest class, and the alignment of every block carved for a request aligned to at
/// most MIN_ALIGN.
const MIN_CLASS: usize = 16;
const MIN_ALIGN: usize = 16;
const CLASSES: usize = 28; // 16 B .. 2 GiB

struct Heap {
    /// Next free byte of the bump region (0: not initialised).
    next: usize,
    /// End of the linear memory.
    end: usize,
    /// Free lists, one per class: the address of the first free block (0: empty); a free
    /// block holds the address of the next one.
    free: [usize; CLASSES],
}

/// The allocator (see the module documentation).
pub struct DurohostAllocator {
    heap: UnsafeCell<Heap>,
}

// Safety: wasm32 without the atomics feature runs one thread.
unsafe impl Sync for DurohostAllocator {}

impl DurohostAllocator {
    /// A new allocator; its heap starts at `__heap_base` when first used.
    pub const fn new() -> DurohostAllocator {
        DurohostAllocator { heap: UnsafeCell::new(Heap { next: 0, end: 0, free: [0; CLASSES] }) }
    }
}

extern "C" {
    static __heap_base: u8;
}

/// The class of a layout: the index of the smallest power of two >= max(size, align, 16).
fn class_of(l: &Layout) -> Option<usize> {
    let size = l.size().max(l.align()).max(MIN_CLASS);
    let class = size.checked_next_power_of_two()?;
    let idx = class.trailing_zeros() as usize - MIN_CLASS.trailing_zeros() as usize;
    if idx >= CLASSES {
        None
    } else {
        Some(idx)
    }
}

impl Heap {
    unsafe fn init(&mut self) {
        if self.next == 0 {
            self.next = (&__heap_base as *const u8 as usize + MIN_ALIGN - 1) & !(MIN_ALIGN - 1);
            self.end = core::arch::wasm32::memory_size(0) * PAGE;
        }
    }

    /// Carves size bytes aligned to align from the bump region, growing memory as needed.
    unsafe fn carve(&mut self, size: usize, align: usize) -> *mut u8 {
        let start = match self.next.checked_add(align - 1) {
            Some(x) => x & !(align - 1),
            None => return std::ptr::null_mut(),
        };
        let stop = match start.checked_add(size) {
            Some(x) => x,
            None => return std::ptr::null_mut(),
        };
        if stop > self.end {
            let pages = (stop - self.end + PAGE - 1) / PAGE;
            if core::arch::wasm32::memory_grow(0, pages) == usize::MAX {
                return std::ptr::null_mut();
            }
            self.end += pages * PAGE;
        }
        self.next = stop;
        start as *mut u8
    }
}

unsafe impl GlobalAlloc for DurohostAllocator {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let h = &mut *self.heap.get();
        h.init();
        let idx = match class_of(&l) {
            Some(i) => i,
            None => return std::ptr::null_mut(),
        };
        let size = MIN_CLASS << idx;
        // A block from a free list was carved with MIN_ALIGN at least; larger alignments are
        // carved fresh (they are rare: nothing in the SDK asks for one).
        if l.align() <= MIN_ALIGN {
            let head = h.free[idx];
            if head != 0 {
                h.free[idx] = *(head as *const usize);
                return head as *mut u8;
            }
            return h.carve(size, MIN_ALIGN);
        }
        h.carve(size, l.align())
    }

    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        let h = &mut *self.heap.get();
        if let Some(idx) = class_of(&l) {
            *(p as *mut usize) = h.free[idx];
            h.free[idx] = p as usize;
        }
    }

    unsafe fn realloc(&self, p: *mut u8, l: Layout, new_size: usize) -> *mut u8 {
        let new = Layout::from_size_align_unchecked(new_size, l.align());
        if class_of(&l).is_some() && class_of(&l) == class_of(&new) {
            return p; // the block's class holds the new size too
        }
        let q = self.alloc(new);
        if !q.is_null() {
            std::ptr::copy_nonoverlapping(p, q, l.size().min(new_size));
            self.dealloc(p, l);
        }
        q
    }
}
