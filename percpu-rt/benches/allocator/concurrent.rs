//! The concurrent part of the allocator benchmark. It runs in a process of its own (this
//! program again, with `PERCPU_BENCH_PART=concurrent`), whose hosted machine has 2 CPUs: a
//! machine boots once per process, and the single-CPU part compares with Linux on 1.
//!
//! Each thread allocates a burst of objects of one size, then frees them (in allocation order,
//! or in a random order fixed per thread), over and over. 1 thread, then 2 at once, each
//! pinned to its own core: hosted CPUs (the cached path, their caches) and threads that are not
//! CPUs (the locked path, the global lock). Throughput = operations (allocations and frees) of all
//! threads / wall-clock time from the common start to the last thread's end; the median of
//! `PERCPU_BENCH_REPEAT` runs. With `PERCPU_BENCH_CPU_TIME`, the threads' CPU time stands in
//! for the wall-clock time (for a machine busy with other work; see the note it prints).

use super::common::*;
use percpu_rt::CpuId;
use percpu_rt::allocator::{self, PerCpuArea};
use percpu_rt::hosted::Machine;
use std::process::Command;
use std::sync::Barrier;
use std::time::Instant;

/// Runs this program again for the concurrent part and prints what it prints.
pub fn spawn_and_print() {
    let exe = std::env::current_exe().expect("the benchmark's own path");
    let out = Command::new(exe).env("PERCPU_BENCH_PART", "concurrent").output();
    match out {
        Ok(out) => {
            for line in String::from_utf8_lossy(&out.stdout).lines() {
                println!("{line}");
            }
            if !out.status.success() {
                println!("(the concurrent part failed: {})", out.status);
                eprint!("{}", String::from_utf8_lossy(&out.stderr));
            }
        }
        Err(e) => println!("(the concurrent part could not start: {e})"),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum FreeOrder {
    Fifo,
    Random,
}

/// One thread's work: `rounds` bursts of `burst` objects. RETURNS: (start, end, CPU ns).
fn work(
    size: usize,
    burst: usize,
    rounds: usize,
    order: FreeOrder,
    seed: u64,
    start: &Barrier,
) -> (Instant, Instant, u64) {
    let mut perm: Vec<usize> = (0..burst).collect();
    if order == FreeOrder::Random {
        let mut rng = Rng(seed | 1);
        for i in (1..burst).rev() {
            perm.swap(i, rng.below(i as u64 + 1) as usize);
        }
    }
    let mut slots: Vec<Option<PerCpuArea<'static>>> = (0..burst).map(|_| None).collect();
    start.wait();
    let (t0, c0) = (Instant::now(), thread_cpu_ns());
    for _ in 0..rounds {
        for s in slots.iter_mut() {
            *s = Some(allocator::alloc(size, 8).expect("allocation"));
        }
        for &i in &perm {
            drop(slots[i].take());
        }
    }
    (t0, Instant::now(), thread_cpu_ns() - c0)
}

/// Operations per second of `threads` threads (cached path: on CPUs 0.., locked path: threads that
/// are not CPUs), and wall / CPU time.
fn measure(
    machine: &Machine,
    new: bool,
    threads: usize,
    size: usize,
    burst: usize,
    ops: usize,
    order: FreeOrder,
) -> (f64, f64) {
    let rounds = (ops / (2 * burst)).max(1);
    let barrier = Barrier::new(threads);
    let results: Vec<(Instant, Instant, u64)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let barrier = &barrier;
                s.spawn(move || {
                    let body = move || {
                        pin_to_core(t);
                        work(size, burst, rounds, order, 0x9E37_79B9 * (t as u64 + 1), barrier)
                    };
                    if new { machine.run_on(CpuId::new(t as u32), body) } else { body() }
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("a benchmark thread")).collect()
    });
    let start = results.iter().map(|r| r.0).min().expect("a thread");
    let end = results.iter().map(|r| r.1).max().expect("a thread");
    let wall = end.duration_since(start).as_nanos() as f64;
    let cpu: u64 = results.iter().map(|r| r.2).sum();
    let total = (rounds * 2 * burst * threads) as f64;
    // With PERCPU_BENCH_CPU_TIME: as if each thread had its core for the whole of its CPU time
    // (right for a path whose threads share nothing; optimistic for the global lock, whose
    // threads contend only while they really run at once).
    let time = if cpu_time() { cpu as f64 / threads as f64 } else { wall };
    (total / time * 1e3, wall * threads as f64 / cpu as f64)
}

pub fn run() {
    let machine = boot(2);
    let repeat = env("PERCPU_BENCH_REPEAT", 5).max(1);
    let ops = env("PERCPU_BENCH_CONC_OPS", 1_000_000);
    println!(
        "## Concurrent: 1 and 2 CPUs each allocating and freeing (machine with 2 possible CPUs; million operations per second, all threads together; median of {repeat} runs)"
    );
    println!();
    println!(
        "Each thread: bursts of B objects (aligned 8) allocated, then freed in allocation order (FIFO) or in a random order fixed per thread, {ops} operations per thread. Cached path: hosted CPUs 0 and 1 (per-CPU caches). Locked path: threads that are not CPUs (the global lock). Each thread pinned to its own core; wall / (CPU / threads) near 1.00 means the threads really ran at the same time."
    );
    if cpu_time() {
        println!();
        println!(
            "Timing: thread CPU time (PERCPU_BENCH_CPU_TIME): throughput = operations / (the threads' CPU time / threads), as if each thread had its core the whole time. Right for the cached path, whose threads share nothing on the fast path; optimistic for the locked path, whose threads contend on the lock only while they really run at once."
        );
    }
    let mut wall_cpu = Vec::new();
    // Scaling (2 CPUs / 1) of every row, cached path (per burst) and old.
    let (mut new_scaling, mut old_scaling) = ([Vec::new(), Vec::new()], Vec::new());
    for (b, burst) in [16usize, 1000].into_iter().enumerate() {
        println!();
        if burst == 16 {
            println!("### Burst B = 16 (within a CPU's cache)");
        } else {
            println!(
                "### Burst B = 1000 (beyond the caches: every area through the chunks, in batches)"
            );
        }
        println!();
        println!(
            "| size | free order | cached, 1 CPU | cached, 2 CPUs | cached: 2 / 1 | locked, 1 CPU | locked, 2 CPUs | locked: 2 / 1 | 2 CPUs: cached / locked |"
        );
        println!("|---:|---|---:|---:|---:|---:|---:|---:|---:|");
        for size in [16usize, 64, 256] {
            for order in [FreeOrder::Fifo, FreeOrder::Random] {
                let mut v: [Vec<f64>; 4] = Default::default();
                for _ in 0..repeat {
                    let runs = [(true, 1), (true, 2), (false, 1), (false, 2)];
                    for (i, &(new, threads)) in runs.iter().enumerate() {
                        let (mops, wc) = measure(machine, new, threads, size, burst, ops, order);
                        v[i].push(mops);
                        if threads == 2 {
                            wall_cpu.push(wc);
                        }
                    }
                }
                let m: Vec<f64> = v.iter().map(|x| median(x.clone())).collect();
                new_scaling[b].push(m[1] / m[0]);
                old_scaling.push(m[3] / m[2]);
                println!(
                    "| {size} | {} | {:.1} | {:.1} | {:.2}x | {:.1} | {:.1} | {:.2}x | {:.2}x |",
                    if order == FreeOrder::Fifo { "FIFO" } else { "random" },
                    m[0],
                    m[1],
                    m[1] / m[0],
                    m[2],
                    m[3],
                    m[3] / m[2],
                    m[1] / m[3]
                );
            }
        }
    }
    println!();
    println!(
        "Goal: the cached path on 2 CPUs at least 1.8x its throughput on one. Against it: within the caches (B = 16: the fast path, no global lock) {} ({} of {} rows at 1.8x or more); beyond them (B = 1000: every area through the chunks under the global lock, in batches) {} ({} of {}); the locked path {}. Median wall / (CPU / threads) of the 2-thread runs: {:.2} (1.00: the two threads ran side by side the whole time).",
        super::span(&new_scaling[0]),
        new_scaling[0].iter().filter(|&&r| r >= 1.8).count(),
        new_scaling[0].len(),
        super::span(&new_scaling[1]),
        new_scaling[1].iter().filter(|&&r| r >= 1.8).count(),
        new_scaling[1].len(),
        super::span(&old_scaling),
        median(wall_cpu)
    );
    allocator::balance().expect("balance");
    allocator::verify().expect("consistent at the end");
}
