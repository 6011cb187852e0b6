//! The consistency check of the whole state.

use super::State;
use crate::allocator::bitmap::test_bit;
use crate::allocator::chunk::ChunkKind;
use crate::allocator::slots::{Slots, UNLISTED};
use crate::layout::{MIN_ALLOC_SHIFT, MIN_ALLOC_SIZE};
use alloc::format;
use alloc::string::String;

impl State {
    /// Checks that `addr` starts a live area of exactly `bits` granules, aligned to
    /// `align_bits`, outside the reserved region (a cached area).
    pub(crate) fn check_area(&self, addr: usize, bits: u32, align_bits: u32) -> Result<(), String> {
        let ptr = self.geo.encode(addr);
        let fixed = self.fixed.iter().find(|f| addr.wrapping_sub(f.0) < f.1).map(|f| f.2);
        let id = fixed
            .or_else(|| self.index.lookup(addr).map(|e| e.1))
            .ok_or_else(|| format!("area {ptr:?} is in no chunk"))?;
        let c = self.chunk(id).ok_or_else(|| format!("area {ptr:?}: chunk {id} is gone"))?;
        if c.kind == ChunkKind::Reserved {
            return Err(format!("area {ptr:?} is in the reserved region"));
        }
        let rel = addr - c.base - c.map_offset;
        let p = (rel >> MIN_ALLOC_SHIFT) as u32;
        if rel % MIN_ALLOC_SIZE != 0 || p % align_bits != 0 {
            return Err(format!("area {ptr:?} is misaligned"));
        }
        match c.map.area_at(p) {
            Ok(len) if len == bits => Ok(()),
            Ok(len) => Err(format!("area {ptr:?} is {len} granules, its class {bits}")),
            Err(e) => Err(format!("area {ptr:?} is not live: {e:?}")),
        }
    }

    // ---------------------------------------------------------------------------------------
    // Checking.

    /// Checks every chunk's map and every count and list against the chunks.
    pub(crate) fn verify(&self) -> Result<(), String> {
        let (mut empty, mut populated, mut areas, mut nr) = (0usize, 0usize, 0u64, 0usize);
        for (id, c) in self.chunks() {
            nr += 1;
            c.map
                .verify()
                .map_err(|e| format!("chunk {id} ({:?} at {:#x}): {e}", c.kind, c.base))?;
            let n = c.map.nr_blocks();
            let pop = (0..n).filter(|&k| c.is_populated(k)).count();
            let ep = (0..n).filter(|&k| c.is_populated(k) && c.map.block_is_free(k)).count();
            if pop != c.nr_populated as usize || ep != c.nr_empty_pop as usize {
                return Err(format!(
                    "chunk {id}: populated/empty {}/{} but {pop}/{ep}",
                    c.nr_populated, c.nr_empty_pop
                ));
            }
            // Every live area lies in populated pages, but for areas being populated right now
            // (taken by a sleeping allocation that populates its pages outside the lock).
            let alloc = c.map.alloc_map();
            let (s, e) = c.map.usable();
            let pending = |b: u32| {
                self.populating
                    .iter()
                    .any(|&(pid, bit, bits)| pid == id && (bit..bit + bits).contains(&b))
            };
            for k in 0..n {
                if !c.is_populated(k) {
                    let shift = c.map.block_bits().trailing_zeros();
                    let (lo, hi) = ((k << shift).max(s), ((k + 1) << shift).min(e));
                    if (lo..hi).any(|b| test_bit(&alloc, b) && !pending(b)) {
                        return Err(format!(
                            "chunk {id}: page {k} has live data but is not populated"
                        ));
                    }
                }
            }
            populated += c.nr_populated as usize;
            if c.kind != ChunkKind::Reserved {
                empty += c.nr_empty_pop as usize;
            }
            areas += c.map.nr_areas() as u64;
            let slot = self.slots.slot_of(id);
            let want = if c.kind == ChunkKind::Reserved {
                UNLISTED
            } else if c.map.is_empty() {
                self.slots.free_slot()
            } else {
                Slots::size_slot(c.map.contig_bits())
            };
            let relegated = slot == self.slots.relegated_slot() && !c.map.is_empty();
            if !(slot == want || relegated) {
                return Err(format!("chunk {id} is in slot {slot}, expected {want}"));
            }
            if slot != UNLISTED && !self.slots.iter(slot).any(|x| x == id) {
                return Err(format!("chunk {id} is not in the list of its slot {slot}"));
            }
            if c.kind == ChunkKind::Dynamic && self.index.lookup(c.base).map(|e| e.1) != Some(id) {
                return Err(format!("chunk {id} is not found by the address index"));
            }
        }
        if (empty, populated, areas, nr)
            != (
                self.nr_empty_pop,
                self.nr_populated,
                self.counters.nr_taken,
                self.counters.nr_chunks,
            )
        {
            return Err(format!(
                "totals empty/populated/live/chunks {}/{}/{}/{} but {empty}/{populated}/{areas}/{nr}",
                self.nr_empty_pop,
                self.nr_populated,
                self.counters.nr_taken,
                self.counters.nr_chunks
            ));
        }
        let dynamic = self.chunks().filter(|(_, c)| c.kind == ChunkKind::Dynamic).count();
        if self.index.len() < dynamic || self.index.len() > 2 * dynamic {
            return Err(format!(
                "address index has {} entries for {dynamic} chunks",
                self.index.len()
            ));
        }
        Ok(())
    }
}
