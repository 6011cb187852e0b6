//! The first chunk: where every possible CPU's unit is, set up once at boot, in the spirit of
//! Linux's `pcpu_setup_first_chunk` (as first written, 2009) and of its modern form.
//!
//! ```text
//!  first chunk (base_addr)
//!  ├─ group 0 (base_offset 0) ──────────────────────┐ ├─ group 1 (base_offset B) ───┐
//!  │ unit cpu0 │ unit cpu1 │ ...                    │ │ unit cpu2 │ unit cpu3 │ ... │
//!  each unit: | static (initial values) | reserved | dynamic | unused (returned) |
//! ```
//!
//! Four ways in, all ending in the same checks ([`validate`]) and the same unit filling:
//!
//! * [`setup_first_chunk`]: Linux's 2009 interface: a page callback, `static_size`, optional
//!   `unit_size`, `free_size` and `base_addr` (a chunk the caller already mapped, e.g. in large
//!   pages: then immutable), and an optional page-table populate callback. Returns the unit size.
//! * [`FirstChunk::from_alloc_info`]: the modern form: an [`AllocInfo`] (from
//!   [`layout::build_alloc_info`](crate::layout::build_alloc_info)) and a base address the caller
//!   allocated and mapped.
//! * [`embed_first_chunk`]: units allocated per group from the caller's early allocator,
//!   atom-aligned (e.g. 2 MiB, to embed the chunk in large pages), unused tails given back.
//! * [`page_first_chunk`]: pages from the caller's page allocator, mapped into a reserved
//!   virtual range through the caller's populate and map callbacks.
//!
//! The builders return a [`FirstChunk`]: memory filled (every CPU's copy of every static built
//! from its declared initial value, the boot CPU's included; `#[percpu(init = ..)]`
//! initialisers run once per CPU) but not yet published. [`FirstChunk::install`]
//! publishes it: the per-CPU offset table ([`cpu_offset`](crate::cpu_offset)), the static /
//! reserved / dynamic boundaries for the dynamic allocator (with the `alloc` feature; without
//! it there is none, and the reserved and dynamic areas stay unused), and the dump. Then each
//! CPU loads its base register with [`load_base`] (the boot CPU right away, the others as they
//! come up).
//!
//! The setup's tables (the layout, the units, page lists, the offset table) are on the heap
//! with `alloc`, in the memory given to [`boot_memory::provide`] without it; every builder
//! works the same either way.
//!
//! Nothing is half set up after an error: every check runs before the first side effect, and a
//! failing callback makes the setup give back what it took.
//!
//! The chunk is immutable when the caller mapped it (`base_addr` given, embed, page): percpu
//! never maps, unmaps, populates or depopulates it; [`FirstChunk::map_pages`] and friends refuse
//! and record such a request ([`refused_ops`]) instead of doing it.

mod bump;
mod checks;
mod embed;
mod error;
mod mapping;
mod page;
mod setup;
mod units;

pub use bump::BumpMemory;
pub use embed::{EarlyMemory, embed_first_chunk};
pub use error::{SetupError, VmError};
pub use mapping::{ChunkOp, ChunkOpError, refused_ops};
pub use page::page_first_chunk;
pub use setup::{SetupArgs, prepare as prepare_first_chunk, setup_first_chunk};

use crate::boot_memory::{self, OutOfBootMemory, Table};
use crate::cpu::CpuTable;
use crate::cpu_id::CpuId;
use crate::layout::{AllocInfo, DYNAMIC_EARLY_SIZE, MIN_UNIT_SIZE};
use core::fmt;
use core::ptr::NonNull;

/// A physical page, as the caller's page allocator names it (a physical address, or any token
/// the caller's [`VmSpace::map_page`] understands).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PhysPage(pub u64);

/// The caller's page allocator (page-mode first chunk).
pub trait PageAlloc {
    /// A free page, preferably close to `cpu`; `None` when out of memory.
    fn alloc_page(&mut self, cpu: CpuId) -> Option<PhysPage>;
    /// Gives back a page from [`PageAlloc::alloc_page`] (on a failed setup).
    fn free_page(&mut self, page: PhysPage);
}

/// The caller's virtual-memory primitives (the page-mode and callback-style first chunks).
pub trait VmSpace {
    /// Reserves `size` bytes of virtual address space aligned to `align`; `None` if there is
    /// no room.
    fn reserve(&mut self, size: usize, align: usize) -> Option<NonNull<u8>>;
    /// Releases a range from [`VmSpace::reserve`] (on a failed setup).
    fn release(&mut self, base: NonNull<u8>, size: usize);
    /// Makes sure the page-table levels for the page at `addr` exist (Linux's
    /// `pcpu_populate_pte`); the default does nothing (tables pre-built by the caller).
    fn populate_pte(&mut self, addr: usize) -> Result<(), VmError> {
        let _ = addr;
        Ok(())
    }
    /// Maps `page` at `addr` (page-aligned, inside a reserved range), writable, Normal memory.
    fn map_page(&mut self, addr: usize, page: PhysPage) -> Result<(), VmError>;
    /// Removes the mapping at `addr` (on a failed setup, or for a mutable chunk).
    fn unmap_page(&mut self, addr: usize);
}

/// A memory backend's check of a layout: `Err(reason)` vetoes it (Linux's
/// `pcpu_verify_alloc_info`, e.g. a backend that handles one group only).
pub type VerifyLayout = dyn Fn(&AllocInfo) -> Result<(), &'static str>;

/// What the checks of a first-chunk setup compare against.
#[derive(Clone, Copy)]
pub struct SetupConfig<'a> {
    /// The possible CPUs (any order; may be sparse). Every one gets a unit.
    pub possible: &'a [CpuId],
    /// The page size.
    pub page_size: usize,
    /// CPU ids must be below this (`nr_cpu_ids`, the configured `max_cpus`).
    pub max_cpus: u32,
    /// Minimum dynamic area (`PERCPU_DYNAMIC_EARLY_SIZE`).
    pub early_dyn_size: usize,
    /// Minimum unit size (`PCPU_MIN_UNIT_SIZE`).
    pub min_unit_size: usize,
    /// The memory backend's veto on the layout (`pcpu_verify_alloc_info`), if any.
    pub verify: Option<&'a VerifyLayout>,
}

impl<'a> SetupConfig<'a> {
    /// Linux's defaults for `possible`: 4 KiB pages, no CPU-id limit beyond `u32`, 20 KiB early
    /// dynamic minimum, 32 KiB minimum unit, no backend veto.
    pub fn new(possible: &'a [CpuId]) -> Self {
        SetupConfig {
            possible,
            page_size: 4096,
            max_cpus: u32::MAX,
            early_dyn_size: DYNAMIC_EARLY_SIZE,
            min_unit_size: MIN_UNIT_SIZE,
            verify: None,
        }
    }
}

impl fmt::Debug for SetupConfig<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SetupConfig")
            .field("possible", &self.possible)
            .field("page_size", &self.page_size)
            .field("max_cpus", &self.max_cpus)
            .field("early_dyn_size", &self.early_dyn_size)
            .field("min_unit_size", &self.min_unit_size)
            .field("verify", &self.verify.is_some())
            .finish()
    }
}

/// How the first chunk was obtained (and so which banner line the dump prints).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// Embedded in memory from the caller's early allocator ([`embed_first_chunk`]).
    Embed,
    /// Page by page, mapped into a reserved range ([`page_first_chunk`]).
    Page,
    /// Allocated and mapped by the caller ([`FirstChunk::from_alloc_info`], or the callback form
    /// with `base_addr`).
    Given,
    /// Mapped by the callback-style setup from the page callback's pages.
    Mapped,
}

/// A first chunk handed back by a call that did not take it ([`InstallError::into_chunk`],
/// [`FirstChunk::release_embedded`], [`FirstChunk::release_paged`]): boxed with the `alloc`
/// feature, by value without it.
#[cfg(feature = "alloc")]
pub type ReturnedChunk = alloc::boxed::Box<FirstChunk>;
/// A first chunk handed back by a call that did not take it ([`InstallError::into_chunk`],
/// [`FirstChunk::release_embedded`], [`FirstChunk::release_paged`]): boxed with the `alloc`
/// feature, by value without it.
#[cfg(not(feature = "alloc"))]
pub type ReturnedChunk = FirstChunk;

fn returned(chunk: FirstChunk) -> ReturnedChunk {
    #[cfg(feature = "alloc")]
    {
        alloc::boxed::Box::new(chunk)
    }
    #[cfg(not(feature = "alloc"))]
    {
        chunk
    }
}

/// A first chunk whose units are filled, ready to [`install`](FirstChunk::install).
///
/// Its tables (layout, units, pages, and the CPU offset table it installs) are on the heap
/// with the `alloc` feature, in the boot memory without it ([`boot_memory`]).
#[derive(Debug)]
pub struct FirstChunk {
    origin: Origin,
    ai: AllocInfo,
    base_addr: usize,
    page_size: usize,
    immutable: bool,
    units: Table<(CpuId, usize)>,
    /// For a mutable chunk: the page mapped at each page of each unit (unit order).
    pages: Table<Option<PhysPage>>,
    /// For a page-mode chunk until it is installed: every page of every unit (unit order), so
    /// that a chunk that is not installed can be given back ([`FirstChunk::release_paged`]).
    frames: Table<PhysPage>,
    /// The per-CPU offset table [`FirstChunk::install`] publishes, built with the chunk (so
    /// that installing never needs memory); `None` once installed.
    cpu_table: Option<CpuTable>,
}

/// The CPU offset table for `units` of a chunk at `base_addr`.
pub(crate) fn cpu_table(
    units: &[(CpuId, usize)],
    base_addr: usize,
) -> Result<CpuTable, OutOfBootMemory> {
    let template = crate::template::start() as usize;
    CpuTable::new(units.iter().map(|&(cpu, off)| (cpu, (base_addr + off).wrapping_sub(template))))
}

impl FirstChunk {
    /// The modern setup: checks `ai` for a chunk the caller allocated and mapped at `base_addr`
    /// (so the chunk is immutable), then fills the units.
    ///
    /// # Safety
    ///
    /// `base_addr + unit offset` is, for every unit of `ai` that has a CPU, writable memory of
    /// `ai.unit_size` bytes owned by the per-CPU subsystem from now on (never freed or reused
    /// by the caller), not overlapping the template.
    pub unsafe fn from_alloc_info(
        ai: &AllocInfo,
        base_addr: *mut u8,
        cfg: &SetupConfig<'_>,
    ) -> Result<FirstChunk, SetupError> {
        let base = base_addr as usize;
        checks::check_alloc_info(ai, base, crate::template::start() as usize, cfg)?;
        checks::check_static_covers_template(ai.static_size)?;
        let ai = ai.try_clone()?;
        let units = boot_memory::collect(ai.unit_offsets())?;
        checks::check_deltas(&units, base, crate::template::start() as usize)?;
        let cpu_table = cpu_table(&units, base)?;
        // SAFETY: forwarded from the caller.
        unsafe { units::fill_units(&units, base) };
        Ok(FirstChunk {
            origin: Origin::Given,
            ai,
            base_addr: base,
            page_size: cfg.page_size,
            immutable: true,
            units,
            pages: Table::new(),
            frames: Table::new(),
            cpu_table: Some(cpu_table),
        })
    }

    /// Publishes the chunk: hands the reserved and dynamic regions to the dynamic allocator,
    /// then installs the per-CPU offset table. Once per boot; afterwards [`installed`] returns
    /// it. On an error nothing is installed and the chunk comes back in the error
    /// ([`InstallError::into_chunk`]), so that its memory can be given back
    /// ([`FirstChunk::release_embedded`], [`FirstChunk::release_paged`]); `?` turns the error
    /// into a [`SetupError`] (the chunk's memory then stays allocated, unused).
    ///
    /// Without the `alloc` feature there is no dynamic allocator: the reserved and dynamic
    /// regions stay unused, and only the offset table is installed.
    #[cfg_attr(not(feature = "alloc"), allow(clippy::result_large_err))]
    pub fn install(mut self) -> Result<&'static FirstChunk, InstallError> {
        #[cfg(feature = "alloc")]
        let allocator_taken = crate::allocator::is_initialized();
        #[cfg(not(feature = "alloc"))]
        let allocator_taken = false;
        if INSTALLED.get().is_some() || crate::first_chunk_installed() || allocator_taken {
            return Err(InstallError {
                error: SetupError::AlreadyInstalled,
                chunk: returned(self),
            });
        }
        #[cfg(feature = "alloc")]
        {
            let regions = crate::allocator::FirstChunkRegions {
                base_addr: self.base_addr,
                unit_size: self.ai.unit_size,
                page_size: self.page_size,
                static_size: self.ai.static_size,
                reserved_size: self.ai.reserved_size,
                dyn_size: self.ai.dyn_size,
                units: self.units.clone(),
                groups: self
                    .ai
                    .groups
                    .iter()
                    .map(|g| (g.base_offset, g.nr_units() * self.ai.unit_size))
                    .collect(),
                immutable: self.immutable,
            };
            // SAFETY: the units are filled and owned by per-CPU code from now on, and populated
            // up to static + reserved + dynamic (every builder maps or allocates whole units);
            // `units` is what the CPU table is built from below.
            if let Err(e) = unsafe { crate::allocator::init_first_chunk(regions) } {
                return Err(InstallError {
                    error: SetupError::Allocator(e),
                    chunk: returned(self),
                });
            }
        }
        let table = self.cpu_table.take().expect("a chunk that is not installed has its table");
        if let Err(table) = crate::cpu::install(table) {
            // Unreachable after the check above but for a concurrent install; the allocator
            // has taken the regions, so the memory stays with it.
            self.cpu_table = Some(table);
            return Err(InstallError {
                error: SetupError::AlreadyInstalled,
                chunk: returned(self),
            });
        }
        // Installed for good: nothing gives the frames back any more.
        self.frames = Table::new();
        let mut chunk = Some(self);
        INSTALLED.call_once(|| chunk.take().expect("taken once"));
        Ok(INSTALLED.get().expect("installed above"))
    }

    /// Gives an embedded chunk that was not installed back to the early allocator it came
    /// from: every unit's part that the setup kept (its unused tails and units went back
    /// already). `Err(self)` for a chunk of another origin.
    ///
    /// # Safety
    ///
    /// `mem` is the allocator [`embed_first_chunk`] built the chunk from, and no CPU uses its units
    /// (it was never installed, and no unit address was used).
    #[cfg_attr(not(feature = "alloc"), allow(clippy::result_large_err))]
    pub unsafe fn release_embedded(self, mem: &mut dyn EarlyMemory) -> Result<(), ReturnedChunk> {
        if self.origin != Origin::Embed {
            return Err(returned(self));
        }
        let kept = self.ai.size_sum();
        for &(_, offset) in &self.units {
            let unit = NonNull::new((self.base_addr + offset) as *mut u8).expect("a unit address");
            mem.free(unit, kept);
        }
        Ok(())
    }

    /// Gives a page-mode chunk that was not installed back: unmaps every page, frees it to the
    /// page allocator and releases the virtual range. `Err(self)` for a chunk of another origin.
    ///
    /// # Safety
    ///
    /// `mem` is what [`page_first_chunk`] built the chunk with, and no CPU uses its units (it was
    /// never installed).
    #[cfg_attr(not(feature = "alloc"), allow(clippy::result_large_err))]
    pub unsafe fn release_paged<M: PageAlloc + VmSpace + ?Sized>(
        self,
        mem: &mut M,
    ) -> Result<(), ReturnedChunk> {
        if self.origin != Origin::Page || self.frames.is_empty() {
            return Err(returned(self));
        }
        let unit_pages = self.ai.unit_size / self.page_size;
        for (u, &(_, offset)) in self.units.iter().enumerate() {
            for i in 0..unit_pages {
                mem.unmap_page(self.base_addr + offset + i * self.page_size);
                mem.free_page(self.frames[u * unit_pages + i]);
            }
        }
        let size = self.ai.nr_units() * self.ai.unit_size;
        mem.release(NonNull::new(self.base_addr as *mut u8).expect("a range address"), size);
        Ok(())
    }

    /// Gives a chunk the callback-style setup mapped (no `base_addr`) and did not install back:
    /// unmaps its pages and releases its range (the pages stay the page callback's).
    /// `Err(self)` for a chunk of another origin.
    #[cfg_attr(not(feature = "alloc"), allow(clippy::result_large_err))]
    pub(super) fn release_mapped(self, vm: &mut dyn VmSpace) -> Result<(), ReturnedChunk> {
        if self.origin != Origin::Mapped {
            return Err(returned(self));
        }
        let unit_pages = self.ai.unit_size / self.page_size;
        for (u, &(_, offset)) in self.units.iter().enumerate() {
            for i in 0..unit_pages {
                if self.pages[u * unit_pages + i].is_some() {
                    vm.unmap_page(self.base_addr + offset + i * self.page_size);
                }
            }
        }
        let size = self.units.len() * self.ai.unit_size;
        vm.release(NonNull::new(self.base_addr as *mut u8).expect("a range address"), size);
        Ok(())
    }

    /// How the chunk was obtained.
    pub fn origin(&self) -> Origin {
        self.origin
    }

    /// The layout.
    pub fn alloc_info(&self) -> &AllocInfo {
        &self.ai
    }

    /// The chunk's base address (unit offsets are relative to it).
    pub fn base_addr(&self) -> usize {
        self.base_addr
    }

    /// Bytes per unit.
    pub fn unit_size(&self) -> usize {
        self.ai.unit_size
    }

    /// Bytes of static data at the start of each unit.
    pub fn static_size(&self) -> usize {
        self.ai.static_size
    }

    /// Bytes reserved for modules after the static area: `[static, static + reserved)`.
    pub fn reserved_size(&self) -> usize {
        self.ai.reserved_size
    }

    /// Bytes of dynamic area after the reserved one: `[static + reserved, static + reserved +
    /// dynamic)`. Nothing beyond it in a unit is ever used.
    pub fn dyn_size(&self) -> usize {
        self.ai.dyn_size
    }

    /// The page size.
    pub fn page_size(&self) -> usize {
        self.page_size
    }

    /// Whether percpu may never map, unmap, populate or depopulate this chunk.
    pub fn is_immutable(&self) -> bool {
        self.immutable
    }

    /// `(cpu, unit offset from the base)` for every possible CPU.
    pub fn units(&self) -> &[(CpuId, usize)] {
        &self.units
    }

    /// The address of `cpu`'s unit.
    pub fn unit_addr(&self, cpu: CpuId) -> Option<usize> {
        self.units.iter().find(|(c, _)| *c == cpu).map(|(_, off)| self.base_addr + off)
    }

    /// Writes the boot lines in Linux's format: the banner (`percpu: Embedded N pages/cpu s.. r..
    /// d.. u..`, or `percpu: N 4K pages/cpu s.. r.. d..` for a page-mode chunk), then the
    /// `pcpu-alloc:` lines.
    pub fn dump(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        let ai = &self.ai;
        let (s, r, d, u) = (ai.static_size, ai.reserved_size, ai.dyn_size, ai.unit_size);
        match self.origin {
            Origin::Embed => writeln!(
                out,
                "percpu: Embedded {} pages/cpu s{s} r{r} d{d} u{u}",
                ai.size_sum() / self.page_size
            )?,
            Origin::Page => writeln!(
                out,
                "percpu: {} {}K pages/cpu s{s} r{r} d{d}",
                u / self.page_size,
                self.page_size >> 10
            )?,
            Origin::Given | Origin::Mapped => writeln!(
                out,
                "percpu: {} pages/cpu s{s} r{r} d{d} u{u}{}",
                u / self.page_size,
                if self.immutable { " (caller-mapped)" } else { "" }
            )?,
        }
        ai.dump(out)
    }

    /// Writes the placement classes' line (after Linux's lines, in the same style): the bytes
    /// of the template each `#[percpu(..)]` class takes, the hot ones against their budget
    /// (`hot_lines` of percpu.toml):
    /// `percpu: classes: hot 13/64 bytes, read_mostly 0, shared_aligned 64, page_aligned 0`.
    pub fn dump_classes(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        use crate::registry::Class;
        // Each class is one run of the template: from its first variable to the end of its
        // last, the aligned classes' padding included.
        let mut runs = [(usize::MAX, 0usize); 5];
        for v in crate::registry::variables() {
            let pad_to = match v.class() {
                Class::SharedAligned => crate::linker::CACHE_LINE,
                Class::PageAligned => crate::linker::PAGE_ALIGNED,
                _ => 1,
            };
            let run = &mut runs[v.class() as usize];
            run.0 = run.0.min(v.offset());
            run.1 = run.1.max((v.offset() + v.size()).next_multiple_of(pad_to));
        }
        let bytes = |c: Class| {
            let (start, end) = runs[c as usize];
            end.saturating_sub(start)
        };
        let budget = crate::Settings::linked().hot_lines * crate::linker::CACHE_LINE;
        writeln!(
            out,
            "percpu: classes: hot {}/{budget} bytes, read_mostly {}, shared_aligned {}, \
             page_aligned {}",
            bytes(Class::Hot),
            bytes(Class::ReadMostly),
            bytes(Class::SharedAligned),
            bytes(Class::PageAligned),
        )
    }
}

/// [`FirstChunk::install`] refused: why, and the chunk itself, handed back.
#[derive(Debug)]
pub struct InstallError {
    /// Why.
    pub error: SetupError,
    chunk: ReturnedChunk,
}

impl InstallError {
    /// The chunk that was not installed, to give its memory back.
    pub fn into_chunk(self) -> FirstChunk {
        #[cfg(feature = "alloc")]
        {
            *self.chunk
        }
        #[cfg(not(feature = "alloc"))]
        {
            self.chunk
        }
    }
}

impl fmt::Display for InstallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.error, f)
    }
}

#[cfg(feature = "std")]
impl std::error::Error for InstallError {}

impl From<InstallError> for SetupError {
    fn from(e: InstallError) -> Self {
        e.error
    }
}

static INSTALLED: spin::Once<FirstChunk> = spin::Once::new();

/// The installed first chunk, if the setup has run.
pub fn installed() -> Option<&'static FirstChunk> {
    INSTALLED.get()
}

/// Runs the checks of a first-chunk setup on `ai` for a chunk at `base_addr`, with the template
/// at `template_start` (normally `percpu_rt::template::start()`), without touching anything:
/// for layouts computed ahead of time (at build time, or by a boot loader) and for tests.
pub fn validate(
    ai: &AllocInfo,
    base_addr: usize,
    template_start: usize,
    cfg: &SetupConfig<'_>,
) -> Result<(), SetupError> {
    checks::check_alloc_info(ai, base_addr, template_start, cfg)
}

/// Loads the calling CPU's base register with `cpu`'s per-CPU delta.
///
/// Call it on the boot CPU right after [`FirstChunk::install`], and on every other CPU early in
/// its bring-up, before it touches per-CPU data.
///
/// # Safety
///
/// 1. The code calling this runs on CPU `cpu` (and, on x86_64 kernels, has loaded its last
///    GS selector: a selector load zeroes the base).
/// 2. No other CPU has loaded `cpu`'s base.
/// 3. Nothing on this CPU holds a reference into the per-CPU area it used before (the
///    template, for a CPU that had no base yet).
pub unsafe fn load_base(cpu: CpuId) -> Result<(), crate::CpuNotPossible> {
    let delta = crate::cpu_offset(cpu)?;
    // SAFETY: 1–3 from the caller; the delta is that of `cpu`'s filled unit.
    unsafe { crate::arch::write_base(delta) };
    Ok(())
}
