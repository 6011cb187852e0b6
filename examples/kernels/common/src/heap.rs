//! The kernel heap behind `alloc` (where percpu-rt, with its `alloc` feature, keeps its CPU
//! table and layouts, and which its dynamic allocator and these kernels' checks use): a
//! `linked_list_allocator` heap over frames taken from [`crate::frames`] at boot, behind a spin
//! lock.

use core::alloc::{GlobalAlloc, Layout};
use core::ptr::{self, NonNull};

use linked_list_allocator::Heap;

/// The global allocator: a first-fit linked-list heap, locked.
struct KernelHeap(spin::Mutex<Heap>);

// SAFETY: `Heap` hands out disjoint blocks of the region given to `init`, with the requested
// size and alignment, and takes back only blocks it handed out (GlobalAlloc's contract on
// `dealloc`); the mutex serialises CPUs.
unsafe impl GlobalAlloc for KernelHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match self.0.lock().allocate_first_fit(layout) {
            Ok(block) => block.as_ptr(),
            Err(()) => ptr::null_mut(),
        }
    }

    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        if let Some(block) = NonNull::new(p) {
            // SAFETY: GlobalAlloc's contract: `p` came from `alloc` with this `layout`.
            unsafe { self.0.lock().deallocate(block, layout) }
        }
    }
}

#[global_allocator]
static HEAP: KernelHeap = KernelHeap(spin::Mutex::new(Heap::empty()));

/// Gives the heap its memory.
///
/// # Safety
///
/// 1. `start..start + size` is writable memory that nothing else uses, for the rest of the run.
/// 2. Called once, before the first allocation.
pub unsafe fn init(start: usize, size: usize) {
    // SAFETY: forwarded from the caller (1, 2).
    unsafe { HEAP.0.lock().init(start as *mut u8, size) }
}

/// Bytes of the heap in use.
pub fn used() -> usize {
    HEAP.0.lock().used()
}

/// Bytes the heap manages.
pub fn size() -> usize {
    HEAP.0.lock().size()
}
