//! The embed first chunk in hosted mode: 8 CPUs with sparse ids in 2 groups, each group one
//! `mmap`ed, 2 MiB-aligned allocation.

mod common;

use percpu_rt::hosted::FirstChunkMode;

#[test]
fn embed_machine_behaves_and_is_laid_out_in_atom_aligned_groups() {
    let (machine, summary) = common::scenario::run(FirstChunkMode::Embed);
    assert_eq!(summary, common::scenario::EXPECTED);

    let chunk = machine.first_chunk();
    let ai = chunk.alloc_info();
    assert_eq!(ai.groups.len(), 2, "two nodes, two groups");
    for g in &ai.groups {
        assert_eq!((chunk.base_addr() + g.base_offset) % (2 << 20), 0, "atom-aligned group");
        let cpus: Vec<u32> = g.cpu_map.iter().flatten().map(|c| c.as_u32()).collect();
        assert!(cpus == [0, 2, 4, 6] || cpus == [9, 11, 13, 15], "{cpus:?}");
    }
    // 4 CPUs per group fill a 2 MiB atom with 512 KiB units (upa 4 wastes nothing).
    let s = percpu_rt::template::static_size();
    let d = 40960 - s - 8192;
    let dump = machine.dump();
    let (linux, classes) = dump.split_once("percpu: classes: ").expect("a classes line");
    assert_eq!(
        linux,
        format!(
            "percpu: Embedded 10 pages/cpu s{s} r8192 d{d} u524288\n\
             pcpu-alloc: s{s} r8192 d{d} u524288 alloc=1*2097152\n\
             pcpu-alloc: [0] 0 2 4 6 [1] 9 11 13 15 \n"
        )
    );
    assert!(classes.starts_with("hot ") && classes.ends_with(", page_aligned 0\n"), "{classes}");
}
