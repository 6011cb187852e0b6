//! aarch64's base register: `TPIDR_EL1`, or `TPIDR_EL2` with the `aarch64-el2` feature (a
//! kernel running at EL2).
//!
//! Their reset value is UNKNOWN: boot code calls [`reset_base`](crate::arch::reset_base) on
//! every CPU before its first per-CPU access.

use core::arch::asm;

/// Which register holds the per-CPU base on this architecture.
#[cfg(not(feature = "aarch64-el2"))]
pub const BASE_REGISTER: &str = "TPIDR_EL1";
/// Which register holds the per-CPU base on this architecture.
#[cfg(feature = "aarch64-el2")]
pub const BASE_REGISTER: &str = "TPIDR_EL2";

/// The instruction that reads the base register into `{a}`, for the current-CPU sequences
/// (`seq.rs`). Chosen when percpu-rt is compiled, so that code expanded in other crates uses
/// the same register. Not public API.
#[cfg(not(feature = "aarch64-el2"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __percpu_a64_base {
    () => {
        "mrs {a}, tpidr_el1"
    };
}
/// See the other definition.
#[cfg(feature = "aarch64-el2")]
#[doc(hidden)]
#[macro_export]
macro_rules! __percpu_a64_base {
    () => {
        "mrs {a}, tpidr_el2"
    };
}

/// Reads the per-CPU base register.
#[inline(always)]
pub fn read_base() -> usize {
    let value: usize;
    // SAFETY: reading TPIDR_ELx has no side effects; the register is accessible at the EL the
    // kernel runs at (EL1, or EL2 with the feature).
    unsafe {
        #[cfg(not(feature = "aarch64-el2"))]
        asm!("mrs {}, tpidr_el1", out(reg) value, options(nomem, nostack, preserves_flags));
        #[cfg(feature = "aarch64-el2")]
        asm!("mrs {}, tpidr_el2", out(reg) value, options(nomem, nostack, preserves_flags));
    }
    value
}

/// Loads this CPU's per-CPU base register with `delta` (= `unit_base - __percpu_start`).
///
/// # Safety
///
/// `delta` must be `unit_base(cpu) - __percpu_start` for the unit of the CPU that runs this, and
/// that unit must hold an initialised copy of the template: every per-CPU access on this CPU
/// goes there from now on.
#[inline]
pub unsafe fn write_base(delta: usize) {
    // SAFETY: forwarded from the caller.
    unsafe {
        #[cfg(not(feature = "aarch64-el2"))]
        asm!("msr tpidr_el1, {}", in(reg) delta, options(nomem, nostack, preserves_flags));
        #[cfg(feature = "aarch64-el2")]
        asm!("msr tpidr_el2, {}", in(reg) delta, options(nomem, nostack, preserves_flags));
    }
}
