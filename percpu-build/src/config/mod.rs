//! `percpu.toml`: the schema, Linux's defaults, Cargo-style per-target tables, and validation,
//! resolved for one target into a [`Config`].
//!
//! # The file
//!
//! ```toml
//! # Keys at the top level apply to every target.
//! max_cpus = 64
//! dynamic_reserve = "28 KiB"
//!
//! # Then every [target.'cfg(..)'] table whose expression holds for the target (at most one
//! # of them may set a given key) ...
//! [target.'cfg(target_arch = "x86_64")']
//! atom_size = "2 MiB"            # embed the first chunk in large pages
//!
//! # ... and last the [target.<triple>] table of the target being built.
//! [target.aarch64-unknown-none]
//! base_register = "el2"
//! ```
//!
//! Precedence is Cargo's: the triple table over `cfg` tables over the top level over the
//! defaults. `cfg(...)` is evaluated against the target being built (`CARGO_CFG_*` in a build
//! script). Every table is checked, including those that do not apply to this target, so a typo
//! in the aarch64 table is found by the x86_64 build too.
//!
//! # Keys
//!
//! Sizes are integers (bytes) or strings such as `"28 KiB"` (units B, KiB, MiB, GiB).
//!
//! | key | default | meaning (Linux name) |
//! |---|---|---|
//! | `page_size` | 4 KiB | MMU page size; a power of two |
//! | `atom_size` | `page_size` | first-chunk allocation granule; a power of two ≥ the page (2 MiB to embed in large pages) |
//! | `reserved` | 8 KiB | after the static area, for modules' static per-CPU data (`PERCPU_MODULE_RESERVE`) |
//! | `dynamic_reserve` | 28 KiB (20 KiB on 32-bit) | dynamic area of the first chunk (`PERCPU_DYNAMIC_RESERVE`) |
//! | `early_reserve` | 20 KiB | minimum dynamic area, for early allocations (`PERCPU_DYNAMIC_EARLY_SIZE`) |
//! | `min_unit_size` | 32 KiB | smallest unit (`PCPU_MIN_UNIT_SIZE`) |
//! | `unit_size` | none | a fixed unit: the link fails (`ERROR(percpu)`) when the static data does not fit |
//! | `max_alloc_size` | 32 KiB | largest dynamic allocation; at most the unit |
//! | `max_cpus` | 64 | most possible CPUs (`NR_CPUS`) |
//! | `first_chunk` | `"auto"` | `"embed"`, `"page"`, or `"auto"` (embed, falling back to page) |
//! | `base_register` | `"el1"` on aarch64, `"tp"` on riscv64, `"r21"` on loongarch64 | aarch64: `"el1"` (`TPIDR_EL1`) or `"el2"` (`TPIDR_EL2`); riscv64: `"tp"` or `"gp"` (then no `__global_pointer$`: the link fails); loongarch64: `"r21"` or `"tp"` (`$tp`); not on x86_64 |
//! | `empty_pages_low` / `empty_pages_high` | 2 / 4 | the dynamic allocator keeps between these many empty populated pages (`PCPU_EMPTY_POP_PAGES_LOW/HIGH`) |
//! | `hot_lines` | 1 | 64-byte cache lines for the `#[percpu(hot)]` statics, first in every unit; the link fails (`ERROR(percpu)`) beyond them (the budget of Linux's `DEFINE_PER_CPU_CACHE_HOT`) |
//!
//! # Limits
//!
//! Every value has a range, checked in every table (whether or not it applies to the target
//! being built), so that no value can make the layout arithmetic, the generated constants or
//! the linker fragment overflow:
//!
//! | key | allowed | why |
//! |---|---|---|
//! | `page_size` | 4 KiB to 256 KiB ([`MIN_PAGE_SIZE`], [`MAX_PAGE_SIZE`]) | Linux's base pages run from 4 KiB to 256 KiB (`PAGE_SIZE_256KB`); a larger page is a huge page, which belongs in `atom_size` |
//! | `atom_size` | `page_size` to 1 GiB ([`MAX_ATOM_SIZE`]) | the largest huge page (1 GiB on x86_64 and aarch64); the first chunk is allocated in whole atoms, so a larger one only wastes memory |
//! | `min_unit_size`, `unit_size` | at most 1 GiB ([`MAX_UNIT_SIZE`]) | a unit is copied for every possible CPU: 1 GiB is 8 TiB for 8192 CPUs, where Linux's units are a few hundred KiB |
//! | `reserved`, `dynamic_reserve`, `early_reserve`, `max_alloc_size` | at most 1 GiB | they lie inside a unit |
//! | all sizes together | a unit of at most 1 GiB; `max_cpus` units within the target's address space | as above |
//! | `max_cpus` | 1 to 8192 ([`MAX_CPUS_LIMIT`]) | Linux's largest `NR_CPUS` |
//! | `hot_lines` | 1 to 64 ([`MAX_HOT_LINES`]) | percpu-rt's own hot statics take part of the first line; hot data is the few lines every CPU touches on its fast paths, and 64 lines are a whole 4 KiB page |
//! | `empty_pages_low`, `empty_pages_high` | 0 to 65536 ([`MAX_EMPTY_PAGES`]) | an empty page stays populated in every CPU's unit: 65536 are 256 MiB per CPU with 4 KiB pages, where Linux keeps 2 to 4 |
//! | nesting | at most [`MAX_DEPTH`] levels | the file needs three (`[target.<triple>]` holding `key = value`); deeper documents are refused before they are built |
//! | the file | at most 1 MiB ([`MAX_CONFIG_SIZE`]), UTF-8 | a `percpu.toml` is a few hundred bytes; reading stops there (a device such as `/dev/zero` included) |

// Inside, each file imports only those before it: `schema.rs` (keys, kinds, defaults, limits:
// the ground floor); this file (the resolved `Config`, what it answers, where each value comes
// from); `read.rs` (the file and its tables, each value checked on its own); `resolve.rs`
// (precedence, defaults, the checks between keys, derived values; and `Config::load`, `parse`
// and `defaults`, which read and then resolve).

mod read;
mod resolve;
mod schema;

pub use schema::{
    BaseRegister, DEFAULT_EMPTY_PAGES_HIGH, DEFAULT_EMPTY_PAGES_LOW, DEFAULT_HOT_LINES,
    DEFAULT_MAX_ALLOC_SIZE, DEFAULT_MAX_CPUS, FirstChunk, Key, MAX_ATOM_SIZE, MAX_CONFIG_SIZE,
    MAX_CPUS_LIMIT, MAX_DEPTH, MAX_EMPTY_PAGES, MAX_HOT_LINES, MAX_PAGE_SIZE, MAX_UNIT_SIZE,
    MIN_PAGE_SIZE,
};

use crate::size::BytesExact;
use crate::tree::Position;
use core::fmt;
use percpu_rt::layout::LayoutParams;
use schema::{KEYS, Kind};

/// The path shown for a configuration made of defaults only.
pub const DEFAULTS_PATH: &str = "(defaults)";

/// Where a resolved value comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// Not set: the default for the target.
    Default,
    /// Set in the file.
    File {
        /// The table (`""` for the top level, `target.x86_64-unknown-none`,
        /// `target.'cfg(unix)'`).
        table: String,
        /// Position of the value.
        position: Position,
    },
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => f.write_str("the default"),
            Origin::File { table, position } if table.is_empty() => write!(f, "set at {position}"),
            Origin::File { table, position } => write!(f, "set in [{table}] at {position}"),
        }
    }
}

/// A `percpu.toml` resolved for one target and checked: every value the layout, the generated
/// constants and the linker fragment need.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    path: String,
    target: String,
    arch: String,
    pointer_width: u32,
    /// The size and count keys' values, by `Key as usize` (`UnitSize`, `FirstChunk` and
    /// `BaseRegister` have their own fields).
    values: [usize; KEYS],
    unit_size: Option<usize>,
    first_chunk: FirstChunk,
    base_register: Option<BaseRegister>,
    /// Every key's origin, by `Key as usize`.
    origins: [Origin; KEYS],
    max_static_size: Option<usize>,
}

impl Config {
    // Config::load, Config::parse and Config::defaults, which read and then resolve a file,
    // are in resolve.rs.

    /// The configuration file (or [`DEFAULTS_PATH`]).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The target triple it was resolved for.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The target's architecture (`target_arch`).
    pub fn arch(&self) -> &str {
        &self.arch
    }

    /// The target's pointer width in bits.
    pub fn pointer_width(&self) -> u32 {
        self.pointer_width
    }

    /// The value of a size or count key (`UnitSize`, `FirstChunk` and `BaseRegister` have
    /// their own fields).
    fn get(&self, key: Key) -> usize {
        self.values[key as usize]
    }

    /// `page_size`.
    pub fn page_size(&self) -> usize {
        self.get(Key::PageSize)
    }

    /// `atom_size`.
    pub fn atom_size(&self) -> usize {
        self.get(Key::AtomSize)
    }

    /// `reserved`.
    pub fn reserved(&self) -> usize {
        self.get(Key::Reserved)
    }

    /// `dynamic_reserve`.
    pub fn dynamic_reserve(&self) -> usize {
        self.get(Key::DynamicReserve)
    }

    /// `early_reserve`.
    pub fn early_reserve(&self) -> usize {
        self.get(Key::EarlyReserve)
    }

    /// `min_unit_size`.
    pub fn min_unit_size(&self) -> usize {
        self.get(Key::MinUnitSize)
    }

    /// `unit_size`, if the unit is fixed.
    pub fn unit_size(&self) -> Option<usize> {
        self.unit_size
    }

    /// `max_alloc_size`.
    pub fn max_alloc_size(&self) -> usize {
        self.get(Key::MaxAllocSize)
    }

    /// `max_cpus`.
    pub fn max_cpus(&self) -> usize {
        self.get(Key::MaxCpus)
    }

    /// `first_chunk`.
    pub fn first_chunk(&self) -> FirstChunk {
        self.first_chunk
    }

    /// `base_register` (`Some` exactly on aarch64, riscv64 and loongarch64 targets).
    pub fn base_register(&self) -> Option<BaseRegister> {
        self.base_register
    }

    /// `empty_pages_low`.
    pub fn empty_pages_low(&self) -> usize {
        self.get(Key::EmptyPagesLow)
    }

    /// `empty_pages_high`.
    pub fn empty_pages_high(&self) -> usize {
        self.get(Key::EmptyPagesHigh)
    }

    /// `hot_lines`: the budget of `#[percpu(hot)]` data, in 64-byte cache lines.
    pub fn hot_lines(&self) -> usize {
        self.get(Key::HotLines)
    }

    /// Where the value of `key` comes from.
    pub fn origin(&self, key: Key) -> &Origin {
        &self.origins[key as usize]
    }

    /// The layout parameters for `static_size` bytes of static per-CPU data: the input of
    /// `percpu_rt::layout::build_alloc_info`. With a fixed `unit_size`, that is the minimum
    /// unit, so the unit is exactly `unit_size` whenever the static data fits.
    pub fn layout_params(&self, static_size: usize) -> LayoutParams {
        LayoutParams {
            static_size,
            reserved_size: self.reserved(),
            dyn_size: self.dynamic_reserve(),
            early_dyn_size: self.early_reserve(),
            page_size: self.page_size(),
            atom_size: self.atom_size(),
            min_unit_size: self.unit_size.unwrap_or(self.min_unit_size()),
        }
    }

    /// With a fixed `unit_size`: the most static data that fits the unit, found with
    /// `percpu_rt::layout::unit_sizes` itself (the linker fragment asserts it).
    pub fn max_static_size(&self) -> Option<usize> {
        self.max_static_size
    }

    /// Where the static-size limit comes from, for the link-time message: the unit, the areas
    /// subtracted from it, and the file position.
    pub fn limit_origin(&self) -> Option<String> {
        let unit = self.unit_size?;
        let dynamic = self.dynamic_reserve().max(self.early_reserve());
        let at = match self.origin(Key::UnitSize) {
            Origin::File { position, .. } => format!("{}:{position}", self.path),
            Origin::Default => self.path.clone(),
        };
        Some(format!(
            "unit_size {} minus reserved {} and dynamic {}, set at {at} for {}",
            BytesExact(unit as u64),
            BytesExact(self.reserved() as u64),
            BytesExact(dynamic as u64),
            self.target
        ))
    }

    /// Every key's resolved value as text, with its origin, in documentation order (for
    /// reports and tests).
    pub fn settings(&self) -> Vec<(Key, String, &Origin)> {
        Key::ALL
            .into_iter()
            .map(|key| {
                let value = match key {
                    Key::UnitSize => match self.unit_size {
                        Some(u) => BytesExact(u as u64).to_string(),
                        None => "none (the unit follows the static size)".to_string(),
                    },
                    Key::FirstChunk => format!("{:?}", self.first_chunk.name()),
                    Key::BaseRegister => match self.base_register {
                        Some(r) => format!("{:?} ({})", r.name(), r.register()),
                        None => "none (no choice on this target)".to_string(),
                    },
                    k if k.kind() == Kind::Count => self.get(k).to_string(),
                    k => BytesExact(self.get(k) as u64).to_string(),
                };
                (key, value, self.origin(key))
            })
            .collect()
    }
}
