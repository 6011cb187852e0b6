//! The allocator's errors. Each says what was wrong and what to change; none leaves any state
//! changed (docs/architecture.md, invariant 6).

use super::PerCpuPtr;
use crate::cpu_id::CpuId;
use alloc::string::String;
use core::fmt;

/// An allocation that could not be made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AllocError {
    /// `size` was 0.
    ZeroSize,
    /// `size` is above the configured maximum.
    TooLarge {
        /// The requested size.
        size: usize,
        /// The maximum ([`AllocConfig::max_alloc_size`](super::AllocConfig::max_alloc_size)).
        max: usize,
    },
    /// `align` is not a power of two.
    AlignNotPowerOfTwo {
        /// The requested alignment.
        align: usize,
    },
    /// `align` is above the page size.
    AlignTooLarge {
        /// The requested alignment.
        align: usize,
        /// The page size.
        max: usize,
    },
    /// The allocator has not been given its first chunk yet.
    NotInitialized,
    /// A reserved allocation, but the first chunk has no reserved region.
    NoReservedRegion,
    /// The reserved region has no room for the request (it cannot grow).
    ReservedFull {
        /// The requested size.
        size: usize,
        /// The requested alignment.
        align: usize,
    },
    /// A non-sleeping request found no room in populated pages.
    AtomicNoSpace {
        /// The requested size.
        size: usize,
        /// The requested alignment.
        align: usize,
    },
    /// The first chunk is full and no backend is registered to create more chunks.
    NoBackend {
        /// The requested size.
        size: usize,
        /// The requested alignment.
        align: usize,
    },
    /// The backend could not create or populate a chunk.
    Backend(BackendError),
}

impl fmt::Display for AllocError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            AllocError::ZeroSize => f.write_str(
                "illegal per-CPU allocation: size 0; request at least 1 byte (a zero-sized type \
                 needs no per-CPU memory)",
            ),
            AllocError::TooLarge { size, max } => write!(
                f,
                "illegal per-CPU allocation: size {size} is above the maximum {max}; split the \
                 object, or raise AllocConfig::max_alloc_size (up to the unit size)"
            ),
            AllocError::AlignNotPowerOfTwo { align } => {
                write!(f, "illegal per-CPU allocation: alignment {align} is not a power of two")
            }
            AllocError::AlignTooLarge { align, max } => write!(
                f,
                "illegal per-CPU allocation: alignment {align} is above the page size {max}, the \
                 largest alignment per-CPU areas can have"
            ),
            AllocError::NotInitialized => f.write_str(
                "the per-CPU allocator has no first chunk yet: allocate after the first-chunk \
                 setup has run",
            ),
            AllocError::NoReservedRegion => f.write_str(
                "reserved per-CPU allocation, but the first chunk has no reserved region; give \
                 the layout a reserved size (percpu.toml `reserved`)",
            ),
            AllocError::ReservedFull { size, align } => write!(
                f,
                "per-CPU allocation of {size} bytes aligned to {align} failed: the reserved \
                 region is full (it cannot grow); enlarge the reserved size in the layout"
            ),
            AllocError::AtomicNoSpace { size, align } => write!(
                f,
                "non-sleeping per-CPU allocation of {size} bytes aligned to {align} failed: no \
                 room in populated pages; retry from a context that may sleep, or run the \
                 balance step more often / raise the empty-pages band"
            ),
            AllocError::NoBackend { size, align } => write!(
                f,
                "per-CPU allocation of {size} bytes aligned to {align} failed: the first chunk \
                 is full and no backend is registered to create chunks; register one with \
                 allocator::set_backend, or enlarge the dynamic reserve"
            ),
            AllocError::Backend(e) => write!(f, "per-CPU allocation failed: {e}"),
        }
    }
}

/// A pointer that `free` refused. Nothing was changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FreeError {
    /// The allocator has not been given its first chunk yet.
    NotInitialized,
    /// The pointer is in no chunk of this allocator.
    Foreign {
        /// The pointer.
        ptr: PerCpuPtr,
    },
    /// The pointer is in the static area of the first chunk (a `#[percpu]` static).
    Static {
        /// The pointer.
        ptr: PerCpuPtr,
    },
    /// The pointer is not on the 4-byte granule of areas.
    Misaligned {
        /// The pointer.
        ptr: PerCpuPtr,
    },
    /// The pointer is free memory: a double free, or a pointer never returned.
    NotAllocated {
        /// The pointer.
        ptr: PerCpuPtr,
    },
    /// The pointer is inside a live area but not at its start.
    Interior {
        /// The pointer.
        ptr: PerCpuPtr,
        /// The start of the area it points into (what `alloc` returned).
        area: PerCpuPtr,
    },
}

impl fmt::Display for FreeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            FreeError::NotInitialized => {
                f.write_str("per-CPU free before the allocator has a first chunk: nothing to free")
            }
            FreeError::Foreign { ptr } => write!(
                f,
                "per-CPU free of {ptr:?}: not in any chunk of this allocator; pass exactly what \
                 alloc returned"
            ),
            FreeError::Static { ptr } => write!(
                f,
                "per-CPU free of {ptr:?}: that is a #[percpu] static, which is never freed"
            ),
            FreeError::Misaligned { ptr } => write!(
                f,
                "per-CPU free of {ptr:?}: not on the 4-byte granule of per-CPU areas, so not a \
                 pointer alloc returned"
            ),
            FreeError::NotAllocated { ptr } => write!(
                f,
                "per-CPU free of {ptr:?}: that memory is free (double free, or a pointer never \
                 returned by alloc)"
            ),
            FreeError::Interior { ptr, area } => write!(
                f,
                "per-CPU free of {ptr:?}: it points into the middle of the area at {area:?}; \
                 free the pointer alloc returned"
            ),
        }
    }
}

/// A bad allocator configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// `max_alloc_size` is 0.
    MaxAllocZero,
    /// `max_alloc_size` is above the unit size.
    MaxAllocAboveUnit {
        /// The configured maximum.
        max: usize,
        /// The unit size.
        unit_size: usize,
    },
    /// `empty_pages_low > empty_pages_high`.
    LowAboveHigh {
        /// The low mark.
        low: usize,
        /// The high mark.
        high: usize,
    },
    /// `configure` after the allocator was initialised.
    AlreadyInitialized,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ConfigError::MaxAllocZero => f.write_str(
                "AllocConfig::max_alloc_size is 0; use None for the default (32 KiB), or a size \
                 of at least 1",
            ),
            ConfigError::MaxAllocAboveUnit { max, unit_size } => write!(
                f,
                "AllocConfig::max_alloc_size {max} is above the unit size {unit_size}; an area \
                 must fit in one unit"
            ),
            ConfigError::LowAboveHigh { low, high } => write!(
                f,
                "AllocConfig empty-pages band {low}..{high} is inverted; the low mark must not \
                 exceed the high mark"
            ),
            ConfigError::AlreadyInitialized => f.write_str(
                "the per-CPU allocator is initialised already; call allocator::configure before \
                 the first-chunk setup",
            ),
        }
    }
}

/// Why the first chunk's regions were refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InitError {
    /// The global allocator already has its first chunk.
    AlreadyInitialized,
    /// The page size is not a power of two of at least 256 bytes.
    PageSize {
        /// The value given.
        page_size: usize,
    },
    /// The unit size is 0, not a multiple of the page size, or above 16 GiB.
    UnitSize {
        /// The value given.
        unit_size: usize,
        /// The page size.
        page_size: usize,
    },
    /// `static + reserved + dyn` exceeds the unit size.
    RegionsExceedUnit {
        /// `static + reserved + dyn`.
        sum: usize,
        /// The unit size.
        unit_size: usize,
    },
    /// `base_addr` is not page-aligned.
    BaseNotPageAligned {
        /// The value given.
        base_addr: usize,
    },
    /// No unit was given.
    NoUnits,
    /// A CPU has two units.
    DuplicateCpu {
        /// The CPU.
        cpu: CpuId,
    },
    /// A unit is not page-aligned or not inside a group.
    UnitOutsideGroups {
        /// The unit's CPU.
        cpu: CpuId,
        /// Its offset.
        offset: usize,
    },
    /// Two units overlap.
    UnitsOverlap {
        /// One of the CPUs.
        cpu: CpuId,
    },
    /// No group starts at offset 0, or groups overlap or are not page-aligned.
    BadGroups,
    /// The installed CPU table gives a CPU another offset than its unit here.
    CpuTableMismatch {
        /// The CPU.
        cpu: CpuId,
    },
    /// The configuration does not fit the regions.
    Config(ConfigError),
}

impl fmt::Display for InitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InitError::AlreadyInitialized => f.write_str(
                "the per-CPU allocator already has its first chunk: the first-chunk setup runs \
                 once per boot",
            ),
            InitError::PageSize { page_size } => {
                write!(f, "page size {page_size} is not a power of two of at least 256 bytes")
            }
            InitError::UnitSize { unit_size, page_size } => write!(
                f,
                "unit size {unit_size} must be a non-zero multiple of the page size {page_size} \
                 and at most 16 GiB"
            ),
            InitError::RegionsExceedUnit { sum, unit_size } => write!(
                f,
                "static + reserved + dynamic = {sum} bytes exceeds the unit size {unit_size}"
            ),
            InitError::BaseNotPageAligned { base_addr } => {
                write!(f, "first chunk base {base_addr:#x} is not page-aligned")
            }
            InitError::NoUnits => {
                f.write_str("the first chunk has no unit: name every possible CPU's unit")
            }
            InitError::DuplicateCpu { cpu } => {
                write!(f, "CPU {cpu} has two units; give each CPU one")
            }
            InitError::UnitOutsideGroups { cpu, offset } => write!(
                f,
                "the unit of CPU {cpu} at offset {offset:#x} is not page-aligned or not inside \
                 one group; list each group's (offset, size) so that it covers its units"
            ),
            InitError::UnitsOverlap { cpu } => {
                write!(f, "the unit of CPU {cpu} overlaps another unit")
            }
            InitError::BadGroups => f.write_str(
                "the groups must be page-aligned, must not overlap, and one must start at offset \
                 0 (offsets are from the lowest group)",
            ),
            InitError::CpuTableMismatch { cpu } => write!(
                f,
                "the CPU table gives CPU {cpu} another per-CPU offset than its unit in the first \
                 chunk; pass the units the table was built from"
            ),
            InitError::Config(e) => write!(f, "{e}"),
        }
    }
}

/// A failure of the memory backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendError {
    /// No address space for a new chunk.
    NoAddressSpace {
        /// Bytes requested.
        bytes: usize,
    },
    /// No memory to populate pages.
    NoMemory {
        /// Bytes requested.
        bytes: usize,
    },
    /// A system call failed (hosted backend).
    Os {
        /// The operation.
        op: &'static str,
        /// The `errno` value.
        errno: i32,
    },
    /// The allocator asked to populate or depopulate an immutable chunk: a bug in the
    /// allocator, refused by it (docs/architecture.md, invariant 4).
    ImmutableChunk,
    /// A request named a chunk this backend did not create (or destroyed since), or pages
    /// outside a unit: refused, nothing changed.
    UnknownChunk {
        /// The chunk base named.
        base: usize,
    },
}

impl fmt::Display for BackendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            BackendError::NoAddressSpace { bytes } => {
                write!(f, "no address space for a new chunk of {bytes} bytes")
            }
            BackendError::NoMemory { bytes } => write!(f, "no memory to populate {bytes} bytes"),
            BackendError::Os { op, errno } => write!(f, "{op} failed with errno {errno}"),
            BackendError::UnknownChunk { base } => write!(
                f,
                "{base:#x} is not a live chunk of this backend with those pages (never created by \
                 it, destroyed, or pages outside a unit); only the allocator that created a chunk \
                 populates it"
            ),
            BackendError::ImmutableChunk => f.write_str(
                "BUG: the allocator tried to populate or depopulate the immutable first chunk; \
                 please report it",
            ),
        }
    }
}

/// `set_backend` was called twice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackendAlreadySet;

impl fmt::Display for BackendAlreadySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a per-CPU memory backend is registered already; register it once")
    }
}

/// An inconsistency found by `verify` (a bug in the allocator).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyError(pub String);

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "per-CPU allocator inconsistency (a bug; please report it): {}", self.0)
    }
}

#[cfg(feature = "std")]
mod std_impls {
    use super::*;
    impl std::error::Error for AllocError {}
    impl std::error::Error for FreeError {}
    impl std::error::Error for ConfigError {}
    impl std::error::Error for InitError {}
    impl std::error::Error for BackendError {}
    impl std::error::Error for BackendAlreadySet {}
    impl std::error::Error for VerifyError {}
}
