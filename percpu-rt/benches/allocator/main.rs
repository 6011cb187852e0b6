//! Benchmark of the dynamic per-CPU allocator: the per-CPU caches (cached path) beside the
//! global lock (locked path), against Linux 6.1's figures measured on the same CPU model
//! (`LINUX_INTEL`/`LINUX_AMD`/`LINUX_AMD_ZEN1` in `common.rs`; `scripts/linux-uml-bench.sh`
//! measures another CPU's), with the same workload and definitions.
//!
//! Run: `cargo bench -p percpu-rt --bench allocator --features hosted`: it prints its report
//! (Markdown) on standard output. `./scripts/bench.sh` runs it after the other benchmarks and
//! puts that report into docs/benchmarks.md.
//! Knobs (environment): `PERCPU_BENCH_N` objects per round (default 1000000),
//! `PERCPU_BENCH_CPUS` possible CPUs of the single-CPU part's machine (default 1, as Linux's UML
//! run), `PERCPU_BENCH_QUICK=i` only row `i` (1-5) of the size table (for profiling),
//! `PERCPU_BENCH_SIZE=bytes` only one row, of that size aligned 8 (for profiling; no Linux
//! figure to compare with), `PERCPU_BENCH_CPU_TIME=1` report the thread's CPU time per
//! operation instead of wall-clock time (for a machine busy with other work; the two agree on
//! an idle machine), `PERCPU_BENCH_REPEAT` repetitions of the warm rounds and of the concurrent runs (default 5,
//! medians), `PERCPU_BENCH_CONCURRENT=0` skip the concurrent part, `PERCPU_BENCH_PATH=new`
//! (the cached path only) or `old` (the locked path only) skip the other path's warm rounds (for profiling).
//!
//! * **Single CPU.** For each size (4 aligned 4; 16, 64, 256, 1024 aligned 8): three rounds of
//!   N allocations, freed in order, in reverse, and alternating (even indexes, then odd); ns
//!   per operation = loop time / N. The cached path runs on hosted CPU 0 (its cache); the locked path
//!   on the main thread, which is not a CPU and so takes the locked path through the chunks,
//!   as a caller without a unit does. The areas' pointers are kept (8 bytes each, as in
//!   Linux's run) and freed by pointer with their shape (`free_raw_sized`: into the CPU's cache
//!   on the cached path, as an owner's drop; checked, as `free_raw`, on the old one). The warm
//!   rounds run on chunks that are already populated (the allocator's own cost); the cold
//!   round starts from the first chunk alone, so it also pays the hosted backend (mmap
//!   reservations, page population) — shown apart, with the time spent inside the backend.
//!   Then the aligned case (N x 4 bytes aligned 8), memory at peak and after the balance step,
//!   the churn workload (11000 objects, 10 of every 11 freed, balance; then, for comparison,
//!   the same with random survivors), and the allocator's metadata per page of unit.
//! * **Concurrent** (a second run of this program, on a machine with 2 CPUs): 1 and 2 threads
//!   each allocating a burst of objects and freeing them (in allocation order or in a random
//!   order), over and over; throughput of all threads together, for hosted CPUs (cached path)
//!   and for threads that are not CPUs (locked path, the global lock), each thread pinned to its
//!   own core.
//!
//! Every figure is printed; nothing is asserted.

mod common;
mod concurrent;

use common::*;
use percpu_rt::CpuId;
use percpu_rt::allocator::{self, ChunkKind, PerCpuArea};
use std::sync::atomic::Ordering;

fn main() {
    if std::env::var("PERCPU_BENCH_PART").as_deref() == Ok("concurrent") {
        concurrent::run();
        return;
    }
    let n = env("PERCPU_BENCH_N", 1_000_000);
    let cpus = env("PERCPU_BENCH_CPUS", 1) as u32;
    let machine = boot(cpus);
    let linux = LinuxFigures::for_this_cpu();
    let g0 = allocator::stats().expect("initialised").global;
    println!("# Dynamic per-CPU allocator benchmark (hosted mode)");
    println!();
    println!(
        "N = {n} objects per round; {} possible CPU(s); unit {} KiB, page {} B, max allocation {} B; \
         empty-pages band 2..4 (Linux's). CPU: {}. Linux figures: {}.",
        g0.nr_units,
        g0.unit_size >> 10,
        g0.page_size,
        g0.alloc_size_limit,
        cpu_model(),
        linux.describe()
    );
    println!();
    let baseline = populated_per_cpu_bytes();
    // Both paths on one core (the main thread and hosted CPU 0's thread), so that neither
    // finds the chunks' lines in the other core's cache.
    pin_to_core(0);
    let cpu0 = CpuId::new(0);
    let on_cpu0 = |f: &(dyn Fn() -> Vec<f64> + Sync)| {
        machine.run_on(cpu0, || {
            pin_to_core(0);
            f()
        })
    };

    let mut rows = Vec::new();
    let mut cold = Vec::new();
    let mut memory = Vec::new();
    let mut quick = env("PERCPU_BENCH_QUICK", 0);
    let custom = [(env("PERCPU_BENCH_SIZE", 0), 8)];
    let all: Vec<(usize, usize)> = SIZES.to_vec();
    let sizes: &[(usize, usize)] = if custom[0].0 != 0 {
        quick = 1;
        &custom[..]
    } else if quick != 0 {
        &all[quick - 1..quick]
    } else {
        &all[..]
    };
    let mut old_slots = slots(n);
    for &(size, align) in sizes {
        // Cold: from the first chunk alone, paying chunk creation and population.
        allocator::balance().expect("balance");
        let figures = on_cpu0(&|| {
            let mut areas = slots(n);
            let clock = BackendClock::start();
            let cold_alloc = alloc_all(&mut areas, size, align);
            let backend_ns = clock.ns_per(n);
            let peak = populated_per_cpu_bytes() - baseline;
            let stats = allocator::stats().expect("initialised");
            let unit_pages: usize = stats.chunks.iter().map(|c| c.nr_pages).sum();
            let cached = stats.global.nr_cached as f64;
            free_all(&mut areas, Order::Forward);
            let mut new = if std::env::var("PERCPU_BENCH_PATH").as_deref() == Ok("old") {
                vec![f64::NAN; 6]
            } else {
                warm_rounds(&mut areas, size, align)
            };
            new.extend([
                cold_alloc,
                backend_ns,
                peak as f64,
                stats.global.metadata_bytes as f64 / unit_pages as f64,
                cached,
            ]);
            new
        });
        let old = if std::env::var("PERCPU_BENCH_PATH").as_deref() == Ok("new") {
            vec![f64::NAN; 6]
        } else {
            warm_rounds(&mut old_slots, size, align)
        };
        allocator::balance().expect("balance");
        let after = populated_per_cpu_bytes() - baseline;
        rows.push((size, align, figures[..6].to_vec(), old));
        cold.push((size, align, figures[6], figures[7]));
        let per_object = figures[8] / n as f64;
        memory.push((size, align, per_object, after, dynamic_chunks(), figures[9], figures[10]));
    }
    if quick != 0 {
        for (size, align, new, old) in &rows {
            println!("{size} {align} new {new:.1?}");
            println!("{size} {align} old {old:.1?}");
        }
        let (wall, cpu) = (WALL_NS.load(Ordering::Relaxed), CPU_NS.load(Ordering::Relaxed));
        println!("wall / cpu = {:.2}", wall as f64 / cpu as f64);
        return;
    }

    // The aligned case: 4 bytes aligned 8, after a cold round of the same shape.
    allocator::balance().expect("balance");
    let aligned = on_cpu0(&|| {
        let mut areas = slots(n);
        let clock = BackendClock::start();
        let cold = alloc_all(&mut areas, 4, 8);
        let backend = clock.ns_per(n);
        let peak = (populated_per_cpu_bytes() - baseline) as f64 / n as f64;
        free_all(&mut areas, Order::Forward);
        let mut figures = aligned_rounds(&mut areas);
        figures.extend([cold, backend, peak]);
        figures
    });
    let aligned_old = aligned_rounds(&mut old_slots);
    allocator::balance().expect("balance");

    print_single_cpu(&rows, &aligned, &aligned_old, &linux);
    println!(
        "## Cold allocation, cached path (from the first chunk alone: chunk creation and population included), ns per allocation"
    );
    println!();
    println!("| size | align | alloc (cold) | of which in the backend | allocator alone |");
    println!("|---:|---:|---:|---:|---:|");
    for (size, align, c, b) in &cold {
        println!("| {size} | {align} | {c:.1} | {b:.1} | {:.1} |", c - b);
    }
    println!(
        "| 4 (aligned case) | 8 | {:.1} | {:.1} | {:.1} |",
        aligned[2],
        aligned[3],
        aligned[2] - aligned[3]
    );
    println!();
    println!("## Memory, cached path (per-CPU bytes; one unit's worth; cached areas included)");
    println!();
    println!(
        "| size | align | populated at peak per object | of the payload | areas in the caches at peak | populated after free + balance | dynamic chunks left | metadata bytes per page of unit |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (size, align, per_obj, after, chunks, meta, cached) in &memory {
        println!(
            "| {size} | {align} | {per_obj:.2} | {:+.2}% | {cached} | {after} | {chunks} | {meta:.0} |",
            (per_obj / *size as f64 - 1.0) * 100.0
        );
    }
    println!(
        "| 4 (aligned case) | 8 | {:.2} | {:+.2}% | | | | |",
        aligned[4],
        (aligned[4] / 4.0 - 1.0) * 100.0
    );
    println!();
    println!(
        "(Linux: exactly the size per object, 8 bytes for the aligned case; after freeing, back to within 0.1-2.5 MB of boot.)"
    );
    println!();
    machine.run_on(cpu0, || {
        pin_to_core(0);
        churn_tables()
    });
    allocator::balance().expect("balance");
    let cached = allocator::stats().expect("initialised").global;
    println!();
    println!(
        "After the last balance step: {} dynamic chunk(s), {} area(s) in the per-CPU caches ({} B per unit); over the whole run {} allocations and {} frees went through a cache.",
        dynamic_chunks(),
        cached.nr_cached,
        cached.cached_bytes,
        cached.nr_cache_alloc,
        cached.nr_cache_dealloc
    );
    allocator::verify().expect("consistent at the end");

    if env("PERCPU_BENCH_CONCURRENT", 1) != 0 {
        println!();
        concurrent::spawn_and_print();
    }
}

/// The three warm rounds on already populated chunks, from the calling thread: allocation
/// times then free times (in order, reverse, alternating); each figure the median of
/// `PERCPU_BENCH_REPEAT` runs (default 5), so that a moment of a busy host does not decide it.
fn warm_rounds(areas: &mut Slots, size: usize, align: usize) -> Vec<f64> {
    let repeat = env("PERCPU_BENCH_REPEAT", 5).max(1);
    let mut runs: [Vec<f64>; 6] = Default::default();
    for _ in 0..repeat {
        let orders = [Order::Forward, Order::Reverse, Order::Alternating];
        for (r, order) in orders.into_iter().enumerate() {
            runs[r].push(alloc_all(areas, size, align));
            runs[3 + r].push(free_all(areas, order));
        }
    }
    runs.into_iter().map(median).collect()
}

/// The aligned case's warm round (N x 4 bytes aligned 8, freed in order), from the calling
/// thread: allocation and free times, each the median of `PERCPU_BENCH_REPEAT` runs.
fn aligned_rounds(areas: &mut Slots) -> Vec<f64> {
    let (mut a, mut f) = (Vec::new(), Vec::new());
    for _ in 0..env("PERCPU_BENCH_REPEAT", 5).max(1) {
        a.push(alloc_all(areas, 4, 8));
        f.push(free_all(areas, Order::Forward));
    }
    vec![median(a), median(f)]
}

fn print_single_cpu(
    rows: &[(usize, usize, Vec<f64>, Vec<f64>)],
    aligned: &[f64],
    aligned_old: &[f64],
    linux: &LinuxFigures,
) {
    println!("## Single CPU: allocator's own cost (chunks already populated), ns per operation");
    println!();
    println!(
        "Each cell: cached path (per-CPU cache, on hosted CPU 0) / locked path (global lock, from a thread that is not a CPU){}.",
        if linux.same_model { " (cached / Linux 6.1 on this CPU model)" } else { "" }
    );
    println!();
    println!(
        "| size | align | alloc r1 | alloc r2 | alloc r3 | free in order | free reverse | free alternating |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (size, align, new, old) in rows {
        let theirs = linux.row(*size, *align).filter(|_| linux.same_model);
        let cells: Vec<String> =
            (0..6).map(|i| cell(new[i], old[i], theirs.map(|t| t[i]))).collect();
        println!("| {size} | {align} | {} |", cells.join(" | "));
    }
    let theirs = linux.aligned().filter(|_| linux.same_model);
    println!(
        "| 4 (aligned case) | 8 | {} | – | – | {} | – | – |",
        cell(aligned[0], aligned_old[0], theirs.map(|t| t[0])),
        cell(aligned[1], aligned_old[1], theirs.map(|t| t[1]))
    );
    println!();
    println!(
        "Goals: every allocation at most 0.5x Linux's time, every free at most 0.75x, the aligned allocation at most 0.05x."
    );
    if let Some(aligned_linux) = linux.aligned() {
        // The cached path's ratios to Linux, allocation cells then free cells.
        let (mut allocs, mut frees) = (Vec::new(), Vec::new());
        for (size, align, new, _) in rows {
            if let Some(t) = linux.row(*size, *align) {
                allocs.extend((0..3).map(|i| new[i] / t[i]));
                frees.extend((3..6).map(|i| new[i] / t[i]));
            }
        }
        frees.push(aligned[1] / aligned_linux[1]);
        let aligned_ratio = aligned[0] / aligned_linux[0];
        if !linux.same_model {
            println!(
                "No Linux table was measured on this CPU's model, so this run cannot judge them. For reference only (another CPU generation), the same ratios against Linux's AMD EPYC Zen 5 table:"
            );
        }
        println!(
            "{} cached path: allocation {} ({} of {} cells within 0.5x); free {} ({} of {} within 0.75x); aligned allocation {aligned_ratio:.3}x ({}).",
            if linux.same_model { "Against them," } else { "Against that table," },
            span(&allocs),
            allocs.iter().filter(|&&r| r <= 0.5).count(),
            allocs.len(),
            span(&frees),
            frees.iter().filter(|&&r| r <= 0.75).count(),
            frees.len(),
            if aligned_ratio <= 0.05 { "met" } else { "missed" }
        );
    }
    let (wall, cpu) = (WALL_NS.load(Ordering::Relaxed), CPU_NS.load(Ordering::Relaxed));
    println!(
        "Timing: {}; over all timed loops, wall-clock / thread CPU time = {:.2} (1.00 on an idle machine).",
        if cpu_time() { "thread CPU time" } else { "wall clock" },
        wall as f64 / cpu as f64
    );
    println!();
}

/// "a–bx": the smallest and largest of `ratios` (not empty).
pub fn span(ratios: &[f64]) -> String {
    let lo = ratios.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = ratios.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    format!("{lo:.2}–{hi:.2}x")
}

fn cell(new: f64, old: f64, linux: Option<f64>) -> String {
    match linux {
        Some(l) => format!("{new:.1} / {old:.1} ({:.2}x)", new / l),
        None => format!("{new:.1} / {old:.1}"),
    }
}

/// The churn tables (on the calling CPU).
fn churn_tables() {
    // Churn: 11000 objects, free 10 of every 11, balance. Then the same with survivors drawn
    // at random (1 in 11, fixed seed), for comparison: a survivor pins its page, and periodic
    // survivors spread over the most pages.
    for random in [false, true] {
        if random {
            println!();
            println!(
                "## Churn with random survivors (11000 objects, each kept with probability 1/11, fixed seed; a different workload, for comparison)"
            );
        } else {
            println!(
                "## Churn, cached path (11000 objects, 10 of every 11 freed, balance step): resident per-CPU pages, all units"
            );
        }
        println!();
        println!(
            "| object size | resident before (allocator / mincore) | after balance (allocator / mincore) | reduction |"
        );
        println!("|---:|---:|---:|---:|");
        let mut rng = Rng(0x2545_F491_4F6C_DD1D);
        let mut keep = |i: usize| if random { rng.below(11) == 0 } else { i % 11 == 0 };
        for size in [1024usize, 2048, 4096, 5632, 8192] {
            allocator::balance().expect("balance");
            let objs: Vec<PerCpuArea<'static>> =
                (0..11000).map(|_| allocator::alloc(size, 8).expect("allocation")).collect();
            let kept: Vec<bool> = (0..objs.len()).map(&mut keep).collect();
            let pages = |g: allocator::GlobalStats| g.populated_pages * g.nr_units;
            let before = pages(allocator::stats().expect("initialised").global);
            let before_mincore = mincore_pages();
            let mut survivors = Vec::new();
            for (area, &k) in objs.into_iter().zip(&kept) {
                if k {
                    survivors.push(area);
                }
            }
            allocator::balance().expect("balance");
            let after = pages(allocator::stats().expect("initialised").global);
            let after_mincore = mincore_pages();
            println!(
                "| {size} | {before} / {before_mincore} | {after} / {after_mincore} | {:.1}x |",
                before as f64 / after as f64
            );
            drop(survivors);
        }
        allocator::balance().expect("balance");
    }
    println!();
    println!(
        "(\"allocator\" counts populated pages of every chunk, the first chunk's included; \"mincore\" counts resident pages of the dynamic chunks only. Linux's churn, 5.14 depopulation: about 3x fewer.)"
    );
}

fn dynamic_chunks() -> usize {
    allocator::stats()
        .expect("initialised")
        .chunks
        .iter()
        .filter(|c| c.kind == ChunkKind::Dynamic)
        .count()
}
