//! `axpercpu-bench`: `ax-percpu` 0.4.24 (crates.io; the successor of the ArceOS `percpu` crate,
//! in rcore-os/tgoskits) measured with the same loops, probes and timing as percpu-rt in
//! `percpu-bench`, for issue 14. Its own executable, linked as that crate's own tests are
//! (feature `host-test`, its `host-test.ld`).
//!
//! Set up as the crate's own test does: `host_test::initialize(2)` allocates and initialises
//! the CPU areas, `cpu_local::install_cpu_area` installs area 0 on the measuring thread (pinned
//! to core 0). Every operation takes a scoped `CpuPin` (`with_cpu_pin`, which reads the
//! installed area). The crate has no read-modify-write on scalars, so the counter is a per-CPU
//! `AtomicU64`, borrowed under the pin (`with_current`): `load`, `store`, `fetch_add`,
//! `compare_exchange`, relaxed (its way to a counter an interrupt handler may also update).
//!
//! `axpercpu-bench ops [--quick]` prints `@bench` lines (see `bench_harness::record`).

// Only the `thread_local!` const baseline is measured here; the others stay unused.
#[allow(dead_code)]
#[path = "../../common/baselines.rs"]
mod baselines;

use ax_percpu::{CpuIndex, CpuPin, def_percpu};
use bench_harness::Variant;
use bench_harness::record::{Record, Unit, info};
use bench_harness::timing::{self, Effort, pin_or_warn};
use core::num::NonZeroU32;
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::process::ExitCode;

#[def_percpu]
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// `f` on this CPU's copy of `COUNTER`, under a scoped pin.
#[inline(always)]
fn counter<R>(f: impl FnOnce(&AtomicU64) -> R) -> R {
    // SAFETY: the measuring thread is the only thread of the modelled CPU 0 and is pinned to a
    // core: nothing can migrate it between CPU areas during the callback.
    let pinned =
        unsafe { ax_percpu::with_cpu_pin(|pin: &CpuPin<'_>| COUNTER.with_current(pin, f)) };
    pinned.expect("the CPU area is installed before any operation")
}

bench_harness::current_cpu_ops! {
    mod ax = "ax-percpu 0.4.24";
    read: || counter(|c| c.load(Relaxed)),
    write: |v| counter(|c| c.store(v, Relaxed)),
    inc: || counter(|c| {
        c.fetch_add(1, Relaxed);
    }),
    add: |v: u64| counter(|c| {
        c.fetch_add(v, Relaxed);
    }),
    cmpxchg: |old, new| counter(|c| match c.compare_exchange(old, new, Relaxed, Relaxed) {
        Ok(v) | Err(v) => v,
    }),
}

fn run(effort: &Effort) -> Result<(), String> {
    pin_or_warn(0);
    let areas = NonZeroU32::new(2).expect("two areas");
    let layout = ax_percpu::host_test::initialize(areas).map_err(|e| format!("{e:?}"))?;
    let cpu0 = ax_percpu::area(CpuIndex::try_from(0).map_err(|e| format!("{e:?}"))?)
        .map_err(|e| format!("{e:?}"))?;
    let area = cpu0.cpu_area().map_err(|e| format!("{e:?}"))?;
    // SAFETY: this thread models CPU 0, and the host-test allocation lives until the process
    // exits (the crate's own test does the same).
    unsafe { cpu_local::install_cpu_area(area) }.map_err(|e| format!("{e:?}"))?;
    info("ax_areas", layout.area_count());
    info("ax_area_stride", layout.area_stride());
    ax::check()?;
    baselines::tls_const::check()?;
    let mut variants: Vec<Variant> = Vec::new();
    variants.extend(ax::variants());
    variants.extend(baselines::tls_const::variants());
    variants.push(Variant {
        subject: "empty loop",
        op: "iteration",
        run: bench_harness::opaque::bench_empty_loop,
    });
    eprintln!("ax-percpu: {} loops, {} rounds ...", variants.len(), effort.rounds);
    let stats = timing::sample_variants(&variants, effort);
    for (v, s) in variants.iter().zip(stats) {
        Record::new("ops-ax", v.subject, v.op, Unit::NsPerOp, s).emit();
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let effort = match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["ops"] => Effort::FULL,
        ["ops", "--quick"] => Effort::QUICK,
        _ => {
            eprintln!("usage: axpercpu-bench ops [--quick]");
            return ExitCode::from(2);
        }
    };
    match run(&effort) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("axpercpu-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
