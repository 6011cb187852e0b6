//! Benchmark of the dynamic per-CPU allocator against Linux 6.1's figures on this machine kind
//! (shared/research/linux-allocator-measured.md), with the same workload and definitions.
//!
//! Run: `cargo bench -p percpu-rt --bench allocator --features hosted`
//! Knobs (environment): `PERCPU_BENCH_N` objects per round (default 1000000),
//! `PERCPU_BENCH_CPUS` possible CPUs of the hosted machine (default 1, as Linux's UML run),
//! `PERCPU_BENCH_QUICK=i` only row `i` (1-5) of the size table (for profiling),
//! `PERCPU_BENCH_SIZE=bytes` only one row, of that size aligned 8 (for profiling; no Linux
//! figure to compare with),
//! `PERCPU_BENCH_CPU_TIME=1` report the thread's CPU time per operation instead of wall-clock
//! time (for a machine busy with other work; the two agree on an idle machine).
//!
//! For each size (4 aligned 4; 16, 64, 256, 1024 aligned 8): three rounds of N allocations,
//! freed in order, in reverse, and alternating (even indexes, then odd); ns per operation =
//! loop time / N. The *warm* rounds run on chunks that are already populated (the allocator's
//! own cost); the *cold* round starts from the first chunk alone, so it also pays the hosted
//! backend (mmap reservations, page population) — shown apart, with the time spent inside the
//! backend, measured around each backend call (this benchmark registers a timing wrapper around
//! the hosted backend before the machine boots).
//! Then the aligned case (N x 4 bytes aligned 8), memory at peak and after the balance step, the
//! churn workload (11000 objects, 10 of every 11 freed, balance; then, for comparison, the same
//! with random survivors), and the allocator's metadata per page of unit. Every figure is
//! printed; nothing is asserted.

use percpu_rt::allocator::BackendError;
use percpu_rt::allocator::hosted::{HOSTED_BACKEND, HostedBackend};
use percpu_rt::allocator::{self, Backend, ChunkGeometry, ChunkKind, PerCpuPtr};
use percpu_rt::hosted::{Machine, MachineConfig};
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Linux 6.1 (UML, native speed), ns per operation: alloc r1, r2, r3, free in order, reverse,
/// alternating.
const LINUX: [(usize, usize, [f64; 6]); 5] = [
    (4, 4, [85.3, 76.7, 79.0, 18.8, 18.9, 20.3]),
    (16, 8, [80.0, 79.9, 78.9, 20.1, 20.1, 23.5]),
    (64, 8, [87.5, 87.5, 88.0, 21.0, 20.8, 23.2]),
    (256, 8, [110.7, 113.2, 113.3, 25.2, 25.3, 29.4]),
    (1024, 8, [234.7, 236.0, 234.5, 42.1, 39.9, 63.4]),
];
/// Linux's aligned case: 4 bytes aligned 8, alloc and free in order.
const LINUX_ALIGNED: [f64; 2] = [2353.1, 21.3];

/// The hosted backend, with the time spent in it counted.
struct TimedBackend {
    ns: AtomicU64,
}

static TIMED: TimedBackend = TimedBackend { ns: AtomicU64::new(0) };

impl TimedBackend {
    fn timed<R>(&self, f: impl FnOnce() -> R) -> R {
        let t = Instant::now();
        let r = f();
        self.ns.fetch_add(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
        r
    }
}

// SAFETY: forwards every call to the hosted backend, which upholds the contract.
unsafe impl Backend for TimedBackend {
    fn create_chunk(&self, g: &ChunkGeometry) -> Result<usize, BackendError> {
        self.timed(|| HOSTED_BACKEND.create_chunk(g))
    }
    unsafe fn populate(
        &self,
        g: &ChunkGeometry,
        base: usize,
        pages: Range<usize>,
    ) -> Result<(), BackendError> {
        // SAFETY: forwarded from the caller (the allocator).
        self.timed(|| unsafe { HOSTED_BACKEND.populate(g, base, pages) })
    }
    unsafe fn depopulate(&self, g: &ChunkGeometry, base: usize, pages: Range<usize>) {
        // SAFETY: forwarded from the caller (the allocator).
        self.timed(|| unsafe { HOSTED_BACKEND.depopulate(g, base, pages) })
    }
    unsafe fn destroy_chunk(&self, g: &ChunkGeometry, base: usize) {
        // SAFETY: forwarded from the caller (the allocator).
        self.timed(|| unsafe { HOSTED_BACKEND.destroy_chunk(g, base) })
    }
}

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Boots the hosted machine with the timing wrapper as the allocator's backend (registered
/// first, so the machine keeps it instead of the plain hosted backend).
fn boot(cpus: u32) -> &'static Machine {
    allocator::set_backend(&TIMED).expect("the benchmark registers the allocator's backend first");
    let m = Machine::boot(MachineConfig::new(cpus)).expect("boot the hosted machine");
    assert!(allocator::is_initialized(), "the first-chunk setup hands its chunk to the allocator");
    m
}

/// This thread's CPU time, in ns (unaffected by other processes taking the CPU).
fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes the timespec it is given.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Time spent in the backend from here on, measured around each backend call.
struct BackendClock;

impl BackendClock {
    fn start() -> BackendClock {
        TIMED.ns.store(0, Ordering::Relaxed);
        BackendClock
    }

    fn ns_per(self, n: usize) -> f64 {
        TIMED.ns.load(Ordering::Relaxed) as f64 / n as f64
    }
}

/// Wall-clock and CPU time of the loops, summed, to show how much other processes took.
static WALL_NS: AtomicU64 = AtomicU64::new(0);
static CPU_NS: AtomicU64 = AtomicU64::new(0);

/// A timed loop: wall-clock ns per operation (Linux's definition); the thread's CPU time is
/// recorded too.
struct Timer {
    wall: Instant,
    cpu: u64,
}

impl Timer {
    fn start() -> Timer {
        Timer { wall: Instant::now(), cpu: thread_cpu_ns() }
    }

    fn ns_per(self, n: usize) -> f64 {
        let wall = self.wall.elapsed().as_nanos() as u64;
        let cpu = thread_cpu_ns() - self.cpu;
        WALL_NS.fetch_add(wall, Ordering::Relaxed);
        CPU_NS.fetch_add(cpu, Ordering::Relaxed);
        if std::env::var_os("PERCPU_BENCH_CPU_TIME").is_some() {
            cpu as f64 / n as f64
        } else {
            wall as f64 / n as f64
        }
    }
}

/// Allocates `n` areas and keeps their pointers: the benchmark frees by pointer, as Linux's
/// `free_percpu` does (see [`free`]).
fn alloc_all(ptrs: &mut Vec<PerCpuPtr>, n: usize, size: usize, align: usize) -> f64 {
    ptrs.clear();
    let t = Timer::start();
    for _ in 0..n {
        ptrs.push(allocator::alloc(size, align).expect("allocation").into_raw());
    }
    t.ns_per(n)
}

/// Frees an area by the pointer `alloc_all` kept.
#[inline(always)]
fn free(p: PerCpuPtr) {
    // SAFETY: every pointer comes from `into_raw` of an area this benchmark allocated, and each
    // is freed exactly once.
    unsafe { allocator::free_raw(p) }.expect("free");
}

#[derive(Clone, Copy)]
enum Order {
    Forward,
    Reverse,
    Alternating,
}

fn free_all(ptrs: &[PerCpuPtr], order: Order) -> f64 {
    let n = ptrs.len();
    let t = Timer::start();
    match order {
        Order::Forward => {
            for &p in ptrs {
                free(p);
            }
        }
        Order::Reverse => {
            for &p in ptrs.iter().rev() {
                free(p);
            }
        }
        Order::Alternating => {
            for &p in ptrs.iter().step_by(2) {
                free(p);
            }
            for &p in ptrs.iter().skip(1).step_by(2) {
                free(p);
            }
        }
    }
    t.ns_per(n)
}

fn populated_per_cpu_bytes() -> usize {
    let g = allocator::stats().expect("initialised").global;
    g.populated_pages * g.page_size
}

fn dynamic_chunks() -> usize {
    allocator::stats()
        .expect("initialised")
        .chunks
        .iter()
        .filter(|c| c.kind == ChunkKind::Dynamic)
        .count()
}

/// Resident pages of every dynamic chunk's units, by `mincore`.
fn mincore_pages() -> usize {
    let stats = allocator::stats().expect("initialised");
    let geo = allocator::global().expect("initialised").geometry().clone();
    stats
        .chunks
        .iter()
        .filter(|c| c.kind == ChunkKind::Dynamic)
        .map(|c| {
            geo.units
                .iter()
                .map(|&(_, off)| {
                    HostedBackend::mincore_resident(c.base + off, geo.unit_size).unwrap_or(0)
                })
                .sum::<usize>()
        })
        .sum()
}

fn ratio(ours: f64, linux: f64) -> String {
    format!("{:.2}x", ours / linux)
}

fn main() {
    let n = env("PERCPU_BENCH_N", 1_000_000);
    let cpus = env("PERCPU_BENCH_CPUS", 1) as u32;
    let _machine = boot(cpus);
    let g0 = allocator::stats().expect("initialised").global;
    println!("# Dynamic per-CPU allocator benchmark (hosted mode)");
    println!();
    println!(
        "N = {n} objects per round; {} possible CPU(s); unit {} KiB, page {} B, max allocation {} B; \
         empty-pages band 2..4 (Linux's)",
        g0.nr_units,
        g0.unit_size >> 10,
        g0.page_size,
        g0.alloc_size_limit
    );
    println!();
    let baseline = populated_per_cpu_bytes();
    let mut ptrs: Vec<PerCpuPtr> = Vec::with_capacity(n);

    let mut rows = Vec::new();
    let mut cold = Vec::new();
    let mut memory = Vec::new();
    let mut quick = env("PERCPU_BENCH_QUICK", 0);
    let custom = [(env("PERCPU_BENCH_SIZE", 0), 8, [f64::NAN; 6])];
    let sizes = if custom[0].0 != 0 {
        quick = 1;
        &custom[..]
    } else if quick != 0 {
        &LINUX[quick - 1..quick]
    } else {
        &LINUX[..]
    };
    for &(size, align, linux) in sizes {
        // Cold: from the first chunk alone, paying chunk creation and population.
        allocator::balance().expect("balance");
        let clock = BackendClock::start();
        let cold_alloc = alloc_all(&mut ptrs, n, size, align);
        let backend_ns = clock.ns_per(n);
        let peak = populated_per_cpu_bytes() - baseline;
        let metadata = allocator::stats().expect("initialised").global.metadata_bytes;
        let unit_pages: usize =
            allocator::stats().expect("initialised").chunks.iter().map(|c| c.nr_pages).sum();
        free_all(&ptrs, Order::Forward);
        // Warm: the chunks stay populated (no balance step between rounds).
        let a1 = alloc_all(&mut ptrs, n, size, align);
        let f1 = free_all(&ptrs, Order::Forward);
        let a2 = alloc_all(&mut ptrs, n, size, align);
        let f2 = free_all(&ptrs, Order::Reverse);
        let a3 = alloc_all(&mut ptrs, n, size, align);
        let f3 = free_all(&ptrs, Order::Alternating);
        allocator::balance().expect("balance");
        let after = populated_per_cpu_bytes() - baseline;
        rows.push((size, align, [a1, a2, a3, f1, f2, f3], linux));
        cold.push((size, cold_alloc, backend_ns));
        memory.push((
            size,
            peak as f64 / n as f64,
            after,
            dynamic_chunks(),
            metadata as f64 / unit_pages as f64,
        ));
    }

    if quick != 0 {
        for (size, align, ours, _) in &rows {
            println!("{size} {align} {ours:.1?}");
        }
        let (wall, cpu) = (WALL_NS.load(Ordering::Relaxed), CPU_NS.load(Ordering::Relaxed));
        println!("wall / cpu = {:.2}", wall as f64 / cpu as f64);
        return;
    }
    // The aligned case: 4 bytes aligned 8, after a warm-up round of the same shape.
    allocator::balance().expect("balance");
    let clock = BackendClock::start();
    let aligned_cold = alloc_all(&mut ptrs, n, 4, 8);
    let aligned_backend = clock.ns_per(n);
    let aligned_peak = (populated_per_cpu_bytes() - baseline) as f64 / n as f64;
    free_all(&ptrs, Order::Forward);
    let aligned_alloc = alloc_all(&mut ptrs, n, 4, 8);
    let aligned_free = free_all(&ptrs, Order::Forward);
    allocator::balance().expect("balance");

    println!("## Allocator's own cost (chunks already populated), ns per operation");
    println!();
    println!(
        "| size | align | alloc r1 | alloc r2 | alloc r3 | free in order | free reverse | free alternating |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (size, align, ours, linux) in &rows {
        let cells: Vec<String> = ours
            .iter()
            .zip(linux)
            .map(|(o, l)| format!("{o:.1} ({} of {l})", ratio(*o, *l)))
            .collect();
        println!("| {size} | {align} | {} |", cells.join(" | "));
    }
    println!(
        "| 4 (aligned case) | 8 | {aligned_alloc:.1} ({} of {}) | – | – | {aligned_free:.1} ({} of {}) | – | – |",
        ratio(aligned_alloc, LINUX_ALIGNED[0]),
        LINUX_ALIGNED[0],
        ratio(aligned_free, LINUX_ALIGNED[1]),
        LINUX_ALIGNED[1]
    );
    println!();
    println!(
        "Each cell: ours (ours / Linux 6.1 of the same row). Targets: allocation <= 0.75x, free <= 1.0x, aligned allocation <= 0.1x."
    );
    let (wall, cpu) = (WALL_NS.load(Ordering::Relaxed), CPU_NS.load(Ordering::Relaxed));
    println!(
        "Timing: {}; over all timed loops, wall-clock / thread CPU time = {:.2} (1.00 on an idle machine).",
        if std::env::var_os("PERCPU_BENCH_CPU_TIME").is_some() {
            "thread CPU time"
        } else {
            "wall clock"
        },
        wall as f64 / cpu as f64
    );
    println!();
    println!(
        "## Cold allocation (from the first chunk alone: chunk creation and population included), ns per allocation"
    );
    println!();
    println!("| size | align | alloc (cold) | of which in the backend | allocator alone |");
    println!("|---:|---:|---:|---:|---:|");
    for (size, c, b) in &cold {
        let align = if *size == 4 { 4 } else { 8 };
        println!("| {size} | {align} | {c:.1} | {b:.1} | {:.1} |", c - b);
    }
    println!(
        "| 4 (aligned case) | 8 | {aligned_cold:.1} | {aligned_backend:.1} | {:.1} |",
        aligned_cold - aligned_backend
    );
    println!();
    println!("## Memory (per-CPU bytes; one unit's worth)");
    println!();
    println!(
        "| size | align | populated at peak per object | of the payload | populated after free + balance | dynamic chunks left | metadata bytes per page of unit |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    for (size, per_obj, after, chunks, meta) in &memory {
        let align = if *size == 4 { 4 } else { 8 };
        println!(
            "| {size} | {align} | {per_obj:.2} | {:+.2}% | {after} | {chunks} | {meta:.0} |",
            (per_obj / *size as f64 - 1.0) * 100.0
        );
    }
    println!(
        "| 4 (aligned case) | 8 | {aligned_peak:.2} | {:+.2}% | | | |",
        (aligned_peak / 4.0 - 1.0) * 100.0
    );
    println!();
    println!(
        "(Linux: exactly the size per object, 8 bytes for the aligned case; after freeing, back to within 0.1-2.5 MB of boot.)"
    );
    println!();

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
                "## Churn (11000 objects, 10 of every 11 freed, balance step): resident per-CPU pages, all units"
            );
        }
        println!();
        println!(
            "| object size | resident before (allocator / mincore) | after balance (allocator / mincore) | reduction |"
        );
        println!("|---:|---:|---:|---:|");
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        let mut keep = |i: usize| {
            if !random {
                return i % 11 == 0;
            }
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % 11 == 0
        };
        for size in [1024usize, 2048, 4096, 5632, 8192] {
            allocator::balance().expect("balance");
            let objs: Vec<PerCpuPtr> = (0..11000)
                .map(|_| allocator::alloc(size, 8).expect("allocation").into_raw())
                .collect();
            let kept: Vec<bool> = (0..objs.len()).map(&mut keep).collect();
            let pages = |g: percpu_rt::allocator::GlobalStats| g.populated_pages * g.nr_units;
            let before = pages(allocator::stats().expect("initialised").global);
            let before_mincore = mincore_pages();
            for (&p, &k) in objs.iter().zip(&kept) {
                if !k {
                    free(p);
                }
            }
            allocator::balance().expect("balance");
            let after = pages(allocator::stats().expect("initialised").global);
            let after_mincore = mincore_pages();
            println!(
                "| {size} | {before} / {before_mincore} | {after} / {after_mincore} | {:.1}x |",
                before as f64 / after as f64
            );
            for (&p, &k) in objs.iter().zip(&kept) {
                if k {
                    free(p);
                }
            }
        }
        allocator::balance().expect("balance");
    }
    println!();
    println!(
        "(\"allocator\" counts populated pages of every chunk, the first chunk's included; \"mincore\" counts resident pages of the dynamic chunks only. Linux's churn, 5.14 depopulation: about 3x fewer.)"
    );
    allocator::verify().expect("consistent at the end");
}
