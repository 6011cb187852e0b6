//! Bit helpers: word access to plain and paired bitmaps, single bits, ranges, and searches
//! for the next or previous set or clear bit.

use alloc::boxed::Box;
use alloc::vec;

/// Bits per bitmap word.
pub(crate) const WORD_BITS: u32 = 64;
/// `log2(WORD_BITS)`.
pub(super) const WORD_SHIFT: u32 = 6;

#[inline(always)]
pub(super) fn word(bit: u32) -> usize {
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
    pub(super) alloc: u64,
    pub(super) bound: u64,
}

/// The allocation lane (`BOUND == false`) or the boundary lane of paired bitmaps.
#[derive(Clone, Copy)]
pub(crate) struct Lane<'a, const BOUND: bool>(pub(super) &'a [Pair]);

/// A lane of paired bitmaps, to change.
pub(crate) struct LaneMut<'a, const BOUND: bool>(pub(super) &'a mut [Pair]);

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
pub(super) fn range_masks(start: u32, end: u32) -> (usize, usize, u64, u64) {
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
pub(super) fn fill_words<M: WordsMut + ?Sized>(
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
pub(super) fn next_with<M: Words + ?Sized>(map: &M, from: u32, limit: u32, invert: u64) -> u32 {
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
pub(super) fn prev_with<M: Words + ?Sized>(
    map: &M,
    floor: u32,
    before: u32,
    invert: u64,
) -> Option<u32> {
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
pub(super) fn align_up(x: u32, align: u32) -> u32 {
    (x + align - 1) & !(align - 1)
}

/// For an alignment below 64 bits: the bit positions of a word that are multiples of it.
#[inline(always)]
pub(super) fn align_pattern(align: u32) -> u64 {
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
