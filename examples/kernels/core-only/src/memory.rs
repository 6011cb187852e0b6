//! The first chunk's memory callbacks over the bump frame allocator: [`Early`] for the embed
//! mode (Linux's memblock), [`Pages`] for the page mode (single frames mapped page by page into
//! a virtual range above the identity map, through the shared page-table code).

use core::ptr::NonNull;

use percpu_rt::CpuId;
use percpu_rt::first_chunk::{EarlyMemory, PageAlloc, PhysPage, VmError, VmSpace};

use crate::{frames, paging};

/// The embed mode's early memory.
#[derive(Debug)]
pub struct Early;

impl EarlyMemory for Early {
    fn alloc(&mut self, size: usize, align: usize, _cpu: CpuId) -> Option<NonNull<u8>> {
        frames::alloc(size, align).and_then(|start| NonNull::new(start as *mut u8))
    }

    fn free(&mut self, _ptr: NonNull<u8>, size: usize) {
        frames::give_back(size);
    }
}

/// The page mode's pages and virtual range.
#[derive(Debug)]
pub struct Pages {
    /// Next free virtual address.
    next: usize,
}

impl Pages {
    /// Virtual ranges from `base` up.
    pub fn new(base: usize) -> Self {
        Pages { next: base }
    }
}

impl PageAlloc for Pages {
    fn alloc_page(&mut self, _cpu: CpuId) -> Option<PhysPage> {
        frames::alloc(frames::FRAME_SIZE, frames::FRAME_SIZE).map(|p| PhysPage(p as u64))
    }

    fn free_page(&mut self, _page: PhysPage) {
        frames::give_back(frames::FRAME_SIZE);
    }
}

impl VmSpace for Pages {
    fn reserve(&mut self, size: usize, align: usize) -> Option<NonNull<u8>> {
        let start = self.next.checked_next_multiple_of(align)?;
        self.next = start.checked_add(size)?;
        NonNull::new(start as *mut u8)
    }

    fn release(&mut self, base: NonNull<u8>, size: usize) {
        if base.as_ptr() as usize + size == self.next {
            self.next = base.as_ptr() as usize;
        }
    }

    fn populate_pte(&mut self, addr: usize) -> Result<(), VmError> {
        paging::populate_pte(addr).map_err(|reason| VmError { reason })
    }

    fn map_page(&mut self, addr: usize, page: PhysPage) -> Result<(), VmError> {
        paging::map_page(addr, page.0 as usize).map_err(|reason| VmError { reason })
    }

    fn unmap_page(&mut self, addr: usize) {
        paging::unmap_page(addr);
    }
}
