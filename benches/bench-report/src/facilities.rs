//! The report's section on counters and reference counts: `PerCpuCounter` and `PerCpuRef` side by side with the
//! shared atomics they replace (throughput of 1 and 2 CPUs), the counter's `read`, `sum` and
//! `compare` over 4, 64 and 1024 possible CPUs, and their goals checked against them.

use crate::Results;
use crate::figures::{cell, num};
use std::fmt::Write;

/// Possible-CPU counts of the counter's sum benchmark.
pub const SUM_CPUS: [u32; 3] = [4, 64, 1024];

/// (subject in the records, column text).
const SUBJECTS: [(&str, &str); 6] = [
    ("PerCpuCounter::add(1)", "`PerCpuCounter::add(1)` (default batch)"),
    ("PerCpuCounter::add(1), batch 1024", "`PerCpuCounter::add(1)`, batch 1024"),
    ("raw per-CPU add (PerCpuBox<i64>)", "raw per-CPU `add` (`PerCpuBox<i64, ByValue>`)"),
    ("shared AtomicI64 fetch_add", "shared `AtomicI64::fetch_add`"),
    ("PerCpuRef get + put", "`PerCpuRef` get + put"),
    ("Arc clone + drop", "`Arc` clone + drop"),
];

/// The median of `subject` on `cpus` CPUs, in operations per second.
fn rate(r: &Results, cpus: u32, subject: &str) -> Option<f64> {
    r.get(&format!("facilities-{cpus}"), subject, "op").map(|x| x.stats.median)
}

/// The whole section.
pub fn section(w: &mut String, r: &Results) {
    let _ = writeln!(
        w,
        "## 5. Counters and reference counts\n\n### Throughput: million operations per second, all \
         CPUs together, median [p10–p90]\n"
    );
    let batch = r.info.get("counter_batch").map_or("?", String::as_str);
    let _ =
        writeln!(w, "| loop on every CPU | 1 CPU | 2 CPUs | 2 CPUs ÷ 1 CPU |\n|---|---|---|---|");
    for (subject, text) in SUBJECTS {
        let c = |cpus: u32| {
            r.get(&format!("facilities-{cpus}"), subject, "op")
                .map_or("—".into(), |x| cell(&x.stats, 1e-6))
        };
        let ratio = match (rate(r, 1, subject), rate(r, 2, subject)) {
            (Some(a), Some(b)) => format!("{:.2}×", b / a),
            _ => "—".into(),
        };
        let _ = writeln!(w, "| {text} | {} | {} | {ratio} |", c(1), c(2));
    }
    let _ = writeln!(
        w,
        "\nThe default batch is Linux's `max(32, 2 × CPUs)` = {batch} here: a CPU folds its \
         delta into the shared count (under the counter's lock) every {batch} `add(1)`s, so \
         with 2 CPUs both fight over that count's cache line once per {batch} operations; with \
         batch 1024, 32 times less. `PerCpuRef` get + put is two pinned sections (on a hosted \
         machine, the thread's section word: a grace period must see them) around a `gs:` \
         increment and decrement; the `Arc` is one count both cores increment and decrement \
         with `lock` instructions.\n"
    );
    let _ = writeln!(
        w,
        "`PerCpuCounter` over N possible CPUs (ns per call on CPU 0, median [p10–p90]; every \
         CPU holds a delta, so `sum` visits them all):\n"
    );
    let ops = ["read()", "sum()", "compare() far", "compare() near"];
    let _ = writeln!(
        w,
        "| possible CPUs | `read()` | `sum()` | `sum()` per CPU | `compare()` far from `rhs` | \
         `compare()` near `rhs` |\n|---|---|---|---|---|---|"
    );
    for n in SUM_CPUS {
        let get = |op: &str| r.get(&format!("facilities-sum-{n}"), "PerCpuCounter", op);
        let c = |op: &str| get(op).map_or("—".into(), |x| cell(&x.stats, 1.0));
        let per_cpu =
            get("sum()").map_or("—".into(), |x| num(x.stats.median / f64::from(n)).to_string());
        let _ = writeln!(
            w,
            "| {n} | {} | {} | {per_cpu} | {} | {} |",
            c(ops[0]),
            c(ops[1]),
            c(ops[2]),
            c(ops[3])
        );
    }
    let _ = writeln!(
        w,
        "\n*far*: `rhs` more than `batch × CPUs` from the count, answered from the count alone; \
         *near*: within it, so the exact sum decides.\n"
    );
    goals(w, r);
}

/// The goals, checked against the medians.
fn goals(w: &mut String, r: &Results) {
    let _ = writeln!(w, "### Goals (medians)\n");
    let _ = writeln!(w, "| goal | figure | verdict |\n|---|---|---|");
    let ratio = |cpus: u32, a: &str, b: &str| match (rate(r, cpus, a), rate(r, cpus, b)) {
        (Some(x), Some(y)) => Some(x / y),
        _ => None,
    };
    let row = |w: &mut String, goal: &str, got: Option<f64>, ok: &dyn Fn(f64) -> bool| {
        let (figure, verdict) = match got {
            Some(x) => (format!("{x:.2}×"), if ok(x) { "met" } else { "not met" }),
            None => ("—".into(), "—"),
        };
        let _ = writeln!(w, "| {goal} | {figure} | {verdict} |");
    };
    let counter = "PerCpuCounter::add(1)";
    let big = "PerCpuCounter::add(1), batch 1024";
    let shared = "shared AtomicI64 fetch_add";
    let raw = "raw per-CPU add (PerCpuBox<i64>)";
    row(
        w,
        "`PerCpuCounter::add` ≥ 10 × `AtomicI64::fetch_add`, 2 CPUs (default batch)",
        ratio(2, counter, shared),
        &|x| x >= 10.0,
    );
    row(w, "the same with batch 1024", ratio(2, big, shared), &|x| x >= 10.0);
    row(
        w,
        "`PerCpuCounter::add` within 2 × of a raw per-CPU `add`, 1 CPU (raw ÷ counter)",
        ratio(1, raw, counter),
        &|x| x <= 2.0,
    );
    row(
        w,
        "`PerCpuRef` get + put ≥ 10 × `Arc` clone + drop, 2 CPUs",
        ratio(2, "PerCpuRef get + put", "Arc clone + drop"),
        &|x| x >= 10.0,
    );
    let _ = writeln!(w);
}
