//! Memory for the hosted first chunk, from Linux: an early allocator over `mmap` (embed mode)
//! and a page allocator over a memfd with a reserved range mapped page by page with `MAP_FIXED`
//! (page mode), so that the page, populate and map callbacks run for real.

use crate::cpu::CpuId;
use crate::first_chunk::{EarlyMemory, PageAlloc, PhysPage, VmError, VmSpace};
use core::ptr::NonNull;
use std::vec::Vec;

const PAGE: usize = 4096;

/// `mmap` that returns `None` on failure.
fn mmap(addr: usize, len: usize, prot: i32, flags: i32, fd: i32, off: i64) -> Option<usize> {
    // SAFETY: plain mmap call; the result is checked; MAP_FIXED callers only pass addresses
    // inside ranges they reserved.
    let p = unsafe { libc::mmap(addr as *mut libc::c_void, len, prot, flags, fd, off) };
    if p == libc::MAP_FAILED { None } else { Some(p as usize) }
}

/// `munmap`.
fn munmap(addr: usize, len: usize) {
    // SAFETY: only ranges this module mapped are unmapped.
    unsafe { libc::munmap(addr as *mut libc::c_void, len) };
}

/// Reserves `size` bytes of address space aligned to `align` (inaccessible until mapped):
/// over-reserve, then trim the head and tail.
fn reserve_aligned(size: usize, align: usize, prot: i32) -> Option<usize> {
    let align = align.max(PAGE);
    let span = size.checked_add(align)?;
    let raw =
        mmap(0, span, prot, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE, -1, 0)?;
    let start = raw.next_multiple_of(align);
    if start > raw {
        munmap(raw, start - raw);
    }
    let end = start + size;
    if raw + span > end {
        munmap(end, raw + span - end);
    }
    Some(start)
}

/// The embed mode's early allocator: anonymous mappings, atom-aligned; `free` unmaps.
#[derive(Debug, Default)]
pub(crate) struct MmapMemory {
    /// Bytes currently allocated (for tests of the tails being given back).
    pub(crate) live_bytes: usize,
}

impl EarlyMemory for MmapMemory {
    fn alloc(&mut self, size: usize, align: usize, _cpu: CpuId) -> Option<NonNull<u8>> {
        let p = reserve_aligned(size, align, libc::PROT_READ | libc::PROT_WRITE)?;
        self.live_bytes += size;
        NonNull::new(p as *mut u8)
    }

    fn free(&mut self, ptr: NonNull<u8>, size: usize) {
        munmap(ptr.as_ptr() as usize, size);
        self.live_bytes -= size;
    }
}

/// The page mode's memory: pages are offsets in a memfd; a reserved range is `PROT_NONE`
/// until pages are mapped into it with `MAP_FIXED | MAP_SHARED`.
#[derive(Debug)]
pub(crate) struct MemfdPages {
    fd: i32,
    next: u64,
    free: Vec<PhysPage>,
    /// `populate_pte` calls (the page tables of user space need no populating; counted so
    /// tests can see the callback ran for every page).
    pub(crate) populated: usize,
    /// `map_page` calls that succeeded.
    pub(crate) mapped: usize,
}

impl MemfdPages {
    /// A fresh memfd.
    pub(crate) fn new() -> std::io::Result<Self> {
        // SAFETY: the name is a NUL-terminated string.
        let fd = unsafe { libc::memfd_create(c"percpu-first-chunk".as_ptr(), libc::MFD_CLOEXEC) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(MemfdPages { fd, next: 0, free: Vec::new(), populated: 0, mapped: 0 })
    }
}

impl PageAlloc for MemfdPages {
    fn alloc_page(&mut self, _cpu: CpuId) -> Option<PhysPage> {
        if let Some(p) = self.free.pop() {
            return Some(p);
        }
        let page = PhysPage(self.next);
        // SAFETY: growing our own memfd.
        if unsafe { libc::ftruncate(self.fd, (self.next + PAGE as u64) as libc::off_t) } != 0 {
            return None;
        }
        self.next += PAGE as u64;
        Some(page)
    }

    fn free_page(&mut self, page: PhysPage) {
        self.free.push(page);
    }
}

impl VmSpace for MemfdPages {
    fn reserve(&mut self, size: usize, align: usize) -> Option<NonNull<u8>> {
        NonNull::new(reserve_aligned(size, align, libc::PROT_NONE)? as *mut u8)
    }

    fn release(&mut self, base: NonNull<u8>, size: usize) {
        munmap(base.as_ptr() as usize, size);
    }

    fn populate_pte(&mut self, _addr: usize) -> Result<(), VmError> {
        self.populated += 1;
        Ok(())
    }

    fn map_page(&mut self, addr: usize, page: PhysPage) -> Result<(), VmError> {
        let flags = libc::MAP_SHARED | libc::MAP_FIXED;
        match mmap(addr, PAGE, libc::PROT_READ | libc::PROT_WRITE, flags, self.fd, page.0 as i64) {
            Some(_) => {
                self.mapped += 1;
                Ok(())
            }
            None => Err(VmError { reason: "mmap(MAP_FIXED) of a memfd page failed" }),
        }
    }

    fn unmap_page(&mut self, addr: usize) {
        // Back to an inaccessible reservation, so the range stays ours.
        let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED | libc::MAP_NORESERVE;
        let _ = mmap(addr, PAGE, libc::PROT_NONE, flags, -1, 0);
        self.mapped -= 1;
    }
}
