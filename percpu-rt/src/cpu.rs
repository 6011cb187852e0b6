//! The possible-CPU table and each possible CPU's per-CPU offset.
//!
//! The table is installed once, by the first-chunk setup, and never changes afterwards: every
//! *possible* CPU (present, hot-pluggable or not yet started) has a unit, so bringing a CPU
//! online needs no new memory. Before setup the only possible CPU is CPU 0, whose offset is 0:
//! early accesses reach the template itself.

use crate::boot_memory::{self, OutOfBootMemory, Table};
use crate::cpu_id::CpuId;
use core::fmt;

/// An access named a CPU that has no unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpuNotPossible {
    /// The CPU that was named.
    pub cpu: CpuId,
}

impl fmt::Display for CpuNotPossible {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match TABLE.get() {
            None => write!(
                f,
                "CPU {} is not a possible CPU: the first-chunk setup has not run yet, so only CPU 0 \
                 (the template) exists; set up the first chunk before touching other CPUs' copies",
                self.cpu
            ),
            Some(t) => write!(
                f,
                "CPU {} is not a possible CPU: this system has {} possible CPUs, ids {}; name a CPU \
                 from percpu_rt::possible_cpus()",
                self.cpu,
                t.possible.len(),
                IdRanges(&t.possible)
            ),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for CpuNotPossible {}

/// Formats sorted CPU ids as ranges: `0-3,8,10-11`.
pub(crate) struct IdRanges<'a>(pub &'a [CpuId]);

impl fmt::Display for IdRanges<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut i = 0;
        let ids = self.0;
        while i < ids.len() {
            let start = ids[i].as_u32();
            let mut end = start;
            while i + 1 < ids.len() && ids[i + 1].as_u32() == end + 1 {
                i += 1;
                end += 1;
            }
            if start != ids[0].as_u32() {
                f.write_str(",")?;
            }
            if start == end {
                write!(f, "{start}")?;
            } else {
                write!(f, "{start}-{end}")?;
            }
            i += 1;
        }
        Ok(())
    }
}

/// Offsets of every possible CPU, installed once by the first-chunk setup (on the heap with
/// the `alloc` feature, in the boot memory without it).
#[derive(Debug)]
pub(crate) struct CpuTable {
    /// `offsets[id]` for CPU `id`, [`NOT_POSSIBLE`] for ids without a unit.
    offsets: Table<usize>,
    /// The possible CPUs, ascending.
    possible: Table<CpuId>,
    /// `possible[i]`'s offset, for walking every CPU's copy without a lookup per CPU.
    possible_offsets: Table<usize>,
}

/// Marks an id without a unit. Never a real offset: units and the template are page-aligned.
const NOT_POSSIBLE: usize = usize::MAX;

impl CpuTable {
    /// A table from `(cpu, offset)` pairs; the CPUs must be distinct.
    pub(crate) fn new<I>(pairs: I) -> Result<Self, OutOfBootMemory>
    where
        I: Iterator<Item = (CpuId, usize)> + Clone,
    {
        let max = pairs.clone().map(|(c, _)| c.as_usize()).max().unwrap_or(0);
        let mut offsets = boot_memory::filled(NOT_POSSIBLE, max + 1)?;
        let mut possible = boot_memory::collect(pairs.clone().map(|(c, _)| c))?;
        for (cpu, offset) in pairs {
            debug_assert_ne!(offset, NOT_POSSIBLE);
            offsets[cpu.as_usize()] = offset;
        }
        possible.sort_unstable();
        let possible_offsets =
            boot_memory::collect(possible.iter().map(|c| offsets[c.as_usize()]))?;
        Ok(CpuTable { offsets, possible, possible_offsets })
    }

    /// Moves every unit by `by` bytes (a table built before its chunk's address was known).
    pub(crate) fn rebase(&mut self, by: usize) {
        for offset in self.offsets.iter_mut().chain(self.possible_offsets.iter_mut()) {
            if *offset != NOT_POSSIBLE {
                *offset = offset.wrapping_add(by);
                debug_assert_ne!(*offset, NOT_POSSIBLE);
            }
        }
    }
}

static TABLE: spin::Once<CpuTable> = spin::Once::new();

/// Installs the table; `Err(table)` if one is installed already.
pub(crate) fn install(table: CpuTable) -> Result<(), CpuTable> {
    let mut table = Some(table);
    TABLE.call_once(|| table.take().expect("taken once"));
    match table {
        None => Ok(()),
        Some(rejected) => Err(rejected),
    }
}

/// Whether the first chunk is installed: [`FirstChunk::install`] has published its CPU offset
/// table.
///
/// [`FirstChunk::install`]: crate::first_chunk::FirstChunk::install
pub fn first_chunk_installed() -> bool {
    TABLE.get().is_some()
}

/// The per-CPU offset of `cpu`: the distance from the template to that CPU's copy, the same for
/// every static and dynamic per-CPU variable (docs/architecture.md, invariant 3).
#[inline]
pub fn cpu_offset(cpu: CpuId) -> Result<usize, CpuNotPossible> {
    match TABLE.get() {
        Some(t) => match t.offsets.get(cpu.as_usize()) {
            Some(&off) if off != NOT_POSSIBLE => Ok(off),
            _ => Err(CpuNotPossible { cpu }),
        },
        None if cpu.as_u32() == 0 => Ok(0),
        None => Err(CpuNotPossible { cpu }),
    }
}

/// The possible CPUs, ascending (before setup: CPU 0 only).
pub fn possible_cpus() -> impl ExactSizeIterator<Item = CpuId> + Clone {
    const BOOT_ONLY: &[CpuId] = &[CpuId::new(0)];
    match TABLE.get() {
        Some(t) => t.possible.iter().copied(),
        None => BOOT_ONLY.iter().copied(),
    }
}

/// Every possible CPU with its offset, ascending (before setup: CPU 0 at offset 0).
pub(crate) fn possible_offsets() -> impl ExactSizeIterator<Item = (CpuId, usize)> + Clone {
    const BOOT_ONLY: (&[CpuId], &[usize]) = (&[CpuId::new(0)], &[0]);
    let (cpus, offsets) = match TABLE.get() {
        Some(t) => (&t.possible[..], &t.possible_offsets[..]),
        None => BOOT_ONLY,
    };
    cpus.iter().copied().zip(offsets.iter().copied())
}

/// How many CPUs are possible (before setup: 1).
pub fn nr_possible_cpus() -> usize {
    TABLE.get().map_or(1, |t| t.possible.len())
}
