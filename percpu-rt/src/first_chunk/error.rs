//! Every way a first-chunk setup can be refused. One variant per check of Linux's original (2009)
//! `pcpu_setup_first_chunk` (`BUG_ON`) and of today's Linux (`PCPU_SETUP_BUG_ON`, numbered in the
//! order Linux checks them: the table in `checks.rs`), plus the failures of the caller's callbacks.
//! Each message says what was wrong and what to change. After any of them, nothing is set up:
//! memory the setup took is given back, mappings it made are removed, and a corrected call
//! succeeds.

use crate::boot_memory::OutOfBootMemory;
use crate::cpu_id::CpuId;
use crate::layout::LayoutError;
use core::fmt;

/// A caller callback (page allocator, virtual-memory primitive) failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VmError {
    /// What the callback says went wrong.
    pub reason: &'static str,
}

impl fmt::Display for VmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason)
    }
}

/// A refused first-chunk setup.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SetupError {
    // --- Linux's 2009 setup ---
    /// `BUG_ON(!static_size)`; Linux check 2.
    StaticSizeZero,
    /// `BUG_ON(!unit_size && free_size)`.
    FreeSizeWithoutUnitSize {
        /// The free size given.
        free_size: usize,
    },
    /// `BUG_ON(unit_size && unit_size < static_size + free_size)`.
    UnitSmallerThanStaticPlusFree {
        /// The unit size given.
        unit_size: usize,
        /// The static size.
        static_size: usize,
        /// The free size given.
        free_size: usize,
    },
    /// `BUG_ON(unit_size & ~PAGE_MASK)`; Linux checks 7 and 9 (the bitmap block is the page).
    UnitNotPageAligned {
        /// The unit size.
        unit_size: usize,
        /// The page size.
        page_size: usize,
    },
    /// `BUG_ON(base_addr && !unit_size)`.
    BaseWithoutUnitSize,
    /// `BUG_ON(base_addr && populate_pte_fn)`.
    BaseWithPopulate,
    /// `BUG_ON(i < PFN_UP(static_size))`: the page callback ended before covering the static area.
    PagesDontCoverStatic {
        /// The CPU whose pages ran out.
        cpu: CpuId,
        /// Pages the callback returned for it.
        pages: usize,
        /// Pages the static area needs.
        needed: usize,
    },
    /// `BUG_ON(nr_pages != i)`: the page callback returned different page counts for two CPUs.
    PageCountMismatch {
        /// The CPU whose count differs.
        cpu: CpuId,
        /// Pages returned for it.
        pages: usize,
        /// Pages returned for the first CPU.
        expected: usize,
    },

    // --- today's Linux (§2.2) ---
    /// Check 1: `ai->nr_groups <= 0`.
    NoGroups,
    /// Check 3: `offset_in_page(__per_cpu_start)`.
    TemplateNotPageAligned {
        /// `__percpu_start`.
        start: usize,
        /// The page size.
        page_size: usize,
    },
    /// Check 4: `!base_addr`.
    NullBase,
    /// Check 5: `offset_in_page(base_addr)`.
    BaseNotPageAligned {
        /// The base address given.
        base_addr: usize,
        /// The page size.
        page_size: usize,
    },
    /// Check 6: `ai->unit_size < size_sum`.
    UnitTooSmall {
        /// The unit size.
        unit_size: usize,
        /// `static + reserved + dynamic`.
        size_sum: usize,
    },
    /// Check 8: `ai->unit_size < PCPU_MIN_UNIT_SIZE`.
    UnitBelowMinimum {
        /// The unit size.
        unit_size: usize,
        /// The minimum.
        min_unit_size: usize,
    },
    /// Check 10: `ai->dyn_size < PERCPU_DYNAMIC_EARLY_SIZE`.
    DynamicBelowEarly {
        /// The dynamic size.
        dyn_size: usize,
        /// The early minimum.
        early_size: usize,
    },
    /// Check 11: `!IS_ALIGNED(ai->reserved_size, PCPU_MIN_ALLOC_SIZE)`.
    ReservedNotAligned {
        /// The reserved size.
        reserved_size: usize,
    },
    /// Check 13: the memory backend vetoed the layout (`pcpu_verify_alloc_info`).
    BackendRejected {
        /// The backend's reason.
        reason: &'static str,
    },
    /// Check 14: `cpu >= nr_cpu_ids`.
    CpuIdTooLarge {
        /// The CPU in a unit map.
        cpu: CpuId,
        /// The largest CPU id allowed + 1.
        nr_cpu_ids: u32,
    },
    /// Check 14: `!cpu_possible(cpu)`.
    CpuNotPossible {
        /// The CPU in a unit map.
        cpu: CpuId,
    },
    /// Check 14: `unit_map[cpu] != UINT_MAX` (a CPU mapped to two units).
    CpuMappedTwice {
        /// The CPU.
        cpu: CpuId,
    },
    /// Check 15: a possible CPU without a unit.
    CpuWithoutUnit {
        /// The CPU.
        cpu: CpuId,
    },

    // --- beyond Linux ---
    /// Two groups' units overlap (their base offsets are too close).
    GroupsOverlap {
        /// The first group.
        group: usize,
        /// The group it overlaps.
        other: usize,
    },
    /// A group's base offset is not a multiple of the page size.
    GroupNotPageAligned {
        /// The group.
        group: usize,
        /// Its base offset.
        base_offset: usize,
    },
    /// The static size given is smaller than the template the program was linked with.
    StaticSizeBelowTemplate {
        /// The static size given.
        static_size: usize,
        /// `__percpu_end - __percpu_start`.
        template_size: usize,
    },
    /// A `#[percpu]` static's type is aligned more strictly than the page: units are only
    /// page-aligned, so its copies would be misaligned on some CPUs.
    StaticOverAligned {
        /// The static (`module::NAME`).
        name: &'static str,
        /// Its module path.
        module_path: &'static str,
        /// Its alignment.
        align: usize,
        /// The page size.
        page_size: usize,
    },
    /// A registered static does not lie inside the template (`.percpu`): the program was not
    /// linked with percpu-build's linker fragment for every crate.
    StaticOutsideTemplate {
        /// The static's name.
        name: &'static str,
        /// Its module path.
        module_path: &'static str,
    },
    /// The layout arithmetic refused the parameters.
    Layout(LayoutError),
    /// A first chunk is installed already (the setup runs once, at boot).
    AlreadyInstalled,
    /// The dynamic allocator refused the chunk's reserved and dynamic regions (with the
    /// `alloc` feature: without it there is no dynamic allocator).
    #[cfg(feature = "alloc")]
    Allocator(crate::allocator::InitError),
    /// More than one CPU is possible but no [`Platform`](crate::Platform) is registered: the pin
    /// guards would not pin anything.
    NoPlatform {
        /// Possible CPUs.
        nr_cpus: usize,
    },
    /// The caller's memory allocator could not provide a group's units.
    OutOfMemory {
        /// The group.
        group: usize,
        /// Bytes requested.
        size: usize,
        /// Alignment requested.
        align: usize,
    },
    /// The caller's allocator returned memory that is not aligned as requested.
    MisalignedMemory {
        /// The address returned.
        addr: usize,
        /// The alignment requested.
        align: usize,
    },
    /// The page callback returned no page for a page the layout needs.
    OutOfPages {
        /// The CPU.
        cpu: CpuId,
        /// The page index in its unit.
        index: usize,
    },
    /// No virtual range could be reserved for the chunk.
    NoVirtualSpace {
        /// Bytes requested.
        size: usize,
    },
    /// Populating the page tables for a unit page failed.
    PopulateFailed {
        /// The CPU.
        cpu: CpuId,
        /// The virtual address.
        addr: usize,
        /// The callback's error.
        error: VmError,
    },
    /// Mapping a unit page failed.
    MapFailed {
        /// The CPU.
        cpu: CpuId,
        /// The virtual address.
        addr: usize,
        /// The callback's error.
        error: VmError,
    },
    /// The per-CPU delta of a unit is not a valid base-register value here (hosted x86_64: it
    /// must be a positive user-space distance).
    BadDelta {
        /// The CPU.
        cpu: CpuId,
        /// The delta.
        delta: usize,
    },
    /// Without the `alloc` feature: the boot memory cannot hold the setup's bookkeeping (with
    /// `alloc` the heap holds it and this never happens). Nothing was set up.
    OutOfBootMemory(OutOfBootMemory),
}

impl From<LayoutError> for SetupError {
    fn from(e: LayoutError) -> Self {
        match e {
            LayoutError::OutOfBootMemory(e) => SetupError::OutOfBootMemory(e),
            e => SetupError::Layout(e),
        }
    }
}

impl From<OutOfBootMemory> for SetupError {
    fn from(e: OutOfBootMemory) -> Self {
        SetupError::OutOfBootMemory(e)
    }
}

impl fmt::Display for SetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use SetupError::*;
        match self {
            StaticSizeZero => f.write_str(
                "static_size is 0: the template section is empty or was not linked; link with the \
                 percpu-build fragment and pass __percpu_end - __percpu_start",
            ),
            FreeSizeWithoutUnitSize { free_size } => write!(
                f,
                "free_size {free_size} given with an automatic unit size: a free size only means \
                 something inside a unit of known size; give unit_size too, or leave free_size automatic"
            ),
            UnitSmallerThanStaticPlusFree { unit_size, static_size, free_size } => write!(
                f,
                "unit_size {unit_size} is smaller than static_size {static_size} + free_size \
                 {free_size}; use a unit of at least {}",
                static_size + free_size
            ),
            UnitNotPageAligned { unit_size, page_size } => write!(
                f,
                "unit_size {unit_size} is not a multiple of the page size {page_size}; round it up to {}",
                unit_size.div_ceil(*page_size) * page_size
            ),
            BaseWithoutUnitSize => f.write_str(
                "base_addr given without unit_size: a chunk the caller allocated and mapped has a \
                 unit size the caller chose; pass it",
            ),
            BaseWithPopulate => f.write_str(
                "base_addr given together with a populate callback: a chunk the caller already \
                 mapped is immutable and is never mapped again; drop the populate callback",
            ),
            PagesDontCoverStatic { cpu, pages, needed } => write!(
                f,
                "the page callback returned {pages} pages for CPU {cpu}, but the static area needs \
                 {needed}; return at least {needed} pages for every CPU"
            ),
            PageCountMismatch { cpu, pages, expected } => write!(
                f,
                "the page callback returned {pages} pages for CPU {cpu} but {expected} for the \
                 first CPU; it must return the same number of pages for every CPU"
            ),
            NoGroups => f.write_str(
                "the allocation info has no group: build it with layout::build_alloc_info",
            ),
            TemplateNotPageAligned { start, page_size } => write!(
                f,
                "__percpu_start ({start:#x}) is not aligned to the page size {page_size}; link with \
                 the percpu-build fragment, which page-aligns .percpu"
            ),
            NullBase => f.write_str("base_addr is null: pass the address of the first chunk"),
            BaseNotPageAligned { base_addr, page_size } => write!(
                f,
                "base_addr {base_addr:#x} is not aligned to the page size {page_size}; allocate \
                 the chunk page-aligned (or atom-aligned)"
            ),
            UnitTooSmall { unit_size, size_sum } => write!(
                f,
                "unit_size {unit_size} is smaller than static + reserved + dynamic = {size_sum}; \
                 use a unit of at least {size_sum} (layout::build_alloc_info computes one)"
            ),
            UnitBelowMinimum { unit_size, min_unit_size } => write!(
                f,
                "unit_size {unit_size} is below the minimum unit size {min_unit_size}; use at least \
                 {min_unit_size}"
            ),
            DynamicBelowEarly { dyn_size, early_size } => write!(
                f,
                "the dynamic area ({dyn_size} bytes) is smaller than the early minimum \
                 ({early_size} bytes) that allocations made before any chunk can be created rely \
                 on; raise dynamic_reserve to at least {early_size}"
            ),
            ReservedNotAligned { reserved_size } => write!(
                f,
                "reserved_size {reserved_size} is not a multiple of {}; round it up to {}",
                crate::layout::MIN_ALLOC_SIZE,
                reserved_size.div_ceil(crate::layout::MIN_ALLOC_SIZE)
                    * crate::layout::MIN_ALLOC_SIZE
            ),
            BackendRejected { reason } => write!(
                f,
                "the memory backend cannot use this layout: {reason}; change the layout (e.g. one \
                 group) or the backend"
            ),
            CpuIdTooLarge { cpu, nr_cpu_ids } => write!(
                f,
                "CPU {cpu} appears in a unit map but CPU ids must be below {nr_cpu_ids} (max_cpus); \
                 raise max_cpus or fix the CPU list"
            ),
            CpuNotPossible { cpu } => write!(
                f,
                "CPU {cpu} appears in a unit map but is not a possible CPU; list it as possible or \
                 remove it from the map"
            ),
            CpuMappedTwice { cpu } => write!(
                f,
                "CPU {cpu} is mapped to two units; each possible CPU must have exactly one unit"
            ),
            CpuWithoutUnit { cpu } => write!(
                f,
                "possible CPU {cpu} has no unit; every possible CPU needs one (build the map from \
                 the full possible list)"
            ),
            GroupsOverlap { group, other } => write!(
                f,
                "the units of group {group} overlap those of group {other}; place each group's \
                 allocation apart (base offsets at least nr_units * unit_size apart)"
            ),
            GroupNotPageAligned { group, base_offset } => write!(
                f,
                "group {group} starts at base offset {base_offset:#x}, which is not page-aligned; \
                 allocate groups page-aligned"
            ),
            StaticSizeBelowTemplate { static_size, template_size } => write!(
                f,
                "static_size {static_size} is smaller than the linked template ({template_size} \
                 bytes, __percpu_end - __percpu_start); pass percpu_rt::template::static_size()"
            ),
            StaticOverAligned { name, module_path, align, page_size } => write!(
                f,
                "the #[percpu] static {module_path}::{name} is aligned to {align} bytes, more than \
                 the page ({page_size} bytes), and units are only page-aligned, so its copies \
                 would be misaligned; lower its type's alignment to at most {page_size} (e.g. \
                 drop a #[repr(align(..))] above it) or allocate it dynamically as page-aligned \
                 parts"
            ),
            StaticOutsideTemplate { name, module_path } => write!(
                f,
                "the #[percpu] static {module_path}::{name} is not inside the template \
                 (__percpu_start..__percpu_end); link the program with percpu-build's linker \
                 fragment (percpu_build::configure() in build.rs)"
            ),
            Layout(e) => write!(f, "layout: {e}"),
            AlreadyInstalled => f.write_str(
                "a first chunk is installed already: the first-chunk setup runs once, at boot",
            ),
            #[cfg(feature = "alloc")]
            Allocator(e) => write!(
                f,
                "the dynamic allocator cannot take the first chunk's reserved and dynamic \
                 regions: {e}"
            ),
            NoPlatform { nr_cpus } => write!(
                f,
                "{nr_cpus} CPUs are possible but no percpu_rt::Platform is registered, so pin \
                 guards would not pin; call percpu_rt::set_platform before the setup"
            ),
            OutOfMemory { group, size, align } => write!(
                f,
                "the allocator could not provide {size} bytes aligned to {align} for group \
                 {group}; give the early allocator more memory or lower the reserves"
            ),
            MisalignedMemory { addr, align } => write!(
                f,
                "the allocator returned {addr:#x}, which is not aligned to {align}; it must honour \
                 the requested alignment"
            ),
            OutOfPages { cpu, index } => write!(
                f,
                "no page for page {index} of CPU {cpu}'s unit; give the page allocator more memory"
            ),
            NoVirtualSpace { size } => write!(
                f,
                "no virtual range of {size} bytes could be reserved for the first chunk; enlarge \
                 the range set aside for per-CPU chunks"
            ),
            PopulateFailed { cpu, addr, error } => {
                write!(f, "populating the page tables for {addr:#x} (CPU {cpu}) failed: {error}")
            }
            MapFailed { cpu, addr, error } => {
                write!(f, "mapping the page at {addr:#x} (CPU {cpu}) failed: {error}")
            }
            BadDelta { cpu, delta } => write!(
                f,
                "CPU {cpu}'s per-CPU delta {delta:#x} cannot be loaded into the base register \
                 here; place the units above the template (hosted: above the executable)"
            ),
            OutOfBootMemory(e) => fmt::Display::fmt(e, f),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for SetupError {}
