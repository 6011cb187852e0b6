//! [`ChunkMap`]: the bitmaps and hints of one chunk, its construction and accessors. The search
//! is in `search.rs`, allocation and free in `update.rs`, the checks in `check.rs`.

use super::bits::{
    Lane, LaneMut, PageBits, Pair, WORD_BITS, WORD_SHIFT, set_range, test_bit, words_for,
};
use super::hints::{Block, FitCache, Region};
use alloc::boxed::Box;
use alloc::vec;

#[derive(Debug)]
pub(crate) struct ChunkMap {
    pub(super) block_shift: u32,
    pub(super) nr_blocks: u32,
    pub(super) nr_bits: u32,
    pub(super) start_bit: u32,
    pub(super) end_bit: u32,
    /// The allocation bitmap (`nr_bits` bits) and the boundary bitmap (`nr_bits + 1` bits),
    /// interleaved word by word ([`Pair`]). The allocation word past the map reads as
    /// allocated.
    pub(super) pairs: Box<[Pair]>,
    pub(super) blocks: Box<[Block]>,
    /// One bit per block: fully free.
    pub(super) full_free: PageBits,
    pub(super) contig: Region,
    pub(super) scan_hint: u32,
    pub(super) first_free: u32,
    pub(super) free_bits: u32,
    pub(super) nr_areas: u32,
    pub(super) fit: FitCache,
}

impl ChunkMap {
    /// A map of `nr_blocks` blocks of `1 << block_shift` bits (`block_shift >= 6`) whose usable
    /// bits are `[start_bit, end_bit)`; everything else stays allocated forever.
    pub(crate) fn new(block_shift: u32, nr_blocks: u32, start_bit: u32, end_bit: u32) -> Self {
        debug_assert!(block_shift >= WORD_SHIFT);
        let nr_bits = nr_blocks << block_shift;
        debug_assert!(start_bit <= end_bit && end_bit <= nr_bits);
        let nr_pairs = words_for(nr_bits + 1);
        let mut pairs = vec![Pair { alloc: 0, bound: 0 }; nr_pairs].into_boxed_slice();
        let mut alloc = LaneMut::<false>(&mut pairs);
        set_range(&mut alloc, 0, start_bit);
        set_range(&mut alloc, end_bit, nr_pairs as u32 * WORD_BITS);
        let block_bits = 1u32 << block_shift;
        let mut map = ChunkMap {
            block_shift,
            nr_blocks,
            nr_bits,
            start_bit,
            end_bit,
            pairs,
            blocks: vec![Block::full(block_bits); nr_blocks as usize].into_boxed_slice(),
            full_free: PageBits::new(nr_blocks),
            contig: Region::EMPTY,
            scan_hint: 0,
            first_free: if start_bit < end_bit { start_bit } else { nr_bits },
            free_bits: end_bit - start_bit,
            nr_areas: 0,
            fit: FitCache::default(),
        };
        for k in 0..nr_blocks {
            map.rescan_block(k);
        }
        map.refresh();
        map
    }

    /// Bits per block.
    #[inline(always)]
    pub(crate) fn block_bits(&self) -> u32 {
        1 << self.block_shift
    }

    /// Number of blocks (pages).
    #[inline(always)]
    pub(crate) fn nr_blocks(&self) -> u32 {
        self.nr_blocks
    }

    /// The usable bits.
    #[inline(always)]
    pub(crate) fn usable(&self) -> (u32, u32) {
        (self.start_bit, self.end_bit)
    }

    /// Free usable bits.
    #[inline(always)]
    pub(crate) fn free_bits(&self) -> u32 {
        self.free_bits
    }

    /// Whether no usable bit is allocated.
    #[inline(always)]
    pub(crate) fn is_empty(&self) -> bool {
        self.free_bits == self.end_bit - self.start_bit
    }

    /// Live areas.
    #[inline(always)]
    pub(crate) fn nr_areas(&self) -> u32 {
        self.nr_areas
    }

    /// The largest free run, in bits (exact).
    #[inline(always)]
    pub(crate) fn contig_bits(&self) -> u32 {
        self.contig.len
    }

    /// The first allocated bit in `[from, limit)`, or `limit`: where a free run from `from`
    /// ends.
    #[inline]
    pub(crate) fn free_until(&self, from: u32, limit: u32) -> u32 {
        super::bits::next_set(&self.alloc_map(), from, limit)
    }

    /// The allocation bitmap.
    #[inline(always)]
    pub(crate) fn alloc_map(&self) -> Lane<'_, false> {
        Lane(&self.pairs)
    }

    /// The boundary bitmap.
    #[inline(always)]
    pub(super) fn bound_map(&self) -> Lane<'_, true> {
        Lane(&self.pairs)
    }

    /// Whether block `k` is entirely free.
    #[inline(always)]
    pub(crate) fn block_is_free(&self, k: u32) -> bool {
        test_bit(&self.full_free, k)
    }

    /// Bytes of metadata this map holds (bitmaps and hints), for the statistics.
    pub(crate) fn metadata_bytes(&self) -> usize {
        self.pairs.len() * core::mem::size_of::<Pair>()
            + self.full_free.heap_bytes()
            + self.blocks.len() * core::mem::size_of::<Block>()
            + core::mem::size_of::<Self>()
    }
}
