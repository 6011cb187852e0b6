//! The per-CPU behaviour a hosted machine must show whatever its first chunk is made of: 8
//! CPUs with sparse ids in 2 nodes. `run` boots the machine in the given mode, exercises every
//! access mode, and returns a summary of what it observed; embed and page runs must produce the
//! same summary.

use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use percpu_rt::hosted::{FirstChunkMode, Machine, MachineConfig};
use percpu_rt::layout::LayoutParams;
use percpu_rt::{CpuId, IrqGuard, PreemptGuard, percpu};
use std::fmt::Write;

/// The CPUs: sparse ids, nodes 0 and 1.
pub const CPUS: [u32; 8] = [0, 2, 4, 6, 9, 11, 13, 15];
pub const NODES: [u32; 8] = [0, 0, 0, 0, 1, 1, 1, 1];

/// Calls of TAG's initialiser, per CPU id.
pub static INIT_CALLS: [AtomicUsize; 16] = [const { AtomicUsize::new(0) }; 16];

fn tag_of(cpu: CpuId) -> u32 {
    INIT_CALLS[cpu.as_usize()].fetch_add(1, Ordering::Relaxed);
    cpu.as_u32() * 10
}

#[percpu]
static HITS: u64 = 0;

#[percpu(init = tag_of)]
static TAG: u32 = 1;

#[percpu]
static PRE_SETUP: u64 = 0;

#[percpu]
static LAST_SEEN: AtomicU64 = AtomicU64::new(u64::MAX);

#[derive(Default)]
pub struct Stats {
    pub rounds: u64,
    pub max_burst: u64,
}

#[percpu(local)]
static STATS: Stats = Stats { rounds: 0, max_burst: 0 };

/// Boots in `mode` with a 2 MiB atom and returns the machine and the summary.
pub fn run(mode: FirstChunkMode) -> (&'static Machine, String) {
    // Before setup: the template, seen and written by the boot thread.
    assert_eq!(HITS.read(), 0);
    assert_eq!(TAG.read(), 1, "initialisers have not run yet");
    PRE_SETUP.write(77);

    let layout = LayoutParams { atom_size: 2 << 20, ..LayoutParams::linux_defaults(0) };
    let config = MachineConfig::new(0)
        .with_cpus(&CPUS)
        .with_nodes(&NODES)
        .with_mode(mode)
        .with_layout(layout);
    let machine = Machine::boot(config).expect("boot");

    machine.run(|cpu| {
        assert_eq!(CpuId::current(), cpu, "each CPU knows its id");
        assert_eq!(TAG.read(), cpu.as_u32() * 10, "the initialiser ran for this copy");
        assert_eq!(PRE_SETUP.read(), 0, "each copy starts from the declared initial value");
        assert_eq!(HITS.read(), 0, "each copy starts from the declared initial value");
        let n = 1000 * (id(cpu) + 1);
        for _ in 0..n {
            HITS.inc();
        }
        {
            let pin = PreemptGuard::new();
            LAST_SEEN.get(&pin).store(id(cpu), Ordering::Relaxed);
        }
        let mut irq = IrqGuard::new();
        let stats = STATS.get_mut(&mut irq);
        stats.rounds += 1;
        stats.max_burst = stats.max_burst.max(n);
    });

    let mut summary = String::new();
    let mut total = 0;
    for cpu in percpu_rt::possible_cpus() {
        let hits = HITS.read_on(cpu);
        assert_eq!(hits, 1000 * (id(cpu) + 1), "exact per-CPU count");
        total += hits;
        assert_eq!(LAST_SEEN.remote(cpu).load(Ordering::Relaxed), id(cpu));
        assert_eq!(INIT_CALLS[cpu.as_usize()].load(Ordering::Relaxed), 1, "initialiser ran once");
        // SAFETY: the CPUs are stopped; nothing touches CPU `cpu`'s Stats.
        let stats = unsafe { &*STATS.ptr_on(cpu) };
        writeln!(
            summary,
            "cpu {cpu}: hits {hits} tag {} stats {}/{}",
            TAG.read_on(cpu),
            stats.rounds,
            stats.max_burst
        )
        .unwrap();
    }
    assert_eq!(total, HITS.iter_possible().sum::<u64>());
    writeln!(summary, "total {total}").unwrap();
    assert_eq!(percpu_rt::possible_cpus().map(CpuId::as_u32).collect::<Vec<_>>(), CPUS.to_vec());
    // Ids between the sparse ones have no unit: a clear error, never an out-of-bounds access.
    let missing = CpuId::new(5);
    let err = percpu_rt::cpu_offset(missing).unwrap_err();
    writeln!(summary, "{err}").unwrap();
    let panic = std::panic::catch_unwind(|| HITS.read_on(missing)).unwrap_err();
    let text = panic.downcast_ref::<String>().expect("a formatted panic message");
    assert!(text.contains("CPU 5 is not a possible CPU"), "{text}");
    (machine, summary)
}

/// What both modes must print.
pub const EXPECTED: &str = "\
cpu 0: hits 1000 tag 0 stats 1/1000
cpu 2: hits 3000 tag 20 stats 1/3000
cpu 4: hits 5000 tag 40 stats 1/5000
cpu 6: hits 7000 tag 60 stats 1/7000
cpu 9: hits 10000 tag 90 stats 1/10000
cpu 11: hits 12000 tag 110 stats 1/12000
cpu 13: hits 14000 tag 130 stats 1/14000
cpu 15: hits 16000 tag 150 stats 1/16000
total 68000
CPU 5 is not a possible CPU: this system has 8 possible CPUs, ids 0,2,4,6,9,11,13,15; name a CPU from percpu_rt::possible_cpus()
";

/// The CPU id as a `u64` value.
fn id(cpu: CpuId) -> u64 {
    u64::from(cpu.as_u32())
}
