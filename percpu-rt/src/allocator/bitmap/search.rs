//! The search for a free area: first fit, block by block, guided by the hints.

use super::bits::*;
use super::hints::*;
use super::map::ChunkMap;

impl ChunkMap {
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
    pub(super) fn run_from_block(&self, mut k: u32, need: u32) -> u32 {
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
    pub(super) fn search(
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
    pub(super) fn direct_fit(
        &self,
        b: &Block,
        bstart: u32,
        lo: u32,
        bits: u32,
        align: u32,
    ) -> Option<u32> {
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
    pub(super) fn scan(&self, lo: u32, limit: u32, bits: u32, align: u32) -> Option<u32> {
        if bits <= WORD_BITS {
            self.scan_small(lo, limit, bits, align)
        } else {
            self.scan_runs(lo, limit, bits, align)
        }
    }

    /// [`ChunkMap::scan`] for requests of at most one word: each word (with the next one
    /// behind it) yields the mask of positions where `bits` free bits start, masked by the
    /// alignment, so a word of unusable holes costs a few instructions.
    pub(super) fn scan_small(&self, lo: u32, limit: u32, bits: u32, align: u32) -> Option<u32> {
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
    pub(super) fn scan_runs(&self, lo: u32, limit: u32, bits: u32, align: u32) -> Option<u32> {
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
}
