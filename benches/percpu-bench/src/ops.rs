//! Items 1 and 2 of issue 7 on a hosted machine of two CPUs:
//!
//! * current-CPU `read`, `write`, `inc`, `add`, `cmpxchg` of a `#[percpu] static u64` against
//!   the baselines (`thread_local!` const and lazy, a shared `AtomicU64`), all on hosted CPU 0,
//!   whose thread is pinned to core 0 (section `ops`, ns/op);
//! * scaling: every CPU incrementing its own copy against every thread doing `fetch_add` on one
//!   shared atomic (and, for reference, every thread incrementing a `thread_local!`), with 1 and
//!   2 CPUs, each CPU's thread pinned to its own core (sections `scaling-1`, `scaling-2`,
//!   operations per second of all threads together);
//! * the explanation of the `inc` and `cmpxchg` results: the same memory through other
//!   instruction forms (section `addressing`, see [`crate::addressing`]).

use crate::addressing;
use crate::baselines::{atomic, tls_const, tls_lazy};
use bench_harness::record::{Record, Unit, info};
use bench_harness::timing::{self, Effort, calibrate, pin_or_warn};
use bench_harness::{Stats, Variant};
use percpu_rt::CpuId;
use percpu_rt::hosted::{Machine, MachineConfig};
use percpu_rt::percpu;
use std::sync::{Barrier, Mutex};
use std::time::{Duration, Instant};

/// The measured per-CPU counter.
#[percpu]
static COUNTER: u64 = 0;

bench_harness::current_cpu_ops! {
    mod pcpu = "percpu-rt";
    read: || COUNTER.read(),
    write: |v| COUNTER.write(v),
    inc: || COUNTER.inc(),
    add: |v| COUNTER.add(v),
    cmpxchg: |old, new| match COUNTER.cmpxchg(old, new) {
        Ok(previous) | Err(previous) => previous,
    },
}

/// Hosted CPUs of the machine: one per core of this 2-core machine.
const CPUS: u32 = 2;

/// Boots the machine and runs both benchmarks.
pub fn run(effort: &Effort) -> Result<(), String> {
    let machine = Machine::boot(MachineConfig::new(CPUS)).map_err(|e| e.to_string())?;
    info("static_size", percpu_rt::template::static_size());
    info("cores", timing::available_cores());
    let first = machine.first_chunk();
    info("unit_size", first.unit_size());
    current_cpu_ops(machine, effort)?;
    scaling(machine, effort)
}

/// Item 1: every subject's five operations, interleaved, on hosted CPU 0.
fn current_cpu_ops(machine: &Machine, effort: &Effort) -> Result<(), String> {
    machine.run_on(CpuId::new(0), || {
        pin_or_warn(0);
        for check in [pcpu::check, tls_const::check, tls_lazy::check, atomic::check] {
            check()?;
        }
        let mut variants: Vec<Variant> = Vec::new();
        for set in
            [pcpu::variants(), tls_const::variants(), tls_lazy::variants(), atomic::variants()]
        {
            variants.extend(set);
        }
        variants.push(Variant {
            subject: "empty loop",
            op: "iteration",
            run: bench_harness::opaque::bench_empty_loop,
        });
        eprintln!("ops: {} loops, {} rounds ...", variants.len(), effort.rounds);
        let stats = timing::sample_variants(&variants, effort);
        for (v, s) in variants.iter().zip(stats) {
            Record::new("ops", v.subject, v.op, Unit::NsPerOp, s).emit();
        }

        let explain = [
            ("inc gs:[rip + VAR] (percpu-rt inc)", pcpu::bench_inc as extern "C" fn(u64)),
            ("inc [reg], reg = this CPU's copy", addressing::bench_addr_inc_reg),
            ("inc [rip + VAR], plain static", addressing::bench_addr_inc_rip_plain),
            ("inc fs:[abs] (thread_local! const inc)", tls_const::bench_inc),
            ("8 percpu-rt counters, inc in turn", addressing::bench_addr_inc_spread_percpu),
            ("8 thread_local! const counters, inc in turn", addressing::bench_addr_inc_spread_tls),
            ("cmpxchg gs:[rip + VAR] (percpu-rt cmpxchg)", pcpu::bench_cmpxchg),
            ("cmpxchg [reg], reg = this CPU's copy", addressing::bench_addr_cmpxchg_reg),
        ];
        let variants: Vec<Variant> =
            explain.iter().map(|&(subject, run)| Variant { subject, op: "op", run }).collect();
        eprintln!("addressing: {} loops ...", variants.len());
        let stats = timing::sample_variants(&variants, effort);
        for (v, s) in variants.iter().zip(stats) {
            Record::new("addressing", v.subject, v.op, Unit::NsPerOp, s).emit();
        }
        Ok(())
    })
}

/// A loop each thread runs in the scaling benchmark.
pub(crate) struct Scaled {
    pub(crate) subject: &'static str,
    pub(crate) run: extern "C" fn(u64),
    /// Operations per thread per sample.
    pub(crate) n: u64,
}

/// Item 2: operations per second of 1 and 2 CPUs together.
fn scaling(machine: &Machine, effort: &Effort) -> Result<(), String> {
    // Operations per thread per sample: about five sample lengths on one uncontended thread.
    let target = effort.sample * 5;
    let loops: Vec<Scaled> = machine.run_on(CpuId::new(0), || {
        pin_or_warn(0);
        [
            ("percpu-rt inc", pcpu::bench_inc as extern "C" fn(u64)),
            ("shared AtomicU64 fetch_add", atomic::bench_inc),
            ("thread_local! const inc", tls_const::bench_inc),
        ]
        .into_iter()
        .map(|(subject, run)| Scaled { subject, run, n: calibrate(&mut |n| run(n), target) })
        .collect()
    });
    let cpus: Vec<CpuId> = machine.cpus().to_vec();
    for threads in 1..=cpus.len() {
        eprintln!("scaling: {threads} thread(s) ...");
        let mut samples: Vec<Vec<f64>> = vec![Vec::new(); loops.len()];
        let started = Instant::now();
        for round in 0..effort.rounds {
            if round >= effort.min_rounds && started.elapsed() > effort.budget {
                break;
            }
            for k in 0..loops.len() {
                let i = (k + round) % loops.len();
                let span = run_together(machine, &cpus[..threads], &loops[i]);
                let ops = (threads as u64 * loops[i].n) as f64;
                samples[i].push(ops / span.as_secs_f64());
            }
        }
        for (loop_, s) in loops.iter().zip(samples) {
            let stats = Stats::from_samples(&s).ok_or("no scaling sample")?;
            Record::new(
                &format!("scaling-{threads}"),
                loop_.subject,
                "inc",
                Unit::OpsPerSec,
                stats,
            )
            .emit();
        }
    }
    Ok(())
}

/// Runs `loop_` on each of `cpus` at once (each thread pinned to the core of its CPU number,
/// released together by a barrier); returns the time from the first start to the last end.
pub(crate) fn run_together(machine: &Machine, cpus: &[CpuId], loop_: &Scaled) -> Duration {
    let barrier = Barrier::new(cpus.len());
    let spans: Mutex<Vec<(Instant, Instant)>> = Mutex::new(Vec::new());
    let body = |cpu: CpuId| {
        pin_or_warn(cpu.as_usize() % timing::available_cores());
        barrier.wait();
        let start = Instant::now();
        (loop_.run)(loop_.n);
        let end = Instant::now();
        spans.lock().expect("no thread panics holding it").push((start, end));
    };
    if cpus.len() == machine.cpus().len() {
        machine.run(body);
    } else {
        std::thread::scope(|s| {
            for &cpu in cpus {
                let body = &body;
                s.spawn(move || machine.run_on(cpu, || body(cpu)));
            }
        });
    }
    let spans = spans.into_inner().expect("no thread panicked");
    let first = spans.iter().map(|s| s.0).min().expect("one thread at least");
    let last = spans.iter().map(|s| s.1).max().expect("one thread at least");
    last - first
}
