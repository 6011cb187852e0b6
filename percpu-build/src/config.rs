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
//! | `base_register` | `"el1"` on aarch64, `"tp"` on riscv64 | aarch64: `"el1"` (`TPIDR_EL1`) or `"el2"` (`TPIDR_EL2`); riscv64: `"tp"` or `"gp"` (then no `__global_pointer$`: the link fails); not on x86_64 |
//! | `empty_pages_low` / `empty_pages_high` | 2 / 4 | the dynamic allocator keeps between these many empty populated pages (`PCPU_EMPTY_POP_PAGES_LOW/HIGH`) |
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
//! | `empty_pages_low`, `empty_pages_high` | 0 to 65536 ([`MAX_EMPTY_PAGES`]) | an empty page stays populated in every CPU's unit: 65536 are 256 MiB per CPU with 4 KiB pages, where Linux keeps 2 to 4 |
//! | nesting | at most [`MAX_DEPTH`] levels | the file needs three (`[target.<triple>]` holding `key = value`); deeper documents are refused before they are built |
//! | the file | at most 1 MiB ([`MAX_CONFIG_SIZE`]), UTF-8 | a `percpu.toml` is a few hundred bytes; reading stops there (a device such as `/dev/zero` included) |

use crate::error::{ConfigError, ErrorKind};
use crate::size::{BytesExact, SIZE_ALLOWED, parse_size};
use crate::suggest::closest;
use crate::target::{TargetCfg, impossible_values};
use crate::tree::{self, Node, Position, SyntaxError, Value};
use cfg_expr::Expression;
use core::fmt;
use percpu_rt::layout::{self, LayoutParams};
use std::io::Read;
use std::path::Path;

/// Default `max_cpus`: the `NR_CPUS` of Linux's x86_64 defconfig.
pub const DEFAULT_MAX_CPUS: usize = 64;
/// Largest `max_cpus`: Linux's largest `NR_CPUS` (`CONFIG_MAXSMP`).
pub const MAX_CPUS_LIMIT: usize = 8192;
/// Default `empty_pages_low`: Linux's `PCPU_EMPTY_POP_PAGES_LOW`.
pub const DEFAULT_EMPTY_PAGES_LOW: usize = 2;
/// Default `empty_pages_high`: Linux's `PCPU_EMPTY_POP_PAGES_HIGH`.
pub const DEFAULT_EMPTY_PAGES_HIGH: usize = 4;
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

/// The path shown for a configuration made of defaults only.
pub const DEFAULTS_PATH: &str = "(defaults)";

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
}

/// What kind of value a key takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Size,
    Count,
    Choice(&'static [&'static str]),
}

impl Key {
    /// Every key, in documentation order.
    pub const ALL: [Key; 13] = [
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
        }
    }

    /// The key named `name`.
    pub fn from_name(name: &str) -> Option<Key> {
        Key::ALL.into_iter().find(|k| k.name() == name)
    }

    fn kind(self) -> Kind {
        match self {
            Key::MaxCpus | Key::EmptyPagesLow | Key::EmptyPagesHigh => Kind::Count,
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
    const NAMES: &'static [&'static str] = &["embed", "page", "auto"];
    const VALUES: [FirstChunk; 3] = [FirstChunk::Embed, FirstChunk::Page, FirstChunk::Auto];

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
/// `TPIDR_EL1` and `TPIDR_EL2`, riscv64 between `tp` and `gp`; x86_64 has only `GS.base`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BaseRegister {
    /// `TPIDR_EL1`: the kernel runs at EL1 (the default on aarch64).
    El1,
    /// `TPIDR_EL2`: the kernel runs at EL2 (needs percpu-rt's `aarch64-el2` feature).
    El2,
    /// riscv64 `gp` (needs percpu-rt's `riscv64-gp` feature; the linker fragment then refuses a
    /// `__global_pointer$`, which the linker's gp relaxation would use).
    Gp,
    /// riscv64 `tp`, the psABI's thread pointer (the default on riscv64: no linker interaction).
    Tp,
}

impl BaseRegister {
    const NAMES: &'static [&'static str] = &["el1", "el2", "gp", "tp"];
    const VALUES: [BaseRegister; 4] =
        [BaseRegister::El1, BaseRegister::El2, BaseRegister::Gp, BaseRegister::Tp];

    /// The value as written in `percpu.toml`.
    pub const fn name(self) -> &'static str {
        match self {
            BaseRegister::El1 => "el1",
            BaseRegister::El2 => "el2",
            BaseRegister::Gp => "gp",
            BaseRegister::Tp => "tp",
        }
    }

    /// The register, as `percpu_rt::arch::BASE_REGISTER` names it.
    pub const fn register(self) -> &'static str {
        match self {
            BaseRegister::El1 => "TPIDR_EL1",
            BaseRegister::El2 => "TPIDR_EL2",
            BaseRegister::Gp => "gp",
            BaseRegister::Tp => "tp",
        }
    }

    /// The choices on `arch` (`target_arch`), the default first; empty where there is no
    /// choice.
    pub fn choices(arch: &str) -> &'static [BaseRegister] {
        match arch {
            "aarch64" => &[BaseRegister::El1, BaseRegister::El2],
            "riscv64" => &[BaseRegister::Tp, BaseRegister::Gp],
            _ => &[],
        }
    }

    /// The percpu-rt feature that selects this register (on), or the default (off).
    pub const fn runtime_feature(self) -> (&'static str, bool) {
        match self {
            BaseRegister::El1 => ("aarch64-el2", false),
            BaseRegister::El2 => ("aarch64-el2", true),
            BaseRegister::Gp => ("riscv64-gp", true),
            BaseRegister::Tp => ("riscv64-gp", false),
        }
    }
}

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

/// A checked value of a key, before defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Raw {
    /// A size or count.
    Number(u64),
    /// The index of a choice.
    Choice(usize),
}

/// One `key = value` of a table, checked on its own.
#[derive(Clone, Debug)]
struct Entry {
    key: Key,
    value: Raw,
    position: Position,
}

/// Which targets a table applies to.
#[derive(Clone, Debug)]
enum Selector {
    Top,
    Triple(String),
    Cfg(Box<Expression>),
}

/// A table of keys: the top level, or one `[target.<x>]`.
#[derive(Clone, Debug)]
struct Table {
    /// `""`, `target.<triple>` or `target.'cfg(..)'`.
    name: String,
    selector: Selector,
    entries: Vec<Entry>,
}

/// A `percpu.toml` resolved for one target and checked: every value the layout, the generated
/// constants and the linker fragment need.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    path: String,
    target: String,
    arch: String,
    pointer_width: u32,
    values: [usize; 13],
    unit_size: Option<usize>,
    first_chunk: FirstChunk,
    base_register: Option<BaseRegister>,
    origins: [Origin; 13],
    max_static_size: Option<usize>,
}

/// Error-building context: the file's path and text.
struct Source<'a> {
    path: &'a str,
    text: &'a str,
}

impl Source<'_> {
    fn pos(&self, offset: usize) -> Position {
        Position::of(self.text, offset)
    }

    fn err(&self, position: Position, key: Option<String>, kind: ErrorKind) -> ConfigError {
        ConfigError::new(self.path, Some(position), key, kind)
    }
}

fn qualified(table: &str, key: &str) -> String {
    if table.is_empty() { key.to_string() } else { format!("{table}.{key}") }
}

impl Config {
    /// Reads and resolves the file at `path` for `target`.
    pub fn load(path: &Path, target: &TargetCfg) -> Result<Config, ConfigError> {
        let shown = path.display().to_string();
        let read_error =
            |message: String| ConfigError::new(&shown, None, None, ErrorKind::Read { message });
        // At most one byte more than allowed: a device such as /dev/zero ends here too.
        let mut bytes = Vec::new();
        std::fs::File::open(path)
            .and_then(|f| f.take(MAX_CONFIG_SIZE + 1).read_to_end(&mut bytes))
            .map_err(|e| read_error(e.to_string()))?;
        if bytes.len() as u64 > MAX_CONFIG_SIZE {
            return Err(read_error(format!(
                "it has more than {} (a percpu.toml is a few hundred bytes; is this the right \
                 file?)",
                crate::size::Bytes(MAX_CONFIG_SIZE)
            )));
        }
        let text = String::from_utf8(bytes).map_err(|e| {
            let valid = e.utf8_error().valid_up_to();
            let bytes = e.as_bytes();
            let before = String::from_utf8_lossy(&bytes[..valid]);
            let kind = ErrorKind::NotUtf8 { byte: bytes[valid] };
            ConfigError::new(&shown, Some(Position::of(&before, valid)), None, kind)
        })?;
        Config::parse(&text, &shown, target)
    }

    /// The defaults for `target` (Linux's values for its pointer width).
    pub fn defaults(target: &TargetCfg) -> Result<Config, ConfigError> {
        Config::parse("", DEFAULTS_PATH, target)
    }

    /// Resolves the text of a `percpu.toml` for `target`; `path` is what messages call it.
    pub fn parse(text: &str, path: &str, target: &TargetCfg) -> Result<Config, ConfigError> {
        let src = Source { path, text };
        let top = tree::parse(text).map_err(|e| match e {
            SyntaxError::Parser { message, offset } => {
                ConfigError::new(path, Some(src.pos(offset)), None, ErrorKind::Syntax { message })
            }
            SyntaxError::TooDeep { offset } => ConfigError::new(
                path,
                Some(src.pos(offset)),
                None,
                ErrorKind::TooDeep { max: MAX_DEPTH },
            ),
        })?;
        let tables = read_tables(&src, &top, target)?;
        resolve(&src, &tables, target)
    }

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

    /// `base_register` (`Some` exactly on aarch64 and riscv64 targets).
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

/// Reads every table of the document, checking each key and value on its own.
fn read_tables(
    src: &Source<'_>,
    top: &[(tree::Key, Node)],
    target: &TargetCfg,
) -> Result<Vec<Table>, ConfigError> {
    let mut tables = vec![Table { name: String::new(), selector: Selector::Top, entries: vec![] }];
    for (key, node) in top {
        if key.name != "target" {
            let entry = read_entry(src, "", key, node, true)?;
            tables[0].entries.push(entry);
            continue;
        }
        let Value::Table(targets) = &node.value else {
            return Err(src.err(
                src.pos(node.span.start),
                Some("target".into()),
                ErrorKind::NotATable { found: node.value.describe() },
            ));
        };
        for (tkey, tnode) in targets {
            let (name, selector) = read_selector(src, tkey, target)?;
            let Value::Table(entries) = &tnode.value else {
                return Err(src.err(
                    src.pos(tnode.span.start),
                    Some(name),
                    ErrorKind::NotATable { found: tnode.value.describe() },
                ));
            };
            let entries = entries
                .iter()
                .map(|(k, n)| read_entry(src, &name, k, n, false))
                .collect::<Result<Vec<_>, _>>()?;
            tables.push(Table { name, selector, entries });
        }
    }
    Ok(tables)
}

/// The name and selector of `[target.<key>]`.
fn read_selector(
    src: &Source<'_>,
    key: &tree::Key,
    target: &TargetCfg,
) -> Result<(String, Selector), ConfigError> {
    let raw = &key.name;
    let key_start = src.pos(key.span.start);
    if raw.starts_with("cfg(") {
        let name = format!("target.'{raw}'");
        let expr = Expression::parse(raw).map_err(|e| {
            // The cfg-expr span is relative to the text inside `cfg( )`, and the key is quoted.
            let quoted = usize::from(src.text[key.span.clone()].starts_with(['\'', '"']));
            let inner = if raw.ends_with(')') { 4 } else { 0 };
            let offset = key.span.start + quoted + inner + e.span.start;
            src.err(
                src.pos(offset),
                Some(name.clone()),
                ErrorKind::BadCfg { reason: e.reason.to_string() },
            )
        })?;
        if let Some((cfg_name, value, suggestion)) = impossible_values(&expr, target) {
            return Err(src.err(
                key_start,
                Some(name),
                ErrorKind::ImpossibleCfg { name: cfg_name, value, suggestion },
            ));
        }
        return Ok((name, Selector::Cfg(Box::new(expr))));
    }
    let name = format!("target.{raw}");
    if raw != target.triple() && TargetCfg::builtin(raw).is_none() {
        return Err(src.err(
            key_start,
            Some(name),
            ErrorKind::UnknownTriple { suggestion: TargetCfg::suggest_triple(raw) },
        ));
    }
    Ok((name, Selector::Triple(raw.clone())))
}

/// Checks one `key = value` on its own: a known key, a value of the right type and range.
fn read_entry(
    src: &Source<'_>,
    table: &str,
    key: &tree::Key,
    node: &Node,
    top_level: bool,
) -> Result<Entry, ConfigError> {
    let shown = qualified(table, &key.name);
    let Some(k) = Key::from_name(&key.name) else {
        let mut allowed: Vec<&'static str> = Key::ALL.iter().map(|k| k.name()).collect();
        if top_level {
            allowed.push("target");
        }
        let suggestion = closest(&key.name, allowed.iter().copied());
        return Err(src.err(
            src.pos(key.span.start),
            Some(shown),
            ErrorKind::UnknownKey { allowed, suggestion },
        ));
    };
    let position = src.pos(node.span.start);
    let err = |kind| src.err(position, Some(shown.clone()), kind);
    let value =
        match (k.kind(), &node.value) {
            (Kind::Size, Value::Integer(Some(i))) if *i < 0 => {
                return Err(err(ErrorKind::Negative { found: *i, allowed: SIZE_ALLOWED }));
            }
            (Kind::Size, Value::Integer(Some(i))) => Raw::Number(*i as u64),
            (Kind::Size, Value::String(s)) => Raw::Number(parse_size(s).map_err(|reason| {
                err(ErrorKind::BadSize { found: node.value.describe(), reason })
            })?),
            (Kind::Size, other) => {
                return Err(err(ErrorKind::WrongType {
                    found: other.describe(),
                    allowed: SIZE_ALLOWED,
                }));
            }
            (Kind::Count, Value::Integer(Some(i))) if *i < 0 => {
                return Err(err(ErrorKind::Negative { found: *i, allowed: "a whole number" }));
            }
            (Kind::Count, Value::Integer(Some(i))) => Raw::Number(*i as u64),
            (Kind::Count, other) => {
                return Err(err(ErrorKind::WrongType {
                    found: other.describe(),
                    allowed: "a whole number (a TOML integer, without quotes)",
                }));
            }
            (Kind::Choice(names), Value::String(s)) => match names.iter().position(|n| n == s) {
                Some(i) => Raw::Choice(i),
                None => {
                    return Err(err(ErrorKind::BadChoice {
                        found: node.value.describe(),
                        allowed: names,
                        suggestion: closest(s, names.iter().copied()),
                    }));
                }
            },
            (Kind::Choice(names), other) => {
                return Err(err(ErrorKind::WrongType {
                    found: other.describe(),
                    allowed: if names == FirstChunk::NAMES {
                        "one of the strings \"embed\", \"page\", \"auto\""
                    } else {
                        "one of the strings \"el1\", \"el2\" (aarch64), \"tp\", \"gp\" (riscv64)"
                    },
                }));
            }
        };
    if let Raw::Number(n) = value {
        check_alone(k, n).map_err(err)?;
    }
    Ok(Entry { key: k, value, position })
}

/// The checks a value needs on its own, whatever the other keys say: its form, then its range.
fn check_alone(key: Key, n: u64) -> Result<(), ErrorKind> {
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
        Key::MaxCpus
        | Key::EmptyPagesLow
        | Key::EmptyPagesHigh
        | Key::FirstChunk
        | Key::BaseRegister => Ok(()),
    }
}

/// The value each key takes for the target, with its origin: top level, then the matching
/// `cfg` tables (at most one per key), then the triple's table.
fn choose<'t>(
    src: &Source<'_>,
    tables: &'t [Table],
    target: &TargetCfg,
) -> Result<[Option<(&'t Entry, &'t str)>; 13], ConfigError> {
    let mut chosen: [Option<(&Entry, &str)>; 13] = [None; 13];
    for table in tables.iter().filter(|t| matches!(t.selector, Selector::Top)) {
        for e in &table.entries {
            chosen[e.key as usize] = Some((e, &table.name));
        }
    }
    let mut from_cfg: [Option<(&Entry, &str)>; 13] = [None; 13];
    for table in tables {
        let Selector::Cfg(expr) = &table.selector else { continue };
        if !target.matches(expr) {
            continue;
        }
        for e in &table.entries {
            if let Some((first, first_table)) = from_cfg[e.key as usize] {
                return Err(src.err(
                    e.position,
                    Some(qualified(&table.name, e.key.name())),
                    ErrorKind::Conflict {
                        other_table: first_table.to_string(),
                        other_position: first.position,
                        target: target.triple().to_string(),
                    },
                ));
            }
            from_cfg[e.key as usize] = Some((e, &table.name));
            chosen[e.key as usize] = Some((e, &table.name));
        }
    }
    for table in tables {
        if matches!(&table.selector, Selector::Triple(t) if t == target.triple()) {
            for e in &table.entries {
                chosen[e.key as usize] = Some((e, &table.name));
            }
        }
    }
    Ok(chosen)
}

/// Resolves the tables for the target, applies the defaults, and checks the keys together.
fn resolve(src: &Source<'_>, tables: &[Table], target: &TargetCfg) -> Result<Config, ConfigError> {
    let chosen = choose(src, tables, target)?;
    let pointer_width = target.pointer_width();
    let arch = target.arch().to_string();

    let number = |key: Key| match chosen[key as usize] {
        Some((Entry { value: Raw::Number(n), .. }, _)) => Some(*n),
        _ => None,
    };
    let choice = |key: Key| match chosen[key as usize] {
        Some((Entry { value: Raw::Choice(i), .. }, _)) => Some(*i),
        _ => None,
    };
    let origins: [Origin; 13] = core::array::from_fn(|i| match chosen[i] {
        Some((e, table)) => Origin::File { table: table.to_string(), position: e.position },
        None => Origin::Default,
    });
    let key_err = |key: Key, kind: ErrorKind| {
        let (position, shown) = match chosen[key as usize] {
            Some((e, table)) => (Some(e.position), qualified(table, key.name())),
            None => (None, key.name().to_string()),
        };
        ConfigError::new(src.path, position, Some(shown), kind)
    };

    // Every size must fit the target's address space.
    if pointer_width < 64 {
        let limit = 1u64 << pointer_width;
        for key in Key::ALL.into_iter().filter(|k| k.kind() == Kind::Size) {
            if let Some(n) = number(key).filter(|n| *n >= limit) {
                return Err(key_err(key, ErrorKind::TooLargeForTarget { found: n, pointer_width }));
            }
        }
    }
    let size = |key: Key, default: usize| number(key).map_or(default, |n| n as usize);

    let linux = LayoutParams::linux_defaults(0);
    let page = size(Key::PageSize, linux.page_size);
    let atom = size(Key::AtomSize, page);
    let reserved = size(Key::Reserved, layout::MODULE_RESERVE);
    let dynamic_default =
        if pointer_width > 32 { layout::DYNAMIC_RESERVE_64 } else { layout::DYNAMIC_RESERVE_32 };
    let dynamic = size(Key::DynamicReserve, dynamic_default);
    let early = size(Key::EarlyReserve, layout::DYNAMIC_EARLY_SIZE);
    let min_unit = size(Key::MinUnitSize, layout::MIN_UNIT_SIZE);
    let unit = number(Key::UnitSize).map(|n| n as usize);
    let unit_bound = unit.unwrap_or(min_unit);
    let max_alloc = size(Key::MaxAllocSize, DEFAULT_MAX_ALLOC_SIZE.min(unit_bound));
    let max_cpus = size(Key::MaxCpus, DEFAULT_MAX_CPUS);
    let first_chunk = choice(Key::FirstChunk).map_or(FirstChunk::Auto, |i| FirstChunk::VALUES[i]);
    let base_register = choice(Key::BaseRegister).map(|i| BaseRegister::VALUES[i]);
    let low = size(Key::EmptyPagesLow, DEFAULT_EMPTY_PAGES_LOW);
    let high = size(Key::EmptyPagesHigh, DEFAULT_EMPTY_PAGES_HIGH);

    // "page_size = 4 KiB (the default)": another key's value, in a message about this one.
    let other = |key: Key, value: usize| {
        format!("{key} = {} ({})", BytesExact(value as u64), origins[key as usize])
    };

    if atom < page {
        return Err(key_err(
            Key::AtomSize,
            ErrorKind::AtomBelowPage { atom: atom as u64, page: other(Key::PageSize, page) },
        ));
    }
    if first_chunk == FirstChunk::Page && atom > page {
        return Err(key_err(
            Key::AtomSize,
            ErrorKind::AtomWithPageFirstChunk {
                atom: atom as u64,
                page: other(Key::PageSize, page),
            },
        ));
    }
    if dynamic < early {
        if number(Key::DynamicReserve).is_some() {
            return Err(key_err(
                Key::DynamicReserve,
                ErrorKind::DynamicBelowEarly {
                    dynamic: dynamic as u64,
                    early: other(Key::EarlyReserve, early),
                },
            ));
        }
        // Only early_reserve was set: report it, against the default dynamic reserve.
        return Err(key_err(
            Key::EarlyReserve,
            ErrorKind::EarlyAboveDynamic {
                early: early as u64,
                dynamic: other(Key::DynamicReserve, dynamic),
            },
        ));
    }

    let mut config = Config {
        path: src.path.to_string(),
        target: target.triple().to_string(),
        arch: arch.clone(),
        pointer_width,
        values: [0; 13],
        unit_size: unit,
        first_chunk,
        base_register: None,
        origins: origins.clone(),
        max_static_size: None,
    };
    for (key, value) in [
        (Key::PageSize, page),
        (Key::AtomSize, atom),
        (Key::Reserved, reserved),
        (Key::DynamicReserve, dynamic),
        (Key::EarlyReserve, early),
        (Key::MinUnitSize, min_unit),
        (Key::MaxAllocSize, max_alloc),
        (Key::MaxCpus, max_cpus),
        (Key::EmptyPagesLow, low),
        (Key::EmptyPagesHigh, high),
    ] {
        config.values[key as usize] = value;
    }

    if let Some(unit) = unit {
        if unit % atom != 0 {
            return Err(key_err(
                Key::UnitSize,
                ErrorKind::UnitNotAtomMultiple {
                    unit: unit as u64,
                    atom: other(Key::AtomSize, atom),
                },
            ));
        }
        if unit < min_unit {
            return Err(key_err(
                Key::UnitSize,
                ErrorKind::UnitBelowMinUnit {
                    unit: unit as u64,
                    min_unit: other(Key::MinUnitSize, min_unit),
                },
            ));
        }
        let room = max_static_in_unit(&config, unit);
        if room.is_none_or(|r| r < page) {
            let needed = layout::unit_sizes(&config.layout_params(page))
                .map(|s| s.size_sum.div_ceil(atom) * atom)
                .unwrap_or(usize::MAX);
            return Err(key_err(
                Key::UnitSize,
                ErrorKind::UnitTooSmall {
                    unit: unit as u64,
                    static_room: room.unwrap_or(0) as u64,
                    reserved: other(Key::Reserved, reserved),
                    dynamic: other(Key::DynamicReserve, dynamic),
                    needed: needed as u64,
                },
            ));
        }
        config.max_static_size = room;
    }
    if max_alloc > unit_bound {
        let (bound_key, fixed) =
            if unit.is_some() { (Key::UnitSize, true) } else { (Key::MinUnitSize, false) };
        return Err(key_err(
            Key::MaxAllocSize,
            ErrorKind::MaxAllocAboveUnit {
                max_alloc: max_alloc as u64,
                unit: other(bound_key, unit_bound),
                fixed,
            },
        ));
    }
    if low > high {
        if number(Key::EmptyPagesLow).is_none() {
            // Only empty_pages_high was set: report it, against the default low mark.
            return Err(key_err(
                Key::EmptyPagesHigh,
                ErrorKind::EmptyPagesHighBelowLow {
                    high: high as u64,
                    low: format!(
                        "empty_pages_low = {low} ({})",
                        origins[Key::EmptyPagesLow as usize]
                    ),
                },
            ));
        }
        return Err(key_err(
            Key::EmptyPagesLow,
            ErrorKind::EmptyPagesInverted {
                low: low as u64,
                high: format!(
                    "empty_pages_high = {high} ({})",
                    origins[Key::EmptyPagesHigh as usize]
                ),
            },
        ));
    }
    let choices = BaseRegister::choices(&arch);
    config.base_register = match base_register {
        Some(r) if !choices.contains(&r) => {
            return Err(key_err(
                Key::BaseRegister,
                ErrorKind::BaseRegisterWrongArch {
                    value: r.name(),
                    arch,
                    target: target.triple().to_string(),
                    allowed: choices.iter().map(|c| c.name()).collect(),
                },
            ));
        }
        Some(r) => Some(r),
        None => choices.first().copied(),
    };
    // My own checks leave the sizes' magnitude: blame the largest size set in the file.
    let largest = Key::ALL
        .into_iter()
        .filter(|k| k.kind() == Kind::Size)
        .filter_map(|k| number(k).map(|n| (n, k)))
        .max();
    let blame = largest.map_or(Key::MaxCpus, |(_, k)| k);
    let unit_min = match layout::unit_sizes(&config.layout_params(0)) {
        Ok(sizes) => sizes.min_unit_size,
        Err(e) => return Err(key_err(blame, ErrorKind::Layout(e))),
    };
    if unit_min > MAX_UNIT_SIZE {
        return Err(key_err(
            blame,
            ErrorKind::UnitAboveLimit {
                found: largest.map_or(0, |(n, _)| n),
                unit: unit_min as u64,
                max: MAX_UNIT_SIZE as u64,
            },
        ));
    }
    let chunk = (unit_min as u128) * (max_cpus as u128);
    if chunk >> pointer_width.min(64) != 0 {
        return Err(key_err(
            blame,
            ErrorKind::ChunkTooLarge {
                found: largest.map_or(max_cpus as u64, |(n, _)| n),
                cpus: format!("max_cpus = {max_cpus} ({})", origins[Key::MaxCpus as usize]),
                unit: unit_min as u64,
                pointer_width,
            },
        ));
    }
    Ok(config)
}

/// The most static data a unit of exactly `unit` bytes holds, by `percpu_rt::layout::unit_sizes`
/// (a binary search: the arithmetic is percpu-rt's, never repeated here). `None` if not even an
/// empty static area fits.
fn max_static_in_unit(config: &Config, unit: usize) -> Option<usize> {
    let fits = |static_size: usize| {
        layout::unit_sizes(&config.layout_params(static_size)).is_ok_and(|s| s.size_sum <= unit)
    };
    if !fits(0) {
        return None;
    }
    // fits(lo) and !fits(hi): size_sum >= static_size, so unit + 1 never fits.
    let (mut lo, mut hi) = (0, unit + 1);
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if fits(mid) { lo = mid } else { hi = mid }
    }
    Some(lo)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(triple: &str) -> TargetCfg {
        TargetCfg::builtin(triple).unwrap()
    }

    #[test]
    fn base_register_choices_follow_the_architecture() {
        let text = "[target.'cfg(target_arch = \"riscv64\")']\nbase_register = \"gp\"\n\
                    [target.'cfg(target_arch = \"aarch64\")']\nbase_register = \"el2\"\n";
        let rv = Config::parse(text, "p.toml", &target("riscv64gc-unknown-none-elf")).unwrap();
        assert_eq!(rv.base_register(), Some(BaseRegister::Gp));
        let arm = Config::parse(text, "p.toml", &target("aarch64-unknown-none")).unwrap();
        assert_eq!(arm.base_register(), Some(BaseRegister::El2));
        let x86 = Config::parse(text, "p.toml", &target("x86_64-unknown-none")).unwrap();
        assert_eq!(x86.base_register(), None);
        let e = Config::parse(
            "base_register = \"el1\"",
            "p.toml",
            &target("riscv64gc-unknown-none-elf"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("allowed \"tp\", \"gp\" on riscv64"), "{e}");
    }

    #[test]
    fn defaults_follow_linux_for_the_pointer_width() {
        let c = Config::defaults(&target("x86_64-unknown-none")).unwrap();
        assert_eq!(c.dynamic_reserve(), layout::DYNAMIC_RESERVE_64);
        assert_eq!((c.page_size(), c.atom_size(), c.reserved()), (4096, 4096, 8192));
        assert_eq!(
            (c.early_reserve(), c.min_unit_size(), c.max_alloc_size()),
            (20480, 32768, 32768)
        );
        assert_eq!(c.base_register(), None);
        assert_eq!(
            c.layout_params(100),
            LayoutParams { static_size: 100, ..LayoutParams::linux_defaults(0) }
        );
        let c32 = Config::defaults(&target("i686-unknown-linux-gnu")).unwrap();
        assert_eq!(c32.dynamic_reserve(), layout::DYNAMIC_RESERVE_32);
        let arm = Config::defaults(&target("aarch64-unknown-none")).unwrap();
        assert_eq!(arm.base_register(), Some(BaseRegister::El1));
        let rv = Config::defaults(&target("riscv64gc-unknown-none-elf")).unwrap();
        assert_eq!(rv.base_register(), Some(BaseRegister::Tp));
    }

    #[test]
    fn fixed_unit_gives_the_static_limit_from_the_layout_arithmetic() {
        let t = target("x86_64-unknown-none");
        let c = Config::parse("unit_size = \"64 KiB\"", "p.toml", &t).unwrap();
        // 64 KiB - 8 KiB reserved - 28 KiB dynamic.
        assert_eq!(c.max_static_size(), Some(28 << 10));
        let fits = layout::unit_sizes(&c.layout_params(28 << 10)).unwrap();
        assert_eq!(fits.min_unit_size, 64 << 10);
        let over = layout::unit_sizes(&c.layout_params((28 << 10) + 1)).unwrap();
        assert!(over.min_unit_size > 64 << 10);
        assert_eq!(
            c.limit_origin().unwrap(),
            "unit_size 64 KiB (65536 bytes) minus reserved 8 KiB (8192 bytes) and dynamic 28 KiB \
             (28672 bytes), set at p.toml:1:13 for x86_64-unknown-none"
        );
    }

    #[test]
    fn triple_beats_cfg_beats_top_level() {
        let text = r#"
page_size = "16 KiB"
atom_size = "16 KiB"
[target.'cfg(target_arch = "aarch64")']
atom_size = "64 KiB"
[target.aarch64-unknown-none]
atom_size = "2 MiB"
"#;
        let c = Config::parse(text, "p.toml", &target("aarch64-unknown-none")).unwrap();
        assert_eq!(c.atom_size(), 2 << 20);
        let c = Config::parse(text, "p.toml", &target("aarch64-unknown-linux-gnu")).unwrap();
        assert_eq!(c.atom_size(), 64 << 10);
        let c = Config::parse(text, "p.toml", &target("x86_64-unknown-none")).unwrap();
        assert_eq!(c.atom_size(), 16 << 10);
        assert_eq!(
            c.origin(Key::AtomSize),
            &Origin::File { table: String::new(), position: Position { line: 3, column: 13 } }
        );
    }
}
