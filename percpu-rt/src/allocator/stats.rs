//! Statistics in the spirit of Linux's `percpu_stats` (debugfs): a read-only snapshot, as a
//! struct and printable. All sizes are in bytes unless stated otherwise; "pages" are pages of
//! one unit (multiply by the number of units for memory).

use super::backend::ChunkGeometry;
use super::cache::Caches;
use super::chunk::ChunkKind;
use super::state::State;
use crate::layout::MIN_ALLOC_SHIFT;
use alloc::vec::Vec;
use core::fmt;
use core::sync::atomic::Ordering;

/// Allocator-wide figures.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GlobalStats {
    /// Allocations made (ever), through the per-CPU caches or the chunks.
    pub nr_alloc: u64,
    /// Frees made (ever).
    pub nr_dealloc: u64,
    /// Live allocations (not counting the areas held by per-CPU caches).
    pub nr_cur_alloc: u64,
    /// Most areas taken from the chunks at once: live allocations and areas held by per-CPU
    /// caches (the peak is tracked where the chunks change, not at every cached allocation).
    pub nr_max_alloc: u64,
    /// Allocations served by a per-CPU cache (included in `nr_alloc`).
    pub nr_cache_alloc: u64,
    /// Frees taken by a per-CPU cache (included in `nr_dealloc`).
    pub nr_cache_dealloc: u64,
    /// Free areas held by the per-CPU caches (taken in the chunks' bitmaps: the chunks'
    /// `free_bytes` do not count them).
    pub nr_cached: u64,
    /// Bytes per unit of those areas.
    pub cached_bytes: usize,
    /// Chunks now (the first chunk's dynamic and reserved regions count as one each).
    pub nr_chunks: usize,
    /// Most chunks at once.
    pub nr_max_chunks: usize,
    /// Smallest request served (0 if none).
    pub min_alloc_size: usize,
    /// Largest request served.
    pub max_alloc_size: usize,
    /// Populated pages with nothing allocated (reserved region excluded).
    pub empty_pop_pages: usize,
    /// Populated pages, all chunks (the first chunk's regions included).
    pub populated_pages: usize,
    /// Bytes per unit.
    pub unit_size: usize,
    /// Bytes per page.
    pub page_size: usize,
    /// Units per chunk (possible CPUs).
    pub nr_units: usize,
    /// The largest request allowed.
    pub alloc_size_limit: usize,
    /// Bytes of allocator metadata (bitmaps, hints, tables).
    pub metadata_bytes: usize,
}

/// One chunk's figures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkStats {
    /// What the chunk is.
    pub kind: ChunkKind,
    /// Its base address.
    pub base: usize,
    /// Pages its map covers.
    pub nr_pages: usize,
    /// Live areas.
    pub nr_alloc: u32,
    /// Free bytes.
    pub free_bytes: usize,
    /// Largest free run.
    pub contig_bytes: usize,
    /// Free runs.
    pub nr_frag: u32,
    /// Bytes in free runs other than the largest.
    pub sum_frag: usize,
    /// Populated pages.
    pub populated_pages: usize,
    /// Populated pages with nothing allocated.
    pub empty_pop_pages: usize,
    /// Whether it is never populated or depopulated.
    pub immutable: bool,
    /// Whether the search passed over it for misalignment (until its next change).
    pub relegated: bool,
    /// Bytes of its bitmaps and hints.
    pub metadata_bytes: usize,
}

/// A snapshot of the allocator's statistics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stats {
    /// Allocator-wide figures.
    pub global: GlobalStats,
    /// Every chunk, the first chunk's regions first.
    pub chunks: Vec<ChunkStats>,
}

impl Stats {
    /// Reads the figures from `st` (nothing is changed).
    pub(crate) fn collect(
        st: &State,
        geometry: &ChunkGeometry,
        limit: usize,
        caches: &Caches,
    ) -> Stats {
        let granule = |bits: u32| (bits as usize) << MIN_ALLOC_SHIFT;
        let mut chunks: Vec<ChunkStats> = st
            .chunks()
            .map(|(id, c)| {
                let (nr_frag, sum, max) = c.map.fragments();
                ChunkStats {
                    kind: c.kind,
                    base: c.base,
                    nr_pages: c.map.nr_blocks() as usize,
                    nr_alloc: c.map.nr_areas(),
                    free_bytes: granule(c.map.free_bits()),
                    contig_bytes: granule(c.map.contig_bits()),
                    nr_frag,
                    sum_frag: granule(sum - max),
                    populated_pages: c.nr_populated as usize,
                    empty_pop_pages: c.nr_empty_pop as usize,
                    immutable: c.immutable,
                    relegated: st.slot_of(id) == st.slots().relegated_slot(),
                    metadata_bytes: c.map.metadata_bytes() + c.populated.heap_bytes(),
                }
            })
            .collect();
        chunks.sort_by_key(|c| match c.kind {
            ChunkKind::Reserved => 0,
            ChunkKind::First => 1,
            ChunkKind::Dynamic => 2,
        });
        let c = st.counters;
        let metadata_bytes = chunks.iter().map(|c| c.metadata_bytes).sum::<usize>()
            + st.table_bytes()
            + caches.metadata_bytes();
        let (mut nr_alloc, mut nr_dealloc) = (c.nr_alloc, c.nr_dealloc);
        let (mut min_alloc_size, mut max_alloc_size) = (c.min_alloc_size, c.max_alloc_size);
        let (mut nr_cached, mut cached_bits) = (0u64, 0u64);
        let (mut nr_cache_alloc, mut nr_cache_dealloc) = (0u64, 0u64);
        for cache in caches.iter() {
            let k = &cache.counts;
            nr_cache_alloc += k.nr_alloc.load(Ordering::Relaxed);
            nr_cache_dealloc += k.nr_dealloc.load(Ordering::Relaxed);
            let (areas, bits) = k.held();
            nr_cached += areas;
            cached_bits += bits;
            let min = k.min_size.load(Ordering::Relaxed);
            if min != 0 && (min_alloc_size == 0 || min < min_alloc_size) {
                min_alloc_size = min;
            }
            max_alloc_size = max_alloc_size.max(k.max_size.load(Ordering::Relaxed));
        }
        nr_alloc += nr_cache_alloc;
        nr_dealloc += nr_cache_dealloc;
        Stats {
            global: GlobalStats {
                nr_alloc,
                nr_dealloc,
                nr_cur_alloc: c.nr_taken.saturating_sub(nr_cached),
                nr_max_alloc: c.nr_max_taken,
                nr_cache_alloc,
                nr_cache_dealloc,
                nr_cached,
                cached_bytes: (cached_bits as usize) << MIN_ALLOC_SHIFT,
                nr_chunks: c.nr_chunks,
                nr_max_chunks: c.nr_max_chunks,
                min_alloc_size,
                max_alloc_size,
                empty_pop_pages: st.nr_empty_pop,
                populated_pages: st.nr_populated,
                unit_size: geometry.unit_size,
                page_size: geometry.page_size,
                nr_units: geometry.units.len(),
                alloc_size_limit: limit,
                metadata_bytes,
            },
            chunks,
        }
    }

    /// Bytes of populated per-CPU memory over all units (Linux's `Percpu:` in
    /// `/proc/meminfo`).
    pub fn populated_bytes(&self) -> usize {
        self.global.populated_pages * self.global.page_size * self.global.nr_units
    }
}

/// One `percpu_stats` line.
fn line(f: &mut fmt::Formatter<'_>, name: &str, value: impl fmt::Display) -> fmt::Result {
    writeln!(f, "  {name:<20}: {value:>12}")
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let g = &self.global;
        writeln!(f, "Percpu Memory Statistics")?;
        writeln!(f, "Allocation Info:")?;
        writeln!(f, "----------------------------------------")?;
        line(f, "unit_size", g.unit_size)?;
        line(f, "page_size", g.page_size)?;
        line(f, "nr_units", g.nr_units)?;
        line(f, "alloc_size_limit", g.alloc_size_limit)?;
        writeln!(f)?;
        writeln!(f, "Global Stats:")?;
        writeln!(f, "----------------------------------------")?;
        line(f, "nr_alloc", g.nr_alloc)?;
        line(f, "nr_dealloc", g.nr_dealloc)?;
        line(f, "nr_cur_alloc", g.nr_cur_alloc)?;
        line(f, "nr_max_alloc", g.nr_max_alloc)?;
        line(f, "nr_cache_alloc", g.nr_cache_alloc)?;
        line(f, "nr_cache_dealloc", g.nr_cache_dealloc)?;
        line(f, "nr_cached", g.nr_cached)?;
        line(f, "cached_bytes", g.cached_bytes)?;
        line(f, "nr_chunks", g.nr_chunks)?;
        line(f, "nr_max_chunks", g.nr_max_chunks)?;
        line(f, "min_alloc_size", g.min_alloc_size)?;
        line(f, "max_alloc_size", g.max_alloc_size)?;
        line(f, "empty_pop_pages", g.empty_pop_pages)?;
        line(f, "populated_pages", g.populated_pages)?;
        line(f, "metadata_bytes", g.metadata_bytes)?;
        writeln!(f)?;
        writeln!(f, "Per Chunk Stats:")?;
        writeln!(f, "----------------------------------------")?;
        for c in &self.chunks {
            let tag = match (c.kind, c.relegated) {
                (ChunkKind::Reserved, _) => "Chunk: <- Reserved Chunk",
                (ChunkKind::First, _) => "Chunk: <- First Chunk",
                (ChunkKind::Dynamic, true) => "Chunk (relegated):",
                (ChunkKind::Dynamic, false) => "Chunk:",
            };
            writeln!(f, "{tag}")?;
            line(f, "base", alloc::format!("{:#x}", c.base))?;
            line(f, "nr_pages", c.nr_pages)?;
            line(f, "nr_alloc", c.nr_alloc)?;
            line(f, "free_bytes", c.free_bytes)?;
            line(f, "contig_bytes", c.contig_bytes)?;
            line(f, "nr_frag", c.nr_frag)?;
            line(f, "sum_frag", c.sum_frag)?;
            line(f, "populated_pages", c.populated_pages)?;
            line(f, "empty_pop_pages", c.empty_pop_pages)?;
            line(f, "immutable", c.immutable)?;
            writeln!(f)?;
        }
        Ok(())
    }
}
