//! Test doubles for the first-chunk callbacks: real memory (so the setup really writes the
//! units), with every call recorded and failures injectable at a chosen call.
#![allow(dead_code)]

use core::ptr::NonNull;
use percpu_rt::CpuId;
use percpu_rt::first_chunk::{EarlyMemory, PageAlloc, PhysPage, VmError, VmSpace};
use std::alloc::Layout;

pub const PAGE: usize = 4096;

/// Registers the no-op platform (tests with several CPUs need one registered).
pub fn ensure_platform() {
    let _ = percpu_rt::set_platform(&percpu_rt::NoopPlatform);
}

/// A zeroed, leaked buffer.
pub fn aligned_buffer(size: usize, align: usize) -> *mut u8 {
    let layout = Layout::from_size_align(size, align).unwrap();
    // SAFETY: the layout has a non-zero size.
    let p = unsafe { std::alloc::alloc_zeroed(layout) };
    assert!(!p.is_null());
    p
}

/// Virtual-memory callbacks over one anonymous mapping per reserved range.
#[derive(Debug, Default)]
pub struct TestVm {
    /// `reserve` returns `None`.
    pub refuse_reserve: bool,
    /// `reserve` returns a range below the executable (whose delta GS.base cannot hold).
    pub low_range: bool,
    /// The n-th `map_page` call (1-based) fails.
    pub fail_map_at: Option<usize>,
    pub map_calls: usize,
    pub mapped: Vec<usize>,
    pub unmapped: Vec<usize>,
    pub released: usize,
}

impl VmSpace for TestVm {
    fn reserve(&mut self, size: usize, align: usize) -> Option<NonNull<u8>> {
        if self.refuse_reserve {
            return None;
        }
        if self.low_range {
            return NonNull::new(0x10_0000 as *mut u8);
        }
        let align = align.max(PAGE);
        // SAFETY: a fresh anonymous mapping, checked below.
        let raw = unsafe {
            libc::mmap(
                core::ptr::null_mut(),
                size + align,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(raw, libc::MAP_FAILED);
        NonNull::new((raw as usize).next_multiple_of(align) as *mut u8)
    }

    fn release(&mut self, _base: NonNull<u8>, _size: usize) {
        self.released += 1;
    }

    fn map_page(&mut self, addr: usize, _page: PhysPage) -> Result<(), VmError> {
        self.map_calls += 1;
        if Some(self.map_calls) == self.fail_map_at {
            return Err(VmError { reason: "out of page-table memory" });
        }
        self.mapped.push(addr);
        Ok(())
    }

    fn unmap_page(&mut self, addr: usize) {
        self.unmapped.push(addr);
    }
}

/// An early allocator over the global allocator, counting live bytes (frees are counted, not
/// performed: a unit's tail cannot be returned to `std::alloc`).
#[derive(Debug, Default)]
pub struct TestMemory {
    /// The n-th `alloc` call (1-based) fails.
    pub fail_at: Option<usize>,
    /// Allocations are returned one page past an atom boundary.
    pub misalign: bool,
    pub calls: usize,
    pub allocated: usize,
    pub freed: usize,
}

impl TestMemory {
    pub fn live(&self) -> usize {
        self.allocated - self.freed
    }
}

impl EarlyMemory for TestMemory {
    fn alloc(&mut self, size: usize, align: usize, _cpu: CpuId) -> Option<NonNull<u8>> {
        self.calls += 1;
        if Some(self.calls) == self.fail_at {
            return None;
        }
        let p = aligned_buffer(size + PAGE, align);
        self.allocated += size;
        NonNull::new(if self.misalign { p.wrapping_add(PAGE) } else { p })
    }

    fn free(&mut self, _ptr: NonNull<u8>, size: usize) {
        self.freed += size;
    }
}

/// Page allocator + virtual space for the page-mode builder.
#[derive(Debug, Default)]
pub struct PageMachine {
    pub vm: TestVm,
    /// `alloc_page` fails after this many pages.
    pub page_limit: Option<usize>,
    /// The n-th `populate_pte` call (1-based) fails.
    pub fail_populate_at: Option<usize>,
    pub allocated: usize,
    pub freed: usize,
    pub populated: usize,
}

impl PageMachine {
    pub fn pages_live(&self) -> usize {
        self.allocated - self.freed
    }
}

impl PageAlloc for PageMachine {
    fn alloc_page(&mut self, _cpu: CpuId) -> Option<PhysPage> {
        if Some(self.allocated) == self.page_limit {
            return None;
        }
        self.allocated += 1;
        Some(PhysPage(self.allocated as u64))
    }

    fn free_page(&mut self, _page: PhysPage) {
        self.freed += 1;
    }
}

impl VmSpace for PageMachine {
    fn reserve(&mut self, size: usize, align: usize) -> Option<NonNull<u8>> {
        self.vm.reserve(size, align)
    }
    fn release(&mut self, base: NonNull<u8>, size: usize) {
        self.vm.release(base, size)
    }
    fn populate_pte(&mut self, _addr: usize) -> Result<(), VmError> {
        self.populated += 1;
        if Some(self.populated) == self.fail_populate_at {
            return Err(VmError { reason: "no page-table page" });
        }
        Ok(())
    }
    fn map_page(&mut self, addr: usize, page: PhysPage) -> Result<(), VmError> {
        self.vm.map_page(addr, page)
    }
    fn unmap_page(&mut self, addr: usize) {
        self.vm.unmap_page(addr)
    }
}

pub mod scenario;
