//! [`Allocator`]: the bookkeeping ([`State`]) behind an interrupt-safe lock, every CPU's cache
//! of free areas in front of it (`cache.rs`), the backend calls around it, and the memory work
//! (zeroing, `copies.rs`) outside it. The lines of a fresh area are requested under the lock,
//! before the bookkeeping, so that the zeroing after it finds them on the way.
//!
//! Locks (Linux's `pcpu_lock` and `pcpu_alloc_mutex`, and a per-CPU cache's own):
//! * a CPU cache's: a spin lock over that cache alone, only *tried* by allocations and frees
//!   (which take the locked path when it is busy), waited for by the balance step and the
//!   consistency check. Taken before `state`.
//! * `state`: an irqsave spin lock over all bookkeeping. Every call that misses its cache takes
//!   it, briefly; so do a cache's refills and drains, once per batch; never held across a
//!   backend call or a memory write to areas.
//! * `grow`: serialises chunk creation and destruction, population and depopulation (the
//!   balance step and the slow path of sleeping allocations). Taken before `state`, never from
//!   interrupt context.
//!
//! Calls allowed from interrupt context (or with interrupts masked, or holding spin locks):
//! freeing ([`PerCpuArea::free`], [`Allocator::free_raw`], [`Allocator::free_raw_sized`]),
//! [`Allocator::alloc_atomic`], [`Allocator::alloc_reserved`]. [`Allocator::stats`] allocates
//! under the lock; [`Allocator::verify`] also waits for every cache. The others may call the
//! backend, which may sleep.

use super::backend::{Backend, ChunkGeometry};
use super::cache::{Caches, ClassKey, CpuCache};
use super::copies;
use super::error::{
    AllocError, BackendAlreadySet, BackendError, FreeError, InitError, VerifyError,
};
use super::lock::IrqSpinLock;
use super::oncpu::OnCpu;
use super::state::{Geo, PageRun, Placed, Request, State};
use super::stats::Stats;
use super::{AllocConfig, FirstChunkRegions, PerCpuArea, PerCpuPtr};
use crate::cpu_id::CpuId;
use crate::layout::{MIN_ALLOC_SHIFT, MIN_ALLOC_SIZE};
use alloc::boxed::Box;
use alloc::vec::Vec;
use core::fmt;

/// What one balance step did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BalanceReport {
    /// Fully free chunks destroyed.
    pub chunks_destroyed: usize,
    /// Chunks created to have empty populated pages.
    pub chunks_created: usize,
    /// Pages (per unit) released.
    pub pages_depopulated: usize,
    /// Pages (per unit) populated.
    pub pages_populated: usize,
}

/// A dynamic per-CPU allocator over congruent chunks.
///
/// The kernel uses the global one (the free functions of [`allocator`](super)), which the
/// first-chunk setup creates. Separate instances serve tests, benchmarks and tools: their
/// pointers use the same encoding but are only valid with the instance that returned them.
pub struct Allocator {
    pub(super) state: IrqSpinLock<State>,
    pub(super) grow: spin::Mutex<()>,
    pub(super) backend: spin::Once<&'static dyn Backend>,
    pub(super) geometry: ChunkGeometry,
    /// Every used unit's offset (zeroing).
    pub(super) unit_offsets: Box<[usize]>,
    pub(super) geo: Geo,
    pub(super) max_alloc_size: usize,
    /// Every CPU's cache of free areas (`cache.rs`).
    pub(super) caches: Caches,
}

impl Drop for Allocator {
    /// Returns every dynamic chunk to the backend. Areas still allocated die with it.
    fn drop(&mut self) {
        let Some(backend) = self.backend.get() else { return };
        let st = self.state.get_mut();
        for chunk in st.drain_dynamic() {
            release_chunk(*backend, &self.geometry, self.geo.page_shift, &chunk);
        }
    }
}

/// Depopulates the populated pages of `chunk`, then destroys it.
fn release_chunk(
    backend: &dyn Backend,
    geometry: &ChunkGeometry,
    page_shift: u32,
    chunk: &super::chunk::Chunk,
) {
    let n = chunk.map.nr_blocks();
    let first = chunk.first_page(page_shift);
    let mut k = 0;
    while k < n {
        if chunk.is_populated(k) {
            let start = k;
            while k < n && chunk.is_populated(k) {
                k += 1;
            }
            // SAFETY: `chunk` was created by this backend for `geometry` and is being released
            // (no area of it is live); the run lies within the unit.
            unsafe {
                backend.depopulate(geometry, chunk.base, first + start as usize..first + k as usize)
            };
        } else {
            k += 1;
        }
    }
    // SAFETY: as above; every populated page was released.
    unsafe { backend.destroy_chunk(geometry, chunk.base) };
}

impl fmt::Debug for Allocator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Allocator")
            .field("geometry", &self.geometry)
            .field("max_alloc_size", &self.max_alloc_size)
            .field("backend", &self.backend.get().is_some())
            .finish()
    }
}

/// Checks `regions` and `config` against each other.
fn check(r: &FirstChunkRegions, config: &AllocConfig) -> Result<usize, InitError> {
    let page = r.page_size;
    if !page.is_power_of_two() || page < 256 {
        return Err(InitError::PageSize { page_size: page });
    }
    if r.unit_size == 0 || r.unit_size % page != 0 || r.unit_size > (16usize << 30) {
        return Err(InitError::UnitSize { unit_size: r.unit_size, page_size: page });
    }
    let sum = r.static_size.checked_add(r.reserved_size).and_then(|s| s.checked_add(r.dyn_size));
    if sum.is_none_or(|s| s > r.unit_size) {
        return Err(InitError::RegionsExceedUnit {
            sum: sum.unwrap_or(usize::MAX),
            unit_size: r.unit_size,
        });
    }
    if r.base_addr % page != 0 {
        return Err(InitError::BaseNotPageAligned { base_addr: r.base_addr });
    }
    if r.units.is_empty() {
        return Err(InitError::NoUnits);
    }
    let mut groups = r.groups.clone();
    groups.sort_unstable();
    let bad_group =
        |&(off, size): &(usize, usize)| off % page != 0 || size == 0 || size % page != 0;
    if groups.first().is_none_or(|g| g.0 != 0)
        || groups.iter().any(bad_group)
        || groups.windows(2).any(|w| w[0].0 + w[0].1 > w[1].0)
    {
        return Err(InitError::BadGroups);
    }
    let mut units = r.units.clone();
    units.sort_unstable_by_key(|u| u.1);
    for &(cpu, off) in &units {
        let inside = groups.iter().any(|&(g, s)| off >= g && off + r.unit_size <= g + s);
        if off % page != 0 || !inside {
            return Err(InitError::UnitOutsideGroups { cpu, offset: off });
        }
    }
    if let Some(w) = units.windows(2).find(|w| w[0].1 + r.unit_size > w[1].1) {
        return Err(InitError::UnitsOverlap { cpu: w[1].0 });
    }
    let mut cpus: Vec<CpuId> = r.units.iter().map(|u| u.0).collect();
    cpus.sort_unstable();
    if let Some(w) = cpus.windows(2).find(|w| w[0] == w[1]) {
        return Err(InitError::DuplicateCpu { cpu: w[0] });
    }
    config.resolve(r.unit_size).map_err(InitError::Config)
}

impl Allocator {
    /// An allocator whose first chunk is described by `regions`.
    ///
    /// # Safety
    ///
    /// 1. For every unit, `regions.base_addr + offset` is `unit_size` bytes of address space of
    ///    which `[0, static + reserved + dyn)` is readable and writable memory, used by nothing
    ///    but this allocator (beyond the static area) for as long as it lives.
    /// 2. For the global allocator: `regions.units` are the offsets the CPU table was (or will
    ///    be) built from, so that `p + cpu_offset(cpu)` is CPU `cpu`'s copy.
    pub unsafe fn new(
        regions: FirstChunkRegions,
        config: AllocConfig,
    ) -> Result<Allocator, InitError> {
        let max_alloc_size = check(&regions, &config)?;
        let (s, r, d) = (regions.static_size, regions.reserved_size, regions.dyn_size);
        let geo = Geo {
            unit_size: regions.unit_size,
            page_shift: regions.page_size.trailing_zeros(),
            first_base: regions.base_addr,
            template_start: crate::template::start() as usize,
            static_size: s,
            reserved: (s, s + r),
            dynamic: (s + r, s + r + d),
        };
        let unit_offsets: Box<[usize]> = regions.units.iter().map(|u| u.1).collect();
        let caches = Caches::new(&regions.units);
        let state = State::new(
            geo,
            unit_offsets.clone(),
            regions.immutable,
            config.empty_pages_low,
            config.empty_pages_high,
        );
        Ok(Allocator {
            state: IrqSpinLock::new(state),
            grow: spin::Mutex::new(()),
            backend: spin::Once::new(),
            geometry: ChunkGeometry {
                unit_size: regions.unit_size,
                page_size: regions.page_size,
                units: regions.units,
                groups: regions.groups,
            },
            unit_offsets,
            geo,
            max_alloc_size,
            caches,
        })
    }

    /// Registers the memory backend; until then only the first chunk serves.
    ///
    /// CONTEXT: any; once.
    pub fn set_backend(&self, backend: &'static dyn Backend) -> Result<(), BackendAlreadySet> {
        let mut set = false;
        self.backend.call_once(|| {
            set = true;
            backend
        });
        if set { Ok(()) } else { Err(BackendAlreadySet) }
    }

    /// The layout every chunk has.
    pub fn geometry(&self) -> &ChunkGeometry {
        &self.geometry
    }

    /// The largest allocation.
    pub fn max_alloc_size(&self) -> usize {
        self.max_alloc_size
    }

    /// The address of unit `index`'s copy (index into [`ChunkGeometry::units`]) of the area
    /// named by `ptr`, for callers that work without the CPU table.
    pub fn unit_ptr(&self, ptr: PerCpuPtr, index: usize) -> Option<*mut u8> {
        let off = self.unit_offsets.get(index)?;
        Some(self.geo.decode(ptr).wrapping_add(*off) as *mut u8)
    }

    /// Validates a request. RETURNS: `(bits, align_bits)`.
    #[inline]
    pub(super) fn check_request(
        &self,
        size: usize,
        align: usize,
    ) -> Result<(u32, u32), AllocError> {
        if size == 0 {
            return Err(AllocError::ZeroSize);
        }
        if size > self.max_alloc_size {
            return Err(AllocError::TooLarge { size, max: self.max_alloc_size });
        }
        if !align.is_power_of_two() {
            return Err(AllocError::AlignNotPowerOfTwo { align });
        }
        if align > self.geo.page_size() {
            return Err(AllocError::AlignTooLarge { align, max: self.geo.page_size() });
        }
        let bits = size.div_ceil(MIN_ALLOC_SIZE) as u32;
        let align_bits = (align.max(MIN_ALLOC_SIZE) >> MIN_ALLOC_SHIFT) as u32;
        Ok((bits, align_bits))
    }

    /// Allocates `size` bytes aligned to `align` in every CPU's unit, zeroed.
    ///
    /// Areas of up to a few hundred bytes come from the current CPU's cache when the calling
    /// code has a unit (no global lock; `cache.rs`), the others through the chunks under the
    /// allocator's lock.
    ///
    /// CONTEXT: may sleep (creates and populates chunks through the backend). Not from
    /// interrupt context: use [`Allocator::alloc_atomic`] there.
    ///
    /// RETURNS: the area, owned (freed when dropped), or why not (an illegal request changes
    /// nothing).
    #[inline]
    pub fn alloc(&self, size: usize, align: usize) -> Result<PerCpuArea<'_>, AllocError> {
        let (ptr, class) = self.alloc_area(size, align, Request::Normal, true, None)?;
        Ok(PerCpuArea::new(ptr, self, class))
    }

    /// As [`Allocator::alloc`], from already populated pages only: never sleeps, never calls
    /// the backend.
    ///
    /// CONTEXT: any, interrupt handlers included.
    #[inline]
    pub fn alloc_atomic(&self, size: usize, align: usize) -> Result<PerCpuArea<'_>, AllocError> {
        let (ptr, class) = self.alloc_area(size, align, Request::Atomic, true, None)?;
        Ok(PerCpuArea::new(ptr, self, class))
    }

    /// Allocates from the reserved region only (static per-CPU data of a loadable module).
    /// Never through a cache: its areas are freed to the reserved region again.
    ///
    /// CONTEXT: any (the reserved region is always populated).
    pub fn alloc_reserved(&self, size: usize, align: usize) -> Result<PerCpuArea<'_>, AllocError> {
        let (ptr, class) = self.alloc_area(size, align, Request::Reserved, true, None)?;
        Ok(PerCpuArea::new(ptr, self, class))
    }

    /// Allocation and free through CPU `cpu`'s cache, whichever CPU the calling code runs on
    /// ([`OnCpu`]). For allocators whose CPUs are not the running machine's (tests, tools), and
    /// for code without a unit that knows which CPU will use an object.
    ///
    /// RETURNS: `None` if `cpu` is not one of the allocator's units.
    pub fn on_cpu(&self, cpu: CpuId) -> Option<OnCpu<'_>> {
        Some(OnCpu::new(self, self.caches.of_cpu(cpu)?))
    }

    /// Zeroes every unit's copy of `[ptr, ptr + size)`.
    #[inline]
    pub(super) fn zero(&self, ptr: PerCpuPtr, size: usize) {
        // SAFETY: the area was just allocated to the caller: `size` bytes of populated,
        // writable memory in every unit, which nobody else uses.
        unsafe { copies::zero_area(self.geo.decode(ptr), size, &self.unit_offsets) };
    }

    /// The shape of the areas of requests of `size` bytes aligned to `align` if they are
    /// cached, else [`ClassKey::NONE`]. For a legal request.
    #[inline(always)]
    pub(super) fn class_of(&self, size: usize, align: usize) -> ClassKey {
        let bits = size.div_ceil(MIN_ALLOC_SIZE) as u32;
        let align_bits = (align.max(MIN_ALLOC_SIZE) >> MIN_ALLOC_SHIFT) as u32;
        self.caches.class(bits, align_bits)
    }

    /// Allocates an area: through `via` or the current CPU's cache when its shape is cached
    /// and the cache is free, else through the chunks. Zeroed in every unit if `zero`.
    ///
    /// RETURNS: the area and its shape (for its free).
    #[inline]
    pub(crate) fn alloc_area(
        &self,
        size: usize,
        align: usize,
        req: Request,
        zero: bool,
        via: Option<&CpuCache>,
    ) -> Result<(PerCpuPtr, ClassKey), AllocError> {
        let (bits, align_bits) = self.check_request(size, align)?;
        let class = match req {
            Request::Reserved => ClassKey::NONE,
            _ => self.caches.class(bits, align_bits),
        };
        if !class.is_none() {
            if let Some(cache) = via.or_else(|| self.caches.current()) {
                if let Some(addr) = self.cache_alloc(cache, class, size, req, zero) {
                    return Ok((self.geo.encode(addr), class));
                }
            }
        }
        let ptr = self.alloc_locked(bits, align_bits, size, align, req)?;
        if zero {
            self.zero(ptr, size);
        }
        Ok((ptr, class))
    }

    /// Allocates through the chunks, under the allocator's lock, without initialising the
    /// copies.
    #[inline]
    fn alloc_locked(
        &self,
        bits: u32,
        align_bits: u32,
        size: usize,
        align: usize,
        req: Request,
    ) -> Result<PerCpuPtr, AllocError> {
        let placed = self.state.lock().alloc(bits, align_bits, size, req);
        match placed {
            Some(p) if !p.needs_populate => {
                self.after_alloc(&p);
                Ok(self.geo.encode(p.base + p.offset))
            }
            Some(p) => {
                let grow = self.grow.lock();
                self.populate_area(&p, &grow)?;
                drop(grow);
                self.after_alloc(&p);
                Ok(self.geo.encode(p.base + p.offset))
            }
            None => match req {
                Request::Reserved if self.geo.reserved.0 == self.geo.reserved.1 => {
                    Err(AllocError::NoReservedRegion)
                }
                Request::Reserved => Err(AllocError::ReservedFull { size, align }),
                Request::Atomic => {
                    self.request_balance();
                    Err(AllocError::AtomicNoSpace { size, align })
                }
                Request::Normal => self.alloc_slow(bits, align_bits, size, align),
            },
        }
    }

    /// Asks for the balance step when the empty pages fell below the low mark.
    #[inline]
    fn after_alloc(&self, p: &Placed) {
        if p.below_low {
            self.request_balance();
        }
    }

    pub(super) fn request_balance(&self) {
        if let Some(b) = self.backend.get() {
            b.request_balance();
        }
    }

    /// No chunk had room: create chunks (growth lock held) until one has.
    fn alloc_slow(
        &self,
        bits: u32,
        align_bits: u32,
        size: usize,
        align: usize,
    ) -> Result<PerCpuPtr, AllocError> {
        let Some(backend) = self.backend.get() else {
            return Err(AllocError::NoBackend { size, align });
        };
        let grow = self.grow.lock();
        loop {
            // Another thread may have made room while we waited for the growth lock.
            let placed = self.state.lock().alloc(bits, align_bits, size, Request::Normal);
            if let Some(p) = placed {
                if p.needs_populate {
                    self.populate_area(&p, &grow)?;
                }
                drop(grow);
                self.after_alloc(&p);
                return Ok(self.geo.encode(p.base + p.offset));
            }
            self.create_chunk(*backend, &grow).map_err(AllocError::Backend)?;
        }
    }

    /// Creates an empty dynamic chunk.
    ///
    /// CONTEXT: growth lock held (`_grow`); may sleep.
    pub(super) fn create_chunk(
        &self,
        backend: &dyn Backend,
        _grow: &spin::MutexGuard<'_, ()>,
    ) -> Result<(), BackendError> {
        let base = backend.create_chunk(&self.geometry)?;
        let chunk = State::new_dynamic_chunk(&self.geo, base);
        self.state.lock().insert(chunk);
        Ok(())
    }

    /// Populates the pages of a fresh area that are not populated yet; on failure frees the
    /// area.
    ///
    /// CONTEXT: growth lock held (`grow`); may sleep.
    pub(super) fn populate_area(
        &self,
        p: &Placed,
        grow: &spin::MutexGuard<'_, ()>,
    ) -> Result<(), AllocError> {
        loop {
            let mut st = self.state.lock();
            let Some(run) = st.unpopulated_run(p) else {
                st.populated(p);
                return Ok(());
            };
            drop(st);
            if let Err(e) = self.populate_run(&run, grow) {
                self.state.lock().undo(p, true);
                return Err(AllocError::Backend(e));
            }
        }
    }

    /// Populates `run` through the backend and records it.
    ///
    /// CONTEXT: growth lock held; may sleep.
    fn populate_run(
        &self,
        run: &PageRun,
        _grow: &spin::MutexGuard<'_, ()>,
    ) -> Result<(), BackendError> {
        if self.state.lock().is_immutable(run.id) {
            return Err(BackendError::ImmutableChunk);
        }
        let backend = self.backend.get().ok_or(BackendError::NoMemory { bytes: 0 })?;
        let pages = run.unit_start..run.unit_start + (run.end - run.start) as usize;
        // SAFETY: a run is only ever taken from a dynamic chunk this allocator created through
        // this backend with `self.geometry` (the first chunk is populated from the start and
        // never yields a run), and lies within a unit.
        unsafe { backend.populate(&self.geometry, run.base, pages)? };
        if self.state.lock().set_populated(run) {
            Ok(())
        } else {
            Err(BackendError::ImmutableChunk)
        }
    }

    /// Frees the area `ptr` names, by pointer (an owned area frees itself: [`PerCpuArea`]).
    /// Invalid pointers (double free, never returned, interior, foreign) are refused and change
    /// nothing.
    ///
    /// CONTEXT: any, interrupt handlers included; never sleeps, never calls the backend (but
    /// [`Backend::request_balance`]).
    ///
    /// # Safety
    ///
    /// Nothing else owns the area: no [`PerCpuArea`], [`PerCpuBox`](super::PerCpuBox), per-CPU
    /// cache or other record will use or free it again, and no reference into its copies is
    /// live. (The checks catch pointers that name no live area; they cannot tell a live area's
    /// owner from a stranger, and an area freed into a CPU's cache is live in its chunk, held
    /// by the cache, so freeing its pointer again is not caught.)
    pub unsafe fn free_raw(&self, ptr: PerCpuPtr) -> Result<(), FreeError> {
        self.release(ptr)
    }

    /// Frees the area `ptr` names, which was allocated with exactly `size` and `align`, by
    /// pointer (Linux's `free_percpu`, for code that keeps raw pointers): with its shape known,
    /// the area may go into the current CPU's cache, as an owned area's free does (no global
    /// lock). Where it goes through the chunks instead (a shape that is not cached, a busy
    /// cache, code without a unit), it is checked as by [`Allocator::free_raw`].
    ///
    /// CONTEXT: any, interrupt handlers included.
    ///
    /// # Safety
    ///
    /// As for [`Allocator::free_raw`], and `ptr` names a live area of this allocator that was
    /// allocated with this `size` and `align` (a cache hands it out again as such, unchecked).
    #[inline]
    pub unsafe fn free_raw_sized(
        &self,
        ptr: PerCpuPtr,
        size: usize,
        align: usize,
    ) -> Result<(), FreeError> {
        let class = match self.check_request(size, align) {
            Ok(_) => self.class_of(size, align),
            Err(_) => ClassKey::NONE,
        };
        self.release_owned(ptr, class, None)
    }

    /// Frees the area `ptr` names, of shape `class` ([`ClassKey::NONE`] if unknown), which the
    /// caller owns (an owner's drop): into `via` or the current CPU's cache when it has a
    /// class for the shape and is free, else through the chunks (checked).
    ///
    /// CONTEXT: any, interrupt handlers included.
    #[inline]
    pub(crate) fn release_owned(
        &self,
        ptr: PerCpuPtr,
        class: ClassKey,
        via: Option<&CpuCache>,
    ) -> Result<(), FreeError> {
        if !class.is_none() {
            if let Some(cache) = via.or_else(|| self.caches.current()) {
                if self.cache_free(cache, self.geo.decode(ptr), class) {
                    return Ok(());
                }
            }
        }
        self.release(ptr)
    }

    /// Frees the area `ptr` names through the chunks, checked.
    pub(crate) fn release(&self, ptr: PerCpuPtr) -> Result<(), FreeError> {
        let addr = self.geo.decode(ptr);
        let (notify, _) = self.state.lock().free(addr)?;
        if notify {
            self.request_balance();
        }
        Ok(())
    }

    /// The balance step (Linux's `pcpu_balance_workfn`): destroys fully free chunks other than
    /// the first (keeping enough empty pages for the low mark), releases empty populated pages
    /// above the high mark, and populates pages up to the high mark when below the low one (or
    /// after a failed non-sleeping allocation). Immutable chunks are never touched.
    ///
    /// CONTEXT: may sleep: call it from the kernel's worker, when
    /// [`Backend::request_balance`] asks or periodically. Without a backend it does nothing.
    pub fn balance(&self) -> Result<BalanceReport, BackendError> {
        let mut report = BalanceReport::default();
        let Some(backend) = self.backend.get() else { return Ok(report) };
        // 0. Cached areas go back, so that their pages and chunks can go.
        self.drain_caches();
        let grow = self.grow.lock();
        // 1. Fully free chunks.
        loop {
            let victim = self.state.lock().take_free_chunk();
            let Some(chunk) = victim else { break };
            release_chunk(*backend, &self.geometry, self.geo.page_shift, &chunk);
            report.chunks_destroyed += 1;
        }
        // 2. Empty pages above the high mark.
        let mut cursor = 0;
        loop {
            let run = self.state.lock().pick_depopulate(&mut cursor);
            let Some(run) = run else { break };
            let n = (run.end - run.start) as usize;
            // SAFETY: as in `populate_run`, and the state picked empty pages only: no area
            // touches them, and the state no longer counts them populated.
            unsafe {
                backend.depopulate(&self.geometry, run.base, run.unit_start..run.unit_start + n)
            };
            report.pages_depopulated += n;
        }
        // 3. Empty pages below the low mark.
        let need = {
            let mut st = self.state.lock();
            let need = st.populate_need();
            st.atomic_failed = false;
            need
        };
        let mut done = 0;
        while done < need {
            let run = self.state.lock().pick_populate(need - done);
            match run {
                Some(run) => {
                    self.populate_run(&run, &grow)?;
                    done += (run.end - run.start) as usize;
                    report.pages_populated += (run.end - run.start) as usize;
                }
                None => {
                    self.create_chunk(*backend, &grow)?;
                    report.chunks_created += 1;
                }
            }
        }
        Ok(report)
    }

    /// Whether the balance step has work: empty populated pages outside the band, a fully free
    /// dynamic chunk, or a failed non-sleeping allocation.
    pub fn needs_balance(&self) -> bool {
        if self.backend.get().is_none() {
            return false;
        }
        let st = self.state.lock();
        st.nr_empty_pop < st.low
            || st.nr_empty_pop > st.high
            || st.atomic_failed
            || st.chunks().any(|(_, c)| c.kind == super::ChunkKind::Dynamic && c.map.is_empty())
    }

    /// A snapshot of the statistics, per-CPU caches included. Exact when nothing allocates or
    /// frees meanwhile; otherwise each cache's figures are read as they are (without its lock).
    ///
    /// CONTEXT: any context that may use the heap (the snapshot is allocated with the state
    /// lock held).
    pub fn stats(&self) -> Stats {
        let st = self.state.lock();
        Stats::collect(&st, &self.geometry, self.max_alloc_size, &self.caches)
    }

    /// Checks every bitmap, hint, list and count against each other, and every per-CPU cache
    /// against the chunks: each cached area is a live area of its class's length, held once,
    /// and a clean one reads zero in every unit (expensive: walks every bit). For tests and
    /// debugging.
    ///
    /// CONTEXT: not from interrupt context (it waits for every CPU's cache).
    pub fn verify(&self) -> Result<(), VerifyError> {
        let guards: Vec<_> = self.caches.iter().map(|c| c.lock()).collect();
        let st = self.state.lock();
        st.verify().map_err(VerifyError)?;
        self.verify_caches(&st, &guards).map_err(VerifyError)
    }
}
