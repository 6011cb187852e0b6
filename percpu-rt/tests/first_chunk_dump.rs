//! The boot dump, line for line against the logs Linux prints at boot (`pcpu_dump_alloc_info`,
//! `pcpu_embed_first_chunk`), for the same inputs: an x86_64 NUMA machine, an arm64 machine and a
//! KVM guest, and the page form of the banner.

mod common;

use common::{PageMachine, TestMemory, ensure_platform};
use percpu_rt::CpuId;
use percpu_rt::first_chunk::{self, SetupConfig};
use percpu_rt::layout::{DYNAMIC_EARLY_SIZE, LOCAL_DISTANCE, LayoutParams, MIN_UNIT_SIZE};

fn cpus(n: u32) -> Vec<CpuId> {
    (0..n).map(CpuId::new).collect()
}

fn embed_dump(
    params: &LayoutParams,
    n: u32,
    distance: Option<&dyn Fn(CpuId, CpuId) -> u32>,
) -> String {
    ensure_platform();
    let possible = cpus(n);
    let cfg = SetupConfig { early_dyn_size: params.early_dyn_size, ..SetupConfig::new(&possible) };
    let mut mem = TestMemory::default();
    // SAFETY: fresh leaked allocations.
    let chunk =
        unsafe { first_chunk::embed_first_chunk(params, &cfg, distance, &mut mem) }.unwrap();
    let mut out = String::new();
    chunk.dump(&mut out).unwrap();
    out
}

/// Linux's lines have no trailing blanks in the logs; ours keep Linux's `pr_cont` spacing.
fn lines(dump: &str) -> Vec<&str> {
    dump.lines().map(str::trim_end).collect()
}

#[test]
fn x86_64_numa_boot_log() {
    // "percpu: Embedded 76 pages/cpu s274432 r8192 d28672 u1048576"
    let params = LayoutParams {
        static_size: 274432,
        reserved_size: 8192,
        dyn_size: 28672,
        early_dyn_size: DYNAMIC_EARLY_SIZE,
        page_size: 4096,
        atom_size: 2 << 20,
        min_unit_size: MIN_UNIT_SIZE,
    };
    let node = |c: CpuId| c.as_u32() / 2;
    let distance = |a: CpuId, b: CpuId| if node(a) == node(b) { LOCAL_DISTANCE } else { 20 };
    let dump = embed_dump(&params, 4, Some(&distance));
    assert_eq!(
        lines(&dump),
        [
            "percpu: Embedded 76 pages/cpu s274432 r8192 d28672 u1048576",
            "pcpu-alloc: s274432 r8192 d28672 u1048576 alloc=1*2097152",
            "pcpu-alloc: [0] 0 1 [1] 2 3",
        ]
    );
}

#[test]
fn arm64_boot_log() {
    // "s82280 r8192 d32408 u122880 alloc=30*4096 / [0] 0 [0] 1 [0] 2 [0] 3"
    let params = LayoutParams::linux_defaults(82280);
    let dump = embed_dump(&params, 4, None);
    assert_eq!(
        lines(&dump),
        [
            "percpu: Embedded 30 pages/cpu s82280 r8192 d32408 u122880",
            "pcpu-alloc: s82280 r8192 d32408 u122880 alloc=30*4096",
            "pcpu-alloc: [0] 0 [0] 1 [0] 2 [0] 3",
        ]
    );
}

#[test]
fn kvm_guest_boot_log() {
    // "Embedded 474 pages/cpu ... s1918656 r0 d22848 u2097152": a kernel of the 12 KiB-early,
    // 20 KiB-reserve era, without modules' reserve, 2 MiB atom.
    let params = LayoutParams {
        static_size: 1918656,
        reserved_size: 0,
        dyn_size: 20 << 10,
        early_dyn_size: 12 << 10,
        page_size: 4096,
        atom_size: 2 << 20,
        min_unit_size: MIN_UNIT_SIZE,
    };
    let dump = embed_dump(&params, 2, None);
    assert_eq!(
        lines(&dump)[..2],
        [
            "percpu: Embedded 474 pages/cpu s1918656 r0 d22848 u2097152",
            "pcpu-alloc: s1918656 r0 d22848 u2097152 alloc=1*2097152",
        ]
    );
}

#[test]
fn page_mode_banner() {
    // Linux: "percpu: %d %s pages/cpu s%zu r%zu d%zu", e.g. "30 4K pages/cpu" for arm64's sizes.
    ensure_platform();
    let possible = cpus(4);
    let cfg = SetupConfig::new(&possible);
    let mut m = PageMachine::default();
    // SAFETY: PageMachine maps real memory at the addresses it reserves.
    let chunk = unsafe {
        first_chunk::page_first_chunk(&LayoutParams::linux_defaults(82280), &cfg, &mut m)
    }
    .unwrap();
    let mut out = String::new();
    chunk.dump(&mut out).unwrap();
    assert_eq!(
        lines(&out),
        [
            "percpu: 30 4K pages/cpu s82280 r8192 d32408",
            "pcpu-alloc: s82280 r8192 d32408 u122880 alloc=30*4096",
            "pcpu-alloc: [0] 0 [0] 1 [0] 2 [0] 3",
        ]
    );
}
