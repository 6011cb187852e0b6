//! The unit layout: one pure function of (static size, reserved, dynamic reserve, page size,
//! atom size, minimum unit size, possible CPUs, optional CPU distances), used both by
//! `percpu-build` at build time and by the first-chunk setup at boot, so the two can never
//! disagree. It reproduces Linux's `pcpu_build_alloc_info()` (mm/percpu.c):
//!
//! 1. `size_sum = page_align(static + reserved + max(dynamic, early))`; the rounding goes to
//!    the dynamic area.
//! 2. `min_unit_size = max(size_sum, min_unit)`.
//! 3. `alloc_size = roundup(min_unit_size, atom)`; the largest units-per-allocation `upa` that
//!    divides `alloc_size` into page-aligned units, at most `alloc_size / min_unit_size`, is
//!    `max_upa`. Linux counts down one at a time; here it is found in closed form (see
//!    [`unit_sizes`]), because the count can be 2^47 for absurd atom sizes.
//! 4. CPUs are grouped: a group takes every remaining CPU at local distance *both ways* from its
//!    first CPU (one group when there is no distance function).
//! 5. From `max_upa` down, the first `upa` that wastes at most a third of the possible CPUs in
//!    empty units is taken, and the search stops as soon as a smaller `upa` would need more
//!    allocations. Only powers of two can divide an atom-sized allocation, so only they are
//!    tried: at most `usize::BITS` candidates.
//!
//! Each unit of a CPU lies at `group.base_offset + index * unit_size` from the chunk base.
//! Sizes are in bytes everywhere.
//!
//! Every sum and product is checked: inputs whose layout does not fit the address space give a
//! [`LayoutError`] (never a panic, a wrapped value or a long loop), whatever the sizes.
//!
//! The unit sizing alone ([`unit_sizes`]) is a `const fn`, for constants computed at build time.
//!
//! The groups and CPU maps are [`Table`]s: `Vec`s with the `alloc` feature, tables in the boot
//! memory without it ([`boot_memory`]).

use crate::boot_memory::{self, OutOfBootMemory, Table};
use crate::cpu_id::CpuId;
use core::fmt;

/// `PCPU_MIN_ALLOC_SHIFT`: the allocation granule is `1 << 2` bytes.
pub const MIN_ALLOC_SHIFT: usize = 2;
/// `PCPU_MIN_ALLOC_SIZE`: 4 bytes, the granule of the dynamic allocator.
pub const MIN_ALLOC_SIZE: usize = 1 << MIN_ALLOC_SHIFT;
/// `PCPU_MIN_UNIT_SIZE`: 32 KiB, the smallest unit (Linux's maximum allocation size too).
pub const MIN_UNIT_SIZE: usize = 32 << 10;
/// `PERCPU_DYNAMIC_EARLY_SIZE`: the dynamic area is never smaller than 20 KiB, so that early
/// dynamic allocations (before any chunk can be created) have room.
pub const DYNAMIC_EARLY_SIZE: usize = 20 << 10;
/// `PERCPU_DYNAMIC_RESERVE` for 64-bit targets: 28 KiB.
pub const DYNAMIC_RESERVE_64: usize = 28 << 10;
/// `PERCPU_DYNAMIC_RESERVE` for 32-bit targets: 20 KiB.
pub const DYNAMIC_RESERVE_32: usize = 20 << 10;
/// `PERCPU_MODULE_RESERVE`: 8 KiB reserved for static per-CPU data of loadable modules.
pub const MODULE_RESERVE: usize = 8 << 10;
/// `LOCAL_DISTANCE`: the distance a CPU-distance function returns for CPUs of one node.
pub const LOCAL_DISTANCE: u32 = 10;

/// The sizes a unit layout is computed from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LayoutParams {
    /// Bytes of static per-CPU data (`__percpu_end - __percpu_start`).
    pub static_size: usize,
    /// Bytes reserved after the static area for loadable modules' static per-CPU data.
    pub reserved_size: usize,
    /// Requested bytes of dynamic area (`PERCPU_DYNAMIC_RESERVE`).
    pub dyn_size: usize,
    /// Minimum bytes of dynamic area (`PERCPU_DYNAMIC_EARLY_SIZE`).
    pub early_dyn_size: usize,
    /// Page size (power of two).
    pub page_size: usize,
    /// Allocation granule of the first chunk (power of two, at least a page; e.g. 2 MiB to
    /// embed the first chunk in large pages).
    pub atom_size: usize,
    /// Smallest unit size (`PCPU_MIN_UNIT_SIZE`).
    pub min_unit_size: usize,
}

impl LayoutParams {
    /// Linux's defaults for a 64-bit target with 4 KiB pages, for `static_size` bytes of static
    /// data: 8 KiB reserved, 28 KiB dynamic (20 KiB early minimum), page atom, 32 KiB minimum
    /// unit.
    pub const fn linux_defaults(static_size: usize) -> Self {
        LayoutParams {
            static_size,
            reserved_size: MODULE_RESERVE,
            dyn_size: DYNAMIC_RESERVE_64,
            early_dyn_size: DYNAMIC_EARLY_SIZE,
            page_size: 4096,
            atom_size: 4096,
            min_unit_size: MIN_UNIT_SIZE,
        }
    }
}

/// The sizes of one unit, before CPUs are placed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnitSizes {
    /// `static + reserved + dynamic`, page-aligned.
    pub size_sum: usize,
    /// The dynamic area after the page rounding (at least the requested and early sizes).
    pub dyn_size: usize,
    /// `max(size_sum, min_unit_size)`: the smallest unit that fits.
    pub min_unit_size: usize,
    /// `min_unit_size` rounded up to the atom: the size of one allocation of units.
    pub alloc_size: usize,
    /// The most units per allocation that split `alloc_size` into page-aligned units.
    pub max_upa: usize,
}

/// A layout request that cannot be satisfied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayoutError {
    /// `page_size` is not a power of two.
    PageSizeNotPowerOfTwo {
        /// The value given.
        page_size: usize,
    },
    /// `atom_size` is not a power of two or is smaller than a page.
    BadAtomSize {
        /// The value given.
        atom_size: usize,
        /// The page size.
        page_size: usize,
    },
    /// `reserved_size` is not a multiple of the 4-byte allocation granule.
    ReservedNotAligned {
        /// The value given.
        reserved_size: usize,
    },
    /// No CPU is possible.
    NoCpus,
    /// A CPU appears twice in the possible list.
    DuplicateCpu {
        /// The CPU.
        cpu: CpuId,
    },
    /// The sizes overflow the address space.
    Overflow,
    /// Static, reserved, dynamic and minimum unit sizes are all 0: a unit would have no byte.
    EmptyUnit,
    /// The units of all possible CPUs together do not fit the address space.
    ChunkTooLarge {
        /// Bytes per unit.
        unit_size: usize,
        /// Units needed for the possible CPUs (used or not).
        nr_units: usize,
    },
    /// Without the `alloc` feature: the boot memory cannot hold the layout's tables (with
    /// `alloc` the heap holds them and this never happens).
    OutOfBootMemory(OutOfBootMemory),
}

impl From<OutOfBootMemory> for LayoutError {
    fn from(e: OutOfBootMemory) -> Self {
        LayoutError::OutOfBootMemory(e)
    }
}

impl fmt::Display for LayoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            LayoutError::PageSizeNotPowerOfTwo { page_size } => write!(
                f,
                "page size {page_size} is not a power of two; use the MMU's page size (e.g. 4096)"
            ),
            LayoutError::BadAtomSize { atom_size, page_size } => write!(
                f,
                "atom size {atom_size} must be a power of two and at least the page size \
                 {page_size}; use the page size, or a large-page size such as 2 MiB"
            ),
            LayoutError::ReservedNotAligned { reserved_size } => write!(
                f,
                "reserved size {reserved_size} is not a multiple of {MIN_ALLOC_SIZE} bytes (the \
                 allocation granule); round it up to {}",
                reserved_size.div_ceil(MIN_ALLOC_SIZE) * MIN_ALLOC_SIZE
            ),
            LayoutError::NoCpus => f.write_str("no possible CPU: list at least the boot CPU"),
            LayoutError::DuplicateCpu { cpu } => {
                write!(f, "CPU {cpu} is listed twice among the possible CPUs; list each CPU once")
            }
            LayoutError::Overflow => f.write_str(
                "the per-CPU sizes overflow the address space; check static, reserved and dynamic sizes",
            ),
            LayoutError::EmptyUnit => f.write_str(
                "static, reserved, dynamic and minimum unit sizes are all 0, so a unit would be \
                 empty; give the dynamic area at least the early size (PERCPU_DYNAMIC_EARLY_SIZE, \
                 20 KiB) or a non-zero minimum unit size",
            ),
            LayoutError::ChunkTooLarge { unit_size, nr_units } => write!(
                f,
                "{nr_units} units of {unit_size} bytes do not fit the address space; lower the \
                 static, reserved or dynamic size, or the number of possible CPUs"
            ),
            LayoutError::OutOfBootMemory(e) => fmt::Display::fmt(&e, f),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for LayoutError {}

/// `x` rounded up to a multiple of the power of two `to`, or `None` on overflow.
const fn align_up(x: usize, to: usize) -> Option<usize> {
    match x.checked_add(to - 1) {
        Some(v) => Some(v & !(to - 1)),
        None => None,
    }
}

/// Steps 1–3 of the algorithm: the unit sizes, independent of the CPUs.
///
/// Constant time whatever the sizes: `max_upa` is computed in closed form (the proof is in the
/// body) instead of Linux's count-down, which takes 2^47 steps for a 2^62-byte atom. The result
/// is Linux's for every input Linux accepts.
pub const fn unit_sizes(p: &LayoutParams) -> Result<UnitSizes, LayoutError> {
    if !p.page_size.is_power_of_two() {
        return Err(LayoutError::PageSizeNotPowerOfTwo { page_size: p.page_size });
    }
    if !p.atom_size.is_power_of_two() || p.atom_size < p.page_size {
        return Err(LayoutError::BadAtomSize { atom_size: p.atom_size, page_size: p.page_size });
    }
    if p.reserved_size % MIN_ALLOC_SIZE != 0 {
        return Err(LayoutError::ReservedNotAligned { reserved_size: p.reserved_size });
    }
    let dyn_wanted = if p.dyn_size > p.early_dyn_size { p.dyn_size } else { p.early_dyn_size };
    let raw_sum = match p.static_size.checked_add(p.reserved_size) {
        Some(s) => match s.checked_add(dyn_wanted) {
            Some(s) => s,
            None => return Err(LayoutError::Overflow),
        },
        None => return Err(LayoutError::Overflow),
    };
    let Some(size_sum) = align_up(raw_sum, p.page_size) else {
        return Err(LayoutError::Overflow);
    };
    let dyn_size = size_sum - p.static_size - p.reserved_size;
    let min_unit_size = if size_sum > p.min_unit_size { size_sum } else { p.min_unit_size };
    let Some(min_unit_size) = align_up(min_unit_size, p.page_size) else {
        return Err(LayoutError::Overflow);
    };
    if min_unit_size == 0 {
        return Err(LayoutError::EmptyUnit);
    }
    let Some(alloc_size) = align_up(min_unit_size, p.atom_size) else {
        return Err(LayoutError::Overflow);
    };
    // Linux: `upa = alloc_size / min_unit_size; while (alloc_size % upa || offset_in_page(
    // alloc_size / upa)) upa--;`. In closed form: the largest power of two <= that quotient.
    // - min_unit_size >= atom: alloc_size < min_unit_size + atom <= 2 * min_unit_size, so the
    //   quotient is 1, and upa = 1 passes (alloc_size is whole atoms, hence whole pages).
    // - min_unit_size < atom: alloc_size is exactly one atom, a power of two, so only powers of
    //   two divide it; and the quotient is at most atom / page (min_unit_size is a non-zero
    //   multiple of the page), so each power of two up to it leaves page-aligned units.
    let quotient = alloc_size / min_unit_size;
    let max_upa = 1 << quotient.ilog2();
    debug_assert!(alloc_size % max_upa == 0 && (alloc_size / max_upa) % p.page_size == 0);
    Ok(UnitSizes { size_sum, dyn_size, min_unit_size, alloc_size, max_upa })
}

/// One group of units allocated together (CPUs close to each other, e.g. one NUMA node).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupInfo {
    /// Offset of the group's first unit from the chunk base. Set "as if all groups are located
    /// back-to-back" by [`build_alloc_info`]; the embed builder replaces it with the real
    /// distance between allocations.
    pub base_offset: usize,
    /// The CPU of each unit; `None` for a unit no CPU uses (padding to a whole allocation).
    pub cpu_map: Table<Option<CpuId>>,
}

impl GroupInfo {
    /// Number of units in the group (used or not).
    pub fn nr_units(&self) -> usize {
        self.cpu_map.len()
    }
}

/// The complete layout of the first chunk (Linux's `struct pcpu_alloc_info`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllocInfo {
    /// Bytes of static per-CPU data.
    pub static_size: usize,
    /// Bytes reserved for modules.
    pub reserved_size: usize,
    /// Bytes of dynamic area (after rounding).
    pub dyn_size: usize,
    /// Bytes per unit.
    pub unit_size: usize,
    /// Allocation granule of the first chunk.
    pub atom_size: usize,
    /// Bytes per allocation of `alloc_size / unit_size` units.
    pub alloc_size: usize,
    /// The groups, with their unit-to-CPU maps.
    pub groups: Table<GroupInfo>,
}

impl AllocInfo {
    /// Units per allocation (0 if `unit_size` is 0, which [`build_alloc_info`] never gives).
    pub fn units_per_alloc(&self) -> usize {
        self.alloc_size.checked_div(self.unit_size).unwrap_or(0)
    }

    /// Total units over all groups (used or not).
    pub fn nr_units(&self) -> usize {
        self.groups.iter().map(GroupInfo::nr_units).sum()
    }

    /// `static + reserved + dynamic` (saturating at `usize::MAX` for a hand-built value whose
    /// sizes overflow; a value from [`build_alloc_info`] never does).
    pub fn size_sum(&self) -> usize {
        self.static_size.saturating_add(self.reserved_size).saturating_add(self.dyn_size)
    }

    /// A copy, or the boot memory's refusal (without `alloc`; with it, as `clone`).
    pub(crate) fn try_clone(&self) -> Result<AllocInfo, OutOfBootMemory> {
        let mut groups = boot_memory::with_capacity(self.groups.len())?;
        for g in self.groups.iter() {
            let cpu_map = boot_memory::collect(g.cpu_map.iter().copied())?;
            groups.push(GroupInfo { base_offset: g.base_offset, cpu_map });
        }
        Ok(AllocInfo { groups, ..*self })
    }

    /// Every `(cpu, unit offset from the chunk base)`, in group and unit order.
    pub fn unit_offsets(&self) -> impl Iterator<Item = (CpuId, usize)> + Clone + '_ {
        self.groups.iter().flat_map(move |g| {
            g.cpu_map
                .iter()
                .enumerate()
                .filter_map(move |(i, cpu)| cpu.map(|c| (c, g.base_offset + i * self.unit_size)))
        })
    }

    /// Writes Linux's `pcpu-alloc:` lines (`pcpu_dump_alloc_info`): the sizes, then the units
    /// of every allocation as `[group] cpu cpu ...`, wrapped at about 60 columns; `-` marks a
    /// unit without CPU. Every line starts with `pcpu-alloc: `.
    pub fn dump(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        // At least 1, so that a hand-built value with a zero unit size still ends.
        let upa = self.units_per_alloc().max(1);
        let nr_cpus = self.groups.iter().flat_map(|g| g.cpu_map.iter().flatten()).count();
        // As Linux: widths of the group count and of the possible-CPU count, and a power of two
        // of allocations per line that fits in 60 columns.
        let cpu_width = decimal_width(nr_cpus);
        let group_width = decimal_width(self.groups.len());
        let width = upa.saturating_mul(cpu_width + 1).saturating_add(group_width + 3);
        let apl = 1 << (usize::BITS - 1 - (60 / width).max(1).leading_zeros());
        writeln!(
            out,
            "pcpu-alloc: s{} r{} d{} u{} alloc={}*{}",
            self.static_size,
            self.reserved_size,
            self.dyn_size,
            self.unit_size,
            self.alloc_size.checked_div(self.atom_size).unwrap_or(0),
            self.atom_size
        )?;
        let mut alloc_end = 0;
        let mut line_open = false;
        for (group, g) in self.groups.iter().enumerate() {
            let mut unit = 0;
            while unit < g.nr_units() {
                if alloc_end % apl == 0 {
                    if line_open {
                        writeln!(out)?;
                    }
                    write!(out, "pcpu-alloc: ")?;
                    line_open = true;
                }
                write!(out, "[{group:0group_width$}] ")?;
                for cpu in &g.cpu_map[unit..unit.saturating_add(upa).min(g.nr_units())] {
                    match cpu {
                        Some(c) => write!(out, "{:0cpu_width$} ", c.as_u32())?,
                        None => write!(out, "{:-<cpu_width$} ", "")?,
                    }
                }
                unit = unit.saturating_add(upa);
                alloc_end += 1;
            }
        }
        if line_open {
            writeln!(out)?;
        }
        Ok(())
    }
}

fn decimal_width(mut n: usize) -> usize {
    let mut width = 1;
    while n >= 10 {
        n /= 10;
        width += 1;
    }
    width
}

/// For `upa` units per allocation: the allocations all groups need, and the units no CPU uses;
/// `None` if a count overflows. `group_sizes` holds each group's CPU count.
fn allocs_and_waste(group_sizes: &[usize], upa: usize) -> Option<(usize, usize)> {
    let mut allocs: usize = 0;
    let mut wasted: usize = 0;
    for &len in group_sizes {
        let this_allocs = len.div_ceil(upa);
        allocs = allocs.checked_add(this_allocs)?;
        wasted = wasted.checked_add(this_allocs.checked_mul(upa)? - len)?;
    }
    Some((allocs, wasted))
}

/// Linux's `pcpu_build_alloc_info`: unit size, units per allocation and CPU groups for the
/// possible CPUs (any order, possibly sparse). `distance(a, b)` returns [`LOCAL_DISTANCE`] for
/// CPUs of one node; without it all CPUs form one group.
pub fn build_alloc_info(
    p: &LayoutParams,
    possible: &[CpuId],
    distance: Option<&dyn Fn(CpuId, CpuId) -> u32>,
) -> Result<AllocInfo, LayoutError> {
    let sizes = unit_sizes(p)?;
    if possible.is_empty() {
        return Err(LayoutError::NoCpus);
    }
    let mut cpus = boot_memory::collect(possible.iter().copied())?;
    cpus.sort_unstable();
    if let Some(w) = cpus.windows(2).find(|w| w[0] == w[1]) {
        return Err(LayoutError::DuplicateCpu { cpu: w[0] });
    }

    // Step 4: group CPUs that are local to each other both ways. Each group starts at the
    // lowest CPU not grouped yet and takes, in order, every later ungrouped CPU local to it.
    const UNGROUPED: usize = usize::MAX;
    let nr_cpus = cpus.len();
    let mut group_of = boot_memory::filled(UNGROUPED, nr_cpus)?;
    let mut group_sizes: Table<usize> = boot_memory::with_capacity(nr_cpus)?;
    for i in 0..nr_cpus {
        if group_of[i] != UNGROUPED {
            continue;
        }
        let (group, first) = (group_sizes.len(), cpus[i]);
        group_of[i] = group;
        let mut len = 1;
        for j in i + 1..nr_cpus {
            if group_of[j] != UNGROUPED {
                continue;
            }
            let cpu = cpus[j];
            let local = match distance {
                None => true,
                Some(d) => d(first, cpu) == LOCAL_DISTANCE && d(cpu, first) == LOCAL_DISTANCE,
            };
            if local {
                group_of[j] = group;
                len += 1;
            }
        }
        group_sizes.push(len);
    }

    // Step 5: units per allocation, wasting at most a third of the CPUs, fewest allocations.
    // Linux tries every upa from max_upa down and skips those that do not split alloc_size
    // into page-aligned units; only powers of two pass (see `unit_sizes`), so only they are
    // tried, in the same order.
    let mut best_upa = 0;
    let mut last_allocs = usize::MAX;
    let mut upa = sizes.max_upa;
    while upa > 0 {
        let candidate = upa;
        upa /= 2;
        if sizes.alloc_size % candidate != 0 || (sizes.alloc_size / candidate) % p.page_size != 0 {
            continue;
        }
        // `None`: the count overflows, which wastes far more than a third of the CPUs.
        let Some((allocs, wasted)) = allocs_and_waste(&group_sizes, candidate) else { continue };
        if wasted > nr_cpus / 3 {
            continue;
        }
        if allocs > last_allocs {
            break;
        }
        last_allocs = allocs;
        best_upa = candidate;
    }
    debug_assert!(best_upa > 0, "upa = 1 wastes nothing, so a value is always accepted");
    let best_upa = best_upa.max(1);

    // Groups back to back, whole allocations each: the chunk must fit the address space.
    let unit_size = sizes.alloc_size / best_upa;
    let group_units = |len: usize| len.div_ceil(best_upa).checked_mul(best_upa);
    let total_units =
        group_sizes.iter().try_fold(0usize, |sum, &len| sum.checked_add(group_units(len)?));
    let too_large =
        LayoutError::ChunkTooLarge { unit_size, nr_units: total_units.unwrap_or(usize::MAX) };
    total_units.and_then(|n| n.checked_mul(unit_size)).ok_or(too_large)?;
    // Every offset below is at most the chunk size just checked.
    let mut base_offset: usize = 0;
    let mut infos = boot_memory::with_capacity(group_sizes.len())?;
    for (group, &len) in group_sizes.iter().enumerate() {
        let nr_units = group_units(len).ok_or(too_large)?;
        let mut cpu_map = boot_memory::with_capacity(nr_units)?;
        let members = cpus.iter().zip(group_of.iter()).filter(|&(_, &g)| g == group);
        cpu_map.extend(members.map(|(&cpu, _)| Some(cpu)));
        cpu_map.extend(core::iter::repeat_n(None, nr_units - len));
        infos.push(GroupInfo { base_offset, cpu_map });
        base_offset = nr_units
            .checked_mul(unit_size)
            .and_then(|len| base_offset.checked_add(len))
            .ok_or(too_large)?;
    }
    Ok(AllocInfo {
        static_size: p.static_size,
        reserved_size: p.reserved_size,
        dyn_size: sizes.dyn_size,
        unit_size,
        atom_size: p.atom_size,
        alloc_size: sizes.alloc_size,
        groups: infos,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::{String, ToString};
    use alloc::vec::Vec;

    fn cpus(n: u32) -> Vec<CpuId> {
        #[cfg(not(feature = "alloc"))]
        crate::boot_memory::for_tests();
        (0..n).map(CpuId::new).collect()
    }

    /// The layout Linux computes for x86_64 with 4 CPUs on 2 nodes and a 2 MiB atom.
    #[test]
    fn x86_64_worked_example() {
        let p = LayoutParams {
            static_size: 274432,
            reserved_size: 8192,
            dyn_size: 28672,
            early_dyn_size: DYNAMIC_EARLY_SIZE,
            page_size: 4096,
            atom_size: 2 << 20,
            min_unit_size: MIN_UNIT_SIZE,
        };
        let node = |c: CpuId| c.as_u32() / 2;
        let distance = |a: CpuId, b: CpuId| if node(a) == node(b) { LOCAL_DISTANCE } else { 20 };
        let ai = build_alloc_info(&p, &cpus(4), Some(&distance)).unwrap();
        assert_eq!((ai.static_size, ai.reserved_size, ai.dyn_size), (274432, 8192, 28672));
        assert_eq!(ai.unit_size, 1048576);
        assert_eq!((ai.alloc_size / ai.atom_size, ai.atom_size), (1, 2097152));
        let mut dump = String::new();
        ai.dump(&mut dump).unwrap();
        assert_eq!(
            dump,
            "pcpu-alloc: s274432 r8192 d28672 u1048576 alloc=1*2097152\npcpu-alloc: [0] 0 1 [1] 2 3 \n"
        );
    }

    /// Linux's count-down for `max_upa` (mm/percpu.c), for comparison with the closed form.
    fn linux_max_upa(alloc_size: usize, min_unit_size: usize, page_size: usize) -> usize {
        let mut upa = alloc_size / min_unit_size;
        while alloc_size % upa != 0 || (alloc_size / upa) % page_size != 0 {
            upa -= 1;
        }
        upa
    }

    #[test]
    fn closed_form_max_upa_is_linuxs_count_down() {
        let mut checked = 0;
        for page_shift in 12..=16 {
            for atom_shift in page_shift..=page_shift + 9 {
                // Minimum units of every page count up to past the atom, odd ones included.
                for pages in 1..=(1usize << (atom_shift - page_shift)) + 3 {
                    let p = LayoutParams {
                        static_size: 0,
                        reserved_size: 0,
                        dyn_size: 0,
                        early_dyn_size: 0,
                        page_size: 1 << page_shift,
                        atom_size: 1 << atom_shift,
                        min_unit_size: pages << page_shift,
                    };
                    let s = unit_sizes(&p).unwrap();
                    assert_eq!(
                        s.max_upa,
                        linux_max_upa(s.alloc_size, s.min_unit_size, p.page_size),
                        "{p:?}"
                    );
                    checked += 1;
                }
            }
        }
        assert!(checked > 2000, "{checked}");
    }

    /// Issue 11 item 1: a 2^62-byte atom made Linux's count-down run 2^47 steps.
    #[test]
    #[cfg(target_pointer_width = "64")]
    fn a_huge_atom_gives_its_max_upa_directly() {
        let p = LayoutParams { atom_size: 1 << 62, ..LayoutParams::linux_defaults(0) };
        let s = unit_sizes(&p).unwrap();
        // 8 KiB reserved + 28 KiB dynamic: 36 KiB units, 2^62 / 36 KiB = 1.78 * 2^46 of them.
        assert_eq!((s.min_unit_size, s.alloc_size), (36 << 10, 1 << 62));
        assert_eq!(s.max_upa, 1 << 46);
        // 4 CPUs: the search tries 2^47, 2^46, ... and takes 4 (no waste, one allocation).
        let ai = build_alloc_info(&p, &cpus(4), None).unwrap();
        assert_eq!((ai.units_per_alloc(), ai.unit_size, ai.nr_units()), (4, 1 << 60, 4));
    }

    /// Issue 11 item 2: 64 CPUs of 2^59-byte units in two groups overflowed the group offsets
    /// (a panic in debug builds, overlapping groups in release builds).
    #[test]
    #[cfg(target_pointer_width = "64")]
    fn a_chunk_larger_than_the_address_space_is_an_error() {
        let p = LayoutParams::linux_defaults(1 << 59);
        let node = |c: CpuId| c.as_u32() / 32;
        let distance = |a: CpuId, b: CpuId| if node(a) == node(b) { LOCAL_DISTANCE } else { 20 };
        let e = build_alloc_info(&p, &cpus(64), Some(&distance)).unwrap_err();
        let unit_size = (1 << 59) + (36 << 10);
        assert_eq!(e, LayoutError::ChunkTooLarge { unit_size, nr_units: 64 });
        assert_eq!(
            e.to_string(),
            "64 units of 576460752303460352 bytes do not fit the address space; lower the \
             static, reserved or dynamic size, or the number of possible CPUs"
        );
        // The largest chunk that fits is accepted: 2^59-byte units, 31 of them.
        let p = LayoutParams { static_size: (1 << 59) - (36 << 10), ..p };
        let ai = build_alloc_info(&p, &cpus(31), None).unwrap();
        assert_eq!(ai.unit_size.checked_mul(ai.nr_units()), Some(31 << 59));
    }

    #[test]
    fn sizes_that_overflow_or_vanish_are_errors() {
        let zero = LayoutParams {
            static_size: 0,
            reserved_size: 0,
            dyn_size: 0,
            early_dyn_size: 0,
            page_size: 4096,
            atom_size: 4096,
            min_unit_size: 0,
        };
        assert_eq!(unit_sizes(&zero), Err(LayoutError::EmptyUnit));
        assert_eq!(build_alloc_info(&zero, &cpus(1), None), Err(LayoutError::EmptyUnit));
        let huge = LayoutParams::linux_defaults(usize::MAX - 4096);
        assert_eq!(unit_sizes(&huge), Err(LayoutError::Overflow));
        let huge_atom = LayoutParams { atom_size: 1 << (usize::BITS - 1), ..zero };
        let huge_min = LayoutParams { min_unit_size: (1 << (usize::BITS - 1)) + 1, ..huge_atom };
        assert_eq!(unit_sizes(&huge_min), Err(LayoutError::Overflow));
    }

    #[test]
    fn hand_built_values_do_not_panic_the_helpers() {
        let mut ai = build_alloc_info(&LayoutParams::linux_defaults(4096), &cpus(2), None).unwrap();
        ai.unit_size = 0;
        ai.atom_size = 0;
        ai.static_size = usize::MAX;
        assert_eq!((ai.units_per_alloc(), ai.size_sum()), (0, usize::MAX));
        let mut dump = String::new();
        ai.dump(&mut dump).unwrap();
        assert!(dump.starts_with(&alloc::format!("pcpu-alloc: s{} ", usize::MAX)), "{dump}");
    }

    /// The layout Linux computes for arm64 with a page atom.
    #[test]
    fn arm64_worked_example() {
        let p = LayoutParams { static_size: 82280, ..LayoutParams::linux_defaults(0) };
        let ai = build_alloc_info(&p, &cpus(4), None).unwrap();
        assert_eq!((ai.dyn_size, ai.unit_size), (32408, 122880));
        assert_eq!((ai.alloc_size / ai.atom_size, ai.atom_size), (30, 4096));
        let mut dump = String::new();
        ai.dump(&mut dump).unwrap();
        assert_eq!(
            dump,
            "pcpu-alloc: s82280 r8192 d32408 u122880 alloc=30*4096\npcpu-alloc: [0] 0 [0] 1 [0] 2 [0] 3 \n"
        );
    }
}
