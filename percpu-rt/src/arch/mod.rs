//! The only place with `asm!`: the per-CPU base register, the one-instruction current-CPU
//! operations (x86_64), and 16-byte atomics for remote reads of 128-bit scalars.
//!
//! The base register holds `unit_base(cpu) - __percpu_start` (ARCHITECTURE.md, invariant 2):
//! `GS.base` on x86_64, `TPIDR_EL1` (or `TPIDR_EL2` with the `aarch64-el2` feature) on aarch64.

#[cfg(target_arch = "x86_64")]
pub mod x86_64;
#[cfg(target_arch = "x86_64")]
pub(crate) use x86_64 as current;

#[cfg(target_arch = "aarch64")]
pub mod aarch64;
#[cfg(target_arch = "aarch64")]
pub(crate) use aarch64 as current;

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
compile_error!("percpu-rt supports x86_64 and aarch64; port src/arch/ to add an architecture");

pub(crate) use current::atomic128;
pub use current::{BASE_REGISTER, read_base, write_base};
