//! Issue 16's benchmarks: the facilities kernels build on per-CPU memory, side by side with
//! what they replace.
//!
//! * `facilities` (a machine of 2 CPUs): throughput of 1 and 2 CPUs together (sections
//!   `facilities-1`, `facilities-2`, operations per second): `PerCpuCounter::add(1)` against a
//!   shared `AtomicI64::fetch_add` and a raw per-CPU `add` (a `PerCpuBox<i64>`: the counter's
//!   own storage without batching); `PerCpuRef` get + put against an `Arc` clone + drop (an
//!   atomic increment and decrement of one shared count).
//! * `facilities-sum --cpus N` (one process per N): on CPU 0, ns per call of
//!   `PerCpuCounter::read`, `sum`, and `compare` far from and near to its `rhs` (section
//!   `facilities-sum-N`), every CPU's delta set first by that CPU.

use crate::ops::{Scaled, run_together};
use bench_harness::record::{Record, Unit, info};
use bench_harness::timing::{self, Effort, calibrate, pin_or_warn};
use bench_harness::{Stats, clobber, sink};
use core::sync::atomic::{AtomicI64, Ordering::Relaxed};
use percpu_rt::hosted::{Machine, MachineConfig};
use percpu_rt::mode::ByValue;
use percpu_rt::{CpuId, PerCpuBox, PerCpuCounter, PerCpuRef};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

static COUNTER: OnceLock<PerCpuCounter> = OnceLock::new();
/// The same with a batch of 1024 (fewer folds into the shared count).
static COUNTER_1024: OnceLock<PerCpuCounter> = OnceLock::new();
static RAW: OnceLock<PerCpuBox<i64, ByValue>> = OnceLock::new();
static REF: OnceLock<PerCpuRef<u64>> = OnceLock::new();
static ARC: OnceLock<Arc<u64>> = OnceLock::new();
/// The shared counter, alone on its cache lines.
#[repr(align(128))]
struct PaddedI64(AtomicI64);
static SHARED: PaddedI64 = PaddedI64(AtomicI64::new(0));
/// What the counter loops added, in all (checked against the counter's sum at the end).
static ADDED: AtomicI64 = AtomicI64::new(0);

fn counter() -> &'static PerCpuCounter {
    COUNTER.get().expect("made before the loops run")
}

extern "C" fn bench_counter_add(n: u64) {
    ADDED.fetch_add(n as i64, Relaxed);
    let c = counter();
    for _ in 0..n {
        c.add(1);
        clobber();
    }
}

extern "C" fn bench_counter_1024_add(n: u64) {
    let c = COUNTER_1024.get().expect("made before the loops run");
    for _ in 0..n {
        c.add(1);
        clobber();
    }
}

extern "C" fn bench_shared_add(n: u64) {
    for _ in 0..n {
        SHARED.0.fetch_add(1, Relaxed);
        clobber();
    }
}

extern "C" fn bench_raw_add(n: u64) {
    let raw = RAW.get().expect("made before the loops run");
    for _ in 0..n {
        raw.add(1);
        clobber();
    }
}

extern "C" fn bench_ref_get_put(n: u64) {
    let r = REF.get().expect("made before the loops run");
    for _ in 0..n {
        drop(r.get());
        clobber();
    }
}

extern "C" fn bench_arc_clone_drop(n: u64) {
    let a = ARC.get().expect("made before the loops run");
    for _ in 0..n {
        drop(Arc::clone(a));
        clobber();
    }
}

/// The subjects of the throughput table (name, loop).
pub const THROUGHPUT: [(&str, extern "C" fn(u64)); 6] = [
    ("PerCpuCounter::add(1)", bench_counter_add),
    ("PerCpuCounter::add(1), batch 1024", bench_counter_1024_add),
    ("shared AtomicI64 fetch_add", bench_shared_add),
    ("raw per-CPU add (PerCpuBox<i64>)", bench_raw_add),
    ("PerCpuRef get + put", bench_ref_get_put),
    ("Arc clone + drop", bench_arc_clone_drop),
];

/// `facilities`: throughput of 1 and 2 CPUs.
pub fn run(effort: &Effort) -> Result<(), String> {
    let machine = Machine::boot(MachineConfig::new(2)).map_err(|e| e.to_string())?;
    let e = |e: &dyn std::fmt::Display| e.to_string();
    COUNTER.get_or_init(|| PerCpuCounter::new(0).expect("a counter"));
    COUNTER_1024.get_or_init(|| PerCpuCounter::with_batch(0, 1024).expect("a counter"));
    RAW.get_or_init(|| PerCpuBox::<i64, ByValue>::new(0).expect("a per-CPU i64"));
    REF.get_or_init(|| PerCpuRef::new(0, |_| {}).expect("a reference count"));
    ARC.get_or_init(|| Arc::new(0));
    info("counter_batch", counter().batch());
    let target = effort.sample * 5;
    let loops: Vec<Scaled> = machine.run_on(CpuId::new(0), || {
        pin_or_warn(0);
        THROUGHPUT
            .iter()
            .map(|&(subject, run)| Scaled { subject, run, n: calibrate(&mut |n| run(n), target) })
            .collect()
    });
    let cpus: Vec<CpuId> = machine.cpus().to_vec();
    for threads in 1..=cpus.len() {
        eprintln!("facilities: {threads} CPU(s) ...");
        let mut samples: Vec<Vec<f64>> = vec![Vec::new(); loops.len()];
        let started = Instant::now();
        for round in 0..effort.rounds {
            if round >= effort.min_rounds && started.elapsed() > effort.budget {
                break;
            }
            for k in 0..loops.len() {
                let i = (k + round) % loops.len();
                let span = run_together(machine, &cpus[..threads], &loops[i]);
                samples[i].push((threads as u64 * loops[i].n) as f64 / span.as_secs_f64());
            }
        }
        for (l, s) in loops.iter().zip(samples) {
            let stats = Stats::from_samples(&s).ok_or("no sample")?;
            Record::new(&format!("facilities-{threads}"), l.subject, "op", Unit::OpsPerSec, stats)
                .emit();
        }
    }
    // The figures are only worth printing if the facilities counted right.
    let total = counter().sum();
    let added = ADDED.load(Relaxed);
    if total != added {
        return Err(format!("PerCpuCounter summed {total}, the loops added {added}"));
    }
    let r = REF.get().expect("made");
    r.kill().map_err(|x| e(&x))?;
    if !r.is_zero() {
        return Err("PerCpuRef not zero after kill: a get or put was lost".into());
    }
    Ok(())
}

/// `facilities-sum --cpus N`: read, sum and compare on N possible CPUs.
pub fn run_sum(cpus: u32, effort: &Effort) -> Result<(), String> {
    let machine = Machine::boot(crate::machine_of(cpus)).map_err(|e| e.to_string())?;
    let c = COUNTER.get_or_init(|| PerCpuCounter::new(0).expect("a counter"));
    // Every CPU leaves a delta of 1 (below the batch): the sum must visit them all.
    for &cpu in machine.cpus() {
        machine.run_on(cpu, || c.add(1));
    }
    if c.sum() != i64::from(cpus) || c.read() != 0 {
        return Err(format!("sum {} read {}: expected {cpus} and 0", c.sum(), c.read()));
    }
    info("facilities_sum_bound", c.error_bound());
    machine.run_on(CpuId::new(0), || {
        pin_or_warn(0);
        let far = c.error_bound() * 4;
        let mut read = |n: u64| (0..n).for_each(|_| sink(c.read() as u64));
        let mut sum = |n: u64| (0..n).for_each(|_| sink(c.sum() as u64));
        let mut compare_far = |n: u64| (0..n).for_each(|_| sink(c.compare(far) as u64));
        let mut compare_near = |n: u64| (0..n).for_each(|_| sink(c.compare(0) as u64));
        eprintln!("facilities-sum: {cpus} possible CPUs ...");
        let stats = timing::sample_interleaved(
            &mut [&mut read, &mut sum, &mut compare_far, &mut compare_near],
            effort,
        );
        let section = format!("facilities-sum-{cpus}");
        for (op, s) in ["read()", "sum()", "compare() far", "compare() near"].iter().zip(stats) {
            Record::new(&section, "PerCpuCounter", op, Unit::NsPerCall, s).emit();
        }
        Ok(())
    })
}
