//! Allocation and free on a chunk map: the bitmaps and every hint updated incrementally, with
//! exact recomputation where a bound is lost.

use super::bits::*;
use super::hints::*;
use super::map::ChunkMap;

impl ChunkMap {
    // ---------------------------------------------------------------------------------------
    // Allocation.

    /// Marks `[p, p + bits)` (free) as one allocated area and updates every hint.
    ///
    /// RETURNS: the change in fully free blocks that are set in `populated` (<= 0).
    #[cfg(test)]
    pub(crate) fn take(&mut self, p: u32, bits: u32, populated: &PageBits) -> i32 {
        self.take_run(p, bits, bits, 1, populated)
    }

    /// Marks `n` areas of `bits` bits, one every `stride` bits from `p`, as allocated; the
    /// whole range `[p, p + (n - 1) * stride + bits)` must be free. With `stride == bits` the
    /// areas are neighbours (a run over any number of blocks); with `stride > bits` (an
    /// alignment larger than the length) the range must lie in one block, and the
    /// `stride - bits` bits after each area but the last stay free (holes no request of this
    /// shape can use, as when the areas are taken one by one). The hints are updated once, as
    /// for one area over the whole range (they depend on the allocation bitmap only), with the
    /// holes counted as free runs; a boundary bit is set at both ends of every area.
    ///
    /// RETURNS: the change in fully free blocks that are set in `populated` (<= 0).
    pub(crate) fn take_run(
        &mut self,
        p: u32,
        bits: u32,
        stride: u32,
        n: u32,
        populated: &PageBits,
    ) -> i32 {
        debug_assert!(n >= 1 && bits >= 1 && stride >= bits);
        let end = p + (n - 1) * stride + bits;
        let hole = if n > 1 { stride - bits } else { 0 };
        debug_assert!(p >= self.start_bit && end <= self.end_bit);
        debug_assert_eq!(next_set(&self.alloc_map(), p, end), end, "allocating a used range");
        debug_assert!(hole == 0 || p >> self.block_shift == (end - 1) >> self.block_shift);
        if hole == 0 {
            set_range(&mut LaneMut::<false>(&mut self.pairs), p, end);
            let mut bound = LaneMut::<true>(&mut self.pairs);
            set_bit(&mut bound, p);
            clear_range(&mut bound, p + 1, end);
            set_bit(&mut bound, end);
            for i in 1..n {
                set_bit(&mut bound, p + i * bits);
            }
        } else {
            for i in 0..n {
                let a = p + i * stride;
                set_range(&mut LaneMut::<false>(&mut self.pairs), a, a + bits);
                let mut bound = LaneMut::<true>(&mut self.pairs);
                set_bit(&mut bound, a);
                clear_range(&mut bound, a + 1, a + bits);
                set_bit(&mut bound, a + bits);
            }
        }
        let taken = n * bits;

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
            self.block_take(k, ps, pe, hole);
        }
        self.free_bits -= taken;
        self.nr_areas += n;

        if p == self.first_free {
            let mut k = k0;
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
        self.scan_hint = self.scan_hint.max(hole);
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

    /// Block `k`'s hints after `[ps, pe)` (block-relative) was allocated but for the holes of
    /// `hole` bits between its areas (see [`ChunkMap::take_run`]).
    #[inline]
    pub(super) fn block_take(&mut self, k: u32, ps: u32, pe: u32, hole: u32) {
        let bb = self.block_bits();
        if ps == 0 && pe == bb && hole == 0 {
            self.blocks[k as usize] = Block::full(bb);
            return;
        }
        let bstart = k << self.block_shift;
        let b = &mut self.blocks[k as usize];
        if b.first_free == ps {
            // The first hole, if any, else the first free bit after the range.
            let from = if hole == 0 { pe } else { ps };
            let alloc = Lane::<false>(&self.pairs);
            b.first_free = next_clear(&alloc, bstart + from, bstart + bb) - bstart;
        }
        if ps < b.left_free {
            b.left_free = ps;
        }
        if pe > bb - b.right_free {
            b.right_free = bb - pe;
        }
        b.scan_hint = b.scan_hint.max(hole);
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
    pub(super) fn area_error(&self, p: u32) -> AreaError {
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
        Ok((bits, self.release_range(p, bits, bits, 1, populated)))
    }

    /// Frees `n` live areas of `bits` bits each, one every `stride` bits from `p` (what
    /// [`ChunkMap::take_run`] took, or areas taken one by one that happen to be spaced so);
    /// if any of them is not a live area of exactly that length, or a bit between two of them
    /// is allocated, nothing changes.
    ///
    /// RETURNS: the change in fully free blocks that are set in `populated` (>= 0).
    pub(crate) fn release_run(
        &mut self,
        p: u32,
        bits: u32,
        stride: u32,
        n: u32,
        populated: &PageBits,
    ) -> Result<i32, AreaError> {
        debug_assert!(n >= 1 && stride >= bits);
        for i in 0..n {
            let a = p + i * stride;
            if self.area_at(a)? != bits {
                return Err(AreaError::NotAllocated);
            }
            let between = a + bits..a + stride;
            if i + 1 < n
                && !between.is_empty()
                && next_set(&self.alloc_map(), between.start, between.end) != between.end
            {
                // Something else lives between two of the areas.
                return Err(AreaError::NotAllocated);
            }
        }
        let span = (n - 1) * stride + bits;
        Ok(self.release_range(p, span, n * bits, n, populated))
    }

    /// Frees live areas of `bits` bits each that start at `starts` (sorted, not overlapping),
    /// one after the other in one pass; if any of them is not a live area of exactly that
    /// length, nothing changes.
    ///
    /// RETURNS: the change in fully free blocks that are set in `populated` (>= 0).
    pub(crate) fn release_each(
        &mut self,
        starts: &[u32],
        bits: u32,
        populated: &PageBits,
    ) -> Result<i32, AreaError> {
        let mut free_from = 0;
        for &p in starts {
            if p < free_from || self.area_at(p)? != bits {
                return Err(AreaError::NotAllocated);
            }
            free_from = p + bits;
        }
        let mut delta = 0;
        for &p in starts {
            // The isolated case inline, the rest through the general update.
            if !self.release_isolated(p, bits, 1) {
                delta += self.release_range(p, bits, bits, 1, populated);
            }
        }
        Ok(delta)
    }

    /// Frees `[p, p + span)`, which holds exactly `n` live areas of `bits` bits in all (the
    /// rest is free), and updates every hint.
    ///
    /// RETURNS: the change in fully free blocks that are set in `populated` (>= 0).
    #[inline]
    fn release_range(&mut self, p: u32, span: u32, bits: u32, n: u32, populated: &PageBits) -> i32 {
        if span == bits && self.release_isolated(p, bits, n) {
            return 0;
        }
        let end = p + span;
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
        self.nr_areas -= n;
        delta
    }

    /// Frees `[p, p + bits)` (`n` live areas, no free bit between them) if it is isolated:
    /// inside one block, away from its edges, between two allocated bits. That is an area
    /// freed among live ones, the common case when areas are freed out of order: it becomes a
    /// free run of its own, which can only become a largest run, so the hints need a few
    /// compares.
    ///
    /// RETURNS: whether the range was isolated (and is freed); if not, nothing changed.
    #[inline(always)]
    fn release_isolated(&mut self, p: u32, bits: u32, n: u32) -> bool {
        let end = p + bits;
        let bb = self.block_bits();
        let ps = p & (bb - 1);
        let alloc = Lane::<false>(&self.pairs);
        if ps == 0 || ps + bits >= bb || !test_bit(&alloc, p - 1) || !test_bit(&alloc, end) {
            return false;
        }
        clear_range(&mut LaneMut::<false>(&mut self.pairs), p, end);
        let b = &mut self.blocks[(p >> self.block_shift) as usize];
        b.first_free = b.first_free.min(ps);
        let run = Region { start: ps, len: bits };
        if run.len > b.contig.len {
            b.scan_hint = b.scan_hint.max(b.contig.len);
            b.contig = run;
        } else {
            b.scan_hint = b.scan_hint.max(run.len);
        }
        let run = Region { start: p, len: bits };
        if run.len > self.contig.len {
            self.scan_hint = self.scan_hint.max(self.contig.len);
            self.contig = run;
        } else {
            self.scan_hint = self.scan_hint.max(run.len);
        }
        self.first_free = self.first_free.min(p);
        self.fit.pos = self.fit.pos.min(p);
        self.free_bits += bits;
        self.nr_areas -= n;
        true
    }

    /// The block updates of [`ChunkMap::release`] for an area over several blocks.
    ///
    /// RETURNS: the freed run's ends within its first and last block, and the change in fully
    /// free populated blocks.
    #[inline(never)]
    pub(super) fn release_blocks(
        &mut self,
        p: u32,
        end: u32,
        populated: &PageBits,
    ) -> (u32, u32, i32) {
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
            // A block between two areas of a run with holes may have been free already.
            if b - a == bb && !test_bit(&self.full_free, k) {
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
    pub(super) fn block_release(&mut self, k: u32, ps: u32, pe: u32) -> (u32, u32) {
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
    pub(super) fn rescan_block(&mut self, k: u32) {
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
    pub(super) fn refresh(&mut self) {
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
}
