//! `bench-report`: the benchmark command (`./scripts/bench.sh`, or
//! `cargo run --release -p bench-report -- [--quick] [--no-alloc] [--out FILE]`), which writes
//! docs/benchmarks.md.
//!
//! 1. Builds `percpu-bench`, `arceos-bench` (the ArceOS `percpu` crate 0.4.0) and
//!    `axpercpu-bench` (`ax-percpu` 0.4.24) in release (same cargo, same target directory),
//!    and `percpu-bench` once more as a non-PIE executable with `--cfg percpu_x86_absolute`
//!    (per-CPU statics addressed `gs:[SYM]`, as a non-PIE kernel builds them).
//! 2. Runs them, one process per hosted machine: current-CPU operations and scaling (2 CPUs),
//!    the ArceOS crate's operations, remote sums over 4, 64 and 1024 possible CPUs, first-chunk
//!    setup for 4, 64, 1024 and 4096 possible CPUs, `PerCpuCounter` and `PerCpuRef` against
//!    shared atomics (1 and 2 CPUs) and the counter's sums over 4, 64 and 1024 possible CPUs.
//!    Their progress goes to standard error.
//! 3. Counts the instructions of every probe in both executables with `objdump`, and those of
//!    percpu-rt, the ArceOS `percpu` crate 0.4.0 and `ax-percpu` 0.4.24 on x86_64, aarch64 (with
//!    and without LSE), riscv64 and loongarch64 (`benches/arch-probes`, built per target with
//!    Debian's rustc and `-Zbuild-std`; see `arch.rs`). `--arch-only [--flavor NAME]` prints
//!    these counts alone.
//! 4. Runs percpu-rt's dynamic-allocation benchmark (`percpu-rt/benches/allocator/`, several
//!    minutes) and takes its report from its standard output, unless `--no-alloc`.
//! 5. Prints the whole document and writes it to docs/benchmarks.md (`--out FILE`: there
//!    instead). A `--quick` or `--no-alloc` run writes a file only when `--out` names one, so
//!    that the document always holds one complete run.
//!
//! Figures are printed, never asserted: the machine may be busy, and the report says so (load
//! average). `--quick` takes fewer, shorter samples (a smoke run; it also sets the allocation
//! benchmark's `PERCPU_BENCH_N` to 100000 and `PERCPU_BENCH_REPEAT` to 1 unless they are set).

mod arch;
mod disasm;
mod facilities;
mod figures;
mod machine;
mod render;

use bench_harness::{Line, Record};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

/// Command-line options.
#[derive(Debug, Default)]
struct Options {
    quick: bool,
    no_alloc: bool,
    out: Option<PathBuf>,
    /// Only the instruction counts (`--arch-only`), of one flavor (`--flavor NAME`) or all.
    arch_only: bool,
    flavor: Option<String>,
}

const USAGE: &str =
    "usage: bench-report [--quick] [--no-alloc] [--out FILE] | --arch-only [--flavor NAME]";

fn parse_args() -> Result<Options, String> {
    let mut opts = Options::default();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => opts.quick = true,
            "--no-alloc" => opts.no_alloc = true,
            "--out" => opts.out = Some(args.next().ok_or("--out needs a file")?.into()),
            "--arch-only" => opts.arch_only = true,
            "--flavor" => opts.flavor = Some(args.next().ok_or("--flavor needs a name")?),
            "--help" | "-h" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument `{other}`\n{USAGE}")),
        }
    }
    Ok(opts)
}

/// Everything the benchmark binaries printed.
#[derive(Debug, Default)]
pub struct Results {
    /// The `@bench` lines.
    pub records: Vec<Record>,
    /// The `@info` lines.
    pub info: BTreeMap<String, String>,
    /// Instruction counts and fast paths of the probes, by probe name (`probe_pcpu_inc`).
    pub probes: BTreeMap<String, (usize, Vec<String>)>,
}

impl Results {
    /// The result of `subject`'s `op` in `section`.
    pub fn get(&self, section: &str, subject: &str, op: &str) -> Option<&Record> {
        self.records.iter().find(|r| r.section == section && r.subject == subject && r.op == op)
    }
}

/// The workspace root (this crate is `benches/bench-report`).
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("workspace exists")
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

/// Builds both benchmark binaries in release; returns their paths by package name.
fn build(root: &Path) -> Result<BTreeMap<String, PathBuf>, String> {
    eprintln!("building percpu-bench, arceos-bench and axpercpu-bench (release) ...");
    let out = Command::new(cargo())
        .current_dir(root)
        .args(["build", "--release", "-p", "percpu-bench", "-p", "arceos-bench"])
        .args(["-p", "axpercpu-bench"])
        .args(["--message-format", "json-render-diagnostics"])
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !out.status.success() {
        return Err("building the benchmarks failed (see above)".into());
    }
    let mut exes = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(line) else { continue };
        if msg["reason"] != "compiler-artifact" {
            continue;
        }
        if let (Some(name), Some(exe)) =
            (msg["target"]["name"].as_str(), msg["executable"].as_str())
        {
            exes.insert(name.to_string(), PathBuf::from(exe));
        }
    }
    for name in ["percpu-bench", "arceos-bench", "axpercpu-bench"] {
        if !exes.contains_key(name) {
            return Err(format!("cargo reported no executable for {name}"));
        }
    }
    Ok(exes)
}

/// Builds `percpu-bench` again as a non-PIE executable whose per-CPU statics are addressed
/// absolutely (`--cfg percpu_x86_absolute`: `op gs:[SYM]`, as a non-PIE kernel would build it),
/// in its own target directory; returns the executable.
fn build_nopie(root: &Path) -> Result<PathBuf, String> {
    eprintln!("building percpu-bench as a non-PIE executable (release) ...");
    let host = "x86_64-unknown-linux-gnu";
    let target_dir = root.join("target/bench-nopie");
    let status = Command::new(cargo())
        .current_dir(root)
        .args(["build", "--release", "-p", "percpu-bench", "--target", host])
        .arg("--target-dir")
        .arg(&target_dir)
        .env(
            "RUSTFLAGS",
            "--cfg percpu_x86_absolute -C relocation-model=static -C link-arg=-no-pie",
        )
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .stderr(Stdio::inherit())
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err("building the non-PIE percpu-bench failed (see above)".into());
    }
    Ok(target_dir.join(host).join("release/percpu-bench"))
}

/// Runs `exe args`, collecting its result lines into `results`.
fn run(exe: &Path, args: &[String], results: &mut Results) -> Result<(), String> {
    let shown =
        format!("{} {}", exe.file_name().unwrap_or_default().to_string_lossy(), args.join(" "));
    eprintln!("running {shown}");
    let out = Command::new(exe)
        .args(args)
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run {shown}: {e}"))?;
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        match Line::parse(line) {
            Some(Line::Bench(r)) => results.records.push(r),
            Some(Line::Info(k, v)) => {
                results.info.insert(k, v);
            }
            None => eprintln!("{line}"),
        }
    }
    if out.status.success() { Ok(()) } else { Err(format!("{shown} failed: {}", out.status)) }
}

/// Reads the probes' instruction counts from `exe`'s disassembly; `rename` maps a probe's
/// subject prefix to another (`pcpu` → `pcpu_nopie`) so that two builds of one binary coexist.
fn probes(exe: &Path, results: &mut Results, rename: Option<(&str, &str)>) -> Result<(), String> {
    let out = Command::new("objdump")
        .args(["-d", "-C", "-M", "intel", "--no-show-raw-insn"])
        .arg(exe)
        .output()
        .map_err(|e| format!("cannot run objdump (binutils): {e}"))?;
    if !out.status.success() {
        return Err(format!("objdump {} failed", exe.display()));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    for (name, insns) in disasm::functions(&text, "probe_") {
        let name = match rename {
            Some((from, to)) => name.replace(&format!("probe_{from}_"), &format!("probe_{to}_")),
            None => name,
        };
        results.probes.insert(name, disasm::count(&insns));
    }
    Ok(())
}

/// Runs percpu-rt's dynamic-allocation benchmark; returns the report it printed.
fn allocation(root: &Path, quick: bool) -> Result<String, String> {
    let args = ["bench", "-p", "percpu-rt", "--bench", "allocator", "--features", "hosted"];
    eprintln!("running the dynamic-allocation benchmark: cargo {}", args.join(" "));
    let mut cmd = Command::new(cargo());
    cmd.current_dir(root).args(args).stderr(Stdio::inherit());
    if quick {
        for (knob, value) in [("PERCPU_BENCH_N", "100000"), ("PERCPU_BENCH_REPEAT", "1")] {
            if std::env::var_os(knob).is_none() {
                cmd.env(knob, value);
            }
        }
    }
    let out = cmd.output().map_err(|e| format!("cannot run cargo bench: {e}"))?;
    if !out.status.success() {
        return Err(format!("the dynamic-allocation benchmark failed: {}", out.status));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn main() -> ExitCode {
    let opts = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    match report(&opts) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-report: {e}");
            ExitCode::FAILURE
        }
    }
}

fn report(opts: &Options) -> Result<(), String> {
    let root = workspace_root();
    if opts.arch_only {
        // The instruction counts alone: no benchmark runs, nothing else built.
        let counts =
            arch::count_all(&root, &root.join("target/arch-probes"), opts.flavor.as_deref())?;
        println!("{}", arch::render(&counts));
        return Ok(());
    }
    let machine = machine::describe();
    let exes = build(&root)?;
    let nopie = build_nopie(&root)?;
    let (percpu, arceos, ax) =
        (&exes["percpu-bench"], &exes["arceos-bench"], &exes["axpercpu-bench"]);
    let quick: Vec<String> = if opts.quick { vec!["--quick".into()] } else { Vec::new() };
    let with = |args: &[&str]| -> Vec<String> {
        args.iter().map(|s| s.to_string()).chain(quick.iter().cloned()).collect()
    };
    let mut results = Results::default();
    run(percpu, &with(&["ops"]), &mut results)?;
    run(arceos, &with(&["ops"]), &mut results)?;
    run(ax, &with(&["ops"]), &mut results)?;
    // The non-PIE build's operations, filed under their own section.
    let mut absolute = Results::default();
    run(&nopie, &with(&["ops"]), &mut absolute)?;
    for mut r in absolute.records {
        if r.section == "ops" {
            r.section = "ops-nopie".into();
            results.records.push(r);
        }
    }
    for n in render::REMOTE_CPUS {
        run(percpu, &with(&["remote", "--cpus", &n.to_string()]), &mut results)?;
    }
    for n in render::SETUP_CPUS {
        run(percpu, &with(&["setup", "--cpus", &n.to_string()]), &mut results)?;
    }
    run(percpu, &with(&["facilities"]), &mut results)?;
    for n in facilities::SUM_CPUS {
        run(percpu, &with(&["facilities-sum", "--cpus", &n.to_string()]), &mut results)?;
    }
    probes(percpu, &mut results, None)?;
    probes(arceos, &mut results, None)?;
    probes(ax, &mut results, None)?;
    probes(&nopie, &mut results, Some(("pcpu", "pcpu_nopie")))?;
    let every_arch = arch::render(&arch::count_all(&root, &root.join("target/arch-probes"), None)?);

    let allocation = if opts.no_alloc { None } else { Some(allocation(&root, opts.quick)?) };
    let load = machine::load_average();
    let text =
        render::report(&results, &machine, opts.quick, allocation.as_deref(), &load, &every_arch);
    println!("{text}");
    let out = match &opts.out {
        Some(path) => Some(path.clone()),
        None if !opts.quick && !opts.no_alloc => Some(root.join("docs/benchmarks.md")),
        None => None,
    };
    if let Some(path) = out {
        std::fs::write(&path, &text)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        eprintln!("report written to {}", path.display());
    }
    Ok(())
}
