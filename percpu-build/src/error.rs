//! Configuration errors: what went wrong ([`ErrorKind`]) and where ([`ConfigError`]).
//!
//! Every message has the form compilers use, so editors can jump to it:
//!
//! ```text
//! percpu.toml:4:19: key `atom_size`: found 2 KiB (2048 bytes), allowed at least page_size = 4 KiB (the default) ...
//! ```
//!
//! that is `path:line:column: key `name`: found <what is there>, allowed <what may be there>`,
//! and where it helps, what to change.
//!
//! Every error of a file's text has a line and column: TOML syntax errors (the parser's own
//! position, or the place found by re-parsing prefixes when it gives none), nesting past
//! [`MAX_DEPTH`](crate::config::MAX_DEPTH) levels, bytes that are not UTF-8, and every key error.
//! An error about two keys is put on the key the file sets; when the other one is not set, the
//! message names it with its default value, marked `(the default)`:
//!
//! ```text
//! percpu.toml:1:20: key `empty_pages_high`: found 1, allowed at least empty_pages_low = 2 (the default); ...
//! ```
//!
//! Only two errors have no position: a file that cannot be read, and a target whose defaults
//! alone do not fit its address space (16-bit targets), whose message names the default.

use crate::size::{Bytes, BytesExact, SIZE_ALLOWED, SizeError};
use crate::tree::Position;
use core::fmt;
use percpu_rt::layout::LayoutError;

/// A `percpu.toml` that cannot be used, with the file, position and key it is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError(Box<Details>);

/// The contents of a [`ConfigError`] (boxed: errors are rare, results are common).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Details {
    path: String,
    position: Option<Position>,
    key: Option<String>,
    kind: ErrorKind,
}

impl ConfigError {
    pub(crate) fn new(
        path: &str,
        position: Option<Position>,
        key: Option<String>,
        kind: ErrorKind,
    ) -> Self {
        ConfigError(Box::new(Details { path: path.to_string(), position, key, kind }))
    }

    /// The configuration file, as given.
    pub fn path(&self) -> &str {
        &self.0.path
    }

    /// Line and column of the offending key or value, when the error is about one.
    pub fn position(&self) -> Option<Position> {
        self.0.position
    }

    /// The offending key, with its table (`atom_size`, `target.aarch64-unknown-none.atom_size`).
    pub fn key(&self) -> Option<&str> {
        self.0.key.as_deref()
    }

    /// What is wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.0.kind
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = &self.0;
        f.write_str(&d.path)?;
        if let Some(p) = d.position {
            write!(f, ":{p}")?;
        }
        f.write_str(": ")?;
        if let Some(key) = &d.key {
            write!(f, "key `{key}`: ")?;
        }
        write!(f, "{}", d.kind)
    }
}

impl std::error::Error for ConfigError {}

/// What is wrong with a configuration. The `Display` is the message after `key `name`: `.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The file named explicitly cannot be read.
    Read {
        /// The operating system's message.
        message: String,
    },
    /// The file is not valid TOML.
    Syntax {
        /// The TOML parser's message.
        message: String,
    },
    /// The file is not UTF-8 text.
    NotUtf8 {
        /// The first byte that is not part of a UTF-8 character.
        byte: u8,
    },
    /// A value nested deeper than [`MAX_DEPTH`](crate::config::MAX_DEPTH) levels.
    TooDeep {
        /// The limit.
        max: usize,
    },
    /// A key this schema does not have.
    UnknownKey {
        /// The keys allowed in this table.
        allowed: Vec<&'static str>,
        /// The key that was probably meant.
        suggestion: Option<&'static str>,
    },
    /// A value of the wrong TOML type.
    WrongType {
        /// The value found (type and text).
        found: String,
        /// What the key takes.
        allowed: &'static str,
    },
    /// A size string that does not parse.
    BadSize {
        /// The value found.
        found: String,
        /// Why it does not parse.
        reason: SizeError,
    },
    /// A negative integer where a size or count is expected.
    Negative {
        /// The value found.
        found: i64,
        /// What the key takes.
        allowed: &'static str,
    },
    /// A size that must be a power of two and is not (`page_size`, `atom_size`).
    NotPowerOfTwo {
        /// The value found.
        found: u64,
    },
    /// A size that must be a multiple of the 4-byte allocation granule and is not.
    NotGranuleMultiple {
        /// The value found.
        found: u64,
        /// Whether 0 is allowed.
        zero_allowed: bool,
    },
    /// A size outside its range (every size key has an upper bound).
    SizeOutOfRange {
        /// The value found.
        found: u64,
        /// Smallest allowed value.
        min: u64,
        /// Largest allowed value.
        max: u64,
        /// Why the range is what it is, and what to do instead.
        why: &'static str,
    },
    /// A count outside its range.
    OutOfRange {
        /// The value found.
        found: u64,
        /// Smallest allowed value.
        min: u64,
        /// Largest allowed value.
        max: u64,
        /// Why the range is what it is.
        why: &'static str,
    },
    /// A string that is not one of the key's choices.
    BadChoice {
        /// The value found.
        found: String,
        /// The choices.
        allowed: &'static [&'static str],
        /// The choice that was probably meant.
        suggestion: Option<&'static str>,
    },
    /// `target` or an entry of it is not a table.
    NotATable {
        /// The value found.
        found: String,
    },
    /// A `[target.'cfg(..)']` key that `cfg-expr` cannot parse.
    BadCfg {
        /// The parser's reason.
        reason: String,
    },
    /// A `cfg(..)` testing a `target_arch`/`target_os` value that no target has.
    ImpossibleCfg {
        /// `target_arch` or `target_os`.
        name: &'static str,
        /// The value that no target has.
        value: String,
        /// The closest real value.
        suggestion: Option<String>,
    },
    /// A `[target.<triple>]` naming a triple rustc does not know (and that is not the target
    /// being built).
    UnknownTriple {
        /// The closest built-in triple.
        suggestion: Option<&'static str>,
    },
    /// Two `[target.'cfg(..)']` tables that both match the target set the same key.
    Conflict {
        /// The other table.
        other_table: String,
        /// Where the other table sets the key.
        other_position: Position,
        /// The target.
        target: String,
    },
    /// `atom_size` below `page_size`.
    AtomBelowPage {
        /// The atom size.
        atom: u64,
        /// The page size, with where it comes from.
        page: String,
    },
    /// `atom_size` above the page size with `first_chunk = "page"`.
    AtomWithPageFirstChunk {
        /// The atom size.
        atom: u64,
        /// The page size, with where it comes from.
        page: String,
    },
    /// `dynamic_reserve` below `early_reserve`.
    DynamicBelowEarly {
        /// The dynamic reserve.
        dynamic: u64,
        /// The early minimum, with where it comes from.
        early: String,
    },
    /// `early_reserve` above the (default) `dynamic_reserve`.
    EarlyAboveDynamic {
        /// The early minimum.
        early: u64,
        /// The dynamic reserve, with where it comes from.
        dynamic: String,
    },
    /// `unit_size` not a multiple of the atom.
    UnitNotAtomMultiple {
        /// The unit size.
        unit: u64,
        /// The atom size, with where it comes from.
        atom: String,
    },
    /// `unit_size` below `min_unit_size`.
    UnitBelowMinUnit {
        /// The unit size.
        unit: u64,
        /// The minimum unit size, with where it comes from.
        min_unit: String,
    },
    /// `unit_size` leaves less than one page for static data.
    UnitTooSmall {
        /// The unit size.
        unit: u64,
        /// Bytes left for static data (possibly 0).
        static_room: u64,
        /// `reserved`, with where it comes from.
        reserved: String,
        /// The dynamic area, with where it comes from.
        dynamic: String,
        /// The smallest unit that leaves one page of static area.
        needed: u64,
    },
    /// `max_alloc_size` above the unit size.
    MaxAllocAboveUnit {
        /// The largest allocation asked for.
        max_alloc: u64,
        /// The unit size bound, with where it comes from.
        unit: String,
        /// Whether the unit is fixed (`unit_size`) or only bounded below (`min_unit_size`).
        fixed: bool,
    },
    /// `empty_pages_low` above `empty_pages_high`.
    EmptyPagesInverted {
        /// The low mark.
        low: u64,
        /// The high mark, with where it comes from.
        high: String,
    },
    /// `empty_pages_high`, set alone, below the default `empty_pages_low`.
    EmptyPagesHighBelowLow {
        /// The high mark.
        high: u64,
        /// The low mark, with where it comes from.
        low: String,
    },
    /// `base_register` set to a register the target's architecture does not have.
    BaseRegisterWrongArch {
        /// The value set (`el1`, `el2`, `gp`, `tp` or `r21`).
        value: &'static str,
        /// The target's architecture.
        arch: String,
        /// The target triple.
        target: String,
        /// The values allowed on that architecture (none on x86_64).
        allowed: Vec<&'static str>,
    },
    /// A size larger than the target's address space.
    TooLargeForTarget {
        /// The value found.
        found: u64,
        /// The target's pointer width in bits.
        pointer_width: u32,
    },
    /// The smallest unit of the configuration is larger than
    /// [`MAX_UNIT_SIZE`](crate::config::MAX_UNIT_SIZE).
    UnitAboveLimit {
        /// The value found (the largest size set).
        found: u64,
        /// The smallest unit of this configuration.
        unit: u64,
        /// The largest unit allowed.
        max: u64,
    },
    /// `max_cpus` units do not fit the target's address space.
    ChunkTooLarge {
        /// The value found (the largest size set).
        found: u64,
        /// `max_cpus`, with where it comes from.
        cpus: String,
        /// The smallest unit of this configuration.
        unit: u64,
        /// The target's pointer width in bits.
        pointer_width: u32,
    },
    /// The layout arithmetic of percpu-rt rejects the combination.
    Layout(LayoutError),
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ErrorKind as K;
        match self {
            K::Read { message } => write!(
                f,
                "cannot read the configuration file: {message}; allowed: an existing percpu.toml \
                 (only the default path $CARGO_MANIFEST_DIR/percpu.toml may be missing, meaning \
                 Linux's defaults)"
            ),
            K::Syntax { message } => write!(f, "TOML syntax error: {message}"),
            K::NotUtf8 { byte } => write!(
                f,
                "found the byte {byte:#04x}, which is not UTF-8; allowed a UTF-8 text file, as \
                 TOML requires: save percpu.toml as UTF-8"
            ),
            K::TooDeep { max } => write!(
                f,
                "found a value nested more than {max} levels deep (table headers, dotted keys, \
                 arrays and inline tables), allowed at most {max}; percpu.toml needs three: \
                 [target.<triple>] holding key = value"
            ),
            K::UnknownKey { allowed, suggestion } => {
                write!(f, "found an unknown key, allowed {}", allowed.join(", "))?;
                if let Some(s) = suggestion {
                    write!(f, "; did you mean `{s}`?")?;
                }
                Ok(())
            }
            K::WrongType { found, allowed } => write!(f, "found {found}, allowed {allowed}"),
            K::BadSize { found, reason } => {
                write!(f, "found {found}, allowed {SIZE_ALLOWED}; {reason}")
            }
            K::Negative { found, allowed } => {
                write!(f, "found the integer {found}, allowed {allowed}; it cannot be negative")
            }
            K::NotPowerOfTwo { found } => write!(
                f,
                "found {}, allowed a power of two (e.g. 4 KiB, 16 KiB, 64 KiB, 2 MiB)",
                BytesExact(*found)
            ),
            K::NotGranuleMultiple { found, zero_allowed } => {
                let gran = percpu_rt::layout::MIN_ALLOC_SIZE as u64;
                let which = if *zero_allowed { "a" } else { "a non-zero" };
                write!(
                    f,
                    "found {}, allowed {which} multiple of {gran} bytes (the allocation granule, \
                     PCPU_MIN_ALLOC_SIZE); use {} bytes",
                    BytesExact(*found),
                    found.div_ceil(gran).max(1) * gran
                )
            }
            K::SizeOutOfRange { found, min, max, why } => {
                write!(f, "found {}, allowed ", BytesExact(*found))?;
                if *min == 0 {
                    write!(f, "at most {}", Bytes(*max))?;
                } else {
                    write!(f, "{} to {}", Bytes(*min), Bytes(*max))?;
                }
                write!(f, ": {why}")
            }
            K::OutOfRange { found, min, max, why } => {
                write!(f, "found {found}, allowed {min} to {max} ({why})")
            }
            K::BadChoice { found, allowed, suggestion } => {
                let list: Vec<String> = allowed.iter().map(|a| format!("{a:?}")).collect();
                write!(f, "found {found}, allowed one of {}", list.join(", "))?;
                if let Some(s) = suggestion {
                    write!(f, "; did you mean {s:?}?")?;
                }
                Ok(())
            }
            K::NotATable { found } => write!(
                f,
                "found {found}, allowed a table: [target.<triple>] or [target.'cfg(...)'] holding \
                 the keys to override for that target"
            ),
            K::BadCfg { reason } => write!(
                f,
                "found an invalid cfg expression ({reason}), allowed cfg(<predicate>) as Cargo \
                 accepts it, e.g. cfg(target_arch = \"aarch64\") or cfg(all(unix, \
                 target_pointer_width = \"64\"))"
            ),
            K::ImpossibleCfg { name, value, suggestion } => {
                write!(
                    f,
                    "found {name} = \"{value}\", which no rustc target has, so this table never \
                     applies; allowed a {name} of a real target"
                )?;
                if let Some(s) = suggestion {
                    write!(f, "; did you mean {name} = \"{s}\"?")?;
                }
                Ok(())
            }
            K::UnknownTriple { suggestion } => {
                f.write_str(
                    "found a target triple rustc does not know, so this table never applies; \
                     allowed a built-in target triple, or the triple being built, or \
                     [target.'cfg(...)'] for a custom target",
                )?;
                if let Some(s) = suggestion {
                    write!(f, "; did you mean `{s}`?")?;
                }
                Ok(())
            }
            K::Conflict { other_table, other_position, target } => write!(
                f,
                "found a second value for {target}: [{other_table}] (at {other_position}) also \
                 matches and sets this key, allowed one matching cfg table per key; make the cfg \
                 expressions exclusive, or set the key in [target.{target}], which takes \
                 precedence over cfg tables"
            ),
            K::AtomBelowPage { atom, page } => write!(
                f,
                "found {}, allowed at least {page}; the atom is the first chunk's allocation \
                 granule: use the page size or a large-page size",
                BytesExact(*atom)
            ),
            K::AtomWithPageFirstChunk { atom, page } => write!(
                f,
                "found {} with first_chunk = \"page\", allowed {page}; the page first chunk maps \
                 page by page, so a larger atom only applies to \"embed\" or \"auto\"",
                BytesExact(*atom)
            ),
            K::DynamicBelowEarly { dynamic, early } => write!(
                f,
                "found {}, allowed at least {early}; early allocations need that much dynamic \
                 area (Linux keeps PERCPU_DYNAMIC_RESERVE >= PERCPU_DYNAMIC_EARLY_SIZE): raise \
                 dynamic_reserve or lower early_reserve",
                BytesExact(*dynamic)
            ),
            K::EarlyAboveDynamic { early, dynamic } => write!(
                f,
                "found {}, allowed at most {dynamic}; the dynamic area is never smaller than the \
                 early minimum, so raise dynamic_reserve along with early_reserve",
                BytesExact(*early)
            ),
            K::UnitNotAtomMultiple { unit, atom } => write!(
                f,
                "found {}, allowed a multiple of {atom}, so that every CPU's unit is exactly \
                 unit_size",
                BytesExact(*unit)
            ),
            K::UnitBelowMinUnit { unit, min_unit } => write!(
                f,
                "found {}, allowed at least {min_unit}; raise unit_size or lower min_unit_size",
                BytesExact(*unit)
            ),
            K::UnitTooSmall { unit, static_room, reserved, dynamic, needed } => write!(
                f,
                "found {}, which leaves {} for static data after {reserved} and {dynamic}, \
                 allowed at least {} (one page of static data); raise unit_size, or lower \
                 reserved or dynamic_reserve",
                BytesExact(*unit),
                BytesExact(*static_room),
                BytesExact(*needed)
            ),
            K::MaxAllocAboveUnit { max_alloc, unit, fixed } => {
                write!(f, "found {}, allowed at most {unit}", BytesExact(*max_alloc))?;
                if *fixed {
                    f.write_str("; an allocation cannot be larger than a unit")
                } else {
                    f.write_str(
                        "; an allocation cannot be larger than a unit, and without unit_size the \
                         unit is only known to be at least min_unit_size: raise min_unit_size or \
                         set unit_size",
                    )
                }
            }
            K::EmptyPagesInverted { low, high } => write!(
                f,
                "found {low}, allowed at most {high}; the allocator populates pages when fewer \
                 than empty_pages_low are free and releases them above empty_pages_high"
            ),
            K::EmptyPagesHighBelowLow { high, low } => write!(
                f,
                "found {high}, allowed at least {low}; the allocator populates pages when fewer \
                 than empty_pages_low are free and releases them above empty_pages_high: raise \
                 empty_pages_high, or set empty_pages_low below it"
            ),
            K::BaseRegisterWrongArch { value, arch, target, allowed } => {
                let home = match *value {
                    v if v.starts_with("el") => "aarch64",
                    "r21" => "loongarch64",
                    _ if arch == "riscv64" => "loongarch64",
                    _ => "riscv64",
                };
                write!(
                    f,
                    "found base_register = \"{value}\" for {target} (target_arch = \"{arch}\"), "
                )?;
                if allowed.is_empty() {
                    write!(
                        f,
                        "allowed only on aarch64 (\"el1\", \"el2\"), riscv64 (\"tp\", \"gp\") and \
                         loongarch64 (\"r21\", \"tp\") targets"
                    )?;
                } else {
                    let list: Vec<String> = allowed.iter().map(|a| format!("\"{a}\"")).collect();
                    write!(f, "allowed {} on {arch}", list.join(", "))?;
                }
                write!(f, "; move it to [target.'cfg(target_arch = \"{home}\")']")
            }
            K::TooLargeForTarget { found, pointer_width } => write!(
                f,
                "found {}, allowed less than {} on this {pointer_width}-bit target",
                BytesExact(*found),
                Bytes(1u64.checked_shl(*pointer_width).unwrap_or(0))
            ),
            K::UnitAboveLimit { found, unit, max } => write!(
                f,
                "found {}, which makes every unit at least {}: allowed sizes whose unit is at most \
                 {} (a unit is copied for every possible CPU); lower reserved, dynamic_reserve, \
                 early_reserve or min_unit_size",
                BytesExact(*found),
                BytesExact(*unit),
                Bytes(*max)
            ),
            K::ChunkTooLarge { found, cpus, unit, pointer_width } => write!(
                f,
                "found {}, which makes every unit at least {}: allowed sizes whose {cpus} units \
                 fit the {pointer_width}-bit address space",
                BytesExact(*found),
                BytesExact(*unit)
            ),
            K::Layout(e) => write!(f, "found sizes the unit layout rejects: {e}"),
        }
    }
}
