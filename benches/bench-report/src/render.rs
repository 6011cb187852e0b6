//! The Markdown document (docs/benchmarks.md): machine, command, one section per benchmark,
//! the instruction listings, and the goals checked against the figures.

use crate::Results;
use crate::figures::{cell, num};
use bench_harness::Stats;
use bench_harness::ops::OPS;
use std::fmt::Write;

/// Possible-CPU counts of the remote-sum benchmark.
pub const REMOTE_CPUS: [u32; 3] = [4, 64, 1024];
/// Possible-CPU counts of the setup benchmark.
pub const SETUP_CPUS: [u32; 4] = [4, 64, 1024, 4096];

/// The subjects of item 1: (column title, section, subject name in the records, probe prefix).
const SUBJECTS: [(&str, &str, &str, &str); 7] = [
    ("percpu-rt (PIE: `gs:[rip+SYM]`)", "ops", "percpu-rt", "pcpu"),
    ("percpu-rt (non-PIE: `gs:[SYM]`)", "ops-nopie", "percpu-rt", "pcpu_nopie"),
    ("ArceOS `percpu` 0.4", "ops-arceos", "ArceOS percpu 0.4", "arceos"),
    ("`ax-percpu` 0.4.24", "ops-ax", "ax-percpu 0.4.24", "ax"),
    ("`thread_local!` const", "ops", "thread_local! const", "tls_const"),
    ("`thread_local!` lazy", "ops", "thread_local! lazy", "tls_lazy"),
    ("shared `AtomicU64`", "ops", "shared AtomicU64", "atomic"),
];

/// A number with about three significant digits.
/// Whether `a` is at most `limit` × `b`: `met`, `within noise` (ranges overlap) or `not met`.
fn verdict(a: &Stats, b: &Stats, limit: f64) -> &'static str {
    if a.median <= limit * b.median {
        "met"
    } else if a.p10 <= limit * b.p90 {
        "within noise"
    } else {
        "not met"
    }
}

/// The whole document: the machine, then one section per benchmark. `allocation` is the
/// allocator benchmark's own report (its standard output), or `None` when it was not run.
pub fn report(
    r: &Results,
    machine: &[(&str, String)],
    quick: bool,
    allocation: Option<&str>,
    load_at_end: &str,
    every_arch: &str,
) -> String {
    let mut o = String::new();
    let w = &mut o;
    let _ = writeln!(w, "# Benchmarks\n");
    let _ = writeln!(
        w,
        "Written by `./scripts/bench.sh` (`cargo run --release -p bench-report`), which builds \
         and runs every benchmark and replaces this file; `--quick` makes a short smoke run, \
         `--no-alloc` leaves out the allocator benchmark, `--out FILE` writes elsewhere (a \
         `--quick` or `--no-alloc` run writes no file unless `--out` names one). Figures only: \
         nothing is asserted, and figures are worth comparing only within one run, on an \
         otherwise idle machine (the load average is shown). Everything runs in hosted mode: a \
         Linux process whose threads act as CPUs, each pinned to its own core, through the \
         same access paths and setup code as a kernel. The programs compared are \
         `benches/percpu-bench` (percpu-rt beside `thread_local!` and shared atomics; built as a \
         PIE, and as a non-PIE executable with `--cfg percpu_x86_absolute` as a non-PIE kernel \
         is), `benches/arceos-bench` (the ArceOS `percpu` crate 0.4.0, linked as its tests are: \
         `non-zero-vma`, non-PIE, its linker script) and `benches/axpercpu-bench` (`ax-percpu` \
         0.4.24 with `host-test` and its `host-test.ld`); each is a process of its own, since \
         every one of these crates owns a `.percpu` section.{}\n",
        if quick { " **This was a `--quick` run: few, short samples.**" } else { "" }
    );
    for (k, v) in machine {
        let _ = writeln!(w, "* {k}: {v}");
    }
    let _ = writeln!(w, "* load average at the end of the run: {load_at_end}");
    if let Some(s) = r.info.get("static_size") {
        let _ = writeln!(
            w,
            "* percpu-bench: {s} bytes of `#[percpu]` template, unit size {} bytes",
            r.info.get("unit_size").map_or("?", String::as_str)
        );
    }
    let _ = writeln!(w);
    ops_table(w, r);
    instructions_table(w, r);
    w.push_str(every_arch);
    addressing_table(w, r);
    targets(w, r);
    scaling_table(w, r);
    remote_table(w, r);
    setup_table(w, r);
    crate::facilities::section(w, r);
    alloc_section(w, allocation);
    o
}

fn ops_table(w: &mut String, r: &Results) {
    let _ = writeln!(
        w,
        "## 1. Current-CPU operations on a `u64` (ns per operation, median [p10–p90])\n"
    );
    let _ = write!(w, "| op |");
    for (title, ..) in SUBJECTS {
        let _ = write!(w, " {title} |");
    }
    let _ = writeln!(
        w,
        " PIE ÷ `thread_local!` const | non-PIE ÷ `thread_local!` const | non-PIE ÷ ArceOS | \
         PIE ÷ `ax-percpu` |"
    );
    let _ = writeln!(w, "|---|{}---|---|---|---|", "---|".repeat(SUBJECTS.len()));
    for op in OPS {
        let _ = write!(w, "| `{op}` |");
        for (_, section, subject, _) in SUBJECTS {
            let c = r.get(section, subject, op).map_or("—".into(), |x| cell(&x.stats, 1.0));
            let _ = write!(w, " {c} |");
        }
        // Each ratio against the baseline measured in the same process (the non-PIE build has
        // its own `thread_local!` loops), and ArceOS (a non-PIE executable too).
        for (ours, section, subject) in [
            ("ops", "ops", "thread_local! const"),
            ("ops-nopie", "ops-nopie", "thread_local! const"),
            ("ops-nopie", "ops-arceos", "ArceOS percpu 0.4"),
            ("ops", "ops-ax", "ax-percpu 0.4.24"),
        ] {
            let ours = r.get(ours, "percpu-rt", op);
            let c = match (ours, r.get(section, subject, op)) {
                (Some(a), Some(b)) => format!("{:.2}×", a.stats.median / b.stats.median),
                _ => "—".into(),
            };
            let _ = write!(w, " {c} |");
        }
        let _ = writeln!(w);
    }
    let _ = writeln!(w);
    let empty = r.get("ops", "empty loop", "iteration").map(|x| cell(&x.stats, 1.0));
    let _ = writeln!(
        w,
        "Each figure is one loop of N operations on the current CPU's copy (N chosen so that a \
         sample lasts about 2 ms), timed as a whole and divided by N, in rounds that interleave \
         all variants; nothing is subtracted. An iteration of the loop alone (counter, compare, \
         branch) takes {} ns, so `read` and `write` are bound by the loop, not by the access. \
         Every iteration ends with an empty `asm!` that clobbers memory, so that the \
         `thread_local!` loops are not folded into one addition (the `asm!` operations of \
         percpu-rt and ArceOS cannot be folded anyway); `inc`, `add` and `cmpxchg` therefore \
         measure back-to-back updates of one variable, each depending on the previous one \
         through memory. `cmpxchg` succeeds every time (i → i + 1). ArceOS ran in its own \
         process (`arceos-bench`, built as that crate's tests are: `non-zero-vma`, `-no-pie`, its \
         linker script), the same `thread_local!` const loops measured there: {}; `ax-percpu` \
         in its own too (`axpercpu-bench`, feature `host-test` and its `host-test.ld`, as its \
         tests are; a `CpuPin` per operation, and its counter a per-CPU `AtomicU64`, since it \
         has no read-modify-write on scalars), `thread_local!` const there: {}.\n",
        empty.unwrap_or_else(|| "?".into()),
        baseline(r, "ops-arceos"),
        baseline(r, "ops-ax"),
    );
}

/// The `thread_local!` const loops measured in another process's section, for comparison.
fn baseline(r: &Results, section: &str) -> String {
    OPS.iter()
        .map(|op| {
            let c = r
                .get(section, "thread_local! const", op)
                .map_or("?".into(), |x| num(x.stats.median));
            format!("{op} {c}")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn instructions_table(w: &mut String, r: &Results) {
    let _ =
        writeln!(w, "### Instructions per operation (from `objdump` of the release binaries)\n");
    let _ = write!(w, "| op |");
    for (title, ..) in SUBJECTS {
        let _ = write!(w, " {title} |");
    }
    let _ = writeln!(w);
    let _ = writeln!(w, "|---|{}", "---|".repeat(SUBJECTS.len()));
    for op in OPS {
        let _ = write!(w, "| `{op}` |");
        for (.., probe) in SUBJECTS {
            let c = r
                .probes
                .get(&format!("probe_{probe}_{op}"))
                .map_or("—".into(), |p| p.0.to_string());
            let _ = write!(w, " {c} |");
        }
        let _ = writeln!(w);
    }
    let _ = writeln!(
        w,
        "\nCounted: the instructions of `probe_<subject>_<op>`, an exported never-inlined \
         function holding the operation alone, on its fast path (entry to `ret`, conditional \
         branches not taken), without the `ret`, padding, register-to-register `mov`s that only \
         place arguments, and the `push`/`pop` a leaf function needs around an `asm!` block \
         that may use the stack (ArceOS's; inlined, they vanish: see its loops). The fast paths \
         of percpu-rt and ArceOS, in full:\n"
    );
    let _ = writeln!(
        w,
        "| op | percpu-rt | ArceOS `percpu` 0.4 | `ax-percpu` 0.4.24 |\n|---|---|---|---|"
    );
    for op in OPS {
        let list = |probe: &str| {
            r.probes.get(&format!("probe_{probe}_{op}")).map_or("—".into(), |p| {
                p.1.iter()
                    .filter(|i| *i != "ret")
                    .map(|i| format!("`{}`", shorten(i)))
                    .collect::<Vec<_>>()
                    .join("; ")
            })
        };
        let _ = writeln!(w, "| `{op}` | {} | {} | {} |", list("pcpu"), list("arceos"), list("ax"));
    }
    let _ = writeln!(w);
}

/// An instruction without symbol annotations and with percpu-rt's template symbol shortened.
fn shorten(insn: &str) -> String {
    let insn = insn.split(" <").next().unwrap_or(insn);
    insn.replace("QWORD PTR ", "").replace(',', ", ")
}

fn addressing_table(w: &mut String, r: &Results) {
    let rows: Vec<_> = r.records.iter().filter(|x| x.section == "addressing").collect();
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(
        w,
        "### Why `inc` and `cmpxchg` differ: the same loops, other instruction forms (ns per \
         operation)\n"
    );
    let _ = writeln!(w, "| loop | ns/op |\n|---|---|");
    for x in rows {
        let _ = writeln!(w, "| {} | {} |", code_prefix(&x.subject), cell(&x.stats, 1.0));
    }
    let _ = writeln!(
        w,
        "\nThe `inc`, `add` and `cmpxchg` loops above update one variable back to back, so they \
         measure how fast a store reaches the next load of the same address, and some cores \
         forward it faster for some instruction forms than for others (an absolute or register \
         address against a RIP-relative one); this table isolates the form. A PIE has no \
         one-instruction per-CPU form without RIP-relative addressing; a non-PIE kernel gets \
         `op gs:[VAR]` with `--cfg percpu_x86_absolute`. The `asm!` loops live in \
         `benches/percpu-bench/src/addressing.rs`; \"8 counters in turn\" increments eight \
         different variables, so that consecutive updates of one variable are eight \
         operations apart.\n"
    );
}

/// `inc gs:[x] (note)` → `` `inc gs:[x]` (note) ``: the instruction part as code.
fn code_prefix(subject: &str) -> String {
    if !subject.contains('[') {
        return subject.to_string();
    }
    let end = [" (", ", "].iter().filter_map(|p| subject.find(p)).min().unwrap_or(subject.len());
    format!("`{}`{}", &subject[..end], &subject[end..])
}

fn scaling_table(w: &mut String, r: &Results) {
    let _ = writeln!(
        w,
        "## 2. Scaling: every CPU incrementing (million operations per second, all threads \
         together, median [p10–p90])\n"
    );
    let _ =
        writeln!(w, "| loop on every CPU | 1 CPU | 2 CPUs | 2 CPUs ÷ 1 CPU |\n|---|---|---|---|");
    for subject in ["percpu-rt inc", "shared AtomicU64 fetch_add", "thread_local! const inc"] {
        let one = r.get("scaling-1", subject, "inc");
        let two = r.get("scaling-2", subject, "inc");
        let c =
            |x: Option<&bench_harness::Record>| x.map_or("—".into(), |x| cell(&x.stats, 1e-6));
        let ratio = match (one, two) {
            (Some(a), Some(b)) => format!("{:.2}×", b.stats.median / a.stats.median),
            _ => "—".into(),
        };
        let _ = writeln!(w, "| {subject} | {} | {} | {ratio} |", c(one), c(two));
    }
    let _ = writeln!(
        w,
        "\nEach hosted CPU is a thread pinned to its own core; the threads start together at a \
         barrier, and the rate is all operations over the time from the first start to the \
         last end. The per-CPU counters are in different units (no shared cache line); the \
         atomic is one cache line that both cores fight over.\n"
    );
}

fn remote_table(w: &mut String, r: &Results) {
    let _ = writeln!(
        w,
        "## 3. Summing a per-CPU counter over all possible CPUs (ns per sum, median \
         [p10–p90]; ns per CPU)\n"
    );
    let subjects = [
        "percpu-rt iter_possible().sum()",
        "same copies, precomputed pointers",
        "plain memory, unit stride",
        "plain memory, unit + 64 B stride",
        "padded AtomicU64 array",
    ];
    let _ = writeln!(
        w,
        "| possible CPUs | `COUNTER.iter_possible().sum()` | same copies, precomputed addresses | \
         plain memory, one unit apart | plain memory, one unit + 64 B apart | array of padded \
         `AtomicU64` |\n|---|---|---|---|---|---|"
    );
    for n in REMOTE_CPUS {
        let _ = write!(w, "| {n} |");
        for s in subjects {
            let c = r.get(&format!("remote-{n}"), s, "sum").map_or("—".into(), |x| {
                format!("{} ({} /CPU)", cell(&x.stats, 1.0), num(x.stats.median / f64::from(n)))
            });
            let _ = write!(w, " {c} |");
        }
        let _ = writeln!(w);
    }
    let _ = writeln!(
        w,
        "\nOne process per CPU count (a hosted machine boots once per process); every CPU \
         writes its own copy first, CPU 0 (pinned to core 0) sums. The second column reads the \
         same copies through addresses computed beforehand (the runtime's per-CPU lookup \
         removed); the third and fourth read `u64`s in plain memory one unit size apart and \
         one unit size + 64 bytes apart (the layout without percpu-rt); the last reads an \
         array of `AtomicU64`s 128 bytes apart.\n"
    );
}

fn setup_table(w: &mut String, r: &Results) {
    let _ = writeln!(w, "## 4. First-chunk setup (µs per setup, median [p10–p90])\n");
    let ways = ["layout + checks", "embed (prefaulted arena)", "embed (fresh mmap)"];
    let _ = writeln!(
        w,
        "| possible CPUs | layout + checks (no copy) | `embed`, prefaulted arena | `embed`, fresh \
         `mmap` | first chunk |\n|---|---|---|---|---|"
    );
    for n in SETUP_CPUS {
        let _ = write!(w, "| {n} |");
        for way in ways {
            let c = r
                .get(&format!("setup-{n}"), way, "setup")
                .map_or("—".into(), |x| cell(&x.stats, 1e-3));
            let _ = write!(w, " {c} |");
        }
        let bytes = r.info.get("setup_chunk_bytes").and_then(|_| {
            let unit: u64 = r.info.get("setup_unit_size")?.parse().ok()?;
            Some(format!("{} MiB", num((unit * u64::from(n)) as f64 / f64::from(1 << 20))))
        });
        let _ = writeln!(w, " {} |", bytes.unwrap_or_else(|| "?".into()));
    }
    let _ = writeln!(
        w,
        "\n*layout + checks*: `layout::build_alloc_info` + `first_chunk::validate` (every check \
         of Linux's 2009 and of today's setup) + the unit table (`AllocInfo::unit_offsets`), no \
         memory touched. *embed*: the whole `first_chunk::embed_first_chunk` (the same \
         computation, unit allocation, the {}-byte template copied into every unit, per-CPU \
         initialisation, unit tails given back), not installed; with an `EarlyMemory` bumping \
         through one \
         `mmap(MAP_POPULATE)` arena (no system call, no page fault), or with a fresh anonymous \
         `mmap` per group and `munmap` per tail as hosted mode does (page faults on first \
         touch; unmapping afterwards not timed). One group (no NUMA distance function), Linux's \
         default sizes, {}-byte units.\n",
        r.info.get("setup_static_size").map_or("?", String::as_str),
        r.info.get("setup_unit_size").map_or("?", String::as_str),
    );
}

fn targets(w: &mut String, r: &Results) {
    let _ = writeln!(w, "### Goals, checked against these figures\n");
    let _ = writeln!(
        w,
        "| op | PIE: ≤ 1.05 × `thread_local!` const | non-PIE: ≤ 1.05 × `thread_local!` const | \
         non-PIE: never slower than ArceOS | one instruction (PIE / non-PIE / ArceOS) |\n\
         |---|---|---|---|---|"
    );
    for op in OPS {
        let check = |ours: &str, section: &str, subject: &str, limit: f64| match (
            r.get(ours, "percpu-rt", op),
            r.get(section, subject, op),
        ) {
            (Some(a), Some(b)) => format!(
                "{} ({:.2}×)",
                verdict(&a.stats, &b.stats, limit),
                a.stats.median / b.stats.median
            ),
            _ => "—".into(),
        };
        let insns = |probe: &str| {
            r.probes.get(&format!("probe_{probe}_{op}")).map_or("?".into(), |p| p.0.to_string())
        };
        let (pie, nopie) = (insns("pcpu"), insns("pcpu_nopie"));
        let _ = writeln!(
            w,
            "| `{op}` | {} | {} | {} | {} ({pie} / {nopie} / {}) |",
            check("ops", "ops", "thread_local! const", 1.05),
            check("ops-nopie", "ops-nopie", "thread_local! const", 1.05),
            check("ops-nopie", "ops-arceos", "ArceOS percpu 0.4", 1.0),
            if pie == "1" && nopie == "1" { "met" } else { "not met" },
            insns("arceos"),
        );
    }
    let _ = writeln!(
        w,
        "\n*within noise*: the median misses, but the p10–p90 ranges overlap. The ArceOS figures \
         come from another process; compare the `thread_local!` const loops measured in both \
         (above) before reading much into small differences.\n"
    );
}

fn alloc_section(w: &mut String, allocation: Option<&str>) {
    let _ = writeln!(w, "## 6. Dynamic allocation\n");
    let Some(text) = allocation else {
        let _ = writeln!(
            w,
            "Not run (`--no-alloc`). Alone: `cargo bench -p percpu-rt --bench allocator \
             --features hosted`, which prints its report."
        );
        return;
    };
    let _ = writeln!(
        w,
        "`percpu-rt/benches/allocator/` (alone: `cargo bench -p percpu-rt --bench allocator \
         --features hosted`; its knobs are listed in its `main.rs`). Same workload and \
         definitions as a measurement of Linux 6.1's allocator under User-Mode Linux (one CPU, \
         32 KiB units; its tables for an Intel Xeon, an AMD EPYC Zen 5 and an AMD EPYC Zen 1 \
         are in the benchmark's `common.rs`, and `./scripts/linux-uml-bench.sh` measures one \
         on the machine it runs on): \
         for each size, N allocations freed in order, again freed in reverse, again freed \
         alternating (even indexes, then odd); ns per operation = loop time / N, the median of \
         5 runs; the aligned case is N allocations of 4 bytes aligned to 8, freed in order. The \
         benchmark compares with the table of the CPU model it runs on and says which, or that \
         none matches (then the cells carry no ratios, and the ratios against the nearest table \
         are printed under the table for reference only: an AMD EPYC's model name does not tell \
         its generation, so the CPU family does). It runs on a hosted machine booted with one CPU, the first chunk \
         from the same setup code a kernel uses, the hosted backend behind it. Each single-CPU \
         cell shows the **cached path** (hosted CPU 0 allocating through its per-CPU cache, and \
         freeing with `free_raw_sized` as an owner's drop does) beside the **locked path** (the \
         same calls from a thread that is not a CPU: no cache, the global lock), measured in \
         the same run on one core. The warm rounds are the allocator's own cost on populated \
         chunks; the cold round (from the first chunk alone, paying chunk creation and page \
         population) is shown apart. The concurrent part runs again on a hosted machine with 2 \
         CPUs: 1 thread, then 2 at once, each allocating bursts of objects and freeing them, on \
         both paths.\n"
    );
    // The report's own title is this section's; its headings go one level down.
    let lines = text.lines().filter(|l| !l.starts_with("# ")).skip_while(|l| l.is_empty());
    for line in lines {
        if line.starts_with('#') {
            let _ = writeln!(w, "#{line}");
        } else {
            let _ = writeln!(w, "{line}");
        }
    }
}
