//! `arceos-bench`: the ArceOS `percpu` crate (crates.io, 0.4.0, its newest release; feature
//! `non-zero-vma`, default features otherwise, so no preemption guard) measured with the same
//! loops, probes and timing as percpu-rt in `percpu-bench`, for issues 7 and 14. Its own
//! executable, because both crates use a `.percpu` section and linker symbols of their own.
//!
//! Set up as the crate's own test (`test_percpu_multi_core_dynamic`) does on Linux: areas
//! allocated on the heap with `percpu_area_layout_expected`, `percpu::init(base, cpus)` copies
//! the template, `percpu::init_percpu_reg(0)` loads `GS.base` (with `arch_prctl`) on the
//! measuring thread, which is pinned to core 0. The crate offers `read_current` and
//! `write_current` for integers; every other operation goes through `with_current`, which hands
//! the closure a `&mut u64` to the current CPU's copy.
//!
//! The `thread_local!` const baseline is measured here too, so that the driver can relate this
//! process's figures to `percpu-bench`'s.
//!
//! `arceos-bench ops [--quick]` prints `@bench` lines (see `bench_harness::record`).

// Only the `thread_local!` const baseline is measured here; the others stay unused.
#[allow(dead_code)]
#[path = "../../common/baselines.rs"]
mod baselines;

use bench_harness::Variant;
use bench_harness::record::{Record, Unit, info};
use bench_harness::timing::{self, Effort, pin_or_warn};
use percpu::def_percpu;
use std::process::ExitCode;

#[def_percpu]
static COUNTER: u64 = 0;

bench_harness::current_cpu_ops! {
    mod arceos = "ArceOS percpu 0.4";
    read: || COUNTER.read_current(),
    write: |v| COUNTER.write_current(v),
    inc: || COUNTER.with_current(|c| *c = c.wrapping_add(1)),
    add: |v: u64| COUNTER.with_current(|c| *c = c.wrapping_add(v)),
    cmpxchg: |old, new| COUNTER.with_current(|c| {
        let current = *c;
        if current == old {
            *c = new;
        }
        current
    }),
}

fn run(effort: &Effort) -> Result<(), String> {
    pin_or_warn(0);
    const CPUS: usize = 2;
    let layout = percpu::percpu_area_layout_expected(CPUS);
    // SAFETY: a non-zero size (the template holds COUNTER); the areas live for the process.
    let base = unsafe { std::alloc::alloc(layout) };
    let areas = percpu::init(base, CPUS).map_err(|e| format!("percpu::init: {e:?}"))?;
    percpu::init_percpu_reg(0);
    info("arceos_areas", areas);
    info("arceos_area_size", percpu::percpu_area_size());
    arceos::check()?;
    baselines::tls_const::check()?;
    let mut variants: Vec<Variant> = Vec::new();
    variants.extend(arceos::variants());
    variants.extend(baselines::tls_const::variants());
    variants.push(Variant {
        subject: "empty loop",
        op: "iteration",
        run: bench_harness::opaque::bench_empty_loop,
    });
    eprintln!("arceos: {} loops, {} rounds ...", variants.len(), effort.rounds);
    let stats = timing::sample_variants(&variants, effort);
    for (v, s) in variants.iter().zip(stats) {
        Record::new("ops-arceos", v.subject, v.op, Unit::NsPerOp, s).emit();
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let effort = match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["ops"] => Effort::FULL,
        ["ops", "--quick"] => Effort::QUICK,
        _ => {
            eprintln!("usage: arceos-bench ops [--quick]");
            return ExitCode::from(2);
        }
    };
    match run(&effort) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("arceos-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
