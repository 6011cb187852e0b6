//! A 16-byte per-CPU scalar, [`STAMP`] (`u128`), changed with `cmpxchg` and `add` on every CPU
//! at once and read remotely: the 16-byte compare-and-exchange on the current CPU's copy
//! (x86_64 `cmpxchg16b gs:`, aarch64 `casp` with LSE or an `ldxp`/`stxp` loop, riscv64
//! `amocas.q`) and the 16-byte remote reads.
//!
//! riscv64 has a 16-byte atomic only with Zacas: without it any operation on a 16-byte per-CPU
//! variable fails to compile, with a message that says so, and this module is left out of the
//! build (`lib.rs`), unless the feature `wide-without-zacas` asks for that error: the harness
//! builds kernel-lib so and checks the message.

use alloc::string::String;

use percpu_rt::{CpuId, percpu};

use crate::expect;

/// The template value: the low half all ones, so that the first step carries into the high
/// half.
pub const STAMP_INIT: u128 = u64::MAX as u128;

/// What one `cmpxchg` or `add` of a round adds: one to each half.
const STEP: u128 = (1 << 64) | 1;

/// Advanced every 16th round by a `cmpxchg` (and refused by a stale one) and an `add`.
#[percpu]
pub static STAMP: u128 = STAMP_INIT;

/// What [`STAMP`] holds after `iterations` rounds.
pub fn expected(iterations: u64) -> u128 {
    STAMP_INIT.wrapping_add(u128::from(iterations / 16).wrapping_mul(STEP.wrapping_mul(2)))
}

/// Round `round` of [`crate::run_on_cpu`] on `cpu`: every 16th round a `cmpxchg` that must
/// succeed, a stale one that must fail, and an `add`.
pub fn step(cpu: CpuId, round: u64) -> Result<(), String> {
    if round % 16 != 0 {
        return Ok(());
    }
    let current = STAMP.read();
    let next = current.wrapping_add(STEP);
    expect(cpu, "cmpxchg on STAMP", STAMP.cmpxchg(current, next), Ok(current))?;
    expect(cpu, "a stale cmpxchg on STAMP", STAMP.cmpxchg(current, 0), Err(next))?;
    STAMP.add(STEP);
    Ok(())
}

/// `cpu`'s copy after [`crate::run_on_cpu`] with `iterations` rounds (read by the calling CPU).
pub fn check(cpu: CpuId, iterations: u64) -> Result<(), String> {
    expect(cpu, "STAMP", STAMP.read_on(cpu), expected(iterations))
}

/// The copy of `cpu`, which never came online: the template's value.
pub fn check_offline(cpu: CpuId) -> Result<(), String> {
    expect(cpu, "STAMP (offline)", STAMP.read_on(cpu), STAMP_INIT)
}
