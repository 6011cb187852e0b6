//! Every CPU of a hosted machine updating the same counters at once (each CPU thread on its own
//! kernel thread, the threads of the 2-core machine preempted at random by Linux): exact sums at
//! the end (no update lost to a fold, a concurrent `sum` or a concurrent `set`), sums taken while
//! the adds run only ever growing when every add is positive (a fold is never half-seen), and
//! several counters of one allocation kept apart.

use percpu_rt::hosted::{Machine, MachineConfig};
use percpu_rt::{CpuId, PerCpuCounter, PerCpuCounters};
use std::sync::atomic::{AtomicBool, Ordering};

const CPUS: u32 = 4;
const ROUNDS: i64 = 200_000;

fn machine() -> &'static Machine {
    Machine::boot(MachineConfig::new(CPUS)).expect("boot")
}

#[test]
fn concurrent_adds_and_sums_lose_nothing() {
    let m = machine();
    let counter = PerCpuCounter::with_batch(0, 16).unwrap();
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        // A thread that is not a CPU may sum (remote reads only), and does so while every
        // CPU adds.
        s.spawn(|| {
            let mut last = i64::MIN;
            let mut sums = 0u64;
            while !done.load(Ordering::Acquire) {
                let now = counter.sum();
                assert!(now >= last, "sum went back from {last} to {now}: a fold was half-seen");
                last = now;
                sums += 1;
            }
            assert!(sums > 0);
        });
        m.run(|cpu| {
            // Amounts 1..=20 cycle, some at or past the batch (folded at once), so every CPU
            // folds often while the others add.
            for i in 0..ROUNDS {
                counter.add(1 + (i + i64::from(cpu.as_u32())) % 20);
            }
        });
        done.store(true, Ordering::Release);
    });
    let per_cpu: i64 = (0..ROUNDS).map(|i| 1 + i % 20).sum();
    // The sum over i of (i + c) % 20 is the same for every c when ROUNDS is a multiple of 20.
    assert_eq!(ROUNDS % 20, 0);
    assert_eq!(counter.sum(), per_cpu * i64::from(CPUS));
}

#[test]
fn concurrent_set_loses_no_later_add() {
    let m = machine();
    let counter = PerCpuCounter::with_batch(0, 8).unwrap();
    // Every CPU adds +1 and -1 alternately (net 0 over each pair) while another thread sets
    // the counter to 1000 over and over: a set that zeroed remote deltas would drop the +1 of
    // a pair whose -1 lands later, drifting below 1000.
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            while !done.load(Ordering::Acquire) {
                counter.set(1000);
            }
        });
        m.run(|_| {
            for _ in 0..ROUNDS {
                counter.add(1);
                counter.add(-1);
            }
        });
        done.store(true, Ordering::Release);
    });
    // The last set happened at some point: every pair is wholly before it (overwritten),
    // wholly after it (net 0), or straddles it (+1 overwritten, -1 counted): so the value is
    // 1000 minus the pairs that straddled the last set, at most one per CPU.
    let value = counter.sum();
    assert!((1000 - i64::from(CPUS)..=1000).contains(&value), "{value}");
    counter.set(1000);
    assert_eq!(counter.sum(), 1000);
}

#[test]
fn counters_of_one_allocation_stay_apart_under_load() {
    let m = machine();
    let counters = PerCpuCounters::<3>::new([0, 0, 0]).unwrap();
    m.run(|cpu| {
        let c = i64::from(cpu.as_u32());
        for i in 0..ROUNDS / 4 {
            counters[0].inc();
            counters[1].add(c + 1);
            counters[2].add(if i % 2 == 0 { 100 } else { -100 });
        }
    });
    let n = ROUNDS / 4;
    assert_eq!(counters[0].sum(), n * i64::from(CPUS));
    assert_eq!(counters[1].sum(), n * (1..=i64::from(CPUS)).sum::<i64>());
    assert_eq!(counters[2].sum(), 0);
    // And their deltas were really per CPU: each CPU's own view is exact after a run on it.
    assert_eq!(m.run_on(CpuId::new(0), || counters[0].sum()), n * i64::from(CPUS));
}

#[test]
fn concurrent_limited_adds_never_pass_the_limit() {
    let m = machine();
    for batch in [4, 32, 1000] {
        let counter = PerCpuCounter::with_batch(0, batch).unwrap();
        let limit = 50_000;
        let successes = std::sync::atomic::AtomicI64::new(0);
        m.run(|_| {
            let mut mine = 0;
            while counter.limited_add(limit, 1) {
                mine += 1;
            }
            successes.fetch_add(mine, Ordering::Relaxed);
        });
        let sum = counter.sum();
        assert_eq!(sum, successes.load(Ordering::Relaxed), "batch {batch}: every success counted");
        assert!(sum <= limit, "batch {batch}: {sum} passed the limit {limit}");
        assert!(sum > limit - i64::from(CPUS) * 2, "batch {batch}: stopped early at {sum}");
    }
}
