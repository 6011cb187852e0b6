//! The unit layout a configuration gives a static size, as report data: `static | reserved |
//! dynamic | unused`, the unit and allocation sizes, and the memory for the possible CPUs. All
//! the arithmetic is `percpu_rt::layout::build_alloc_info`, the function the boot code runs.

use crate::config::Config;
use percpu_rt::CpuId;
use percpu_rt::layout::{LayoutError, build_alloc_info};

/// One unit's layout, and the first chunk's for `cpus` possible CPUs (one group).
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "inspect", derive(serde::Serialize))]
pub struct UnitLayout {
    /// Target triple of the configuration.
    pub target: String,
    /// The configuration file (or `(defaults)`).
    pub config: String,
    /// Possible CPUs the chunk is laid out for.
    pub cpus: usize,
    /// Bytes of static data at the start of every unit.
    pub static_size: usize,
    /// Bytes reserved for modules after the static data.
    pub reserved_size: usize,
    /// Bytes of dynamic area (after page rounding).
    pub dynamic_size: usize,
    /// Bytes of the unit past the dynamic area (minimum unit or atom rounding).
    pub unused_size: usize,
    /// Bytes per unit.
    pub unit_size: usize,
    /// Page size.
    pub page_size: usize,
    /// Allocation granule of the first chunk.
    pub atom_size: usize,
    /// Bytes per allocation of units.
    pub alloc_size: usize,
    /// Units per allocation.
    pub units_per_alloc: usize,
    /// Units in the first chunk (including units no CPU uses).
    pub nr_units: usize,
    /// Bytes of the first chunk: `nr_units * unit_size`.
    pub total_size: usize,
    /// With a fixed `unit_size`: the most static data that fits it.
    pub max_static_size: Option<usize>,
    /// Whether the static data is over that limit (the link would have failed).
    pub over_limit: bool,
    /// `hot_lines`: the cache lines `#[percpu(hot)]` statics may take.
    pub hot_lines: usize,
    /// The same in bytes.
    pub hot_budget: usize,
    /// Linux's `pcpu-alloc:` lines for this layout.
    pub dump: Vec<String>,
}

/// The layout `config` gives `static_size` bytes of static data on `cpus` possible CPUs
/// (numbered from 0, one group).
pub fn unit_layout(
    config: &Config,
    static_size: usize,
    cpus: usize,
) -> Result<UnitLayout, LayoutError> {
    let possible: Vec<CpuId> = (0..cpus).map(|c| CpuId::new(c as u32)).collect();
    let info = build_alloc_info(&config.layout_params(static_size), &possible, None)?;
    // build_alloc_info checked that the chunk fits the address space.
    let total_size =
        info.nr_units().checked_mul(info.unit_size).ok_or(LayoutError::ChunkTooLarge {
            unit_size: info.unit_size,
            nr_units: info.nr_units(),
        })?;
    let mut dump = String::new();
    info.dump(&mut dump).expect("writing to a String cannot fail");
    Ok(UnitLayout {
        target: config.target().to_string(),
        config: config.path().to_string(),
        cpus,
        static_size: info.static_size,
        reserved_size: info.reserved_size,
        dynamic_size: info.dyn_size,
        unused_size: info.unit_size.saturating_sub(info.size_sum()),
        unit_size: info.unit_size,
        page_size: config.page_size(),
        atom_size: info.atom_size,
        alloc_size: info.alloc_size,
        units_per_alloc: info.units_per_alloc(),
        nr_units: info.nr_units(),
        total_size,
        hot_lines: config.hot_lines(),
        hot_budget: config.hot_lines() * percpu_rt::linker::CACHE_LINE,
        max_static_size: config.max_static_size(),
        over_limit: config.max_static_size().is_some_and(|max| static_size > max),
        dump: dump.lines().map(str::to_string).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::TargetCfg;

    #[test]
    fn linux_arm64_example_through_the_config() {
        // Linux's arm64 boot line for these inputs: s82280 r8192 d32408 u122880 alloc=30*4096.
        let t = TargetCfg::builtin("aarch64-unknown-linux-gnu").unwrap();
        let c = Config::defaults(&t).unwrap();
        let u = unit_layout(&c, 82280, 4).unwrap();
        assert_eq!((u.dynamic_size, u.unit_size, u.unused_size), (32408, 122880, 0));
        assert_eq!((u.units_per_alloc, u.nr_units, u.total_size), (1, 4, 4 * 122880));
        assert_eq!(u.dump[0], "pcpu-alloc: s82280 r8192 d32408 u122880 alloc=30*4096");
    }

    #[test]
    fn large_atoms_share_allocations_and_small_statics_leave_unused_space() {
        let t = TargetCfg::builtin("x86_64-unknown-none").unwrap();
        let c =
            Config::parse("atom_size = \"2 MiB\"\nmin_unit_size = \"64 KiB\"", "p", &t).unwrap();
        let u = unit_layout(&c, 100, 8).unwrap();
        assert_eq!(u.unit_size, 256 << 10);
        assert_eq!(u.units_per_alloc, 8);
        assert_eq!(u.static_size + u.reserved_size + u.dynamic_size + u.unused_size, u.unit_size);
        assert!(!u.over_limit);
    }

    #[test]
    fn fixed_unit_overflow_is_flagged() {
        let t = TargetCfg::builtin("x86_64-unknown-none").unwrap();
        let c = Config::parse("unit_size = \"64 KiB\"", "p", &t).unwrap();
        assert!(!unit_layout(&c, 28 << 10, 2).unwrap().over_limit);
        let over = unit_layout(&c, (28 << 10) + 1, 2).unwrap();
        assert!(over.over_limit);
        assert!(over.unit_size > 64 << 10);
    }
}
