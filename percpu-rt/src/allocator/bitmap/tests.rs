//! Unit tests of the chunk map against a reference first fit.

use super::bits::*;
use super::hints::AreaError;
use super::map::ChunkMap;
use alloc::vec;
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

/// Fully free blocks (all populated in these tests), to check the deltas updates return.
fn full_free_blocks(map: &ChunkMap) -> u32 {
    (0..map.nr_blocks()).filter(|&k| test_bit(&map.full_free, k)).count() as u32
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

/// A run with holes over whole free blocks: those blocks were free already, so only the
/// blocks of its two areas count as newly fully free.
#[test]
fn spaced_run_over_free_blocks_counts_each_block_once() {
    let mut map = ChunkMap::new(SHIFT, 4, 0, 4 << SHIFT);
    let pop = all_populated(&map);
    let stride = 3 << SHIFT;
    assert_eq!(map.take_run(10, 1, 1, 1, &pop), -1);
    assert_eq!(map.take_run(10 + stride, 1, 1, 1, &pop), -1);
    assert_eq!(full_free_blocks(&map), 2);
    assert_eq!(map.release_run(10, 1, stride, 2, &pop), Ok(2));
    assert_eq!(full_free_blocks(&map), 4);
    map.verify().unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Random allocations and frees on one map, of single areas and of runs of equal areas
    /// side by side: every result is the reference first fit, and every hint stays exact.
    #[test]
    fn matches_reference_first_fit(
        nr_blocks in 1u32..6,
        head in 0u32..1500,
        tail in 0u32..1500,
        ops in proptest::collection::vec((0u32..6, 1u32..1400, 0u32..5, any::<prop::sample::Index>()), 1..250),
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
            } else if kind == 3 {
                // A run: the first fit, then as many more of the same shape after it as are
                // free (up to 9 in all): neighbours when the length is a multiple of the
                // alignment, else one every aligned stride, holes between, in one block.
                let bits = 1 + size % 24;
                let align = 1u32 << align_shift;
                let stride = if bits % align == 0 { bits } else { bits.div_ceil(align) * align };
                let expect = reference_fit(&used, bits, align, start, end);
                let got = map.find(bits, align, &pop, false);
                prop_assert_eq!(got, expect);
                if let Some(p) = got {
                    let block_end = ((p >> SHIFT) + 1) << SHIFT;
                    let limit = if stride == bits { end } else { end.min(block_end) };
                    let mut n = 1;
                    while n < 1 + size % 9
                        && p + n * stride + bits <= limit
                        && used[(p + (n - 1) * stride + bits) as usize..(p + n * stride + bits) as usize].iter().all(|u| !u)
                    {
                        n += 1;
                    }
                    let free_blocks = full_free_blocks(&map);
                    let delta = map.take_run(p, bits, stride, n, &pop);
                    prop_assert_eq!(free_blocks as i32 + delta, full_free_blocks(&map) as i32);
                    for i in 0..n {
                        let a = p + i * stride;
                        for u in &mut used[a as usize..(a + bits) as usize] { *u = true; }
                        live.push((a, bits));
                    }
                }
            } else if kind == 4 && !live.is_empty() {
                // Free a live area with the live areas of the same length that follow it one
                // stride apart (the distance to the next one; free bits between them), as one
                // run; a run that is not all such areas is refused.
                let (p, bits) = live[pick.index(live.len())];
                let stride = live
                    .iter()
                    .filter(|&&(q, b)| b == bits && q >= p + bits)
                    .map(|&(q, _)| q - p)
                    .min()
                    .unwrap_or(bits);
                let hole_free = |a: u32| used[(a + bits) as usize..(a + stride) as usize].iter().all(|u| !u);
                let mut n = 1;
                while live.contains(&(p + n * stride, bits)) && hole_free(p + (n - 1) * stride) {
                    n += 1;
                }
                if p + n * stride + bits <= end {
                    prop_assert!(map.release_run(p, bits, stride, n + 1, &pop).is_err());
                }
                let free_blocks = full_free_blocks(&map);
                let delta = map.release_run(p, bits, stride, n, &pop);
                prop_assert!(delta.is_ok());
                prop_assert_eq!(free_blocks as i32 + delta.unwrap(), full_free_blocks(&map) as i32);
                for i in 0..n {
                    let a = p + i * stride;
                    live.retain(|&x| x != (a, bits));
                    for u in &mut used[a as usize..(a + bits) as usize] { *u = false; }
                }
            } else if !live.is_empty() && size % 2 == 0 {
                // Free up to 8 live areas of one length in one pass; with a position that
                // starts no such area among them, nothing changes.
                let (_, bits) = live[pick.index(live.len())];
                let mut starts: Vec<u32> =
                    live.iter().filter(|a| a.1 == bits).map(|a| a.0).take(8).collect();
                starts.sort_unstable();
                let before = (map.free_bits(), map.nr_areas);
                if let Some(q) = (start..end).find(|&q| !used[q as usize]) {
                    let mut bad = starts.clone();
                    bad.push(q);
                    bad.sort_unstable();
                    prop_assert!(map.release_each(&bad, bits, &pop).is_err());
                    prop_assert_eq!((map.free_bits(), map.nr_areas), before);
                }
                let free_blocks = full_free_blocks(&map);
                let delta = map.release_each(&starts, bits, &pop);
                prop_assert!(delta.is_ok());
                prop_assert_eq!(free_blocks as i32 + delta.unwrap(), full_free_blocks(&map) as i32);
                for &p in &starts {
                    live.retain(|&x| x != (p, bits));
                    for u in &mut used[p as usize..(p + bits) as usize] { *u = false; }
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
