//! Resolving the tables of `percpu.toml` for one target into a [`Config`]: the value of each
//! key by precedence (the triple's table over the matching `cfg` tables, of which at most one
//! may set a key, over the top level), then the defaults, then the checks between keys, and the
//! derived values (`max_static_size` of a fixed unit, found with percpu-rt's layout arithmetic).
//!
//! The entry points, [`Config::load`], [`Config::parse`] and [`Config::defaults`], are here:
//! each reads (`read.rs`), then resolves.

use super::read::{self, Entry, KeyValue, Selector, Source, Table, qualified};
use super::schema::{
    BaseRegister, DEFAULT_EMPTY_PAGES_HIGH, DEFAULT_EMPTY_PAGES_LOW, DEFAULT_HOT_LINES,
    DEFAULT_MAX_ALLOC_SIZE, DEFAULT_MAX_CPUS, FIRST_CHUNK_MODES, KEYS, Key, Kind, MAX_UNIT_SIZE,
};
use super::{Config, DEFAULTS_PATH, Origin};
use crate::error::{ConfigError, ErrorKind};
use crate::size::BytesExact;
use crate::target::TargetCfg;
use percpu_rt::FirstChunkMode;
use percpu_rt::layout::{self, LayoutParams};
use std::path::Path;

impl Config {
    /// Reads and resolves the file at `path` for `target`.
    pub fn load(path: &Path, target: &TargetCfg) -> Result<Config, ConfigError> {
        let shown = path.display().to_string();
        let text = read::read_file(path, &shown)?;
        Config::parse(&text, &shown, target)
    }

    /// The defaults for `target` (Linux's values for its pointer width).
    pub fn defaults(target: &TargetCfg) -> Result<Config, ConfigError> {
        Config::parse("", DEFAULTS_PATH, target)
    }

    /// Resolves the text of a `percpu.toml` for `target`; `path` is what messages call it.
    pub fn parse(text: &str, path: &str, target: &TargetCfg) -> Result<Config, ConfigError> {
        let src = Source { path, text };
        let tables = read::read_document(&src, target)?;
        resolve(&src, &tables, target)
    }
}

/// The value each key takes for the target, with its origin: top level, then the matching
/// `cfg` tables (at most one per key), then the triple's table.
fn choose<'t>(
    src: &Source<'_>,
    tables: &'t [Table],
    target: &TargetCfg,
) -> Result<[Option<(&'t Entry, &'t str)>; KEYS], ConfigError> {
    let mut chosen: [Option<(&Entry, &str)>; KEYS] = [None; KEYS];
    for table in tables.iter().filter(|t| matches!(t.selector, Selector::Top)) {
        for e in &table.entries {
            chosen[e.key as usize] = Some((e, &table.name));
        }
    }
    let mut from_cfg: [Option<(&Entry, &str)>; KEYS] = [None; KEYS];
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
        Some((Entry { value: KeyValue::Number(n), .. }, _)) => Some(*n),
        _ => None,
    };
    let choice = |key: Key| match chosen[key as usize] {
        Some((Entry { value: KeyValue::Choice(i), .. }, _)) => Some(*i),
        _ => None,
    };
    let origins: [Origin; KEYS] = core::array::from_fn(|i| match chosen[i] {
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
    let first_chunk =
        choice(Key::FirstChunk).map_or(FirstChunkMode::Auto, |i| FIRST_CHUNK_MODES[i]);
    let base_register = choice(Key::BaseRegister).map(|i| BaseRegister::VALUES[i]);
    let low = size(Key::EmptyPagesLow, DEFAULT_EMPTY_PAGES_LOW);
    let high = size(Key::EmptyPagesHigh, DEFAULT_EMPTY_PAGES_HIGH);
    let hot_lines = size(Key::HotLines, DEFAULT_HOT_LINES);

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
    if first_chunk == FirstChunkMode::Page && atom > page {
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
        values: [0; KEYS],
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
        (Key::HotLines, hot_lines),
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
    use crate::tree::Position;

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
