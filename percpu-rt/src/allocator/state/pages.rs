//! Population and the balance step's picks: which pages to populate or release, which chunk to
//! destroy.

use super::{PageRun, Placed, State};
use crate::allocator::chunk::{Chunk, ChunkId, ChunkKind};
use alloc::vec::Vec;

impl State {
    // ---------------------------------------------------------------------------------------
    // Population.

    /// The first run of unpopulated pages of chunk `id` among the pages of `placed`.
    pub(crate) fn unpopulated_run(&self, placed: &Placed) -> Option<PageRun> {
        let c = self.chunk(placed.id)?;
        let shift = c.map.block_bits().trailing_zeros();
        let (k0, k1) = (placed.bit >> shift, (placed.bit + placed.span() - 1) >> shift);
        let start = (k0..=k1).find(|&k| !c.is_populated(k))?;
        let end = (start..=k1).find(|&k| c.is_populated(k)).unwrap_or(k1 + 1);
        Some(self.run(placed.id, c, start, end))
    }

    pub(super) fn run(&self, id: ChunkId, c: &Chunk, start: u32, end: u32) -> PageRun {
        PageRun {
            id,
            base: c.base,
            start,
            end,
            unit_start: c.first_page(self.geo.page_shift) + start as usize,
        }
    }

    /// Records that pages `run` are populated.
    ///
    /// RETURNS: `false` (and changes nothing) for an immutable chunk: asking to populate one is
    /// a bug.
    pub(crate) fn set_populated(&mut self, run: &PageRun) -> bool {
        let Some(c) = self.chunks.get_mut(run.id as usize).and_then(Option::as_mut) else {
            return false;
        };
        if c.immutable {
            return false;
        }
        for k in run.start..run.end {
            if !c.is_populated(k) {
                crate::allocator::bitmap::set_bit(&mut c.populated, k);
                c.nr_populated += 1;
                self.nr_populated += 1;
                if c.map.block_is_free(k) {
                    c.nr_empty_pop += 1;
                    if c.kind != ChunkKind::Reserved {
                        self.nr_empty_pop += 1;
                    }
                }
            }
        }
        true
    }

    /// Whether chunk `id` is immutable.
    pub(crate) fn is_immutable(&self, id: ChunkId) -> bool {
        self.chunk(id).is_some_and(|c| c.immutable)
    }

    // ---------------------------------------------------------------------------------------
    // Balance.

    /// Takes out a fully free dynamic chunk whose empty pages are not needed to stay at or
    /// above the low mark.
    pub(crate) fn take_free_chunk(&mut self) -> Option<Chunk> {
        let victim = self.slots.iter(self.slots.free_slot()).find(|&id| {
            self.chunk(id).is_some_and(|c| {
                c.kind == ChunkKind::Dynamic
                    && c.map.is_empty()
                    && self.nr_empty_pop - c.nr_empty_pop as usize >= self.low
            })
        })?;
        self.remove(victim)
    }

    /// Takes out every dynamic chunk (the allocator is going away).
    pub(crate) fn drain_dynamic(&mut self) -> Vec<Chunk> {
        let ids: Vec<ChunkId> =
            self.chunks().filter(|(_, c)| c.kind == ChunkKind::Dynamic).map(|(id, _)| id).collect();
        ids.into_iter().filter_map(|id| self.remove(id)).collect()
    }

    /// Picks empty populated pages to release while there are more than the high mark, from
    /// chunks with ids at or after `*cursor` (advanced), and marks them unpopulated at once so
    /// that no allocation uses them meanwhile.
    pub(crate) fn pick_depopulate(&mut self, cursor: &mut ChunkId) -> Option<PageRun> {
        while self.nr_empty_pop > self.high && (*cursor as usize) < self.chunks.len() {
            let id = *cursor;
            let excess = (self.nr_empty_pop - self.high) as u32;
            let Some(c) = self.chunks[id as usize].as_mut() else {
                *cursor += 1;
                continue;
            };
            if c.kind != ChunkKind::Dynamic || c.immutable || c.nr_empty_pop == 0 {
                *cursor += 1;
                continue;
            }
            // The last run of empty populated pages (keep populated pages near the start).
            let n = c.map.nr_blocks();
            let is_empty_pop = |c: &Chunk, k: u32| c.is_populated(k) && c.map.block_is_free(k);
            let Some(last) = (0..n).rev().find(|&k| is_empty_pop(c, k)) else {
                *cursor += 1;
                continue;
            };
            let mut start = last;
            while start > 0 && last + 1 - start < excess && is_empty_pop(c, start - 1) {
                start -= 1;
            }
            let end = last + 1;
            for k in start..end {
                crate::allocator::bitmap::clear_bit(&mut c.populated, k);
            }
            let count = end - start;
            c.nr_populated -= count;
            c.nr_empty_pop -= count;
            self.nr_populated -= count as usize;
            self.nr_empty_pop -= count as usize;
            let c = self.chunk(id)?;
            return Some(self.run(id, c, start, end));
        }
        None
    }

    /// How many empty pages the balance step should populate now.
    pub(crate) fn populate_need(&self) -> usize {
        if self.atomic_failed || self.nr_empty_pop < self.low {
            self.high.saturating_sub(self.nr_empty_pop)
        } else {
            0
        }
    }

    /// Picks up to `max` free unpopulated pages to populate, fullest chunk first.
    pub(crate) fn pick_populate(&self, max: usize) -> Option<PageRun> {
        let order = (0..self.slots.nr_slots())
            .filter(|&s| s != self.slots.free_slot())
            .chain([self.slots.free_slot()]);
        for slot in order {
            for id in self.slots.iter(slot) {
                let Some(c) = self.chunk(id) else { continue };
                if c.immutable
                    || c.kind != ChunkKind::Dynamic
                    || c.nr_populated == c.map.nr_blocks()
                {
                    continue;
                }
                let n = c.map.nr_blocks();
                let wanted = |k: u32| !c.is_populated(k) && c.map.block_is_free(k);
                if let Some(start) = (0..n).find(|&k| wanted(k)) {
                    let mut end = start + 1;
                    while end < n && ((end - start) as usize) < max && wanted(end) {
                        end += 1;
                    }
                    return Some(self.run(id, c, start, end));
                }
            }
        }
        None
    }
}
