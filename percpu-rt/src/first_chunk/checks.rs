//! The sanity checks of a first-chunk layout, before anything is touched: Linux's
//! `PCPU_SETUP_BUG_ON` list (`pcpu_setup_first_chunk` in `mm/percpu.c`) in Linux's order, each
//! giving its own [`SetupError`] variant, plus the group geometry and the platform.
//!
//! | Linux check | here |
//! |---|---|
//! | 1 `nr_groups <= 0` | [`SetupError::NoGroups`] |
//! | 2 `!static_size` | [`SetupError::StaticSizeZero`] |
//! | 3 `offset_in_page(__per_cpu_start)` | [`SetupError::TemplateNotPageAligned`] |
//! | 4 `!base_addr` | [`SetupError::NullBase`] |
//! | 5 `offset_in_page(base_addr)` | [`SetupError::BaseNotPageAligned`] |
//! | 6 `unit_size < size_sum` | [`SetupError::UnitTooSmall`] |
//! | 7 `offset_in_page(unit_size)` and 9 `!IS_ALIGNED(unit_size, PCPU_BITMAP_BLOCK_SIZE)` | [`SetupError::UnitNotPageAligned`] (the allocator's bitmap block *is* the page, so the two are one condition) |
//! | 8 `unit_size < PCPU_MIN_UNIT_SIZE` | [`SetupError::UnitBelowMinimum`] |
//! | 10 `dyn_size < PERCPU_DYNAMIC_EARLY_SIZE` | [`SetupError::DynamicBelowEarly`] |
//! | 11 `!IS_ALIGNED(reserved_size, PCPU_MIN_ALLOC_SIZE)` | [`SetupError::ReservedNotAligned`] |
//! | 12 block size vs page size | holds by construction (block = page) |
//! | 13 `pcpu_verify_alloc_info()` | [`SetupError::BackendRejected`] |
//! | 14 `cpu >= nr_cpu_ids`, `!cpu_possible`, mapped twice | [`SetupError::CpuIdTooLarge`], [`SetupError::CpuNotPossible`], [`SetupError::CpuMappedTwice`] |
//! | 15 possible CPU without unit | [`SetupError::CpuWithoutUnit`] |
//! | (here only) a static aligned above the page, or outside the template | [`SetupError::StaticOverAligned`], [`SetupError::StaticOutsideTemplate`] |
//! | (here only) a static size below the linked template's | [`SetupError::StaticSizeBelowTemplate`] |
//! | (here only) a unit whose delta the base register cannot hold | [`SetupError::BadDelta`] |

use super::{SetupConfig, SetupError};
use crate::boot_memory::{self, Table};
use crate::cpu_id::CpuId;
use crate::layout::{AllocInfo, MIN_ALLOC_SIZE};

/// Checks `ai` for a chunk at `base_addr`, with the template at `template_start`.
pub(crate) fn check_alloc_info(
    ai: &AllocInfo,
    base_addr: usize,
    template_start: usize,
    cfg: &SetupConfig<'_>,
) -> Result<(), SetupError> {
    let page = cfg.page_size;
    if !page.is_power_of_two() {
        return Err(crate::layout::LayoutError::PageSizeNotPowerOfTwo { page_size: page }.into());
    }
    let size_sum = ai.static_size + ai.reserved_size + ai.dyn_size;
    // 1
    if ai.groups.is_empty() {
        return Err(SetupError::NoGroups);
    }
    // 2
    check_static_size_nonzero(ai.static_size)?;
    // 3
    if template_start % page != 0 {
        return Err(SetupError::TemplateNotPageAligned { start: template_start, page_size: page });
    }
    // 4, 5
    if base_addr == 0 {
        return Err(SetupError::NullBase);
    }
    if base_addr % page != 0 {
        return Err(SetupError::BaseNotPageAligned { base_addr, page_size: page });
    }
    // 6
    if ai.unit_size < size_sum {
        return Err(SetupError::UnitTooSmall { unit_size: ai.unit_size, size_sum });
    }
    // 7 and 9
    if ai.unit_size % page != 0 {
        return Err(SetupError::UnitNotPageAligned { unit_size: ai.unit_size, page_size: page });
    }
    // 8
    if ai.unit_size < cfg.min_unit_size {
        return Err(SetupError::UnitBelowMinimum {
            unit_size: ai.unit_size,
            min_unit_size: cfg.min_unit_size,
        });
    }
    // 10
    if ai.dyn_size < cfg.early_dyn_size {
        return Err(SetupError::DynamicBelowEarly {
            dyn_size: ai.dyn_size,
            early_size: cfg.early_dyn_size,
        });
    }
    // 11
    if ai.reserved_size % MIN_ALLOC_SIZE != 0 {
        return Err(SetupError::ReservedNotAligned { reserved_size: ai.reserved_size });
    }
    // 13
    if let Some(verify) = cfg.verify {
        verify(ai).map_err(|reason| SetupError::BackendRejected { reason })?;
    }
    check_groups(ai, page)?;
    check_cpus(ai, cfg)?;
    check_statics(page)
}

/// Check 2: the units have a static area at all.
pub(crate) fn check_static_size_nonzero(static_size: usize) -> Result<(), SetupError> {
    if static_size == 0 {
        return Err(SetupError::StaticSizeZero);
    }
    Ok(())
}

/// The static size must cover the template the program was linked with.
pub(crate) fn check_static_covers_template(static_size: usize) -> Result<(), SetupError> {
    let template_size = crate::template::static_size();
    if static_size < template_size {
        return Err(SetupError::StaticSizeBelowTemplate { static_size, template_size });
    }
    Ok(())
}

/// Every registered static lies inside the linked template and is aligned at most to the page,
/// so that each CPU's copy (unit base + the static's offset) exists and is aligned: units are
/// page-aligned, nothing more (docs/architecture.md, invariant 8). Refused here, before any unit is
/// written or any CPU can reach a copy, with the static's name.
pub(crate) fn check_statics(page: usize) -> Result<(), SetupError> {
    let linked_start = crate::template::start() as usize;
    let linked_end = crate::template::end() as usize;
    for var in crate::registry::variables() {
        let at = var.template() as usize;
        let inside =
            at >= linked_start && at.checked_add(var.size()).is_some_and(|end| end <= linked_end);
        if !inside {
            return Err(SetupError::StaticOutsideTemplate {
                name: var.name(),
                module_path: var.module_path(),
            });
        }
        if var.align() > page {
            return Err(SetupError::StaticOverAligned {
                name: var.name(),
                module_path: var.module_path(),
                align: var.align(),
                page_size: page,
            });
        }
    }
    Ok(())
}

/// Group geometry: page-aligned base offsets, no two groups' units overlapping.
fn check_groups(ai: &AllocInfo, page: usize) -> Result<(), SetupError> {
    let mut spans: Table<(usize, usize, usize)> = boot_memory::with_capacity(ai.groups.len())?;
    for (i, g) in ai.groups.iter().enumerate() {
        if g.base_offset % page != 0 {
            return Err(SetupError::GroupNotPageAligned { group: i, base_offset: g.base_offset });
        }
        let len =
            g.nr_units().checked_mul(ai.unit_size).ok_or(crate::layout::LayoutError::Overflow)?;
        let end = g.base_offset.checked_add(len).ok_or(crate::layout::LayoutError::Overflow)?;
        spans.push((g.base_offset, end, i));
    }
    spans.sort_unstable();
    for w in spans.windows(2) {
        if w[1].0 < w[0].1 {
            return Err(SetupError::GroupsOverlap { group: w[1].2, other: w[0].2 });
        }
    }
    Ok(())
}

/// Checks 14 and 15: the unit maps against the possible CPUs (linear in the CPU ids: one
/// table indexed by id records which CPUs are possible and which have a unit).
fn check_cpus(ai: &AllocInfo, cfg: &SetupConfig<'_>) -> Result<(), SetupError> {
    const POSSIBLE: u8 = 1;
    const MAPPED: u8 = 2;
    let highest = cfg.possible.iter().map(|c| c.as_usize()).max().unwrap_or(0);
    let mut state = boot_memory::filled(0u8, highest + 1)?;
    for cpu in cfg.possible {
        state[cpu.as_usize()] |= POSSIBLE;
    }
    for cpu in ai.groups.iter().flat_map(|g| g.cpu_map.iter().flatten()) {
        if cpu.as_u32() >= cfg.max_cpus {
            return Err(SetupError::CpuIdTooLarge { cpu: *cpu, nr_cpu_ids: cfg.max_cpus });
        }
        match state.get_mut(cpu.as_usize()) {
            Some(s) if *s & POSSIBLE == 0 => return Err(SetupError::CpuNotPossible { cpu: *cpu }),
            None => return Err(SetupError::CpuNotPossible { cpu: *cpu }),
            Some(s) if *s & MAPPED != 0 => return Err(SetupError::CpuMappedTwice { cpu: *cpu }),
            Some(s) => *s |= MAPPED,
        }
    }
    let mut possible = boot_memory::collect(cfg.possible.iter().copied())?;
    possible.sort_unstable();
    if let Some(cpu) = possible.iter().find(|c| state[c.as_usize()] & MAPPED == 0) {
        return Err(SetupError::CpuWithoutUnit { cpu: *cpu });
    }
    if possible.len() > 1 && !crate::platform_is_set() {
        return Err(SetupError::NoPlatform { nr_cpus: possible.len() });
    }
    Ok(())
}

/// Whether `delta` can be loaded into the base register here.
fn delta_is_loadable(delta: usize) -> bool {
    #[cfg(all(target_arch = "x86_64", feature = "hosted"))]
    {
        // arch_prctl(ARCH_SET_GS) takes user addresses only.
        delta < (1usize << 47)
    }
    #[cfg(all(target_arch = "x86_64", not(feature = "hosted")))]
    {
        // GS.base must be canonical (48-bit, sign-extended).
        let top = (delta as i64) >> 47;
        top == 0 || top == -1
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = delta;
        true
    }
}

/// Checks every unit's delta before anything is written.
pub(crate) fn check_deltas(
    units: &[(CpuId, usize)],
    base_addr: usize,
    template_start: usize,
) -> Result<(), SetupError> {
    for &(cpu, offset) in units {
        let delta = base_addr.wrapping_add(offset).wrapping_sub(template_start);
        if !delta_is_loadable(delta) {
            return Err(SetupError::BadDelta { cpu, delta });
        }
    }
    Ok(())
}
