//! The schema of `percpu.toml`: its keys ([`Key`]), the kind of value each takes (a size, a
//! count, or one of a few names: [`FirstChunk`], [`BaseRegister`]), the defaults that are not
//! percpu-rt's own, and the limits every value is held to, with the reason for each. This is
//! the ground floor of the configuration: it knows no TOML and no target.
//!
//! `check_alone` checks one value against its key's form and range (the "Limits" table of
//! the module documentation); the checks between keys are `resolve.rs`'s.

use crate::error::ErrorKind;
use core::fmt;
use percpu_rt::layout;
use percpu_rt::linker::{LINUX_SETTINGS, record};

/// Default `max_cpus`: the `NR_CPUS` of Linux's x86_64 defconfig (the runtime's default).
pub const DEFAULT_MAX_CPUS: usize = LINUX_SETTINGS[record::MAX_CPUS] as usize;
/// Largest `max_cpus`: Linux's largest `NR_CPUS` (`CONFIG_MAXSMP`).
pub const MAX_CPUS_LIMIT: usize = 8192;
/// Default `empty_pages_low`: Linux's `PCPU_EMPTY_POP_PAGES_LOW`.
pub const DEFAULT_EMPTY_PAGES_LOW: usize = LINUX_SETTINGS[record::EMPTY_PAGES_LOW] as usize;
/// Default `empty_pages_high`: Linux's `PCPU_EMPTY_POP_PAGES_HIGH`.
pub const DEFAULT_EMPTY_PAGES_HIGH: usize = LINUX_SETTINGS[record::EMPTY_PAGES_HIGH] as usize;
/// Default `hot_lines`: one cache line of `#[percpu(hot)]` data.
pub const DEFAULT_HOT_LINES: usize = LINUX_SETTINGS[record::HOT_LINES] as usize;
/// Largest `hot_lines`: a 4 KiB page of cache lines.
pub const MAX_HOT_LINES: usize = 64;
/// Default `max_alloc_size`: Linux's largest allocation, `PCPU_MIN_UNIT_SIZE`.
pub const DEFAULT_MAX_ALLOC_SIZE: usize = layout::MIN_UNIT_SIZE;
/// Smallest `page_size`: 4 KiB, Linux's smallest page.
pub const MIN_PAGE_SIZE: usize = 4 << 10;
/// Largest `page_size`: 256 KiB, Linux's largest base page (`PAGE_SIZE_256KB`).
pub const MAX_PAGE_SIZE: usize = 256 << 10;
/// Largest `atom_size`: 1 GiB, the largest huge page of x86_64 and aarch64.
pub const MAX_ATOM_SIZE: usize = 1 << 30;
/// Largest unit: the bound of `unit_size`, `min_unit_size`, of every area inside a unit, and of
/// the smallest unit all of them make together.
pub const MAX_UNIT_SIZE: usize = 1 << 30;
/// Largest `empty_pages_low` and `empty_pages_high`.
pub const MAX_EMPTY_PAGES: usize = 1 << 16;
/// Largest configuration file read, in bytes.
pub const MAX_CONFIG_SIZE: u64 = 1 << 20;
pub use crate::tree::MAX_DEPTH;

/// Why `page_size` has its range.
const PAGE_WHY: &str = "Linux's base pages run from 4 KiB to 256 KiB (PAGE_SIZE_256KB); for \
                        huge pages keep page_size the MMU's base page and set atom_size";
/// Why `atom_size` has its bound.
const ATOM_WHY: &str = "the largest huge page (1 GiB on x86_64 and aarch64); the first chunk is \
                        allocated in whole atoms, so a larger atom only wastes memory";
/// Why the unit has its bound.
const UNIT_WHY: &str = "a unit is copied for every possible CPU (1 GiB is 8 TiB for 8192 CPUs), \
                        where Linux's units are a few hundred KiB; put large per-CPU buffers in \
                        memory from the page allocator";
/// Why the areas inside a unit have their bound.
const INSIDE_UNIT_WHY: &str = "it lies inside a unit, which is at most 1 GiB because it is \
                               copied for every possible CPU";

/// A key of `percpu.toml`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Key {
    /// `page_size`.
    PageSize,
    /// `atom_size`.
    AtomSize,
    /// `reserved`.
    Reserved,
    /// `dynamic_reserve`.
    DynamicReserve,
    /// `early_reserve`.
    EarlyReserve,
    /// `min_unit_size`.
    MinUnitSize,
    /// `unit_size`.
    UnitSize,
    /// `max_alloc_size`.
    MaxAllocSize,
    /// `max_cpus`.
    MaxCpus,
    /// `first_chunk`.
    FirstChunk,
    /// `base_register`.
    BaseRegister,
    /// `empty_pages_low`.
    EmptyPagesLow,
    /// `empty_pages_high`.
    EmptyPagesHigh,
    /// `hot_lines`.
    HotLines,
}

/// How many keys there are (the length of the arrays indexed by `Key as usize`).
pub(super) const KEYS: usize = Key::ALL.len();

/// What kind of value a key takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    /// A size in bytes: an integer, or a string with a binary unit.
    Size,
    /// A whole number.
    Count,
    /// One of these strings.
    Choice(&'static [&'static str]),
}

impl Key {
    /// Every key, in documentation order.
    pub const ALL: [Key; 14] = [
        Key::PageSize,
        Key::AtomSize,
        Key::Reserved,
        Key::DynamicReserve,
        Key::EarlyReserve,
        Key::MinUnitSize,
        Key::UnitSize,
        Key::MaxAllocSize,
        Key::MaxCpus,
        Key::FirstChunk,
        Key::BaseRegister,
        Key::EmptyPagesLow,
        Key::EmptyPagesHigh,
        Key::HotLines,
    ];

    /// The key as written in `percpu.toml`.
    pub const fn name(self) -> &'static str {
        match self {
            Key::PageSize => "page_size",
            Key::AtomSize => "atom_size",
            Key::Reserved => "reserved",
            Key::DynamicReserve => "dynamic_reserve",
            Key::EarlyReserve => "early_reserve",
            Key::MinUnitSize => "min_unit_size",
            Key::UnitSize => "unit_size",
            Key::MaxAllocSize => "max_alloc_size",
            Key::MaxCpus => "max_cpus",
            Key::FirstChunk => "first_chunk",
            Key::BaseRegister => "base_register",
            Key::EmptyPagesLow => "empty_pages_low",
            Key::EmptyPagesHigh => "empty_pages_high",
            Key::HotLines => "hot_lines",
        }
    }

    /// The key named `name`.
    pub fn from_name(name: &str) -> Option<Key> {
        Key::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The kind of value the key takes.
    pub(super) fn kind(self) -> Kind {
        match self {
            Key::MaxCpus | Key::EmptyPagesLow | Key::EmptyPagesHigh | Key::HotLines => Kind::Count,
            Key::FirstChunk => Kind::Choice(FirstChunk::NAMES),
            Key::BaseRegister => Kind::Choice(BaseRegister::NAMES),
            _ => Kind::Size,
        }
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How the first chunk is set up at boot (`first_chunk`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FirstChunk {
    /// Allocate the units as whole atoms of contiguous memory (large pages possible).
    Embed,
    /// Map every page of every unit separately.
    Page,
    /// Embed, and fall back to page if that fails (Linux's behaviour).
    Auto,
}

impl FirstChunk {
    /// The names allowed in `percpu.toml`, in the order of [`FirstChunk::VALUES`].
    pub(super) const NAMES: &'static [&'static str] = &["embed", "page", "auto"];
    /// The values the names stand for.
    pub(super) const VALUES: [FirstChunk; 3] =
        [FirstChunk::Embed, FirstChunk::Page, FirstChunk::Auto];

    /// The value as written in `percpu.toml`.
    pub const fn name(self) -> &'static str {
        match self {
            FirstChunk::Embed => "embed",
            FirstChunk::Page => "page",
            FirstChunk::Auto => "auto",
        }
    }
}

/// Which register holds the per-CPU base (`base_register`): aarch64 chooses between
/// `TPIDR_EL1` and `TPIDR_EL2`, riscv64 between `tp` and `gp`, loongarch64 between `$r21` and
/// `$tp`; x86_64 has only `GS.base`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BaseRegister {
    /// `TPIDR_EL1`: the kernel runs at EL1 (the default on aarch64).
    El1,
    /// `TPIDR_EL2`: the kernel runs at EL2 (needs percpu-rt's `aarch64-el2` feature).
    El2,
    /// riscv64 `gp` (needs percpu-rt's `riscv64-gp` feature; the linker fragment then refuses a
    /// `__global_pointer$`, which the linker's gp relaxation would use).
    Gp,
    /// riscv64 `tp`, the psABI's thread pointer (the default on riscv64: no linker interaction);
    /// loongarch64 `$tp` (needs percpu-rt's `loongarch64-tp` feature).
    Tp,
    /// loongarch64 `$r21`, which the psABI reserves (the default on loongarch64; Linux keeps
    /// its per-CPU offset there).
    R21,
}

impl BaseRegister {
    /// The names allowed in `percpu.toml`, in the order of [`BaseRegister::VALUES`].
    pub(super) const NAMES: &'static [&'static str] = &["el1", "el2", "gp", "tp", "r21"];
    /// The values the names stand for.
    pub(super) const VALUES: [BaseRegister; 5] = [
        BaseRegister::El1,
        BaseRegister::El2,
        BaseRegister::Gp,
        BaseRegister::Tp,
        BaseRegister::R21,
    ];

    /// The value as written in `percpu.toml`.
    pub const fn name(self) -> &'static str {
        match self {
            BaseRegister::El1 => "el1",
            BaseRegister::El2 => "el2",
            BaseRegister::Gp => "gp",
            BaseRegister::Tp => "tp",
            BaseRegister::R21 => "r21",
        }
    }

    /// The register, as `percpu_rt::arch::BASE_REGISTER` names it.
    pub const fn register(self) -> &'static str {
        match self {
            BaseRegister::El1 => "TPIDR_EL1",
            BaseRegister::El2 => "TPIDR_EL2",
            BaseRegister::Gp => "gp",
            BaseRegister::Tp => "tp",
            BaseRegister::R21 => "r21",
        }
    }

    /// The choices on `arch` (`target_arch`), the default first; empty where there is no
    /// choice.
    pub fn choices(arch: &str) -> &'static [BaseRegister] {
        match arch {
            "aarch64" => &[BaseRegister::El1, BaseRegister::El2],
            "riscv64" => &[BaseRegister::Tp, BaseRegister::Gp],
            "loongarch64" => &[BaseRegister::R21, BaseRegister::Tp],
            _ => &[],
        }
    }

    /// The percpu-rt feature that selects this register on `arch` (on), or the default (off).
    pub fn runtime_feature(self, arch: &str) -> (&'static str, bool) {
        match self {
            BaseRegister::El1 => ("aarch64-el2", false),
            BaseRegister::El2 => ("aarch64-el2", true),
            BaseRegister::Gp => ("riscv64-gp", true),
            BaseRegister::Tp if arch == "loongarch64" => ("loongarch64-tp", true),
            BaseRegister::Tp => ("riscv64-gp", false),
            BaseRegister::R21 => ("loongarch64-tp", false),
        }
    }
}

/// The checks a value needs on its own, whatever the other keys say: its form, then its range.
pub(super) fn check_alone(key: Key, n: u64) -> Result<(), ErrorKind> {
    let granule = layout::MIN_ALLOC_SIZE as u64;
    match key {
        Key::PageSize | Key::AtomSize if !n.is_power_of_two() => {
            return Err(ErrorKind::NotPowerOfTwo { found: n });
        }
        Key::Reserved if n % granule != 0 => {
            return Err(ErrorKind::NotGranuleMultiple { found: n, zero_allowed: true });
        }
        Key::MaxAllocSize if n == 0 || n % granule != 0 => {
            return Err(ErrorKind::NotGranuleMultiple { found: n, zero_allowed: false });
        }
        _ => {}
    }
    let size = |min: usize, max: usize, why| {
        if (min as u64..=max as u64).contains(&n) {
            Ok(())
        } else {
            Err(ErrorKind::SizeOutOfRange { found: n, min: min as u64, max: max as u64, why })
        }
    };
    match key {
        Key::PageSize => size(MIN_PAGE_SIZE, MAX_PAGE_SIZE, PAGE_WHY),
        Key::AtomSize => size(0, MAX_ATOM_SIZE, ATOM_WHY),
        Key::MinUnitSize | Key::UnitSize => size(0, MAX_UNIT_SIZE, UNIT_WHY),
        Key::Reserved | Key::DynamicReserve | Key::EarlyReserve | Key::MaxAllocSize => {
            size(0, MAX_UNIT_SIZE, INSIDE_UNIT_WHY)
        }
        Key::MaxCpus if n == 0 || n > MAX_CPUS_LIMIT as u64 => Err(ErrorKind::OutOfRange {
            found: n,
            min: 1,
            max: MAX_CPUS_LIMIT as u64,
            why: "at least the boot CPU, at most Linux's largest NR_CPUS",
        }),
        Key::EmptyPagesLow | Key::EmptyPagesHigh if n > MAX_EMPTY_PAGES as u64 => {
            Err(ErrorKind::OutOfRange {
                found: n,
                min: 0,
                max: MAX_EMPTY_PAGES as u64,
                why: "an empty page stays populated in every CPU's unit: 65536 are 256 MiB per \
                      CPU with 4 KiB pages, where Linux keeps 2 to 4",
            })
        }
        Key::HotLines if n == 0 || n > MAX_HOT_LINES as u64 => Err(ErrorKind::OutOfRange {
            found: n,
            min: 1,
            max: MAX_HOT_LINES as u64,
            why: "percpu-rt's own hot statics take part of the first line; hot data is the few \
                  lines every CPU touches on its fast paths, and 64 lines are a whole 4 KiB page",
        }),
        Key::MaxCpus
        | Key::HotLines
        | Key::EmptyPagesLow
        | Key::EmptyPagesHigh
        | Key::FirstChunk
        | Key::BaseRegister => Ok(()),
    }
}
