//! One chunk as the allocator sees it (where it is, its [`ChunkMap`], which of its pages are
//! populated), and the index that finds the chunk of an address in O(1) for `free`: a hash
//! table that keeps chunks reserved side by side in neighbouring slots, so that frees moving
//! through a run of chunks find their entries in cache ([`ChunkIndex`]; the state checks the
//! chunk it found last before asking the index).
//!
//! Sizes: `base` and `map_offset` are bytes; pages are pages of one unit (the same page of every
//! unit: a chunk's pages are populated for all CPUs at once). Block `k` of the map is unit page
//! `map_offset / page_size + k`.

use super::bitmap::{ChunkMap, PageBits, set_bit, test_bit};
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
    pub populated: PageBits,
    /// Populated pages (per unit).
    pub nr_populated: u32,
    /// Populated pages with nothing allocated (per unit).
    pub nr_empty_pop: u32,
    /// What it is.
    pub kind: ChunkKind,
    /// Given fully mapped and never to be populated or depopulated (docs/architecture.md,
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
        let mut pop = PageBits::new(nr_pages);
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

    /// The end of the populated pages from the page of `bit` on: the first bit of the first
    /// page after it that is not populated (or the map's end).
    #[inline]
    pub(crate) fn populated_until(&self, bit: u32) -> u32 {
        let shift = self.map.block_bits().trailing_zeros();
        let mut k = bit >> shift;
        while k < self.map.nr_blocks() && self.is_populated(k) {
            k += 1;
        }
        k << shift
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
/// touches at most two keys: each chunk is entered under both, and a lookup checks the entries
/// from its key's home slot on (linear probing, backward-shift deletion) until one's range holds
/// the address. At most three ranges meet one key, so each key gets four slots (the table is
/// kept at most a quarter full).
///
/// Homes keep address order within a neighbourhood of 256 keys (consecutive keys, consecutive
/// groups of four slots), and neighbourhoods are placed by a multiplicative hash. Chunks
/// reserved next to each other (the usual case: one address region serves them all) so have
/// their entries side by side, and a free that moves on to the next chunk finds its entry in the
/// cache line the previous lookup brought in, while scattered reservations still spread over
/// the table.
#[derive(Debug)]
pub(crate) struct ChunkIndex {
    shift: u32,
    unit_size: usize,
    /// `id == NIL` marks a free slot.
    entries: Vec<Entry>,
    len: usize,
}

/// Slots per key (`1 << 2`): more than the three ranges that can meet one key.
const SPREAD_SHIFT: u32 = 2;
/// Keys whose homes stay in address order (`1 << 8`).
const NEIGHBOURHOOD_SHIFT: u32 = 8;

/// One index entry: a chunk's base and id (so a lookup touches no chunk).
#[derive(Clone, Copy, Debug)]
struct Entry {
    base: usize,
    id: ChunkId,
    /// Entered under the key of its range's last byte (else of its first byte).
    last: bool,
}

const VACANT: Entry = Entry { base: 0, id: NIL, last: false };

impl ChunkIndex {
    /// An empty index for chunks of `unit_size` bytes per unit.
    pub(crate) fn new(unit_size: usize) -> Self {
        ChunkIndex {
            shift: unit_size.next_power_of_two().trailing_zeros(),
            unit_size,
            entries: vec![VACANT; 16 << SPREAD_SHIFT],
            len: 0,
        }
    }

    /// The home slot of `key`.
    #[inline(always)]
    fn home(&self, key: usize) -> usize {
        let bits = self.entries.len().trailing_zeros();
        let near = (key & ((1 << NEIGHBOURHOOD_SHIFT) - 1)) << SPREAD_SHIFT;
        let far = (key >> NEIGHBOURHOOD_SHIFT).wrapping_mul(0x9E37_79B9_7F4A_7C15)
            >> (usize::BITS - bits);
        (far + near) & (self.entries.len() - 1)
    }

    /// The key an entry was entered under.
    fn key_of(&self, e: &Entry) -> usize {
        if e.last { (e.base + self.unit_size - 1) >> self.shift } else { e.base >> self.shift }
    }

    fn insert_entry(&mut self, entry: Entry) {
        if (self.len + 1) << SPREAD_SHIFT > self.entries.len() {
            let grown = vec![VACANT; self.entries.len() * 2];
            let old = core::mem::replace(&mut self.entries, grown);
            self.len = 0;
            for e in old {
                if e.id != NIL {
                    self.insert_entry(e);
                }
            }
        }
        let mask = self.entries.len() - 1;
        let mut i = self.home(self.key_of(&entry));
        while self.entries[i].id != NIL {
            i = (i + 1) & mask;
        }
        self.entries[i] = entry;
        self.len += 1;
    }

    fn remove_entry(&mut self, entry: Entry) {
        let mask = self.entries.len() - 1;
        let mut i = self.home(self.key_of(&entry));
        loop {
            let e = self.entries[i];
            if e.id == NIL {
                return;
            }
            if e.id == entry.id && e.last == entry.last {
                break;
            }
            i = (i + 1) & mask;
        }
        // Backward-shift deletion: move later entries of the probe run into the hole when
        // their home position allows it.
        let mut j = i;
        loop {
            j = (j + 1) & mask;
            let e = self.entries[j];
            if e.id == NIL {
                break;
            }
            let h = self.home(self.key_of(&e));
            let stays = if i <= j { i < h && h <= j } else { i < h || h <= j };
            if !stays {
                self.entries[i] = e;
                i = j;
            }
        }
        self.entries[i] = VACANT;
        self.len -= 1;
    }

    /// Whether a chunk at `base` is entered under two keys.
    fn two_keys(&self, base: usize) -> bool {
        base >> self.shift != (base + self.unit_size - 1) >> self.shift
    }

    /// Enters chunk `id` at `base`.
    pub(crate) fn insert(&mut self, base: usize, id: ChunkId) {
        self.insert_entry(Entry { base, id, last: false });
        if self.two_keys(base) {
            self.insert_entry(Entry { base, id, last: true });
        }
    }

    /// Removes chunk `id` at `base`.
    pub(crate) fn remove(&mut self, base: usize, id: ChunkId) {
        self.remove_entry(Entry { base, id, last: false });
        if self.two_keys(base) {
            self.remove_entry(Entry { base, id, last: true });
        }
    }

    /// The chunk that owns `addr` (`base <= addr < base + unit_size`), with its base.
    #[inline]
    pub(crate) fn lookup(&self, addr: usize) -> Option<(usize, ChunkId)> {
        let mask = self.entries.len() - 1;
        let mut i = self.home(addr >> self.shift);
        loop {
            let e = &self.entries[i];
            if e.id == NIL {
                return None;
            }
            if addr.wrapping_sub(e.base) < self.unit_size {
                return Some((e.base, e.id));
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
            assert_eq!(index.lookup(b), Some((b, i as ChunkId)));
            assert_eq!(index.lookup(b + unit - 4), Some((b, i as ChunkId)));
            assert_eq!(index.lookup(b + unit), None);
        }
        for i in (0..500).step_by(3) {
            index.remove(bases[i], i as ChunkId);
        }
        for (i, &b) in bases.iter().enumerate() {
            let want = if i % 3 == 0 { None } else { Some((b, i as ChunkId)) };
            assert_eq!(index.lookup(b + 100), want);
        }
    }

    /// Every layout a backend may produce: chunks side by side (several per key), spaced by a
    /// power of two that aliases the neighbourhood placement, and scattered; removals in
    /// between. Every chunk is found at both ends of its range, nothing outside any range is.
    #[test]
    fn index_layouts() {
        let unit = 40 << 10;
        let layouts: [&dyn Fn(usize) -> usize; 4] = [
            &|i| 0x7f00_0000_0000 - i * unit,
            &|i| 0x1000_0000 + i * (unit + 4096),
            &|i| 0x10_0000_0000 + i * (1 << 34),
            &|i| 0x4000_0000 + (i.wrapping_mul(0x9E37_79B9) % 100_000) * 3 * unit,
        ];
        for layout in layouts {
            let mut index = ChunkIndex::new(unit);
            let mut bases: Vec<usize> = Vec::new();
            for i in 0..3000 {
                let b = layout(i);
                if bases.contains(&b) {
                    continue;
                }
                index.insert(b, bases.len() as ChunkId);
                bases.push(b);
                if i % 7 == 6 {
                    let gone = bases.len() - 4;
                    index.remove(bases[gone], gone as ChunkId);
                    bases[gone] = 0;
                }
            }
            for (i, &b) in bases.iter().enumerate() {
                if b == 0 {
                    continue;
                }
                assert_eq!(index.lookup(b), Some((b, i as ChunkId)));
                assert_eq!(index.lookup(b + unit - 4), Some((b, i as ChunkId)));
                if !bases.contains(&(b + unit)) {
                    assert_eq!(index.lookup(b + unit), None);
                }
            }
            let live = bases.iter().filter(|&&b| b != 0).count();
            assert!(index.len() >= live && index.len() <= 2 * live);
        }
    }
}
