//! One chunk as the allocator sees it (where it is, its [`ChunkMap`], which of its pages are
//! populated), and the index that finds the chunk of an address in O(1) for `free`.
//!
//! Sizes: `base` and `map_offset` are bytes; pages are pages of one unit (the same page of every
//! unit: a chunk's pages are populated for all CPUs at once). Block `k` of the map is unit page
//! `map_offset / page_size + k`.

use super::bitmap::{ChunkMap, set_bit, test_bit, words_for};
use alloc::boxed::Box;
use alloc::vec;
use alloc::vec::Vec;

/// A chunk's index in the allocator's chunk table.
pub(crate) type ChunkId = u32;
/// No chunk.
pub(crate) const NIL: ChunkId = u32::MAX;

/// What a chunk is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChunkKind {
    /// The dynamic region of the first chunk (`[static + reserved, static + reserved + dyn)`
    /// of each unit): serves allocations before any backend exists; never destroyed.
    First,
    /// The reserved region of the first chunk (`[static, static + reserved)`): reserved
    /// allocations only; never in the slots, never counted as empty pages.
    Reserved,
    /// A chunk created through the backend; destroyed by the balance step once fully free.
    Dynamic,
}

/// One chunk.
#[derive(Debug)]
pub(crate) struct Chunk {
    /// Address such that CPU `c`'s unit is at `base + unit_offset[c]`.
    pub base: usize,
    /// Byte offset in the unit of the map's first bit (page-aligned).
    pub map_offset: usize,
    /// Allocation state.
    pub map: ChunkMap,
    /// One bit per map block: the page is populated in every unit.
    pub populated: Box<[u64]>,
    /// Populated pages (per unit).
    pub nr_populated: u32,
    /// Populated pages with nothing allocated (per unit).
    pub nr_empty_pop: u32,
    /// What it is.
    pub kind: ChunkKind,
    /// Given fully mapped and never to be populated or depopulated (ARCHITECTURE.md,
    /// invariant 4).
    pub immutable: bool,
}

impl Chunk {
    /// A chunk over `nr_pages` pages from unit byte `map_offset`, usable bits
    /// `[start_bit, end_bit)`. The first chunk's regions are populated from the start; a
    /// dynamic chunk has no page populated.
    pub(crate) fn new(
        base: usize,
        map_offset: usize,
        page_shift: u32,
        nr_pages: u32,
        (start_bit, end_bit): (u32, u32),
        kind: ChunkKind,
        immutable: bool,
    ) -> Chunk {
        let populated = kind != ChunkKind::Dynamic;
        let map = ChunkMap::new(
            page_shift - crate::layout::MIN_ALLOC_SHIFT as u32,
            nr_pages,
            start_bit,
            end_bit,
        );
        let mut pop = vec![0u64; words_for(nr_pages)].into_boxed_slice();
        let mut nr_populated = 0;
        let mut nr_empty_pop = 0;
        if populated {
            for k in 0..nr_pages {
                set_bit(&mut pop, k);
                if map.block_is_free(k) {
                    nr_empty_pop += 1;
                }
            }
            nr_populated = nr_pages;
        }
        Chunk { base, map_offset, map, populated: pop, nr_populated, nr_empty_pop, kind, immutable }
    }

    /// Whether page `k` (of the map) is populated.
    #[inline]
    pub(crate) fn is_populated(&self, k: u32) -> bool {
        test_bit(&self.populated, k)
    }

    /// Whether every page of the bits `[bit, bit + bits)` is populated.
    #[inline]
    pub(crate) fn range_populated(&self, bit: u32, bits: u32) -> bool {
        let shift = self.map.block_bits().trailing_zeros();
        let (k0, k1) = (bit >> shift, (bit + bits - 1) >> shift);
        (k0..=k1).all(|k| self.is_populated(k))
    }

    /// The first page of the map (a unit page index).
    #[inline]
    pub(crate) fn first_page(&self, page_shift: u32) -> usize {
        self.map_offset >> page_shift
    }
}

/// Finds the dynamic chunk holding an address.
///
/// Chunk `c` owns the addresses `[c.base, c.base + unit_size)` (where per-CPU pointers of its
/// areas point before a CPU offset is added). These ranges are disjoint: every chunk's
/// reservation contains its own range (a group sits at offset 0), and reservations are
/// disjoint. The table is keyed by `addr >> shift` with `1 << shift >= unit_size`, so a range
/// touches at most two keys: each chunk is entered under both, and a lookup checks the chunks
/// entered under the address's key (linear probing, backward-shift deletion).
#[derive(Debug)]
pub(crate) struct ChunkIndex {
    shift: u32,
    unit_size: usize,
    /// `(key, chunk, chunk base)`; `key == EMPTY` marks a free slot.
    entries: Vec<Entry>,
    len: usize,
}

const EMPTY: usize = usize::MAX;

/// One index entry: the key, the chunk, and its base (so a lookup touches no chunk).
#[derive(Clone, Copy, Debug)]
struct Entry {
    key: usize,
    id: ChunkId,
    base: usize,
}

const VACANT: Entry = Entry { key: EMPTY, id: NIL, base: 0 };

impl ChunkIndex {
    /// An empty index for chunks of `unit_size` bytes per unit.
    pub(crate) fn new(unit_size: usize) -> Self {
        ChunkIndex {
            shift: unit_size.next_power_of_two().trailing_zeros(),
            unit_size,
            entries: vec![VACANT; 16],
            len: 0,
        }
    }

    #[inline(always)]
    fn home(&self, key: usize) -> usize {
        let bits = self.entries.len().trailing_zeros();
        (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (usize::BITS - bits)) & (self.entries.len() - 1)
    }

    fn keys(&self, base: usize) -> (usize, usize) {
        (base >> self.shift, (base + self.unit_size - 1) >> self.shift)
    }

    fn insert_entry(&mut self, entry: Entry) {
        if (self.len + 1) * 2 > self.entries.len() {
            let grown = vec![VACANT; self.entries.len() * 2];
            let old = core::mem::replace(&mut self.entries, grown);
            self.len = 0;
            for e in old {
                if e.key != EMPTY {
                    self.insert_entry(e);
                }
            }
        }
        let mask = self.entries.len() - 1;
        let mut i = self.home(entry.key);
        while self.entries[i].key != EMPTY {
            i = (i + 1) & mask;
        }
        self.entries[i] = entry;
        self.len += 1;
    }

    fn remove_key(&mut self, key: usize, id: ChunkId) {
        let mask = self.entries.len() - 1;
        let mut i = self.home(key);
        loop {
            let e = self.entries[i];
            if e.key == EMPTY {
                return;
            }
            if e.key == key && e.id == id {
                break;
            }
            i = (i + 1) & mask;
        }
        // Backward-shift deletion: move later entries of the probe run into the hole when
        // their home position allows it.
        let mut j = i;
        loop {
            j = (j + 1) & mask;
            let k = self.entries[j].key;
            if k == EMPTY {
                break;
            }
            let h = self.home(k);
            let stays = if i <= j { i < h && h <= j } else { i < h || h <= j };
            if !stays {
                self.entries[i] = self.entries[j];
                i = j;
            }
        }
        self.entries[i] = VACANT;
        self.len -= 1;
    }

    /// Enters chunk `id` at `base`.
    pub(crate) fn insert(&mut self, base: usize, id: ChunkId) {
        let (a, b) = self.keys(base);
        self.insert_entry(Entry { key: a, id, base });
        if b != a {
            self.insert_entry(Entry { key: b, id, base });
        }
    }

    /// Removes chunk `id` at `base`.
    pub(crate) fn remove(&mut self, base: usize, id: ChunkId) {
        let (a, b) = self.keys(base);
        self.remove_key(a, id);
        if b != a {
            self.remove_key(b, id);
        }
    }

    /// The chunk that owns `addr` (`base <= addr < base + unit_size`).
    #[inline]
    pub(crate) fn lookup(&self, addr: usize) -> Option<ChunkId> {
        let key = addr >> self.shift;
        let mask = self.entries.len() - 1;
        let mut i = self.home(key);
        loop {
            let e = &self.entries[i];
            if e.key == EMPTY {
                return None;
            }
            if e.key == key && addr.wrapping_sub(e.base) < self.unit_size {
                return Some(e.id);
            }
            i = (i + 1) & mask;
        }
    }

    /// Number of entries (two per chunk at most).
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Bytes of metadata.
    pub(crate) fn metadata_bytes(&self) -> usize {
        self.entries.len() * core::mem::size_of::<Entry>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_finds_every_chunk_after_removals() {
        let unit = 40 << 10;
        let mut index = ChunkIndex::new(unit);
        let bases: Vec<usize> = (0..500).map(|i| 0x10_0000 + i * (unit * 3 + 4096)).collect();
        for (i, &b) in bases.iter().enumerate() {
            index.insert(b, i as ChunkId);
        }
        for (i, &b) in bases.iter().enumerate() {
            assert_eq!(index.lookup(b), Some(i as ChunkId));
            assert_eq!(index.lookup(b + unit - 4), Some(i as ChunkId));
            assert_eq!(index.lookup(b + unit), None);
        }
        for i in (0..500).step_by(3) {
            index.remove(bases[i], i as ChunkId);
        }
        for (i, &b) in bases.iter().enumerate() {
            let want = if i % 3 == 0 { None } else { Some(i as ChunkId) };
            assert_eq!(index.lookup(b + 100), want);
        }
    }
}
