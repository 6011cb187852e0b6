//! Dynamic per-CPU allocation: a bitmap allocator over congruent chunks, with per-CPU caches of
//! free areas (no global lock on the fast path), batches, population, depopulation and
//! statistics.
//!
//! # The model
//!
//! A *chunk* is one unit per possible CPU, laid out exactly like the first chunk (the same
//! unit offsets from the chunk base, in the same groups): docs/architecture.md, invariant 3.
//! An *area* of a chunk is the same byte range `[off, off + size)` in every unit, and is named by
//! one per-CPU pointer, encoded as for a static variable:
//!
//! ```text
//!   p = chunk_base + off - first_chunk_base + __percpu_start        (the same for every CPU)
//!   CPU c's copy = p + cpu_offset(c)        (cpu_offset(c) = first_chunk_base + unit_offset[c] - __percpu_start)
//!
//!            chunk_base ─┐
//!   chunk:   | unit of cpu0: [....area....]   | unit of cpu1: [....area....]   | ...
//!                                ^off                             ^off
//! ```
//!
//! so the base register and the one-instruction accessors serve dynamic objects as they serve
//! statics ([`PerCpuBox`]; name the type when constructing, `PerCpuBox::<u64, ByValue>::new(0)`
//! or `PerCpuBox::<Stats>::new_with(..)`, since a type parameter's default does not guide
//! inference).
//!
//! The first chunk (installed by the first-chunk setup through [`init_first_chunk`]) is
//! `<static | reserved | dynamic>` in every unit; its dynamic region serves allocations before
//! any backend exists, its reserved region serves only [`alloc_reserved`] (static per-CPU data
//! of loadable modules), and nothing past `static + reserved + dynamic` is ever used. Further
//! chunks come from the [`Backend`] once one is registered ([`set_backend`]).
//!
//! # Allocation state
//!
//! Every chunk has an allocation bitmap and a boundary bitmap at a 4-byte granule
//! ([`MIN_ALLOC_SIZE`](crate::layout::MIN_ALLOC_SIZE): one bit = 4 bytes, all hints in bits), so
//! `free` needs no size, plus per-page hints (largest free run, a bound on the other runs used
//! as a scan hint, free runs at both edges, first free bit) so a request only scans where it
//! can fit. The two bitmaps are stored interleaved word by word, since `free` reads both at
//! the same place. Chunks are listed in *slots* by their largest free run and searched fullest
//! first. `free` finds the chunk of an address through the chunk it found last, then an O(1)
//! address index. The sources `bitmap/`, `slots.rs`, `chunk.rs` and `state/` explain these in
//! their header comments. All of it is behind one lock (Linux's `pcpu_lock`).
//!
//! # Per-CPU caches: allocation and free without the global lock
//!
//! Each CPU has a cache of free areas for a few shapes (size and alignment; areas up to half a
//! class's budget: 32 KiB with one CPU, 8 KiB with 4, 2 KiB with 16). An allocation of a cached shape on a
//! CPU pops an area from that CPU's cache, and the free of an owned area ([`PerCpuArea`],
//! [`PerCpuBox`], or [`free_raw_sized`]) pushes it there: one atomic exchange on the CPU's own
//! cache line, no global lock, so CPUs allocating and freeing at the same time do not wait for each
//! other. A class is refilled (half its capacity, taken from the chunks as runs of neighbours,
//! or of areas one aligned stride apart for an alignment larger than the size, zeroed in every
//! unit at once) when empty and drained (its oldest half, sorted and given back as
//! runs) when full, each under one acquisition of the global lock. Code without a unit (base
//! register 0) and a busy cache (an interrupt handler that interrupted its holder, a second thread
//! on a hosted CPU) take the locked path, so the caches are sound whatever runs where;
//! [`Allocator::on_cpu`] names a CPU's cache explicitly. Cached areas count as taken in their
//! chunks and appear in [`stats`] ([`GlobalStats::nr_cached`], `cached_bytes`); [`balance`] gives
//! every cached area back first. `cache.rs` explains the protocol; `current.rs` how the calling
//! code's unit is told without reading per-CPU data.
//!
//! # Batches
//!
//! [`alloc_many`] (one shape) and [`alloc_layouts`] (several), and
//! [`PerCpuBox::new_many`](PerCpuBox)'s family, allocate many areas with one acquisition of the
//! global lock (neighbours as one run), all or nothing: for code that creates many per-CPU
//! objects at once, as Linux's `percpu_counter_init_many` (`batch.rs`).
//!
//! # Memory work
//!
//! Every allocation is zeroed in every CPU's copy before it is handed out, outside the state
//! lock: a cache zeroes the areas of a refill run by run, and an area freed into it when it
//! hands it out again; on the locked path, for an area longer than a cache line the lines are
//! requested under the lock, between choosing the area and recording it, so that the fetches
//! overlap the bookkeeping (`copies.rs`, with the measurements behind it).
//!
//! # Population
//!
//! Pages of non-first chunks are populated on demand, for every CPU at once: a sleeping
//! allocation ([`alloc()`]) populates the pages of its area; a non-sleeping one
//! ([`alloc_atomic`]) uses populated pages only. The [`balance`] step, called by the kernel's
//! worker (when [`Backend::request_balance`] asks, or periodically), keeps
//! [`AllocConfig::empty_pages_low`]`..=`[`AllocConfig::empty_pages_high`] empty populated pages,
//! depopulates the rest, and destroys fully free chunks other than the first. The first chunk
//! is never populated or depopulated (it is fully populated, and immutable when given mapped).
//!
//! # Contexts
//!
//! | call | context |
//! |---|---|
//! | [`free`] (or dropping a [`PerCpuArea`] / [`PerCpuBox`]), [`free_raw`], [`free_raw_sized`], [`alloc_atomic`], [`alloc_reserved`] | any, interrupt handlers included (a per-CPU cache, only tried, or an irqsave spin lock; never the backend) |
//! | [`stats`] | any context that may use the heap (the snapshot is allocated under the lock) |
//! | [`verify`] | may use the heap; not from interrupt context (it waits for every CPU's cache) |
//! | [`alloc()`], [`alloc_many`], [`alloc_layouts`], `PerCpuBox::{new, new_with, zeroed, new_many, ..}`, [`balance`] | may sleep (the backend may be called, under the growth lock) |
//! | [`configure`], [`init_first_chunk`], [`set_backend`] | boot |
//!
//! # Bad input
//!
//! Illegal sizes or alignments return an [`AllocError`] naming the limit. Areas are owned
//! ([`PerCpuArea`], [`PerCpuBox`]), so safe code frees only what it owns, once; freeing by
//! pointer ([`free_raw`]) is `unsafe`, and still checked: a double free, a pointer never
//! returned, or one into the middle of an area returns a [`FreeError`]. In every case every
//! live allocation and all accounting are unchanged (docs/architecture.md, invariant 9). A batch
//! with one illegal request is refused whole. (The checks see the chunks: an area freed into a
//! CPU's cache is held there, live in its chunk, as an area allocated again to someone else
//! would be, so a second free of its pointer is not caught, as that one is not; both break
//! `free_raw`'s contract. [`free_raw_sized`] trusts its pointer where it uses a cache.)
//!
//! # To use it, kernel code should
//!
//! 1. optionally [`configure`] it, before the first-chunk setup;
//! 2. let the first-chunk setup call [`init_first_chunk`];
//! 3. [`set_backend`] once it can reserve address space and map pages;
//! 4. run [`balance`] from a worker when the backend's `request_balance` fires.

mod area;
mod backend;
mod batch;
mod bitmap;
mod boxed;
mod cache;
mod cached;
mod chunk;
mod copies;
mod current;
mod engine;
mod error;
mod lock;
mod oncpu;
mod slots;
mod state;
mod stats;

pub use area::PerCpuArea;
#[cfg(feature = "hosted")]
pub use backend::hosted;
pub use backend::{Backend, ChunkGeometry};
pub use boxed::{DynSlot, Fits, PerCpuBox, Zeroable};
pub use chunk::ChunkKind;
pub use engine::{Allocator, BalanceReport};
pub use error::{
    AllocError, BackendAlreadySet, BackendError, ConfigError, FreeError, InitError, VerifyError,
};
pub(crate) use lock::IrqSpinLock;
pub use oncpu::OnCpu;
pub use stats::{ChunkStats, GlobalStats, Stats};

use crate::cpu::CpuNotPossible;
use crate::cpu_id::CpuId;
use alloc::vec::Vec;
use core::fmt;

/// Linux's largest allocation (`PCPU_MIN_UNIT_SIZE`, 32 KiB): the default maximum.
pub const DEFAULT_MAX_ALLOC_SIZE: usize = crate::layout::MIN_UNIT_SIZE;
/// Linux's `PCPU_EMPTY_POP_PAGES_LOW`: below this many empty populated pages, populate more.
pub const EMPTY_POP_PAGES_LOW: usize = 2;
/// Linux's `PCPU_EMPTY_POP_PAGES_HIGH`: above this many, depopulate.
pub const EMPTY_POP_PAGES_HIGH: usize = 4;

/// A per-CPU pointer: names one area in every CPU's unit. Add a CPU's offset to reach its
/// copy ([`PerCpuPtr::ptr_on`]); it is not itself dereferenceable.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PerCpuPtr(usize);

impl PerCpuPtr {
    /// The pointer with this address (any value: [`free`] checks it).
    pub const fn from_addr(addr: usize) -> Self {
        PerCpuPtr(addr)
    }

    /// Its address, in the template's address space.
    pub const fn addr(self) -> usize {
        self.0
    }

    /// CPU `cpu`'s copy (the pointer plus that CPU's offset).
    pub fn ptr_on(self, cpu: CpuId) -> Result<*mut u8, CpuNotPossible> {
        Ok(self.0.wrapping_add(crate::cpu_offset(cpu)?) as *mut u8)
    }

    /// The current CPU's copy; meaningful only while the CPU is pinned.
    pub fn this_cpu_ptr(self) -> *mut u8 {
        self.0.wrapping_add(crate::runtime_vars::this_cpu_offset()) as *mut u8
    }
}

impl fmt::Debug for PerCpuPtr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PerCpuPtr({:#x})", self.0)
    }
}

/// The first chunk, as the first-chunk setup hands it over. Offsets and sizes in bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FirstChunkRegions {
    /// Address of the first chunk; each CPU's unit is at `base_addr + its unit offset`.
    pub base_addr: usize,
    /// Bytes per unit.
    pub unit_size: usize,
    /// Bytes per page (power of two, at least 256).
    pub page_size: usize,
    /// Static area `[0, static)` of each unit.
    pub static_size: usize,
    /// Reserved region `[static, static + reserved)` of each unit.
    pub reserved_size: usize,
    /// Dynamic region `[static + reserved, static + reserved + dyn)` of each unit. The chunk is
    /// populated up to its end; nothing past it is ever used.
    pub dyn_size: usize,
    /// Each possible CPU's unit offset from `base_addr`.
    pub units: Vec<(CpuId, usize)>,
    /// Each group's `(offset from base_addr, size)`: the geometry new chunks reproduce. One
    /// group starts at offset 0.
    pub groups: Vec<(usize, usize)>,
    /// The chunk was given mapped: never populate or depopulate it.
    pub immutable: bool,
}

/// Settings of the allocator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AllocConfig {
    /// The largest allocation: `None` for Linux's 32 KiB (or the unit size, if smaller); at
    /// most the unit size.
    pub max_alloc_size: Option<usize>,
    /// The balance step populates pages when fewer than this many are empty and populated.
    pub empty_pages_low: usize,
    /// The balance step depopulates empty pages beyond this many (and populates up to it).
    pub empty_pages_high: usize,
}

impl AllocConfig {
    /// Linux's settings: 32 KiB maximum, 2..4 empty populated pages.
    pub const LINUX: AllocConfig = AllocConfig {
        max_alloc_size: None,
        empty_pages_low: EMPTY_POP_PAGES_LOW,
        empty_pages_high: EMPTY_POP_PAGES_HIGH,
    };

    /// Checks the settings against a unit size.
    ///
    /// RETURNS: the largest allocation.
    pub fn resolve(&self, unit_size: usize) -> Result<usize, ConfigError> {
        if self.empty_pages_low > self.empty_pages_high {
            return Err(ConfigError::LowAboveHigh {
                low: self.empty_pages_low,
                high: self.empty_pages_high,
            });
        }
        match self.max_alloc_size {
            Some(0) => Err(ConfigError::MaxAllocZero),
            Some(max) if max > unit_size => Err(ConfigError::MaxAllocAboveUnit { max, unit_size }),
            Some(max) => Ok(max),
            None => Ok(DEFAULT_MAX_ALLOC_SIZE.min(unit_size)),
        }
    }
}

impl Default for AllocConfig {
    fn default() -> Self {
        Self::LINUX
    }
}

static GLOBAL: spin::Once<Allocator> = spin::Once::new();
static CONFIG: spin::Mutex<AllocConfig> = spin::Mutex::new(AllocConfig::LINUX);
static PENDING_BACKEND: spin::Once<&'static dyn Backend> = spin::Once::new();

/// Sets the global allocator's configuration. Call before the first-chunk setup.
pub fn configure(config: AllocConfig) -> Result<(), ConfigError> {
    if GLOBAL.is_completed() {
        return Err(ConfigError::AlreadyInitialized);
    }
    config.resolve(usize::MAX)?;
    *CONFIG.lock() = config;
    Ok(())
}

/// Gives the global allocator its first chunk. Called once, by the first-chunk setup.
///
/// # Safety
///
/// As for [`Allocator::new`]: the regions are memory owned by the per-CPU subsystem, populated
/// up to `static + reserved + dyn` in every unit, and `units` are the offsets the CPU table is
/// built from.
///
/// # Errors
///
/// The regions are inconsistent (nothing is installed), or the allocator has its first chunk
/// already, or the installed CPU table disagrees with `units`.
pub unsafe fn init_first_chunk(regions: FirstChunkRegions) -> Result<(), InitError> {
    if GLOBAL.is_completed() {
        return Err(InitError::AlreadyInitialized);
    }
    if crate::first_chunk_installed() {
        let template = crate::template::start() as usize;
        for &(cpu, off) in &regions.units {
            let want = regions.base_addr.wrapping_add(off).wrapping_sub(template);
            if crate::cpu_offset(cpu).ok() != Some(want) {
                return Err(InitError::CpuTableMismatch { cpu });
            }
        }
    }
    let config = *CONFIG.lock();
    // SAFETY: forwarded from the caller.
    let allocator = unsafe { Allocator::new(regions, config)? };
    let mut installed = false;
    GLOBAL.call_once(|| {
        installed = true;
        allocator
    });
    if !installed {
        return Err(InitError::AlreadyInitialized);
    }
    if let (Some(g), Some(b)) = (GLOBAL.get(), PENDING_BACKEND.get()) {
        let _ = g.set_backend(*b);
    }
    Ok(())
}

/// Whether the global allocator has its first chunk.
pub fn is_initialized() -> bool {
    GLOBAL.is_completed()
}

/// The global allocator, once initialised.
pub fn global() -> Option<&'static Allocator> {
    GLOBAL.get()
}

/// Registers the global allocator's memory backend (before or after [`init_first_chunk`]).
/// Until then only the first chunk serves.
pub fn set_backend(backend: &'static dyn Backend) -> Result<(), BackendAlreadySet> {
    let mut set = false;
    PENDING_BACKEND.call_once(|| {
        set = true;
        backend
    });
    if !set {
        return Err(BackendAlreadySet);
    }
    match GLOBAL.get() {
        Some(g) => g.set_backend(backend),
        None => Ok(()),
    }
}

/// Allocates `size` bytes aligned to `align` for every CPU, zeroed ([`Allocator::alloc`]).
/// The area is owned: dropping it (or [`free`]) frees it.
///
/// CONTEXT: may sleep.
pub fn alloc(size: usize, align: usize) -> Result<PerCpuArea<'static>, AllocError> {
    global().ok_or(AllocError::NotInitialized)?.alloc(size, align)
}

/// Allocates `n` areas of `size` bytes aligned to `align` at once ([`Allocator::alloc_many`]:
/// one acquisition of the allocator's lock; all or nothing).
///
/// CONTEXT: may sleep.
pub fn alloc_many(
    n: usize,
    size: usize,
    align: usize,
) -> Result<Vec<PerCpuArea<'static>>, AllocError> {
    global().ok_or(AllocError::NotInitialized)?.alloc_many(n, size, align)
}

/// Allocates one area per layout at once ([`Allocator::alloc_layouts`]: one acquisition of the
/// allocator's lock; all or nothing).
///
/// CONTEXT: may sleep.
pub fn alloc_layouts(
    layouts: &[core::alloc::Layout],
) -> Result<Vec<PerCpuArea<'static>>, AllocError> {
    global().ok_or(AllocError::NotInitialized)?.alloc_layouts(layouts)
}

/// Allocates from populated pages only ([`Allocator::alloc_atomic`]).
///
/// CONTEXT: any.
pub fn alloc_atomic(size: usize, align: usize) -> Result<PerCpuArea<'static>, AllocError> {
    global().ok_or(AllocError::NotInitialized)?.alloc_atomic(size, align)
}

/// Allocates from the reserved region only ([`Allocator::alloc_reserved`]).
///
/// CONTEXT: any.
pub fn alloc_reserved(size: usize, align: usize) -> Result<PerCpuArea<'static>, AllocError> {
    global().ok_or(AllocError::NotInitialized)?.alloc_reserved(size, align)
}

/// Frees an owned area ([`PerCpuArea::free`]; dropping it does the same).
///
/// CONTEXT: any, interrupt handlers included.
pub fn free(area: PerCpuArea<'_>) -> Result<(), FreeError> {
    area.free()
}

/// Frees the area `ptr` names, by pointer ([`Allocator::free_raw`]); a pointer that names no
/// live area is refused and changes nothing.
///
/// CONTEXT: any, interrupt handlers included.
///
/// # Safety
///
/// Nothing else owns the area (see [`Allocator::free_raw`]): a pointer from
/// [`PerCpuArea::into_raw`] that was not freed since, for example — never the pointer of a live
/// [`PerCpuBox`] or [`PerCpuArea`].
pub unsafe fn free_raw(ptr: PerCpuPtr) -> Result<(), FreeError> {
    let global = global().ok_or(FreeError::NotInitialized)?;
    // SAFETY: forwarded from the caller.
    unsafe { global.free_raw(ptr) }
}

/// Frees the area `ptr` names, allocated with exactly `size` and `align`, by pointer, through
/// the current CPU's cache where it can ([`Allocator::free_raw_sized`]).
///
/// CONTEXT: any, interrupt handlers included.
///
/// # Safety
///
/// As for [`Allocator::free_raw_sized`]: nothing else owns the area, and it was allocated with
/// this `size` and `align`.
pub unsafe fn free_raw_sized(ptr: PerCpuPtr, size: usize, align: usize) -> Result<(), FreeError> {
    let global = global().ok_or(FreeError::NotInitialized)?;
    // SAFETY: forwarded from the caller.
    unsafe { global.free_raw_sized(ptr, size, align) }
}

/// The balance step ([`Allocator::balance`]).
///
/// CONTEXT: may sleep.
pub fn balance() -> Result<BalanceReport, BackendError> {
    match global() {
        Some(g) => g.balance(),
        None => Ok(BalanceReport::default()),
    }
}

/// A statistics snapshot ([`Allocator::stats`]), once initialised.
pub fn stats() -> Option<Stats> {
    global().map(Allocator::stats)
}

/// Checks the global allocator's consistency ([`Allocator::verify`]).
pub fn verify() -> Result<(), VerifyError> {
    match global() {
        Some(g) => g.verify(),
        None => Ok(()),
    }
}
