//! Physical memory without a heap: a bump allocator over the largest RAM range above the
//! kernel image (identity-mapped by the boot page tables). It serves the first chunk (whole
//! atom-aligned groups in embed mode, single pages in page mode), the page tables of the
//! page-mode range (`paging`, shared with the x86_64 kernel, calls [`alloc_zeroed`]) and the
//! stacks of the other CPUs. Memory given back is counted, not reused: the run is short.

use core::ops::Range;
use core::sync::atomic::{AtomicUsize, Ordering};

/// The granule.
pub const FRAME_SIZE: usize = 4096;

/// The free part of the range.
static FREE: spin::Mutex<Range<usize>> = spin::Mutex::new(0..0);
/// Bytes given back.
static GIVEN_BACK: AtomicUsize = AtomicUsize::new(0);

/// Hands the allocator its range (once, at boot).
///
/// # Safety
///
/// `range` is identity-mapped, writable RAM that nothing else uses for the rest of the run.
pub unsafe fn init(range: Range<usize>) {
    *FREE.lock() = range;
}

/// `size` bytes (rounded up to whole frames) aligned to `align` (a power of two), not cleared.
pub fn alloc(size: usize, align: usize) -> Option<usize> {
    let mut free = FREE.lock();
    let start = free.start.checked_next_multiple_of(align.max(FRAME_SIZE))?;
    let end = start.checked_add(size.max(1).checked_next_multiple_of(FRAME_SIZE)?)?;
    if end > free.end {
        return None;
    }
    free.start = end;
    Some(start)
}

/// As [`alloc`] for page tables: a cleared frame-aligned block, or why not.
pub fn alloc_zeroed(size: usize, align: usize) -> Result<usize, &'static str> {
    let start = alloc(size, align).ok_or("out of physical memory")?;
    // SAFETY: the frames were just carved off the free range: RAM nothing else uses,
    // identity-mapped and writable (`init`).
    unsafe { core::ptr::write_bytes(start as *mut u8, 0, size) };
    Ok(start)
}

/// Records `size` bytes given back (they are not reused).
pub fn give_back(size: usize) {
    GIVEN_BACK.fetch_add(size, Ordering::Relaxed);
}

/// Bytes given back so far.
pub fn given_back() -> usize {
    GIVEN_BACK.load(Ordering::Relaxed)
}
