//! Property tests of the unit layout (`percpu_rt::layout::build_alloc_info`) on random inputs:
//! the invariants Linux's `pcpu_build_alloc_info` promises, checked for any sizes, page and
//! atom sizes, sparse CPU ids, and CPU distance functions (symmetric or not); the same choice
//! of units per allocation as Linux's literal search; and, for extreme sizes anywhere in
//! `usize`, an answer (a layout with those invariants, or an error) in bounded time, never a
//! panic. The inputs of issue 11 are regression tests at the end.

use percpu_rt::CpuId;
use percpu_rt::layout::{
    AllocInfo, LOCAL_DISTANCE, LayoutError, LayoutParams, build_alloc_info, unit_sizes,
};
use proptest::prelude::*;
use std::collections::BTreeSet;
use std::sync::mpsc;
use std::time::Duration;

/// Layout parameters that do not overflow: pages of 4-64 KiB, atoms up to 4 MiB.
fn params() -> impl Strategy<Value = LayoutParams> {
    (12u32..=16, 0u32..=6).prop_flat_map(|(page_shift, atom_extra)| {
        (
            0usize..(4 << 20),
            (0usize..(16 << 10)).prop_map(|r| r * 4),
            0usize..(256 << 10),
            0usize..(64 << 10),
            0usize..(1 << 20),
        )
            .prop_map(
                move |(static_size, reserved_size, dyn_size, early_dyn_size, min_unit_size)| {
                    LayoutParams {
                        static_size,
                        reserved_size,
                        dyn_size,
                        early_dyn_size,
                        page_size: 1 << page_shift,
                        atom_size: 1 << (page_shift + atom_extra),
                        min_unit_size,
                    }
                },
            )
    })
}

/// Without the `alloc` feature the layout's tables live in the boot memory: provided once per
/// process, before the first layout.
fn boot_memory() {
    #[cfg(not(feature = "alloc"))]
    {
        use percpu_rt::boot_memory::{StaticBuffer, provide};
        static MEMORY: StaticBuffer<{ 1 << 20 }> = StaticBuffer::new();
        static PROVIDED: std::sync::Once = std::sync::Once::new();
        PROVIDED.call_once(|| provide(MEMORY.take().unwrap()).expect("provided once"));
    }
}

/// 1 to 64 distinct, possibly sparse CPU ids, in random order.
fn cpus() -> impl Strategy<Value = Vec<CpuId>> {
    boot_memory();
    prop::collection::btree_set(0u32..256, 1..64)
        .prop_map(|set| set.into_iter().map(CpuId::new).collect::<Vec<_>>())
        .prop_shuffle()
}

/// A deterministic pseudo-random "local" relation, not necessarily symmetric.
fn local(seed: u64, a: CpuId, b: CpuId) -> bool {
    if a == b {
        return true;
    }
    let mut x = seed ^ (u64::from(a.as_u32()) << 32) ^ u64::from(b.as_u32());
    x = x.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^= x >> 29;
    x % 3 == 0
}

/// The properties every layout has, whatever the distance function.
fn check_layout(p: &LayoutParams, possible: &[CpuId], ai: &AllocInfo) -> Result<(), TestCaseError> {
    let sizes = unit_sizes(p).unwrap();
    let dyn_wanted = p.dyn_size.max(p.early_dyn_size);
    // The unit holds static + reserved + dynamic, and at least the requested dynamic area.
    prop_assert!(ai.dyn_size >= dyn_wanted);
    prop_assert_eq!((ai.static_size, ai.reserved_size), (p.static_size, p.reserved_size));
    prop_assert!(ai.size_sum() <= ai.unit_size);
    prop_assert!(ai.unit_size >= p.min_unit_size);
    prop_assert!(ai.unit_size >= sizes.min_unit_size);
    // The rounding to a page went to the dynamic area, and nothing more.
    prop_assert_eq!(ai.size_sum() % p.page_size, 0);
    prop_assert!(ai.dyn_size - dyn_wanted < p.page_size);
    // Units are page-aligned and split the allocation exactly; allocations are whole atoms.
    prop_assert_eq!(ai.unit_size % p.page_size, 0);
    prop_assert_eq!(ai.alloc_size % ai.unit_size, 0);
    prop_assert_eq!(ai.alloc_size % p.atom_size, 0);
    prop_assert_eq!(ai.alloc_size, sizes.alloc_size);
    prop_assert!(ai.units_per_alloc() <= sizes.max_upa);
    // Waste bound: empty units are at most a third of the possible CPUs.
    let nr_cpus = possible.len();
    prop_assert!(ai.nr_units() >= nr_cpus);
    prop_assert!(
        ai.nr_units() - nr_cpus <= nr_cpus / 3,
        "{} units for {} CPUs",
        ai.nr_units(),
        nr_cpus
    );
    // Every possible CPU has exactly one unit, and no other CPU has one.
    let mut mapped: Vec<CpuId> = ai.unit_offsets().map(|(c, _)| c).collect();
    mapped.sort_unstable();
    let mut expected = possible.to_vec();
    expected.sort_unstable();
    prop_assert_eq!(mapped, expected);
    // Groups are whole allocations, back to back; units never overlap.
    // The whole chunk fits the address space.
    let mut base = 0usize;
    for g in &ai.groups {
        prop_assert_eq!(g.base_offset, base);
        prop_assert_eq!(g.nr_units() % ai.units_per_alloc(), 0);
        prop_assert!(g.cpu_map.iter().any(Option::is_some), "a group without CPUs");
        let end = g.nr_units().checked_mul(ai.unit_size).and_then(|len| base.checked_add(len));
        prop_assert!(end.is_some(), "the chunk overflows the address space");
        base = end.unwrap_or_default();
    }
    let offsets: BTreeSet<usize> = ai.unit_offsets().map(|(_, o)| o).collect();
    prop_assert_eq!(offsets.len(), nr_cpus);
    for o in offsets {
        prop_assert_eq!(o % ai.unit_size, 0);
        prop_assert!(base - o >= ai.unit_size);
    }
    Ok(())
}

/// Linux's step 5 transcribed literally (mm/percpu.c): `max_upa` by counting down from
/// `alloc_size / min_unit_size`, then every `upa` from there down to 1.
fn linux_upa(p: &LayoutParams, group_sizes: &[usize]) -> usize {
    let s = unit_sizes(p).unwrap();
    let mut upa = s.alloc_size / s.min_unit_size;
    while s.alloc_size % upa != 0 || (s.alloc_size / upa) % p.page_size != 0 {
        upa -= 1;
    }
    let nr_cpus: usize = group_sizes.iter().sum();
    let (mut best, mut last_allocs) = (0, usize::MAX);
    for upa in (1..=upa).rev() {
        if s.alloc_size % upa != 0 || (s.alloc_size / upa) % p.page_size != 0 {
            continue;
        }
        let allocs: usize = group_sizes.iter().map(|n| n.div_ceil(upa)).sum();
        let wasted: usize = group_sizes.iter().map(|n| n.div_ceil(upa) * upa - n).sum();
        if wasted > nr_cpus / 3 {
            continue;
        }
        if allocs > last_allocs {
            break;
        }
        last_allocs = allocs;
        best = upa;
    }
    best
}

/// A size anywhere in `usize`: small, near a power of two, or near the top.
fn any_size() -> impl Strategy<Value = usize> {
    prop_oneof![
        4 => 0usize..(1 << 20),
        2 => (0u32..usize::BITS, -4096isize..4096)
            .prop_map(|(shift, delta)| (1usize << shift).wrapping_add_signed(delta)),
        1 => (0usize..(1 << 20)).prop_map(|d| usize::MAX - d),
        1 => any::<usize>(),
    ]
}

/// Layout parameters with any page and atom sizes (mostly powers of two, the atom mostly a
/// multiple of the page, as the arithmetic needs) and any sizes.
fn extreme_params() -> impl Strategy<Value = LayoutParams> {
    let shifts = (0u32..usize::BITS).prop_flat_map(|page| (Just(page), page..usize::BITS));
    let page_atom = prop_oneof![
        6 => shifts.prop_map(|(page, atom)| (1usize << page, 1usize << atom)),
        1 => (any_size(), any_size()),
    ];
    (page_atom, any_size(), any_size(), any_size(), any_size(), any_size()).prop_map(
        |((page_size, atom_size), static_size, reserved, dyn_size, early, min_unit)| LayoutParams {
            static_size,
            reserved_size: reserved & !3,
            dyn_size,
            early_dyn_size: early,
            page_size,
            atom_size,
            min_unit_size: min_unit,
        },
    )
}

/// Runs `f` on another thread and fails if it takes longer than `limit` (a hang on the old
/// arithmetic fails the test instead of stalling the suite).
fn within<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(limit).unwrap_or_else(|e| panic!("no answer within {limit:?}: {e}"))
}

fn group_cpus(ai: &AllocInfo) -> Vec<Vec<CpuId>> {
    ai.groups.iter().map(|g| g.cpu_map.iter().flatten().copied().collect()).collect()
}

proptest! {
    #[test]
    fn the_units_per_allocation_are_linuxs(p in params(), possible in cpus(), nodes in 1u32..5) {
        let node = |c: CpuId| c.as_u32() % nodes;
        let distance = |a: CpuId, b: CpuId| if node(a) == node(b) { LOCAL_DISTANCE } else { 20 };
        let ai = build_alloc_info(&p, &possible, Some(&distance)).unwrap();
        let sizes: Vec<usize> = group_cpus(&ai).iter().map(Vec::len).collect();
        prop_assert_eq!(ai.units_per_alloc(), linux_upa(&p, &sizes));
    }

    #[test]
    fn one_group_without_a_distance_function(p in params(), possible in cpus()) {
        let ai = build_alloc_info(&p, &possible, None).unwrap();
        check_layout(&p, &possible, &ai)?;
        prop_assert_eq!(ai.groups.len(), 1);
    }

    #[test]
    fn groups_are_exactly_the_nodes(p in params(), possible in cpus(), nodes in 1u32..5, salt in any::<u32>()) {
        let node = |c: CpuId| (c.as_u32().wrapping_mul(2_654_435_761) ^ salt) % nodes;
        let distance = |a: CpuId, b: CpuId| if node(a) == node(b) { LOCAL_DISTANCE } else { 20 };
        let ai = build_alloc_info(&p, &possible, Some(&distance)).unwrap();
        check_layout(&p, &possible, &ai)?;
        let groups = group_cpus(&ai);
        let used_nodes: BTreeSet<u32> = possible.iter().map(|&c| node(c)).collect();
        prop_assert_eq!(groups.len(), used_nodes.len());
        for g in &groups {
            prop_assert!(g.iter().all(|&c| node(c) == node(g[0])));
        }
    }

    #[test]
    fn groups_respect_any_distance_function_both_ways(p in params(), possible in cpus(), seed in any::<u64>()) {
        let distance = |a: CpuId, b: CpuId| if local(seed, a, b) { LOCAL_DISTANCE } else { 30 };
        let ai = build_alloc_info(&p, &possible, Some(&distance)).unwrap();
        check_layout(&p, &possible, &ai)?;
        let groups = group_cpus(&ai);
        let mutual = |a, b| local(seed, a, b) && local(seed, b, a);
        for (i, g) in groups.iter().enumerate() {
            // Each group is led by the lowest CPU left, and holds CPUs local to it both ways...
            prop_assert!(g.iter().all(|&c| mutual(g[0], c)));
            // ... and every CPU left for later groups was not.
            for later in &groups[i + 1..] {
                prop_assert!(later[0] > g[0]);
                prop_assert!(later.iter().all(|&c| !mutual(g[0], c)));
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn extreme_sizes_give_a_layout_or_an_error(
        p in extreme_params(),
        possible in cpus(),
        nodes in 0u32..5,
    ) {
        let node = |c: CpuId| c.as_u32() % nodes.max(1);
        let distance = |a: CpuId, b: CpuId| if node(a) == node(b) { LOCAL_DISTANCE } else { 20 };
        let distance: Option<&dyn Fn(CpuId, CpuId) -> u32> =
            if nodes == 0 { None } else { Some(&distance) };
        match build_alloc_info(&p, &possible, distance) {
            Ok(ai) => check_layout(&p, &possible, &ai)?,
            Err(e) => {
                // The same verdict from the sizes alone, unless only the CPUs made it fail.
                prop_assert_eq!(unit_sizes(&p).err().unwrap_or(e), e);
                prop_assert!(!e.to_string().is_empty());
            }
        }
    }
}

/// Issue 11 item 1: `atom_size = "4294967296 GiB"` (2^62 bytes) made the count-down of units
/// per allocation run 2^47 steps (2^44 took 2.6 s, 2^46 7.3 s).
#[test]
#[cfg(target_pointer_width = "64")]
fn regression_a_2_pow_62_atom_answers_at_once() {
    boot_memory();
    for shift in [44, 46, 62, 63] {
        let p = LayoutParams { atom_size: 1 << shift, ..LayoutParams::linux_defaults(4096) };
        let possible: Vec<CpuId> = (0..64).map(CpuId::new).collect();
        let ai =
            within(Duration::from_secs(10), move || build_alloc_info(&p, &possible, None)).unwrap();
        assert_eq!((ai.alloc_size, ai.units_per_alloc(), ai.nr_units()), (1 << shift, 64, 64));
    }
}

/// Issue 11 item 2: `static_size = 1 << 59` with 64 CPUs in 2 groups panicked in debug builds
/// ("attempt to multiply with overflow") and gave overlapping groups in release builds.
#[test]
#[cfg(target_pointer_width = "64")]
fn regression_a_chunk_beyond_the_address_space_is_refused() {
    boot_memory();
    let p = LayoutParams::linux_defaults(1 << 59);
    let possible: Vec<CpuId> = (0..64).map(CpuId::new).collect();
    let node = |c: CpuId| c.as_u32() / 32;
    let distance = |a: CpuId, b: CpuId| if node(a) == node(b) { LOCAL_DISTANCE } else { 20 };
    let e = build_alloc_info(&p, &possible, Some(&distance)).unwrap_err();
    assert!(matches!(e, LayoutError::ChunkTooLarge { nr_units: 64, .. }), "{e:?}");
    assert!(e.to_string().contains("do not fit the address space; lower the static"), "{e}");
}
