//! Statistics walks and the consistency check of a chunk map.

use super::bits::*;
use super::hints::*;
use super::map::ChunkMap;
use alloc::format;
use alloc::string::String;

impl ChunkMap {
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
