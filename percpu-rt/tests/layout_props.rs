//! Property tests of the unit layout (`percpu_rt::layout::build_alloc_info`) on random inputs:
//! the invariants Linux's `pcpu_build_alloc_info` promises, checked for any sizes, page and
//! atom sizes, sparse CPU ids, and CPU distance functions (symmetric or not).

use percpu_rt::CpuId;
use percpu_rt::layout::{AllocInfo, LOCAL_DISTANCE, LayoutParams, build_alloc_info, unit_sizes};
use proptest::prelude::*;
use std::collections::BTreeSet;

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

/// 1 to 64 distinct, possibly sparse CPU ids, in random order.
fn cpus() -> impl Strategy<Value = Vec<CpuId>> {
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
    prop_assert!(ai.dyn_size < dyn_wanted + p.page_size);
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
    let mut base = 0;
    for g in &ai.groups {
        prop_assert_eq!(g.base_offset, base);
        prop_assert_eq!(g.nr_units() % ai.units_per_alloc(), 0);
        prop_assert!(g.cpu_map.iter().any(Option::is_some), "a group without CPUs");
        base += g.nr_units() * ai.unit_size;
    }
    let offsets: BTreeSet<usize> = ai.unit_offsets().map(|(_, o)| o).collect();
    prop_assert_eq!(offsets.len(), nr_cpus);
    for o in offsets {
        prop_assert_eq!(o % ai.unit_size, 0);
        prop_assert!(o + ai.unit_size <= base);
    }
    Ok(())
}

fn group_cpus(ai: &AllocInfo) -> Vec<Vec<CpuId>> {
    ai.groups.iter().map(|g| g.cpu_map.iter().flatten().copied().collect()).collect()
}

proptest! {
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
