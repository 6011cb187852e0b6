//! The unit layout: one pure function of (static size, reserved, dynamic reserve, page size,
//! atom size, minimum unit size, possible CPUs, optional CPU distances), used both by
//! `percpu-build` at build time and by the first-chunk setup at boot, so the two can never
//! disagree. It reproduces Linux's `pcpu_build_alloc_info()` (mm/percpu.c):
//!
//! 1. `size_sum = page_align(static + reserved + max(dynamic, early))`; the rounding goes to
//!    the dynamic area.
//! 2. `min_unit_size = max(size_sum, min_unit)`.
//! 3. `alloc_size = roundup(min_unit_size, atom)`; the largest units-per-allocation `upa` that
//!    divides `alloc_size` into page-aligned units is `max_upa`.
//! 4. CPUs are grouped: a group takes every remaining CPU at local distance *both ways* from its
//!    first CPU (one group when there is no distance function).
//! 5. From `max_upa` down, the first `upa` that wastes at most a third of the possible CPUs in
//!    empty units is taken, and the search stops as soon as a smaller `upa` would need more
//!    allocations.
//!
//! Each unit of a CPU lies at `group.base_offset + index * unit_size` from the chunk base.
//! Sizes are in bytes everywhere.
//!
//! The unit sizing alone ([`unit_sizes`]) is a `const fn`, for constants computed at build time.

use crate::cpu::CpuId;
use alloc::vec::Vec;
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
    let Some(alloc_size) = align_up(min_unit_size, p.atom_size) else {
        return Err(LayoutError::Overflow);
    };
    let mut upa = alloc_size / min_unit_size;
    while alloc_size % upa != 0 || (alloc_size / upa) % p.page_size != 0 {
        upa -= 1;
    }
    Ok(UnitSizes { size_sum, dyn_size, min_unit_size, alloc_size, max_upa: upa })
}

/// One group of units allocated together (CPUs close to each other, e.g. one NUMA node).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupInfo {
    /// Offset of the group's first unit from the chunk base. Set "as if all groups are located
    /// back-to-back" by [`build_alloc_info`]; the embed builder replaces it with the real
    /// distance between allocations.
    pub base_offset: usize,
    /// The CPU of each unit; `None` for a unit no CPU uses (padding to a whole allocation).
    pub cpu_map: Vec<Option<CpuId>>,
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
    pub groups: Vec<GroupInfo>,
}

impl AllocInfo {
    /// Units per allocation.
    pub fn units_per_alloc(&self) -> usize {
        self.alloc_size / self.unit_size
    }

    /// Total units over all groups (used or not).
    pub fn nr_units(&self) -> usize {
        self.groups.iter().map(GroupInfo::nr_units).sum()
    }

    /// `static + reserved + dynamic`.
    pub fn size_sum(&self) -> usize {
        self.static_size + self.reserved_size + self.dyn_size
    }

    /// Every `(cpu, unit offset from the chunk base)`, in group and unit order.
    pub fn unit_offsets(&self) -> impl Iterator<Item = (CpuId, usize)> + '_ {
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
        let upa = self.units_per_alloc();
        let nr_cpus = self.groups.iter().flat_map(|g| g.cpu_map.iter().flatten()).count();
        // As Linux: widths of the group count and of the possible-CPU count, and a power of two
        // of allocations per line that fits in 60 columns.
        let cpu_width = decimal_width(nr_cpus);
        let group_width = decimal_width(self.groups.len());
        let width = upa * (cpu_width + 1) + group_width + 3;
        let apl = 1 << (usize::BITS - 1 - (60 / width).max(1).leading_zeros());
        writeln!(
            out,
            "pcpu-alloc: s{} r{} d{} u{} alloc={}*{}",
            self.static_size,
            self.reserved_size,
            self.dyn_size,
            self.unit_size,
            self.alloc_size / self.atom_size,
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
                for cpu in &g.cpu_map[unit..(unit + upa).min(g.nr_units())] {
                    match cpu {
                        Some(c) => write!(out, "{:0cpu_width$} ", c.as_u32())?,
                        None => write!(out, "{:-<cpu_width$} ", "")?,
                    }
                }
                unit += upa;
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
    let mut cpus: Vec<CpuId> = possible.to_vec();
    cpus.sort_unstable();
    if let Some(w) = cpus.windows(2).find(|w| w[0] == w[1]) {
        return Err(LayoutError::DuplicateCpu { cpu: w[0] });
    }

    // Step 4: group CPUs that are local to each other both ways.
    let mut groups: Vec<Vec<CpuId>> = Vec::new();
    let mut remaining = cpus.clone();
    while !remaining.is_empty() {
        let first = remaining.remove(0);
        let mut group = alloc::vec![first];
        remaining.retain(|&cpu| {
            let local = match distance {
                None => true,
                Some(d) => d(first, cpu) == LOCAL_DISTANCE && d(cpu, first) == LOCAL_DISTANCE,
            };
            if local {
                group.push(cpu);
            }
            !local
        });
        groups.push(group);
    }

    // Step 5: units per allocation, wasting at most a third of the CPUs, fewest allocations.
    let nr_cpus = cpus.len();
    let mut best_upa = 0;
    let mut last_allocs = usize::MAX;
    for upa in (1..=sizes.max_upa).rev() {
        if sizes.alloc_size % upa != 0 || (sizes.alloc_size / upa) % p.page_size != 0 {
            continue;
        }
        let mut allocs = 0;
        let mut wasted = 0;
        for g in &groups {
            let this_allocs = g.len().div_ceil(upa);
            allocs += this_allocs;
            wasted += this_allocs * upa - g.len();
        }
        if wasted > nr_cpus / 3 {
            continue;
        }
        if allocs > last_allocs {
            break;
        }
        last_allocs = allocs;
        best_upa = upa;
    }
    debug_assert!(best_upa > 0, "upa = 1 wastes nothing, so a value is always accepted");

    let unit_size = sizes.alloc_size / best_upa;
    let mut base_offset = 0;
    let mut infos = Vec::with_capacity(groups.len());
    for g in &groups {
        let nr_units = g.len().div_ceil(best_upa) * best_upa;
        let mut cpu_map: Vec<Option<CpuId>> = g.iter().copied().map(Some).collect();
        cpu_map.resize(nr_units, None);
        infos.push(GroupInfo { base_offset, cpu_map });
        base_offset += nr_units * unit_size;
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
    use alloc::string::String;

    fn cpus(n: u32) -> Vec<CpuId> {
        (0..n).map(CpuId::new).collect()
    }

    /// research/linux-percpu.md §2.3: x86_64, 4 CPUs on 2 nodes, 2 MiB atom.
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

    /// research/linux-percpu.md §2.3: arm64, page atom.
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
