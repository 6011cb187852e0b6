//! Judging a boot by its exit status and its markers: the lines the kernels print at fixed
//! points, found wherever they are (the CPUs' lines interleave in any order).
//!
//! The kernels end with exactly one `PASS` or `FAIL: <reason>` line and a QEMU exit status of
//! [`PASS_STATUS`] or [`FAIL_STATUS`] (examples/kernels/common/src/exit.rs). Status 0 never
//! counts there: on x86_64 it is what a triple fault under `-no-reboot` gives, and QEMU's own
//! errors exit with 1. loongarch64 has no device that chooses the status: 0 (the GED) with the
//! `PASS` line, 1 (pvpanic) with the `FAIL` line ([`Kernel::pass_status`]).

use crate::qemu::Run;
use crate::{FirstChunkMode, Kernel};

/// QEMU's exit status for `PASS`.
pub const PASS_STATUS: i32 = 33;
/// QEMU's exit status for `FAIL`.
pub const FAIL_STATUS: i32 = 35;

/// What a passing boot must show.
#[derive(Debug, Clone)]
pub struct Expected<'a> {
    /// CPUs brought online (they run the work).
    pub online: u32,
    /// CPUs the firmware says are present (`-smp N`).
    pub present: u32,
    /// Possible CPUs (present plus hot-pluggable): each has a unit in the first chunk.
    pub possible: u32,
    /// Where the kernel takes the CPU counts from (`ACPI MADT`, `fw_cfg`, `device tree`).
    pub cpus_from: &'a str,
    /// The first-chunk mode in use.
    pub mode: FirstChunkMode,
    /// The banner's architecture (`x86_64`, `aarch64 at EL1`, ...).
    pub arch: &'a str,
}

impl<'a> Expected<'a> {
    /// `n` CPUs, all present, possible and online.
    pub fn all_online(n: u32, cpus_from: &'a str, mode: FirstChunkMode, arch: &'a str) -> Self {
        Expected { online: n, present: n, possible: n, cpus_from, mode, arch }
    }
}

fn has_line(run: &Run, pred: impl Fn(&str) -> bool) -> bool {
    run.lines().any(pred)
}

fn plural(n: u32) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// The CPU numbers the `pcpu-alloc: [group] cpu ...` dump lines list (Linux's format: page mode
/// prints `[0] 00 [0] 01 ...`, embed mode `[0] 0 1 2 ...`; empty unit slots print `--`).
pub fn dumped_cpus(run: &Run) -> Vec<u32> {
    let mut cpus: Vec<u32> = run
        .lines()
        .filter_map(|l| l.strip_prefix("pcpu-alloc: "))
        .filter(|rest| rest.starts_with('['))
        .flat_map(str::split_whitespace)
        .filter(|word| !word.starts_with('['))
        .filter_map(|word| word.parse().ok())
        .collect();
    cpus.sort_unstable();
    cpus
}

/// Checks a boot of `kernel` that must pass ([`check_pass`], or [`check_core_only_pass`] for
/// [`Kernel::CoreOnly`]).
pub fn check_pass_of(kernel: Kernel, run: &Run, want: &Expected<'_>) -> Result<(), String> {
    match kernel {
        Kernel::CoreOnly => check_core_only_pass(run, want),
        _ => check_pass(run, want),
    }
}

/// Checks a boot of a kernel with a heap that must pass; the error names the first missing
/// marker and shows the run.
pub fn check_pass(run: &Run, want: &Expected<'_>) -> Result<(), String> {
    check_common(run, want)?;
    let fail = |what: String| Err(format!("{what}\n{}", run.describe()));
    let Expected { online, possible, .. } = *want;
    let sums = format!("kernel-lib: remote sums exact over {online} online CPUs x ");
    let offline = format!("; {} offline CPUs keep their initial values", possible - online);
    if !has_line(run, |l| l.starts_with(&sums) && l.ends_with(&offline)) {
        return fail(format!("no line starting {sums:?} and ending {offline:?}"));
    }
    let dynamic = format!("dynamic allocations freed on {online} CPUs");
    if !has_line(run, |l| l.starts_with("kernel-lib: ") && l.contains(&dynamic)) {
        return fail(format!("no kernel-lib line with {dynamic:?}"));
    }
    let facilities = format!("counters and reference counts on {online} CPUs: counter sum ");
    if !has_line(run, |l| {
        l.starts_with("kernel-lib: ") && l.contains(&facilities) && l.ends_with("once per life")
    }) {
        return fail(format!("no kernel-lib line with {facilities:?}"));
    }
    Ok(())
}

/// Checks a boot of the kernel without a heap ([`Kernel::CoreOnly`]) that must pass: the
/// markers every kernel prints, the first chunk installed without a dynamic allocator, and
/// the remote sums.
pub fn check_core_only_pass(run: &Run, want: &Expected<'_>) -> Result<(), String> {
    check_common(run, want)?;
    let fail = |what: String| Err(format!("{what}\n{}", run.describe()));
    let Expected { online, possible, .. } = *want;
    let no_allocator = "no dynamic allocator (built without alloc); boot memory ";
    if !has_line(run, |l| l.starts_with("percpu: ") && l.contains(no_allocator)) {
        return fail(format!("no first-chunk line with {no_allocator:?}"));
    }
    let sums = format!("core-only: remote sums exact over {online} online CPUs x ");
    let offline = format!("; {} offline CPUs keep their initial values; ", possible - online);
    if !has_line(run, |l| l.starts_with(&sums) && l.contains(&offline)) {
        return fail(format!("no line starting {sums:?} with {offline:?}"));
    }
    Ok(())
}

/// The markers of a passing boot that every kernel prints.
fn check_common(run: &Run, want: &Expected<'_>) -> Result<(), String> {
    let fail = |what: String| Err(format!("{what}\n{}", run.describe()));
    if let Some(line) = run.lines().find(|l| l.starts_with("FAIL")) {
        return fail(format!("the kernel failed: {line}"));
    }
    if run.code() != Some(run.pass_status) {
        return fail(format!("exit status {:?}, expected {} (PASS)", run.code(), run.pass_status));
    }
    let last = run.lines().filter(|l| !l.is_empty()).last();
    if last != Some("PASS") {
        return fail(format!("the last line is {last:?}, expected \"PASS\""));
    }
    let Expected { online, present, possible, cpus_from, mode, arch } = *want;
    let banner = format!(
        "percpu example kernel on {arch}: {possible} possible CPU{}, {present} present \
         ({cpus_from}), command line ",
        plural(possible)
    );
    if !has_line(run, |l| l.starts_with(&banner)) {
        return fail(format!("no banner line starting {banner:?}"));
    }
    let dump_banner = match mode {
        FirstChunkMode::Embed => "percpu: Embedded ",
        FirstChunkMode::Page => "4K pages/cpu s",
    };
    if !has_line(run, |l| l.starts_with("percpu: ") && l.contains(dump_banner)) {
        return fail(format!("no first-chunk dump line with {dump_banner:?}"));
    }
    if !has_line(run, |l| l.starts_with("pcpu-alloc: s")) {
        return fail("no `pcpu-alloc: s..` dump line".into());
    }
    let units: Vec<u32> = (0..possible).collect();
    if dumped_cpus(run) != units {
        return fail(format!(
            "the first chunk's dump lists units for CPUs {:?}, expected one for each of the \
             {possible} possible CPUs",
            dumped_cpus(run)
        ));
    }
    let chunk = format!("percpu: {} first chunk at ", mode.name());
    if !has_line(run, |l| l.starts_with(&chunk)) {
        return fail(format!("no line starting {chunk:?}"));
    }
    for cpu in 0..possible {
        let line = format!("cpu{cpu}: online, ");
        match (cpu < online, has_line(run, |l| l.starts_with(&line))) {
            (true, false) => return fail(format!("CPU {cpu} never reported online")),
            (false, true) => {
                return fail(format!("CPU {cpu} came online, but only {online} should"));
            }
            _ => {}
        }
    }
    let smp = format!(
        "smp: {online} CPU{} online of {possible} possible ({present} present)",
        plural(online)
    );
    if !has_line(run, |l| l == smp) {
        return fail(format!("no line {smp:?}"));
    }
    Ok(())
}

/// Checks a boot that must fail with a reason containing `reason`.
pub fn check_fail(run: &Run, reason: &str) -> Result<(), String> {
    let fail = |what: String| Err(format!("{what}\n{}", run.describe()));
    if run.code() != Some(run.fail_status) {
        return fail(format!("exit status {:?}, expected {} (FAIL)", run.code(), run.fail_status));
    }
    if has_line(run, |l| l == "PASS") {
        return fail("a failing boot printed PASS".into());
    }
    let fails: Vec<&str> = run.lines().filter(|l| l.starts_with("FAIL: ")).collect();
    match fails.as_slice() {
        [line] if line.contains(reason) => Ok(()),
        [line] => fail(format!("the FAIL line {line:?} does not mention {reason:?}")),
        lines => fail(format!("expected exactly one FAIL line, found {}", lines.len())),
    }
}
