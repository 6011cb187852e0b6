//! Memory for a first chunk in a Linux process, for the hosted machine and for programs that set up
//! per-CPU memory themselves (`first_chunk::embed_first_chunk` / `first_chunk::page_first_chunk`
//! without a [`Machine`](super::Machine)): [`MmapMemory`], an early allocator over `mmap` (embed
//! mode), and [`MemfdPages`], pages of a memfd mapped page by page with `MAP_FIXED` into ranges it
//! reserved (page mode), so that the page, populate and map callbacks run for real.
//!
//! Both are safe to hold and to call: every call that gives memory back or maps into the
//! address space is checked against what the value itself handed out or reserved, and refused
//! (and counted) otherwise, so that no call can unmap or replace memory it does not own.

use crate::cpu_id::CpuId;
use crate::first_chunk::{EarlyMemory, PageAlloc, PhysPage, VmError, VmSpace};
use core::ptr::NonNull;
use std::collections::{BTreeMap, BTreeSet};
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

/// Ranges `[start, start + len)` by start, disjoint.
#[derive(Debug, Default)]
struct Ranges(BTreeMap<usize, usize>);

impl Ranges {
    fn insert(&mut self, start: usize, len: usize) {
        if len > 0 {
            self.0.insert(start, len);
        }
    }

    /// The range holding all of `[start, start + len)`, if one does.
    fn holding(&self, start: usize, len: usize) -> Option<(usize, usize)> {
        let (&s, &l) = self.0.range(..=start).next_back()?;
        let end = start.checked_add(len)?;
        (end <= s + l).then_some((s, l))
    }

    /// Takes `[start, start + len)` out of the range holding it (keeping what is left on either
    /// side); `false` when no range holds it.
    fn take(&mut self, start: usize, len: usize) -> bool {
        let Some((s, l)) = self.holding(start, len) else { return false };
        self.0.remove(&s);
        self.insert(s, start - s);
        self.insert(start + len, s + l - (start + len));
        true
    }

    fn bytes(&self) -> usize {
        self.0.values().sum()
    }
}

/// The embed mode's early allocator in a Linux process: fresh anonymous mappings, aligned as
/// asked; [`EarlyMemory::free`] unmaps, and only memory this allocator handed out and still
/// holds (anything else is refused and counted in [`MmapMemory::refused`]).
///
/// ```
/// use percpu_rt::first_chunk::EarlyMemory;
/// use percpu_rt::hosted::MmapMemory;
/// use percpu_rt::CpuId;
///
/// let mut mem = MmapMemory::new();
/// let p = mem.alloc(64 << 10, 4096, CpuId::new(0)).unwrap();
/// assert_eq!(mem.live_bytes(), 64 << 10);
/// mem.free(p, 64 << 10);
/// assert_eq!(mem.live_bytes(), 0);
/// mem.free(p, 4096); // not held any more: refused, nothing unmapped
/// assert_eq!(mem.refused(), 1);
/// ```
#[derive(Debug, Default)]
pub struct MmapMemory {
    live: Ranges,
    refused: usize,
}

impl MmapMemory {
    /// An allocator holding nothing yet.
    pub fn new() -> Self {
        MmapMemory::default()
    }

    /// Bytes handed out and not given back.
    pub fn live_bytes(&self) -> usize {
        self.live.bytes()
    }

    /// `free` calls refused: memory this allocator does not hold.
    pub fn refused(&self) -> usize {
        self.refused
    }
}

impl EarlyMemory for MmapMemory {
    fn alloc(&mut self, size: usize, align: usize, _cpu: CpuId) -> Option<NonNull<u8>> {
        if size == 0 {
            return None;
        }
        let p = reserve_aligned(size, align, libc::PROT_READ | libc::PROT_WRITE)?;
        self.live.insert(p, size);
        NonNull::new(p as *mut u8)
    }

    fn free(&mut self, ptr: NonNull<u8>, size: usize) {
        let start = ptr.as_ptr() as usize;
        if size == 0 {
            return;
        }
        if self.live.take(start, size) {
            munmap(start, size);
        } else {
            self.refused += 1;
        }
    }
}

/// The page mode's memory in a Linux process: pages are offsets in a memfd ([`PageAlloc`]);
/// [`VmSpace::reserve`] reserves an inaccessible range, and pages are mapped into it with
/// `MAP_FIXED | MAP_SHARED`. Only pages it handed out can be given back, only addresses inside
/// ranges it reserved can be mapped or unmapped, and only such ranges released; anything else is
/// refused (an error for `map_page`, counted in [`MemfdPages::refused`] for the others). A range
/// given to [`first_chunk::page_first_chunk`](crate::first_chunk::page_first_chunk) belongs to the
/// chunk from then on: that call's safety contract keeps the caller from mapping into it again.
///
/// ```
/// use percpu_rt::first_chunk::{PageAlloc, VmSpace};
/// use percpu_rt::hosted::MemfdPages;
/// use percpu_rt::CpuId;
///
/// let mut pages = MemfdPages::new().unwrap();
/// let range = pages.reserve(2 * 4096, 4096).unwrap();
/// let page = pages.alloc_page(CpuId::new(0)).unwrap();
/// let addr = range.as_ptr() as usize;
/// pages.map_page(addr, page).unwrap();
/// // SAFETY: just mapped, read-write, and nothing else uses it.
/// unsafe { *(addr as *mut u64) = 7 };
/// assert!(pages.map_page(0x1000, page).is_err(), "not a reserved range");
/// pages.unmap_page(addr);
/// pages.free_page(page);
/// pages.release(range, 2 * 4096);
/// ```
#[derive(Debug)]
pub struct MemfdPages {
    fd: i32,
    next: u64,
    free: Vec<PhysPage>,
    handed_out: BTreeSet<u64>,
    reserved: Ranges,
    populated: usize,
    mapped: usize,
    refused: usize,
}

impl MemfdPages {
    /// A fresh memfd, holding no page yet.
    pub fn new() -> std::io::Result<Self> {
        // SAFETY: the name is a NUL-terminated string.
        let fd = unsafe { libc::memfd_create(c"percpu-first-chunk".as_ptr(), libc::MFD_CLOEXEC) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(MemfdPages {
            fd,
            next: 0,
            free: Vec::new(),
            handed_out: BTreeSet::new(),
            reserved: Ranges::default(),
            populated: 0,
            mapped: 0,
            refused: 0,
        })
    }

    /// `populate_pte` calls (user space needs no page tables populated; counted so that tests
    /// see the callback ran for every page).
    pub fn populated(&self) -> usize {
        self.populated
    }

    /// Pages mapped now.
    pub fn mapped(&self) -> usize {
        self.mapped
    }

    /// Calls refused: pages not handed out, addresses or ranges not reserved here.
    pub fn refused(&self) -> usize {
        self.refused
    }

    /// Whether `addr` is a page inside a range reserved here.
    fn reserved_page(&self, addr: usize) -> bool {
        addr % PAGE == 0 && self.reserved.holding(addr, PAGE).is_some()
    }
}

impl PageAlloc for MemfdPages {
    fn alloc_page(&mut self, _cpu: CpuId) -> Option<PhysPage> {
        let page = match self.free.pop() {
            Some(p) => p,
            None => {
                let page = PhysPage(self.next);
                let end = self.next.checked_add(PAGE as u64)?;
                // SAFETY: growing our own memfd.
                if unsafe { libc::ftruncate(self.fd, end as libc::off_t) } != 0 {
                    return None;
                }
                self.next = end;
                page
            }
        };
        self.handed_out.insert(page.0);
        Some(page)
    }

    fn free_page(&mut self, page: PhysPage) {
        if self.handed_out.remove(&page.0) {
            self.free.push(page);
        } else {
            self.refused += 1;
        }
    }
}

impl VmSpace for MemfdPages {
    fn reserve(&mut self, size: usize, align: usize) -> Option<NonNull<u8>> {
        if size == 0 || size % PAGE != 0 {
            return None;
        }
        let start = reserve_aligned(size, align, libc::PROT_NONE)?;
        self.reserved.insert(start, size);
        NonNull::new(start as *mut u8)
    }

    fn release(&mut self, base: NonNull<u8>, size: usize) {
        let start = base.as_ptr() as usize;
        if size > 0 && self.reserved.take(start, size) {
            munmap(start, size);
        } else {
            self.refused += 1;
        }
    }

    fn populate_pte(&mut self, _addr: usize) -> Result<(), VmError> {
        self.populated += 1;
        Ok(())
    }

    fn map_page(&mut self, addr: usize, page: PhysPage) -> Result<(), VmError> {
        if !self.reserved_page(addr) {
            self.refused += 1;
            return Err(VmError { reason: "not a page of a range this MemfdPages reserved" });
        }
        if !self.handed_out.contains(&page.0) {
            self.refused += 1;
            return Err(VmError { reason: "not a page this MemfdPages handed out" });
        }
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
        if !self.reserved_page(addr) {
            self.refused += 1;
            return;
        }
        // Back to an inaccessible reservation, so the range stays ours.
        let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED | libc::MAP_NORESERVE;
        let _ = mmap(addr, PAGE, libc::PROT_NONE, flags, -1, 0);
        self.mapped = self.mapped.saturating_sub(1);
    }
}
