//! Judging a boot by its exit status and its markers: the lines the kernels print at fixed
//! points, found wherever they are (the CPUs' lines interleave in any order).
//!
//! The kernels end with exactly one `PASS` or `FAIL: <reason>` line and a QEMU exit status of
//! [`PASS_STATUS`] or [`FAIL_STATUS`] (examples/kernels/common/src/exit.rs). Status 0 never
//! counts: on x86_64 it is what a triple fault under `-no-reboot` gives, and QEMU's own errors
//! exit with 1.

use crate::FirstChunkMode;
use crate::qemu::Run;

/// QEMU's exit status for `PASS`.
pub const PASS_STATUS: i32 = 33;
/// QEMU's exit status for `FAIL`.
pub const FAIL_STATUS: i32 = 35;

/// What a passing boot must show.
#[derive(Debug, Clone)]
pub struct Expected<'a> {
    /// CPUs booted.
    pub cpus: u32,
    /// The first-chunk mode in use.
    pub mode: FirstChunkMode,
    /// The banner's architecture (`x86_64`, `aarch64 at EL1`, ...).
    pub arch: &'a str,
}

fn has_line(run: &Run, pred: impl Fn(&str) -> bool) -> bool {
    run.lines().any(pred)
}

/// Checks a boot that must pass; the error names the first missing marker and shows the run.
pub fn check_pass(run: &Run, want: &Expected<'_>) -> Result<(), String> {
    let fail = |what: String| Err(format!("{what}\n{}", run.describe()));
    if let Some(line) = run.lines().find(|l| l.starts_with("FAIL")) {
        return fail(format!("the kernel failed: {line}"));
    }
    if run.code() != Some(PASS_STATUS) {
        return fail(format!("exit status {:?}, expected {PASS_STATUS} (PASS)", run.code()));
    }
    let last = run.lines().filter(|l| !l.is_empty()).last();
    if last != Some("PASS") {
        return fail(format!("the last line is {last:?}, expected \"PASS\""));
    }
    let n = want.cpus;
    let plural = if n == 1 { "" } else { "s" };
    let banner = format!("percpu example kernel on {}: {n} CPU{plural},", want.arch);
    if !has_line(run, |l| l.starts_with(&banner)) {
        return fail(format!("no banner line starting {banner:?}"));
    }
    let dump_banner = match want.mode {
        FirstChunkMode::Embed => "percpu: Embedded ",
        FirstChunkMode::Page => "4K pages/cpu s",
    };
    if !has_line(run, |l| l.starts_with("percpu: ") && l.contains(dump_banner)) {
        return fail(format!("no first-chunk dump line with {dump_banner:?}"));
    }
    if !has_line(run, |l| l.starts_with("pcpu-alloc: s")) {
        return fail("no `pcpu-alloc: s..` dump line".into());
    }
    let chunk = format!("percpu: {} first chunk at ", want.mode.name());
    if !has_line(run, |l| l.starts_with(&chunk)) {
        return fail(format!("no line starting {chunk:?}"));
    }
    for cpu in 0..n {
        let online = format!("cpu{cpu}: online, ");
        if !has_line(run, |l| l.starts_with(&online)) {
            return fail(format!("CPU {cpu} never reported online"));
        }
    }
    let smp = format!("smp: {n} CPU{plural} online");
    if !has_line(run, |l| l == smp) {
        return fail(format!("no line {smp:?}"));
    }
    let sums = format!("kernel-lib: remote sums exact over {n} CPUs");
    if !has_line(run, |l| l.starts_with(&sums)) {
        return fail(format!("no line starting {sums:?}"));
    }
    let dynamic = format!("dynamic allocations freed on {n} CPUs");
    if !has_line(run, |l| l.starts_with("kernel-lib: ") && l.contains(&dynamic)) {
        return fail(format!("no kernel-lib line with {dynamic:?}"));
    }
    Ok(())
}

/// Checks a boot that must fail with a reason containing `reason`.
pub fn check_fail(run: &Run, reason: &str) -> Result<(), String> {
    let fail = |what: String| Err(format!("{what}\n{}", run.describe()));
    if run.code() != Some(FAIL_STATUS) {
        return fail(format!("exit status {:?}, expected {FAIL_STATUS} (FAIL)", run.code()));
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
