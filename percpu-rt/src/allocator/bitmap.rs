//! The allocation state of one chunk: an allocation bitmap, a boundary bitmap and per-block
//! hints. It knows no memory: positions are bits (one bit = one 4-byte granule,
//! [`MIN_ALLOC_SIZE`](crate::layout::MIN_ALLOC_SIZE) bytes), counted from the start of the
//! chunk's map, and every hint is in bits.
//!
//! * `alloc`: bit set = granule in use (the source of truth). Bits outside the usable range
//!   `[start_bit, end_bit)` are set once and never cleared ("hidden": the static and reserved
//!   areas before the first chunk's dynamic region, the tail after it).
//! * `bound`: `nr_bits + 1` bits. Allocating `[p, p + n)` sets bit `p`, clears `(p, p + n)` and
//!   sets bit `p + n`, so `free` finds the end as the next set bit and needs no size; `free`
//!   leaves both bits. A position is the start of a live area exactly when both its `alloc` and
//!   `bound` bits are set (no bit inside a live area is ever set in `bound`).
//! * One [`Block`] per page (block = page, so "block fully free" = "page empty"): the largest
//!   free run (`contig`), a `scan_hint` bounding every *other* free run of the block, the free
//!   runs touching the block's edges (`left_free`, `right_free`) and the first free bit.
//! * The chunk keeps the same two hints over all blocks (a run may span blocks), an exact
//!   first free bit, and a one-entry *fit cache*: "no area of at least `bits` bits aligned to at
//!   least `align` starts before `pos`". That cache is what keeps a stream of equal requests that
//!   leave unusable holes (4 bytes aligned to 8) from rescanning the holes every time.
//!
//! Hint invariants (checked by [`ChunkMap::verify`]):
//! * `contig` is a maximal free run of maximal length (lowest such start not required);
//! * `scan_hint >= ` the length of every maximal free run other than `contig`;
//! * `left_free`, `right_free`, `first_free` and `free_bits` are exact.
//!
//! A request longer than `scan_hint` can therefore only fit in `contig`: it is placed with
//! arithmetic alone, no bitmap scan. Otherwise blocks whose hints rule the request out are
//! skipped, and only the remaining ones are scanned, a 64-bit word at a time. Allocation is
//! [`ChunkMap::find`] then [`ChunkMap::take`], so the caller can start fetching the area's
//! memory in between (`memory.rs`).
//!
//! # Layout
//!
//! Every `free` reads both bitmaps at the area's position, so they are stored interleaved word
//! by word ([`Pair`]: allocation word `w` next to boundary word `w`, four pairs to a cache
//! line): one line per free instead of one in each of two arrays, and a sweep through a chunk
//! is one stream of lines for the hardware prefetcher instead of two. On the reference machine
//! this took the alternating 1 KiB free from about 66 to 55 ns (chunks visited in descending
//! address order) at the cost of about half a nanosecond on small frees. The per-page bitmaps
//! (fully free blocks here, populated pages in the chunk) are [`PageBits`], inline up to 128
//! pages so they share the chunk's cache lines. The bit helpers work on any [`Words`]: a slice,
//! a [`PageBits`], or one [`Lane`] of the pairs.
//!
//! `free` checks the area with one load of the pair (both bits set) and finds its end in the
//! same boundary word when it can; the errors are worked out off the fast path.

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::vec;

/// Bits per bitmap word.
pub(crate) const WORD_BITS: u32 = 64;
/// `log2(WORD_BITS)`.
const WORD_SHIFT: u32 = 6;

#[inline(always)]
fn word(bit: u32) -> usize {
    (bit >> WORD_SHIFT) as usize
}

/// Word access to a bitmap: a plain slice of words, or one lane of a chunk's paired
/// allocation and boundary bitmaps ([`Lane`]).
pub(crate) trait Words {
    /// Word `w` (bits `[64 w, 64 w + 64)`).
    fn word(&self, w: usize) -> u64;
}

/// Word access to a bitmap that can be changed.
pub(crate) trait WordsMut: Words {
    /// Word `w`, to change.
    fn word_mut(&mut self, w: usize) -> &mut u64;

    /// Sets words `[from, to)` to `value`.
    #[inline]
    fn fill(&mut self, from: usize, to: usize, value: u64) {
        for w in from..to {
            *self.word_mut(w) = value;
        }
    }
}

impl Words for [u64] {
    #[inline(always)]
    fn word(&self, w: usize) -> u64 {
        self[w]
    }
}

impl WordsMut for [u64] {
    #[inline(always)]
    fn word_mut(&mut self, w: usize) -> &mut u64 {
        &mut self[w]
    }

    #[inline]
    fn fill(&mut self, from: usize, to: usize, value: u64) {
        self[from..to].fill(value);
    }
}

/// Word `w` of a chunk's allocation bitmap and word `w` of its boundary bitmap, side by side
/// (16 bytes, four to a cache line): `free` reads both bitmaps at the same position, so it
/// touches one line where two separate bitmaps cost two misses, and a sweep through a chunk
/// is one stream of lines, not two.
#[derive(Clone, Copy, Debug)]
#[repr(C, align(16))]
pub(crate) struct Pair {
    alloc: u64,
    bound: u64,
}

/// The allocation lane (`BOUND == false`) or the boundary lane of paired bitmaps.
#[derive(Clone, Copy)]
pub(crate) struct Lane<'a, const BOUND: bool>(&'a [Pair]);

/// A lane of paired bitmaps, to change.
pub(crate) struct LaneMut<'a, const BOUND: bool>(&'a mut [Pair]);

impl<const BOUND: bool> Words for Lane<'_, BOUND> {
    #[inline(always)]
    fn word(&self, w: usize) -> u64 {
        let pair = &self.0[w];
        if BOUND { pair.bound } else { pair.alloc }
    }
}

impl<const BOUND: bool> Words for LaneMut<'_, BOUND> {
    #[inline(always)]
    fn word(&self, w: usize) -> u64 {
        Lane::<BOUND>(self.0).word(w)
    }
}

impl<const BOUND: bool> WordsMut for LaneMut<'_, BOUND> {
    #[inline(always)]
    fn word_mut(&mut self, w: usize) -> &mut u64 {
        let pair = &mut self.0[w];
        if BOUND { &mut pair.bound } else { &mut pair.alloc }
    }
}

/// A bitmap with one bit per page of a chunk: inline up to 128 pages (the usual unit sizes),
/// so it shares its owner's cache lines instead of costing a heap line of its own (a free that
/// moves on to another chunk touches these); on the heap beyond.
#[derive(Clone, Debug)]
pub(crate) enum PageBits {
    /// Up to 128 pages.
    Inline([u64; 2]),
    /// More pages.
    Heap(Box<[u64]>),
}

impl PageBits {
    /// All clear, for `pages` pages.
    pub(crate) fn new(pages: u32) -> Self {
        if pages <= 128 {
            PageBits::Inline([0; 2])
        } else {
            PageBits::Heap(vec![0; words_for(pages)].into_boxed_slice())
        }
    }

    #[inline(always)]
    fn words(&self) -> &[u64] {
        match self {
            PageBits::Inline(w) => w,
            PageBits::Heap(w) => w,
        }
    }

    /// Bytes it holds on the heap (the statistics count the inline form with its owner).
    pub(crate) fn heap_bytes(&self) -> usize {
        match self {
            PageBits::Inline(_) => 0,
            PageBits::Heap(w) => w.len() * 8,
        }
    }
}

impl Words for PageBits {
    #[inline(always)]
    fn word(&self, w: usize) -> u64 {
        self.words()[w]
    }
}

impl WordsMut for PageBits {
    #[inline(always)]
    fn word_mut(&mut self, w: usize) -> &mut u64 {
        match self {
            PageBits::Inline(words) => &mut words[w],
            PageBits::Heap(words) => &mut words[w],
        }
    }
}

/// Whether `bit` is set.
#[inline(always)]
pub(crate) fn test_bit<M: Words + ?Sized>(map: &M, bit: u32) -> bool {
    (map.word(word(bit)) >> (bit & (WORD_BITS - 1))) & 1 != 0
}

#[inline(always)]
pub(crate) fn set_bit<M: WordsMut + ?Sized>(map: &mut M, bit: u32) {
    *map.word_mut(word(bit)) |= 1 << (bit & (WORD_BITS - 1));
}

#[inline(always)]
pub(crate) fn clear_bit<M: WordsMut + ?Sized>(map: &mut M, bit: u32) {
    *map.word_mut(word(bit)) &= !(1 << (bit & (WORD_BITS - 1)));
}

/// Masks of the first and last word of `[start, end)` (`start < end`).
#[inline(always)]
fn range_masks(start: u32, end: u32) -> (usize, usize, u64, u64) {
    let (sw, ew) = (word(start), word(end - 1));
    let smask = !0u64 << (start & (WORD_BITS - 1));
    let emask = !0u64 >> (WORD_BITS - 1 - ((end - 1) & (WORD_BITS - 1)));
    (sw, ew, smask, emask)
}

/// Sets the bits `[start, end)`.
#[inline(always)]
pub(crate) fn set_range<M: WordsMut + ?Sized>(map: &mut M, start: u32, end: u32) {
    if start >= end {
        return;
    }
    let (sw, ew, smask, emask) = range_masks(start, end);
    if sw == ew {
        *map.word_mut(sw) |= smask & emask;
    } else {
        fill_words(map, sw, ew, smask, emask, true);
    }
}

/// Clears the bits `[start, end)`.
#[inline(always)]
pub(crate) fn clear_range<M: WordsMut + ?Sized>(map: &mut M, start: u32, end: u32) {
    if start >= end {
        return;
    }
    let (sw, ew, smask, emask) = range_masks(start, end);
    if sw == ew {
        *map.word_mut(sw) &= !(smask & emask);
    } else {
        fill_words(map, sw, ew, smask, emask, false);
    }
}

/// The multi-word part of [`set_range`] / [`clear_range`].
#[inline(never)]
fn fill_words<M: WordsMut + ?Sized>(
    map: &mut M,
    sw: usize,
    ew: usize,
    smask: u64,
    emask: u64,
    set: bool,
) {
    if set {
        *map.word_mut(sw) |= smask;
        map.fill(sw + 1, ew, !0);
        *map.word_mut(ew) |= emask;
    } else {
        *map.word_mut(sw) &= !smask;
        map.fill(sw + 1, ew, 0);
        *map.word_mut(ew) &= !emask;
    }
}

/// The first bit in `[from, limit)` whose value is `!invert` (set bits when `invert == 0`,
/// clear bits when `invert == !0`), or `limit`.
#[inline(always)]
fn next_with<M: Words + ?Sized>(map: &M, from: u32, limit: u32, invert: u64) -> u32 {
    if from >= limit {
        return limit;
    }
    let mut w = word(from);
    let mut bits = (map.word(w) ^ invert) & (!0u64 << (from & (WORD_BITS - 1)));
    loop {
        if bits != 0 {
            let b = ((w as u32) << WORD_SHIFT) + bits.trailing_zeros();
            return b.min(limit);
        }
        w += 1;
        if ((w as u32) << WORD_SHIFT) >= limit {
            return limit;
        }
        bits = map.word(w) ^ invert;
    }
}

/// The first set bit in `[from, limit)`, or `limit`.
#[inline]
pub(crate) fn next_set<M: Words + ?Sized>(map: &M, from: u32, limit: u32) -> u32 {
    next_with(map, from, limit, 0)
}

/// The first clear bit in `[from, limit)`, or `limit`.
#[inline]
pub(crate) fn next_clear<M: Words + ?Sized>(map: &M, from: u32, limit: u32) -> u32 {
    next_with(map, from, limit, !0)
}

/// The last bit in `[floor, before)` whose value is `!invert`, if any.
#[inline(always)]
fn prev_with<M: Words + ?Sized>(map: &M, floor: u32, before: u32, invert: u64) -> Option<u32> {
    if before <= floor {
        return None;
    }
    let last = before - 1;
    let mut w = word(last);
    let mut bits = (map.word(w) ^ invert) & (!0u64 >> (WORD_BITS - 1 - (last & (WORD_BITS - 1))));
    loop {
        if bits != 0 {
            let b = ((w as u32) << WORD_SHIFT) + (WORD_BITS - 1 - bits.leading_zeros());
            return if b >= floor { Some(b) } else { None };
        }
        if w == 0 || ((w as u32) << WORD_SHIFT) <= floor {
            return None;
        }
        w -= 1;
        bits = map.word(w) ^ invert;
    }
}

/// The last set bit in `[floor, before)`, if any.
#[inline]
pub(crate) fn prev_set<M: Words + ?Sized>(map: &M, floor: u32, before: u32) -> Option<u32> {
    prev_with(map, floor, before, 0)
}

/// The last clear bit in `[floor, before)`, if any.
#[inline]
pub(crate) fn prev_clear<M: Words + ?Sized>(map: &M, floor: u32, before: u32) -> Option<u32> {
    prev_with(map, floor, before, !0)
}

/// Words needed for `bits` bits.
pub(crate) const fn words_for(bits: u32) -> usize {
    bits.div_ceil(WORD_BITS) as usize
}

/// `x` rounded up to `align` (a power of two).
#[inline(always)]
fn align_up(x: u32, align: u32) -> u32 {
    (x + align - 1) & !(align - 1)
}

/// For an alignment below 64 bits: the bit positions of a word that are multiples of it.
#[inline(always)]
fn align_pattern(align: u32) -> u64 {
    match align {
        1 => !0,
        2 => 0x5555_5555_5555_5555,
        4 => 0x1111_1111_1111_1111,
        8 => 0x0101_0101_0101_0101,
        16 => 0x0001_0001_0001_0001,
        32 => 0x0000_0001_0000_0001,
        _ => 1,
    }
}

/// A free run: `len` bits from `start`. Empty when `len == 0`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Region {
    /// First bit.
    pub start: u32,
    /// Length in bits.
    pub len: u32,
}

impl Region {
    const EMPTY: Region = Region { start: 0, len: 0 };

    #[inline(always)]
    pub(crate) fn end(self) -> u32 {
        self.start + self.len
    }
}

/// The hints of one block (one page of the unit). All positions are relative to the block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Block {
    /// The largest free run inside the block.
    pub contig: Region,
    /// At least the length of every free run of the block other than `contig`.
    pub scan_hint: u32,
    /// Free bits from the block's first bit.
    pub left_free: u32,
    /// Free bits up to the block's last bit.
    pub right_free: u32,
    /// The first free bit, or the block size if none.
    pub first_free: u32,
}

impl Block {
    /// The hints of a fully allocated block.
    const fn full(block_bits: u32) -> Block {
        Block {
            contig: Region::EMPTY,
            scan_hint: 0,
            left_free: 0,
            right_free: 0,
            first_free: block_bits,
        }
    }

    /// The hints of a fully free block.
    const fn free(block_bits: u32) -> Block {
        Block {
            contig: Region { start: 0, len: block_bits },
            scan_hint: 0,
            left_free: block_bits,
            right_free: block_bits,
            first_free: 0,
        }
    }
}

/// "No area of at least `bits` bits aligned to at least `align` bits starts before `pos`."
/// `bits == 0`: no knowledge.
#[derive(Clone, Copy, Debug, Default)]
struct FitCache {
    bits: u32,
    align: u32,
    pos: u32,
}

impl FitCache {
    /// Whether the cached knowledge applies to a request of `bits` aligned to `align`: an
    /// aligned fit for it would also be one for the cached shape.
    #[inline(always)]
    fn covers(&self, bits: u32, align: u32) -> bool {
        self.bits != 0 && bits >= self.bits && align >= self.align
    }
}

/// Why a position cannot be freed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AreaError {
    /// The granule is free: a double free, or a pointer never returned.
    NotAllocated,
    /// The granule is inside a live area that starts at the given bit.
    Interior {
        /// The area's first bit.
        start: u32,
    },
}

/// The allocation bitmap, boundary bitmap and hints of one chunk (see the module comment).
#[derive(Debug)]
pub(crate) struct ChunkMap {
    block_shift: u32,
    nr_blocks: u32,
    nr_bits: u32,
    start_bit: u32,
    end_bit: u32,
    /// The allocation bitmap (`nr_bits` bits) and the boundary bitmap (`nr_bits + 1` bits),
    /// interleaved word by word ([`Pair`]). The allocation word past the map reads as
    /// allocated.
    pairs: Box<[Pair]>,
    blocks: Box<[Block]>,
    /// One bit per block: fully free.
    full_free: PageBits,
    contig: Region,
    scan_hint: u32,
    first_free: u32,
    free_bits: u32,
    nr_areas: u32,
    fit: FitCache,
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

    /// The allocation bitmap.
    #[inline(always)]
    pub(crate) fn alloc_map(&self) -> Lane<'_, false> {
        Lane(&self.pairs)
    }

    /// The boundary bitmap.
    #[inline(always)]
    fn bound_map(&self) -> Lane<'_, true> {
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

    // ---------------------------------------------------------------------------------------
    // Search.

    /// Finds and takes the first area of `bits` bits aligned to `align` bits (a power of two):
    /// [`ChunkMap::find`], then [`ChunkMap::take`].
    ///
    /// RETURNS: the area's first bit and the change in the number of fully free blocks that are
    /// set in `populated` (zero or negative), or `None` if no area fits.
    #[cfg(test)]
    pub(crate) fn alloc(
        &mut self,
        bits: u32,
        align: u32,
        populated: &PageBits,
        pop_only: bool,
    ) -> Option<(u32, i32)> {
        let p = self.find(bits, align, populated, pop_only)?;
        Some((p, self.take(p, bits, populated)))
    }

    /// The first area of `bits` bits aligned to `align` bits (a power of two) that is free; with
    /// `pop_only`, only areas whose blocks are all set in `populated` qualify. Nothing is taken
    /// ([`ChunkMap::take`] does), but the fit cache is updated.
    ///
    /// RETURNS: the area's first bit, or `None` if no area fits.
    pub(crate) fn find(
        &mut self,
        bits: u32,
        align: u32,
        populated: &PageBits,
        pop_only: bool,
    ) -> Option<u32> {
        debug_assert!(bits > 0 && align.is_power_of_two());
        if self.contig.len < bits {
            return None;
        }
        if !pop_only && bits > self.scan_hint {
            // Every other run is shorter than the request: only `contig` can hold it.
            let c = self.contig;
            let p = align_up(c.start, align);
            return if p + bits <= c.end() { Some(p) } else { None };
        }
        let mut from = self.first_free;
        if self.fit.covers(bits, align) && self.fit.pos > from {
            from = self.fit.pos;
        }
        let found = self.search(from, bits, align, populated, pop_only);
        if !pop_only {
            // `from` was a position before which nothing of this shape fits, so after the
            // search nothing fits before the result (or anywhere, if none).
            let pos = found.map_or(self.nr_bits, |p| p + bits);
            self.fit = FitCache { bits, align, pos };
        }
        found
    }

    /// The length of the free run that starts at block `k`'s first bit, counted until it
    /// reaches `need` (or ends).
    #[inline]
    fn run_from_block(&self, mut k: u32, need: u32) -> u32 {
        let bb = self.block_bits();
        let mut got = 0;
        while k < self.nr_blocks && got < need {
            let b = &self.blocks[k as usize];
            if b.contig.len == bb {
                got += bb;
                k += 1;
            } else {
                got += b.left_free;
                break;
            }
        }
        got
    }

    /// First fit at or after `from`, block by block.
    fn search(
        &self,
        mut from: u32,
        bits: u32,
        align: u32,
        populated: &PageBits,
        pop_only: bool,
    ) -> Option<u32> {
        let bb = self.block_bits();
        let mut k = from >> self.block_shift;
        while k < self.nr_blocks {
            let bstart = k << self.block_shift;
            let bend = bstart + bb;
            if pop_only && !test_bit(populated, k) {
                k += 1;
                continue;
            }
            let b = self.blocks[k as usize];
            let lo = from.max(bstart + b.first_free);
            let mut cand = None;
            if lo < bend {
                let after = || self.run_from_block(k + 1, bits);
                let in_block = b.contig.len >= bits;
                let straddle =
                    b.right_free > 0 && b.right_free < bits && b.right_free + after() >= bits;
                if in_block || straddle {
                    if bits > b.scan_hint {
                        cand = self.direct_fit(&b, bstart, lo, bits, align);
                    } else {
                        cand = self.scan(lo, bend, bits, align);
                    }
                }
            }
            if let Some(p) = cand {
                if !pop_only {
                    return Some(p);
                }
                let last = (p + bits - 1) >> self.block_shift;
                match (k + 1..=last).find(|&j| !test_bit(populated, j)) {
                    None => return Some(p),
                    Some(j) => {
                        from = (j + 1) << self.block_shift;
                        k = j + 1;
                        continue;
                    }
                }
            }
            k += 1;
        }
        None
    }

    /// For a request longer than every free run of block `b` but its largest: the first fit
    /// starting at or after `lo` in the block's largest run or in its right-edge run (both may
    /// continue into the next blocks).
    #[inline]
    fn direct_fit(&self, b: &Block, bstart: u32, lo: u32, bits: u32, align: u32) -> Option<u32> {
        let bb = self.block_bits();
        let bend = bstart + bb;
        let k = bstart >> self.block_shift;
        let run_fit = |run_start: u32, run_end_in_block: u32| -> Option<u32> {
            if run_end_in_block <= lo {
                return None;
            }
            let p = align_up(run_start.max(lo), align);
            if p >= bend {
                return None;
            }
            let mut end = run_end_in_block;
            if end == bend && p + bits > end {
                end += self.run_from_block(k + 1, p + bits - end);
            }
            if p + bits <= end { Some(p) } else { None }
        };
        let c = b.contig;
        let mut found = if c.len > 0 { run_fit(bstart + c.start, bstart + c.end()) } else { None };
        if found.is_none() && b.right_free > 0 && c.end() != bb {
            found = run_fit(bend - b.right_free, bend);
        }
        found
    }

    /// The first aligned start in `[lo, limit)` of `bits` free bits (which may run past
    /// `limit`).
    #[inline]
    fn scan(&self, lo: u32, limit: u32, bits: u32, align: u32) -> Option<u32> {
        if bits <= WORD_BITS {
            self.scan_small(lo, limit, bits, align)
        } else {
            self.scan_runs(lo, limit, bits, align)
        }
    }

    /// [`ChunkMap::scan`] for requests of at most one word: each word (with the next one
    /// behind it) yields the mask of positions where `bits` free bits start, masked by the
    /// alignment, so a word of unusable holes costs a few instructions.
    fn scan_small(&self, lo: u32, limit: u32, bits: u32, align: u32) -> Option<u32> {
        let words = self.alloc_map();
        let nr_words = (self.nr_bits >> WORD_SHIFT) as usize;
        let first_w = word(lo);
        let last_w = word(limit - 1);
        let pattern = align_pattern(align);
        let mut w = first_w;
        loop {
            let lo_free = !words.word(w);
            if lo_free != 0 {
                let hi_free = if w + 1 < nr_words { !words.word(w + 1) } else { 0 };
                let x = (lo_free as u128) | ((hi_free as u128) << WORD_BITS);
                let mut r = x;
                let mut have = 1;
                while have * 2 <= bits {
                    r &= r >> have;
                    have *= 2;
                }
                if have < bits {
                    r &= r >> (bits - have);
                }
                let mut m = r as u64;
                m &= if align < WORD_BITS {
                    pattern
                } else if ((w as u32) << WORD_SHIFT) & (align - 1) == 0 {
                    1
                } else {
                    0
                };
                if w == first_w {
                    m &= !0u64 << (lo & (WORD_BITS - 1));
                }
                if w == last_w {
                    let e = limit - ((w as u32) << WORD_SHIFT);
                    if e < WORD_BITS {
                        m &= (1u64 << e) - 1;
                    }
                }
                if m != 0 {
                    return Some(((w as u32) << WORD_SHIFT) + m.trailing_zeros());
                }
            }
            if w == last_w {
                return None;
            }
            w += 1;
        }
    }

    /// [`ChunkMap::scan`] for longer requests: run by run.
    fn scan_runs(&self, lo: u32, limit: u32, bits: u32, align: u32) -> Option<u32> {
        let mut pos = lo;
        while pos < limit {
            let f = next_clear(&self.alloc_map(), pos, limit);
            if f >= limit {
                return None;
            }
            let p = align_up(f, align);
            if p >= limit || p + bits > self.nr_bits {
                return None;
            }
            let s = next_set(&self.alloc_map(), p, p + bits);
            if s >= p + bits {
                return Some(p);
            }
            pos = s + 1;
        }
        None
    }

    // ---------------------------------------------------------------------------------------
    // Allocation.

    /// Marks `[p, p + bits)` (free) as one allocated area and updates every hint.
    ///
    /// RETURNS: the change in fully free blocks that are set in `populated` (<= 0).
    pub(crate) fn take(&mut self, p: u32, bits: u32, populated: &PageBits) -> i32 {
        let end = p + bits;
        debug_assert!(p >= self.start_bit && end <= self.end_bit);
        debug_assert_eq!(next_set(&self.alloc_map(), p, end), end, "allocating a used range");
        set_range(&mut LaneMut::<false>(&mut self.pairs), p, end);
        let mut bound = LaneMut::<true>(&mut self.pairs);
        set_bit(&mut bound, p);
        clear_range(&mut bound, p + 1, end);
        set_bit(&mut bound, end);

        let bb = self.block_bits();
        let (k0, k1) = (p >> self.block_shift, (end - 1) >> self.block_shift);
        let mut delta = 0;
        for k in k0..=k1 {
            let bstart = k << self.block_shift;
            let ps = p.max(bstart) - bstart;
            let pe = end.min(bstart + bb) - bstart;
            if self.blocks[k as usize].contig.len == bb {
                clear_bit(&mut self.full_free, k);
                if test_bit(populated, k) {
                    delta -= 1;
                }
            }
            self.block_take(k, ps, pe);
        }
        self.free_bits -= bits;
        self.nr_areas += 1;

        if p == self.first_free {
            let mut k = k1;
            self.first_free = loop {
                let b = &self.blocks[k as usize];
                if b.first_free < bb {
                    break (k << self.block_shift) + b.first_free;
                }
                k += 1;
                if k == self.nr_blocks {
                    break self.nr_bits;
                }
            };
        }

        let c = self.contig;
        if p < c.end() && end > c.start {
            let left = Region { start: c.start, len: p - c.start };
            let right = Region { start: end, len: c.end() - end };
            let (big, small) = if right.len > left.len { (right, left) } else { (left, right) };
            if big.len >= self.scan_hint {
                self.contig = if big.len == 0 { Region::EMPTY } else { big };
                self.scan_hint = self.scan_hint.max(small.len);
            } else {
                self.refresh();
            }
        }
        delta
    }

    /// Block `k`'s hints after `[ps, pe)` (block-relative) was allocated.
    #[inline]
    fn block_take(&mut self, k: u32, ps: u32, pe: u32) {
        let bb = self.block_bits();
        if ps == 0 && pe == bb {
            self.blocks[k as usize] = Block::full(bb);
            return;
        }
        let bstart = k << self.block_shift;
        let b = &mut self.blocks[k as usize];
        if b.first_free == ps {
            let alloc = Lane::<false>(&self.pairs);
            b.first_free = next_clear(&alloc, bstart + pe, bstart + bb) - bstart;
        }
        if ps < b.left_free {
            b.left_free = ps;
        }
        if pe > bb - b.right_free {
            b.right_free = bb - pe;
        }
        let c = b.contig;
        if c.len > 0 && ps < c.end() && pe > c.start {
            let left = Region { start: c.start, len: ps - c.start };
            let right = Region { start: pe, len: c.end() - pe };
            let (big, small) = if right.len > left.len { (right, left) } else { (left, right) };
            if big.len >= b.scan_hint {
                b.contig = if big.len == 0 { Region::EMPTY } else { big };
                b.scan_hint = b.scan_hint.max(small.len);
            } else {
                self.rescan_block(k);
            }
        }
    }

    // ---------------------------------------------------------------------------------------
    // Free.

    /// Checks that `p` starts a live area.
    ///
    /// RETURNS: the area's length in bits.
    #[inline(always)]
    pub(crate) fn area_at(&self, p: u32) -> Result<u32, AreaError> {
        debug_assert!(p >= self.start_bit && p < self.end_bit);
        let w = word(p);
        let shift = p & (WORD_BITS - 1);
        let pair = self.pairs[w];
        // A live area starts where both the allocation and the boundary bit are set.
        if (pair.alloc & pair.bound) >> shift & 1 == 0 {
            return Err(self.area_error(p));
        }
        // It ends at the next boundary bit, most often in the same word.
        let later = pair.bound & (!1u64 << shift);
        let end = if later != 0 {
            ((w as u32) << WORD_SHIFT) + later.trailing_zeros()
        } else {
            next_set(&self.bound_map(), ((w as u32) + 1) << WORD_SHIFT, self.nr_bits + 1)
        };
        Ok(end - p)
    }

    /// Why `p` does not start a live area (see [`ChunkMap::area_at`]).
    #[cold]
    #[inline(never)]
    fn area_error(&self, p: u32) -> AreaError {
        if !test_bit(&self.alloc_map(), p) {
            return AreaError::NotAllocated;
        }
        let start = prev_set(&self.bound_map(), self.start_bit, p).unwrap_or(self.start_bit);
        AreaError::Interior { start }
    }

    /// Frees the live area starting at `p` (see [`ChunkMap::area_at`]); on error nothing
    /// changes.
    ///
    /// RETURNS: the area's length in bits and the change in fully free blocks that are set in
    /// `populated` (>= 0).
    #[inline]
    pub(crate) fn release(
        &mut self,
        p: u32,
        populated: &PageBits,
    ) -> Result<(u32, i32), AreaError> {
        let bits = self.area_at(p)?;
        let end = p + bits;
        // The boundary bits stay: `p` may be the end of the area before, and `end` the start
        // of the next one. Stale bits in free space are harmless: allocation clears the
        // interior of every area it makes.
        clear_range(&mut LaneMut::<false>(&mut self.pairs), p, end);

        let bb = self.block_bits();
        let (k0, k1) = (p >> self.block_shift, (end - 1) >> self.block_shift);
        let (mut run_start, mut run_end, delta) = if k0 == k1 {
            let bstart = k0 << self.block_shift;
            let (a, b) = self.block_release(k0, p - bstart, end - bstart);
            let mut delta = 0;
            if b - a == bb {
                set_bit(&mut self.full_free, k0);
                delta = test_bit(populated, k0) as i32;
            }
            (bstart + a, bstart + b, delta)
        } else {
            self.release_blocks(p, end, populated)
        };
        // Extend the run over neighbouring blocks: through the chunk's largest run if that is
        // the neighbour, else over fully free blocks.
        let c = self.contig;
        if run_start == k0 << self.block_shift && k0 > 0 {
            run_start = if c.len > 0 && c.start < run_start && c.end() >= run_start {
                c.start
            } else {
                match prev_clear(&self.full_free, 0, k0) {
                    Some(j) => ((j + 1) << self.block_shift) - self.blocks[j as usize].right_free,
                    None => 0,
                }
            };
        }
        if run_end == (k1 + 1) << self.block_shift && k1 + 1 < self.nr_blocks {
            run_end = if c.len > 0 && c.start <= run_end && c.end() > run_end {
                c.end()
            } else {
                let j = next_clear(&self.full_free, k1 + 1, self.nr_blocks);
                if j < self.nr_blocks {
                    (j << self.block_shift) + self.blocks[j as usize].left_free
                } else {
                    self.nr_bits
                }
            };
        }
        let run = Region { start: run_start, len: run_end - run_start };
        if c.len == 0 || (run.start <= c.start && c.start < run.end()) {
            self.contig = run;
        } else if run.len > c.len {
            self.scan_hint = self.scan_hint.max(c.len);
            self.contig = run;
        } else {
            self.scan_hint = self.scan_hint.max(run.len);
        }
        if p < self.first_free {
            self.first_free = p;
        }
        if run.start < self.fit.pos {
            self.fit.pos = run.start;
        }
        self.free_bits += bits;
        self.nr_areas -= 1;
        Ok((bits, delta))
    }

    /// The block updates of [`ChunkMap::release`] for an area over several blocks.
    ///
    /// RETURNS: the freed run's ends within its first and last block, and the change in fully
    /// free populated blocks.
    #[inline(never)]
    fn release_blocks(&mut self, p: u32, end: u32, populated: &PageBits) -> (u32, u32, i32) {
        let bb = self.block_bits();
        let (k0, k1) = (p >> self.block_shift, (end - 1) >> self.block_shift);
        let (mut run_start, mut run_end, mut delta) = (0, 0, 0);
        for k in k0..=k1 {
            let bstart = k << self.block_shift;
            let ps = p.max(bstart) - bstart;
            let pe = end.min(bstart + bb) - bstart;
            let (a, b) = self.block_release(k, ps, pe);
            if k == k0 {
                run_start = bstart + a;
            }
            if k == k1 {
                run_end = bstart + b;
            }
            if b - a == bb {
                set_bit(&mut self.full_free, k);
                delta += test_bit(populated, k) as i32;
            }
        }
        (run_start, run_end, delta)
    }

    /// Block `k`'s hints after `[ps, pe)` (block-relative) was freed.
    ///
    /// RETURNS: the block-relative free run now containing `[ps, pe)`.
    #[inline(always)]
    fn block_release(&mut self, k: u32, ps: u32, pe: u32) -> (u32, u32) {
        let bb = self.block_bits();
        if ps == 0 && pe == bb {
            self.blocks[k as usize] = Block::free(bb);
            return (0, bb);
        }
        let bstart = k << self.block_shift;
        let alloc = Lane::<false>(&self.pairs);
        let b = &mut self.blocks[k as usize];
        let c = b.contig;
        let a = if ps == 0 || test_bit(&alloc, bstart + ps - 1) {
            ps
        } else if c.len > 0 && c.end() == ps {
            c.start
        } else if b.left_free >= ps {
            0
        } else {
            prev_set(&alloc, bstart, bstart + ps).map_or(0, |x| x + 1 - bstart)
        };
        let e = if pe == bb || test_bit(&alloc, bstart + pe) {
            pe
        } else if c.len > 0 && c.start == pe {
            c.end()
        } else if bb - b.right_free <= pe {
            bb
        } else {
            next_set(&alloc, bstart + pe, bstart + bb) - bstart
        };
        if ps < b.first_free {
            b.first_free = ps;
        }
        if a == 0 {
            b.left_free = e;
        }
        if e == bb {
            b.right_free = bb - a;
        }
        let run = Region { start: a, len: e - a };
        if run.len == bb {
            *b = Block::free(bb);
        } else if c.len == 0 || (a <= c.start && c.start < e) {
            b.contig = run;
        } else if run.len > c.len {
            b.scan_hint = b.scan_hint.max(c.len);
            b.contig = run;
        } else {
            b.scan_hint = b.scan_hint.max(run.len);
        }
        (a, e)
    }

    // ---------------------------------------------------------------------------------------
    // Exact recomputation.

    /// Recomputes block `k`'s hints from the bitmap (all exact, `scan_hint` the second
    /// largest run).
    fn rescan_block(&mut self, k: u32) {
        let bb = self.block_bits();
        let base = k << self.block_shift;
        let end = base + bb;
        let mut blk = Block::full(bb);
        let mut pos = base;
        while pos < end {
            let f = next_clear(&self.alloc_map(), pos, end);
            if f >= end {
                break;
            }
            let s = next_set(&self.alloc_map(), f, end);
            let len = s - f;
            if blk.first_free == bb {
                blk.first_free = f - base;
            }
            if f == base {
                blk.left_free = len;
            }
            if s == end {
                blk.right_free = len;
            }
            if len > blk.contig.len {
                blk.scan_hint = blk.scan_hint.max(blk.contig.len);
                blk.contig = Region { start: f - base, len };
            } else {
                blk.scan_hint = blk.scan_hint.max(len);
            }
            pos = s;
        }
        self.blocks[k as usize] = blk;
        if blk.contig.len == bb {
            set_bit(&mut self.full_free, k);
        } else {
            clear_bit(&mut self.full_free, k);
        }
    }

    /// Recomputes the chunk's `contig` (exact) and `scan_hint` (a bound) from the block hints.
    fn refresh(&mut self) {
        let bb = self.block_bits();
        let mut best = Region::EMPTY;
        let mut second = 0u32;
        let mut consider = |r: Region, best: &mut Region| {
            if r.len > best.len {
                second = second.max(best.len);
                *best = r;
            } else {
                second = second.max(r.len);
            }
        };
        let mut bounds = 0u32;
        let mut cur = Region::EMPTY;
        for k in 0..self.nr_blocks {
            let b = &self.blocks[k as usize];
            let bstart = k << self.block_shift;
            if b.contig.len == bb {
                if cur.len == 0 {
                    cur.start = bstart;
                }
                cur.len += bb;
                continue;
            }
            if b.left_free > 0 {
                if cur.len == 0 {
                    cur.start = bstart;
                }
                cur.len += b.left_free;
            }
            if cur.len > 0 {
                consider(cur, &mut best);
                cur = Region::EMPTY;
            }
            let c = b.contig;
            if c.len > 0 && c.start > 0 && c.end() < bb {
                consider(Region { start: bstart + c.start, len: c.len }, &mut best);
            }
            bounds = bounds.max(b.scan_hint);
            if b.right_free > 0 {
                cur = Region { start: bstart + bb - b.right_free, len: b.right_free };
            }
        }
        if cur.len > 0 {
            consider(cur, &mut best);
        }
        self.contig = best;
        self.scan_hint = second.max(bounds);
    }

    // ---------------------------------------------------------------------------------------
    // Statistics and checking.

    /// Walks the free runs of the usable range: `(count, sum, largest)` in bits.
    pub(crate) fn fragments(&self) -> (u32, u32, u32) {
        let (mut count, mut sum, mut max) = (0, 0, 0);
        let mut pos = self.start_bit;
        while pos < self.end_bit {
            let f = next_clear(&self.alloc_map(), pos, self.end_bit);
            if f >= self.end_bit {
                break;
            }
            let s = next_set(&self.alloc_map(), f, self.end_bit);
            count += 1;
            sum += s - f;
            max = max.max(s - f);
            pos = s;
        }
        (count, sum, max)
    }

    /// Checks every hint against the bitmap.
    ///
    /// RETURNS: a description of the first inconsistency found.
    pub(crate) fn verify(&self) -> Result<(), String> {
        let bb = self.block_bits();
        // Free runs of the whole map, brute force.
        let mut runs = alloc::vec::Vec::new();
        let mut pos = 0;
        while pos < self.nr_bits {
            let f = next_clear(&self.alloc_map(), pos, self.nr_bits);
            if f >= self.nr_bits {
                break;
            }
            let s = next_set(&self.alloc_map(), f, self.nr_bits);
            runs.push(Region { start: f, len: s - f });
            pos = s;
        }
        let free: u32 = runs.iter().map(|r| r.len).sum();
        if free != self.free_bits {
            return Err(format!("free_bits {} but {} bits are free", self.free_bits, free));
        }
        if runs.iter().any(|r| r.start < self.start_bit || r.end() > self.end_bit) {
            return Err(String::from("a hidden bit is free"));
        }
        let first = runs.first().map_or(self.nr_bits, |r| r.start);
        if first != self.first_free {
            return Err(format!(
                "first_free {} but the first free bit is {}",
                self.first_free, first
            ));
        }
        let max = runs.iter().map(|r| r.len).max().unwrap_or(0);
        if self.contig.len != max || (max > 0 && !runs.contains(&self.contig)) {
            return Err(format!("chunk contig {:?} but the largest run is {}", self.contig, max));
        }
        let mut seen_contig = false;
        for r in &runs {
            if *r == self.contig && !seen_contig {
                seen_contig = true;
                continue;
            }
            if r.len > self.scan_hint {
                return Err(format!("chunk scan_hint {} < run {:?}", self.scan_hint, r));
            }
        }
        for k in 0..self.nr_blocks {
            let bstart = k << self.block_shift;
            let bend = bstart + bb;
            let mut in_block = alloc::vec::Vec::new();
            for r in &runs {
                let s = r.start.max(bstart);
                let e = r.end().min(bend);
                if s < e {
                    in_block.push(Region { start: s - bstart, len: e - s });
                }
            }
            let b = &self.blocks[k as usize];
            let max = in_block.iter().map(|r| r.len).max().unwrap_or(0);
            if b.contig.len != max || (max > 0 && !in_block.contains(&b.contig)) {
                return Err(format!(
                    "block {k}: contig {:?} but the largest run is {max}",
                    b.contig
                ));
            }
            let mut seen = false;
            for r in &in_block {
                if *r == b.contig && !seen {
                    seen = true;
                    continue;
                }
                if r.len > b.scan_hint {
                    return Err(format!("block {k}: scan_hint {} < run {:?}", b.scan_hint, r));
                }
            }
            let left = in_block.first().filter(|r| r.start == 0).map_or(0, |r| r.len);
            let right = in_block.last().filter(|r| r.end() == bb).map_or(0, |r| r.len);
            let first = in_block.first().map_or(bb, |r| r.start);
            if (b.left_free, b.right_free, b.first_free) != (left, right, first) {
                return Err(format!(
                    "block {k}: left/right/first {}/{}/{} but {left}/{right}/{first}",
                    b.left_free, b.right_free, b.first_free
                ));
            }
            if test_bit(&self.full_free, k) != (max == bb) {
                return Err(format!("block {k}: fully-free bit wrong"));
            }
        }
        // Every allocated run is cut into areas by boundary bits.
        let mut areas = 0;
        let mut pos = self.start_bit;
        while pos < self.end_bit {
            let a = next_set(&self.alloc_map(), pos, self.end_bit);
            if a >= self.end_bit {
                break;
            }
            let f = next_clear(&self.alloc_map(), a, self.end_bit);
            if !test_bit(&self.bound_map(), a) || !test_bit(&self.bound_map(), f) {
                return Err(format!("allocated run [{a}, {f}) lacks a boundary bit at an end"));
            }
            let mut q = a;
            while q < f {
                areas += 1;
                q = next_set(&self.bound_map(), q + 1, f + 1);
            }
            pos = f;
        }
        if areas != self.nr_areas {
            return Err(format!("nr_areas {} but {} areas are live", self.nr_areas, areas));
        }
        if self.fit.bits != 0 {
            // No fit of the cached shape before `pos` (brute force over the free runs).
            for r in &runs {
                let p = align_up(r.start, self.fit.align);
                if p < self.fit.pos && p + self.fit.bits <= r.end() {
                    return Err(format!("fit cache {:?} but {p} fits", self.fit));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;
    use proptest::prelude::*;

    const SHIFT: u32 = 10; // 4 KiB pages: 1024 bits per block

    fn all_populated(map: &ChunkMap) -> PageBits {
        let mut pop = PageBits::new(map.nr_blocks());
        for k in 0..map.nr_blocks() {
            set_bit(&mut pop, k);
        }
        pop
    }

    /// Reference first fit over a plain bool vector.
    fn reference_fit(used: &[bool], bits: u32, align: u32, start: u32, end: u32) -> Option<u32> {
        let mut p = align_up(start, align);
        while p + bits <= end {
            if (p..p + bits).all(|i| !used[i as usize]) {
                return Some(p);
            }
            p += align;
        }
        None
    }

    #[test]
    fn word_helpers() {
        let mut m = [0u64; 4];
        let m = &mut m[..];
        set_range(m, 3, 130);
        assert_eq!(next_set(m, 0, 256), 3);
        assert_eq!(next_clear(m, 3, 256), 130);
        assert_eq!(prev_set(m, 0, 200), Some(129));
        assert_eq!(prev_clear(m, 0, 100), Some(2));
        assert_eq!(prev_clear(m, 3, 100), None);
        clear_range(m, 64, 70);
        assert_eq!(next_clear(m, 3, 256), 64);
        assert_eq!(next_set(m, 64, 256), 70);
        assert_eq!(next_set(m, 200, 256), 256);
        assert_eq!(prev_set(m, 0, 3), None);
    }

    /// The two lanes of paired bitmaps are independent bitmaps; the allocation word past the
    /// map reads as allocated; page bitmaps work inline and on the heap alike.
    #[test]
    fn paired_lanes_and_page_bits() {
        let map = ChunkMap::new(6, 9, 5, 9 * 64 - 3); // 576 bits: 9 words, 10 boundary words
        assert_eq!(map.pairs.len(), 10);
        assert_eq!((core::mem::size_of::<Pair>(), core::mem::align_of::<Pair>()), (16, 16));
        let mut pairs = map.pairs.clone();
        let mut bound = LaneMut::<true>(&mut pairs);
        set_range(&mut bound, 500, 577);
        let alloc = Lane::<false>(&pairs);
        let bound = Lane::<true>(&pairs);
        assert_eq!(next_set(&bound, 0, 640), 500);
        assert_eq!(next_clear(&bound, 500, 640), 577);
        assert_eq!(prev_set(&bound, 0, 640), Some(576));
        // The allocation lane is unchanged: hidden head and tail, then padding.
        assert_eq!(next_clear(&alloc, 0, 1024), 5);
        assert_eq!(next_set(&alloc, 5, 640), 9 * 64 - 3);
        assert_eq!(next_clear(&alloc, 9 * 64 - 3, 640), 640);
        for pages in [1, 64, 128, 129, 1000] {
            let mut bits = PageBits::new(pages);
            assert_eq!(bits.heap_bytes() == 0, pages <= 128);
            set_bit(&mut bits, pages - 1);
            assert!(test_bit(&bits, pages - 1));
            assert_eq!(test_bit(&bits, 0), pages == 1);
            assert_eq!(prev_set(&bits, 0, pages), Some(pages - 1));
            clear_bit(&mut bits, pages - 1);
            assert_eq!(next_set(&bits, 0, pages), pages);
        }
    }

    #[test]
    fn sequential_fill_is_first_fit_and_exact() {
        let mut map = ChunkMap::new(SHIFT, 8, 0, 8 << SHIFT);
        let pop = all_populated(&map);
        for i in 0..(8u32 << SHIFT) / 3 {
            let (p, _) = map.alloc(3, 1, &pop, false).expect("room");
            assert_eq!(p, i * 3);
        }
        map.verify().unwrap();
        assert!(map.alloc(3, 1, &pop, false).is_none() || map.free_bits() >= 3);
    }

    #[test]
    fn aligned_holes_use_the_fit_cache() {
        let mut map = ChunkMap::new(SHIFT, 4, 0, 4 << SHIFT);
        let pop = all_populated(&map);
        for i in 0..(2u32 << SHIFT) {
            let (p, _) = map.alloc(1, 2, &pop, false).expect("room");
            assert_eq!(p, 2 * i);
        }
        map.verify().unwrap();
        assert!(map.alloc(1, 2, &pop, false).is_none());
        // The holes still serve unaligned requests.
        assert_eq!(map.alloc(1, 1, &pop, false).map(|r| r.0), Some(1));
        map.verify().unwrap();
    }

    #[test]
    fn free_errors_leave_state_unchanged() {
        let mut map = ChunkMap::new(SHIFT, 2, 5, 2000);
        let pop = all_populated(&map);
        let (p, _) = map.alloc(10, 4, &pop, false).unwrap();
        assert_eq!(p, 8);
        assert_eq!(map.release(p + 1, &pop), Err(AreaError::Interior { start: 8 }));
        assert_eq!(map.release(100, &pop), Err(AreaError::NotAllocated));
        map.verify().unwrap();
        assert_eq!(map.release(p, &pop), Ok((10, 0)));
        assert_eq!(map.release(p, &pop), Err(AreaError::NotAllocated));
        map.verify().unwrap();
    }

    #[test]
    fn empty_block_accounting() {
        let mut map = ChunkMap::new(SHIFT, 4, 0, 4 << SHIFT);
        let mut pop = PageBits::new(4);
        set_bit(&mut pop, 0); // blocks 0 and 2 populated
        set_bit(&mut pop, 2);
        let (a, d) = map.alloc(2000, 1, &pop, false).unwrap();
        assert_eq!((a, d), (0, -1)); // spans blocks 0 and 1; only 0 counted
        let (b, d) = map.alloc(100, 1, &pop, true).unwrap();
        assert_eq!((b, d), (2048, -1)); // pop_only skips the unpopulated block 1
        assert_eq!(map.release(a, &pop), Ok((2000, 1)));
        assert_eq!(map.release(b, &pop), Ok((100, 1)));
        map.verify().unwrap();
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// Random allocations and frees on one map: every result is the reference first fit,
        /// and every hint stays exact.
        #[test]
        fn matches_reference_first_fit(
            nr_blocks in 1u32..6,
            head in 0u32..1500,
            tail in 0u32..1500,
            ops in proptest::collection::vec((0u32..4, 1u32..1400, 0u32..5, any::<prop::sample::Index>()), 1..250),
        ) {
            let nr_bits = nr_blocks << SHIFT;
            let start = head.min(nr_bits);
            let end = nr_bits - tail.min(nr_bits - start);
            let mut map = ChunkMap::new(SHIFT, nr_blocks, start, end);
            let pop = all_populated(&map);
            let mut used = vec![true; nr_bits as usize];
            for u in &mut used[start as usize..end as usize] { *u = false; }
            let mut live: Vec<(u32, u32)> = Vec::new();
            for (kind, size, align_shift, pick) in ops {
                if kind < 3 {
                    let bits = if kind == 0 { size } else { 1 + size % 24 };
                    let align = 1u32 << align_shift;
                    let expect = reference_fit(&used, bits, align, start, end);
                    let got = map.alloc(bits, align, &pop, false).map(|r| r.0);
                    prop_assert_eq!(got, expect);
                    if let Some(p) = got {
                        for u in &mut used[p as usize..(p + bits) as usize] { *u = true; }
                        live.push((p, bits));
                    }
                } else if !live.is_empty() {
                    let (p, bits) = live.swap_remove(pick.index(live.len()));
                    prop_assert_eq!(map.release(p, &pop).map(|r| r.0), Ok(bits));
                    for u in &mut used[p as usize..(p + bits) as usize] { *u = false; }
                }
                if let Err(e) = map.verify() { prop_assert!(false, "{}", e); }
            }
        }
    }
}
