//! The hosted backend: chunks are `mmap` reservations in a Linux process, populated and
//! released for real.
//!
//! * `create_chunk`: one `mmap(PROT_NONE, MAP_NORESERVE)` of the chunk's span (every group,
//!   laid out as the first chunk's), so touching an unpopulated page faults, as in a kernel.
//! * `populate`: per unit, `mprotect(PROT_READ | PROT_WRITE)` then
//!   `madvise(MADV_POPULATE_WRITE)` (pages faulted in now, resident afterwards; on kernels
//!   before 5.14, one write per page does the same).
//! * `depopulate`: per unit, `madvise(MADV_DONTNEED)` (the pages go back to the system) then
//!   `mprotect(PROT_NONE)`.
//! * `destroy_chunk`: `munmap` of the span.
//!
//! The backend counts what it holds, so tests and the benchmark can check it against the
//! allocator's own figures and against `mincore`.
//!
//! It also remembers every chunk it reserved and which of its pages are populated, and checks
//! each request against that: a base it did not return (or already destroyed), pages outside a
//! unit or a geometry that does not match the chunk's are refused and change nothing; pages
//! released twice are counted once. The methods are `unsafe` to call (releasing pages that hold
//! live objects cannot be caught here), but no request can unmap memory that is not one of its
//! chunks or make its counters wrap.

use crate::allocator::backend::{Backend, ChunkGeometry};
use crate::allocator::error::BackendError;
use core::ops::Range;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::vec::Vec;

/// One reserved chunk: where, how large, and which unit pages are populated.
#[derive(Debug)]
struct Reservation {
    base: usize,
    span: usize,
    populated: Vec<bool>,
}

/// The hosted backend. Use the shared [`HOSTED_BACKEND`], or your own (each counts for itself).
#[derive(Debug, Default)]
pub struct HostedBackend {
    reservations: Mutex<Vec<Reservation>>,
    chunks: AtomicUsize,
    resident_pages: AtomicUsize,
    populate_calls: AtomicU64,
    depopulate_calls: AtomicU64,
    balance_requests: AtomicU64,
    no_populate_write: AtomicBool,
}

/// The backend the hosted machine registers.
pub static HOSTED_BACKEND: HostedBackend = HostedBackend::new();

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

impl HostedBackend {
    /// A backend with zeroed counters.
    pub const fn new() -> Self {
        HostedBackend {
            reservations: Mutex::new(Vec::new()),
            chunks: AtomicUsize::new(0),
            resident_pages: AtomicUsize::new(0),
            populate_calls: AtomicU64::new(0),
            depopulate_calls: AtomicU64::new(0),
            balance_requests: AtomicU64::new(0),
            no_populate_write: AtomicBool::new(false),
        }
    }

    /// Chunks currently reserved.
    pub fn chunks(&self) -> usize {
        self.chunks.load(Ordering::Relaxed)
    }

    /// Pages currently populated, summed over every unit.
    pub fn resident_pages(&self) -> usize {
        self.resident_pages.load(Ordering::Relaxed)
    }

    /// `(populate, depopulate)` calls so far.
    pub fn calls(&self) -> (u64, u64) {
        (self.populate_calls.load(Ordering::Relaxed), self.depopulate_calls.load(Ordering::Relaxed))
    }

    /// How many times the allocator asked for the balance step.
    pub fn balance_requests(&self) -> u64 {
        self.balance_requests.load(Ordering::Relaxed)
    }

    /// Pages of `[addr, addr + len)` that are resident, by `mincore`.
    ///
    /// # Errors
    ///
    /// The `errno` of `mincore` (e.g. `ENOMEM` for an unmapped range).
    pub fn mincore_resident(addr: usize, len: usize) -> Result<usize, i32> {
        let page = page_size();
        let start = addr & !(page - 1);
        let n = (addr + len - start).div_ceil(page);
        let mut vec = std::vec![0u8; n];
        // SAFETY: mincore only writes `n` bytes into `vec`, which has that many.
        let rc = unsafe { libc::mincore(start as *mut libc::c_void, n * page, vec.as_mut_ptr()) };
        if rc != 0 {
            return Err(errno());
        }
        Ok(vec.iter().filter(|&&b| b & 1 != 0).count())
    }

    fn unit_ranges<'a>(
        geometry: &'a ChunkGeometry,
        base: usize,
        pages: &'a Range<usize>,
    ) -> impl Iterator<Item = (usize, usize)> + 'a {
        let page = geometry.page_size;
        geometry.units.iter().map(move |&(_, off)| {
            (base + off + pages.start * page, (pages.end - pages.start) * page)
        })
    }

    /// Runs `f` on the reservation at `base` if `geometry` and `pages` fit it.
    fn with_reservation<R>(
        &self,
        geometry: &ChunkGeometry,
        base: usize,
        pages: &Range<usize>,
        f: impl FnOnce(&mut Reservation) -> R,
    ) -> Result<R, BackendError> {
        let mut all = self.reservations.lock().unwrap_or_else(|e| e.into_inner());
        let fits = |r: &&mut Reservation| {
            r.base == base
                && r.span == geometry.span()
                && r.populated.len() == geometry.unit_pages()
                && pages.start <= pages.end
                && pages.end <= r.populated.len()
                && geometry.units.iter().all(|&(_, off)| {
                    off.checked_add(geometry.unit_size).is_some_and(|end| end <= r.span)
                })
        };
        match all.iter_mut().find(|r| r.base == base).filter(fits) {
            Some(r) => Ok(f(r)),
            None => Err(BackendError::UnknownChunk { base }),
        }
    }

    fn release(geometry: &ChunkGeometry, base: usize, pages: &Range<usize>) {
        for (addr, len) in Self::unit_ranges(geometry, base, pages) {
            // SAFETY: the range is inside this chunk's reservation; nothing in it is live
            // (backend contract), so discarding and protecting it is harmless.
            unsafe {
                libc::madvise(addr as *mut libc::c_void, len, libc::MADV_DONTNEED);
                libc::mprotect(addr as *mut libc::c_void, len, libc::PROT_NONE);
            }
        }
    }
}

/// The system page size.
pub fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if p > 0 { p as usize } else { 4096 }
}

// SAFETY: every chunk is a fresh private mapping of the whole span (disjoint from everything
// else in the process); populate makes the pages of every unit readable and writable and
// faults them in, and they stay so until depopulate or destroy.
unsafe impl Backend for HostedBackend {
    fn create_chunk(&self, geometry: &ChunkGeometry) -> Result<usize, BackendError> {
        let span = geometry.span();
        // SAFETY: an anonymous reservation; the result is checked.
        let p = unsafe {
            libc::mmap(
                core::ptr::null_mut(),
                span,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(BackendError::NoAddressSpace { bytes: span });
        }
        let populated = std::vec![false; geometry.unit_pages()];
        let mut all = self.reservations.lock().unwrap_or_else(|e| e.into_inner());
        all.push(Reservation { base: p as usize, span, populated });
        self.chunks.fetch_add(1, Ordering::Relaxed);
        Ok(p as usize)
    }

    unsafe fn populate(
        &self,
        geometry: &ChunkGeometry,
        base: usize,
        pages: Range<usize>,
    ) -> Result<(), BackendError> {
        // Refuses (and changes nothing for) anything but pages of one of our chunks.
        self.with_reservation(geometry, base, &pages, |_| ())?;
        self.populate_calls.fetch_add(1, Ordering::Relaxed);
        let page = geometry.page_size;
        for (addr, len) in Self::unit_ranges(geometry, base, &pages) {
            // SAFETY: the range is inside this chunk's reservation.
            let rc = unsafe {
                libc::mprotect(addr as *mut libc::c_void, len, libc::PROT_READ | libc::PROT_WRITE)
            };
            let mut failure =
                (rc != 0).then(|| BackendError::Os { op: "mprotect", errno: errno() });
            if failure.is_none() {
                let mut done = false;
                if !self.no_populate_write.load(Ordering::Relaxed) {
                    // SAFETY: a readable and writable range of this chunk.
                    let rc = unsafe {
                        libc::madvise(addr as *mut libc::c_void, len, libc::MADV_POPULATE_WRITE)
                    };
                    if rc == 0 {
                        done = true;
                    } else if errno() == libc::EINVAL {
                        self.no_populate_write.store(true, Ordering::Relaxed);
                    } else {
                        failure = Some(BackendError::NoMemory { bytes: len });
                    }
                }
                if !done && failure.is_none() {
                    for p in (addr..addr + len).step_by(page) {
                        // SAFETY: readable and writable, and nothing in it is live yet.
                        unsafe { core::ptr::write_volatile(p as *mut u8, 0) };
                    }
                }
            }
            if let Some(e) = failure {
                let _ = self.with_reservation(geometry, base, &pages, |r| {
                    let was = r.populated[pages.clone()].iter().filter(|&&p| p).count();
                    r.populated[pages.clone()].iter_mut().for_each(|p| *p = false);
                    self.resident_pages.fetch_sub(was * geometry.units.len(), Ordering::Relaxed);
                });
                Self::release(geometry, base, &pages);
                return Err(e);
            }
        }
        let _ = self.with_reservation(geometry, base, &pages, |r| {
            let fresh = r.populated[pages.clone()].iter().filter(|&&p| !p).count();
            r.populated[pages.clone()].iter_mut().for_each(|p| *p = true);
            self.resident_pages.fetch_add(fresh * geometry.units.len(), Ordering::Relaxed);
        });
        Ok(())
    }

    unsafe fn depopulate(&self, geometry: &ChunkGeometry, base: usize, pages: Range<usize>) {
        let counted = self.with_reservation(geometry, base, &pages, |r| {
            let was = r.populated[pages.clone()].iter().filter(|&&p| p).count();
            r.populated[pages.clone()].iter_mut().for_each(|p| *p = false);
            self.resident_pages.fetch_sub(was * geometry.units.len(), Ordering::Relaxed);
        });
        if counted.is_ok() {
            self.depopulate_calls.fetch_add(1, Ordering::Relaxed);
            Self::release(geometry, base, &pages);
        }
    }

    unsafe fn destroy_chunk(&self, geometry: &ChunkGeometry, base: usize) {
        let mut all = self.reservations.lock().unwrap_or_else(|e| e.into_inner());
        let Some(i) = all.iter().position(|r| r.base == base && r.span == geometry.span()) else {
            return; // Not one of ours: refused, nothing unmapped.
        };
        let r = all.swap_remove(i);
        let still = r.populated.iter().filter(|&&p| p).count();
        self.resident_pages.fetch_sub(still * geometry.units.len(), Ordering::Relaxed);
        // SAFETY: the whole reservation made by `create_chunk` (recorded above); nothing in it
        // is live (the caller's contract).
        unsafe { libc::munmap(base as *mut libc::c_void, r.span) };
        self.chunks.fetch_sub(1, Ordering::Relaxed);
    }

    fn request_balance(&self) {
        self.balance_requests.fetch_add(1, Ordering::Relaxed);
    }
}
