//! The page first chunk in hosted mode: the same 8 CPUs, every unit page a memfd page mapped
//! with `MAP_FIXED` into one reserved range; same observable per-CPU behaviour as embed.

mod common;

use percpu_rt::hosted::FirstChunkMode;

#[test]
fn page_machine_behaves_like_embed_and_its_units_are_memfd_pages() {
    let (machine, summary) = common::scenario::run(FirstChunkMode::Page);
    assert_eq!(summary, common::scenario::EXPECTED);

    let chunk = machine.first_chunk();
    assert_eq!(chunk.origin(), percpu_rt::first_chunk::Origin::Page);
    assert!(chunk.is_immutable());
    // Every unit lies in a mapping of the memfd (the page and map callbacks ran for real).
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    for &(cpu, _) in chunk.units() {
        let unit = chunk.unit_addr(cpu).unwrap();
        let line = maps
            .lines()
            .find(|l| {
                let range = l.split_whitespace().next().unwrap();
                let (lo, hi) = range.split_once('-').unwrap();
                let (lo, hi) = (
                    usize::from_str_radix(lo, 16).unwrap(),
                    usize::from_str_radix(hi, 16).unwrap(),
                );
                (lo..hi).contains(&unit)
            })
            .unwrap_or_else(|| panic!("no mapping holds CPU {cpu}'s unit at {unit:#x}"));
        assert!(line.contains("memfd:percpu-first-chunk"), "{line}");
    }
    let dump = machine.dump();
    assert!(dump.starts_with("percpu: "), "{dump}");
    assert!(dump.contains(" 4K pages/cpu "), "{dump}");
}
