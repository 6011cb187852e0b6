//! [`BumpMemory`]: the embed mode's early memory over one static region, for kernels that have
//! no boot allocator yet (what Linux's memblock is to `pcpu_embed_first_chunk`).

use core::fmt;
use core::mem::MaybeUninit;
use core::ptr::NonNull;

use super::EarlyMemory;
use crate::CpuId;

/// An [`EarlyMemory`] that hands out one region from the bottom up.
///
/// Give it memory that lasts (a [`StaticBuffer`](crate::boot_memory::StaticBuffer) taken once,
/// or a range of physical memory the kernel owns), sized for the first chunk: one unit per
/// possible CPU plus the alignment of the first allocation (`atom_size`). What the setup gives
/// back on top of the region (a failed setup's whole allocation) is handed out again; a unit's
/// unused tail given back below the top stays unused and is counted in
/// [`given_back`](Self::given_back).
///
/// ```
/// use percpu_rt::boot_memory::StaticBuffer;
/// use percpu_rt::first_chunk::{BumpMemory, EarlyMemory};
/// use percpu_rt::CpuId;
///
/// static UNITS: StaticBuffer<{ 64 << 10 }> = StaticBuffer::new();
///
/// let mut early = BumpMemory::new(UNITS.take().expect("taken once"));
/// let unit = early.alloc(16 << 10, 4096, CpuId::new(0)).expect("room");
/// assert_eq!(unit.as_ptr() as usize % 4096, 0);
/// let left = early.remaining();
/// early.free(unit, 16 << 10); // the topmost allocation: its bytes are free again
/// assert_eq!(early.remaining(), left + (16 << 10));
/// assert_eq!(early.alloc(16 << 10, 4096, CpuId::new(1)), Some(unit));
/// ```
pub struct BumpMemory {
    /// The region's first byte.
    start: usize,
    /// Its length in bytes.
    len: usize,
    /// Bytes from `start` handed out so far (alignment padding included).
    next: usize,
    /// Bytes given back below the top, never handed out again.
    given_back: usize,
}

impl BumpMemory {
    /// Hands out `region`, which the first chunk keeps for good.
    pub fn new(region: &'static mut [MaybeUninit<u8>]) -> Self {
        BumpMemory {
            start: region.as_mut_ptr() as usize,
            len: region.len(),
            next: 0,
            given_back: 0,
        }
    }

    /// Bytes handed out and not given back from the top (alignment padding included).
    pub fn used(&self) -> usize {
        self.next
    }

    /// Bytes still free above the last allocation.
    pub fn remaining(&self) -> usize {
        self.len - self.next
    }

    /// Bytes given back below the top: unused since, as a bump region cannot reuse them.
    pub fn given_back(&self) -> usize {
        self.given_back
    }
}

impl EarlyMemory for BumpMemory {
    fn alloc(&mut self, size: usize, align: usize, _cpu: CpuId) -> Option<NonNull<u8>> {
        if size == 0 || !align.is_power_of_two() {
            return None;
        }
        let start = self.start.checked_add(self.next)?.checked_next_multiple_of(align)?;
        let end = start.checked_add(size)?;
        if end > self.start + self.len {
            return None;
        }
        self.next = end - self.start;
        NonNull::new(start as *mut u8)
    }

    fn free(&mut self, ptr: NonNull<u8>, size: usize) {
        let addr = ptr.as_ptr() as usize;
        let inside = addr >= self.start && addr.saturating_add(size) <= self.start + self.next;
        if !inside {
            // Not this region's: nothing to take back.
            return;
        }
        if addr + size == self.start + self.next {
            self.next = addr - self.start;
        } else {
            self.given_back += size;
        }
    }
}

impl fmt::Debug for BumpMemory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BumpMemory")
            .field("start", &format_args!("{:#x}", self.start))
            .field("len", &self.len)
            .field("used", &self.next)
            .field("given_back", &self.given_back)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn region(len: usize) -> &'static mut [MaybeUninit<u8>] {
        alloc::boxed::Box::leak(alloc::vec![MaybeUninit::new(0u8); len].into_boxed_slice())
    }

    #[test]
    fn allocations_are_aligned_disjoint_and_bounded() {
        let mut m = BumpMemory::new(region(3 * 4096 + 64));
        let cpu = CpuId::new(0);
        let a = m.alloc(100, 64, cpu).unwrap().as_ptr() as usize;
        let b = m.alloc(4096, 4096, cpu).unwrap().as_ptr() as usize;
        assert_eq!(a % 64, 0);
        assert_eq!(b % 4096, 0);
        assert!(b >= a + 100);
        assert!(m.alloc(1 << 20, 8, cpu).is_none(), "larger than what is left");
        assert!(m.alloc(0, 8, cpu).is_none());
        assert!(m.alloc(8, 3, cpu).is_none(), "alignment not a power of two");
        assert!(m.alloc(8, 1 << 62, cpu).is_none(), "alignment beyond the address space");
        assert_eq!(m.used() + m.remaining(), 3 * 4096 + 64);
    }

    #[test]
    fn the_top_is_reused_and_the_rest_counted() {
        let mut m = BumpMemory::new(region(8192));
        let cpu = CpuId::new(0);
        let a = m.alloc(1024, 8, cpu).unwrap();
        let b = m.alloc(1024, 8, cpu).unwrap();
        m.free(a, 512);
        assert_eq!(m.given_back(), 512);
        let used = m.used();
        m.free(b, 1024);
        assert_eq!(m.used(), used - 1024);
        assert_eq!(m.alloc(1024, 8, cpu), Some(b), "the top is handed out again");
        let foreign = NonNull::new(8 as *mut u8).unwrap();
        m.free(foreign, 16);
        assert_eq!(m.given_back(), 512, "memory that is not the region's is ignored");
    }
}
