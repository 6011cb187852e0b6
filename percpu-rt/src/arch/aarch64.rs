//! aarch64: the per-CPU base in `TPIDR_EL1`, or `TPIDR_EL2` with the `aarch64-el2` feature (a
//! kernel running at EL2).
//!
//! A current-CPU access is `mrs` (base) + `adrp`/`add` (template address) + the access: the
//! limit for position-independent code. A read-modify-write must not straddle a migration, so
//! the scalar operations pin the CPU (the platform's preemption hook) and use an atomic
//! instruction (LSE or exclusive pair) on the current CPU's copy, which also makes them safe
//! against interrupt handlers on the same CPU (see `crate::ops`).
//!
//! Boot code must zero the base register before the first per-CPU access: its reset value is
//! unknown, and 0 makes early accesses hit the template itself.

use core::arch::asm;

/// Which register holds the per-CPU base on this architecture.
#[cfg(not(feature = "aarch64-el2"))]
pub const BASE_REGISTER: &str = "TPIDR_EL1";
/// Which register holds the per-CPU base on this architecture.
#[cfg(feature = "aarch64-el2")]
pub const BASE_REGISTER: &str = "TPIDR_EL2";

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

/// 16-byte atomics with an exclusive load/store pair (`ldxp`/`stxp`).
pub(crate) mod atomic128 {
    use core::arch::asm;

    /// Atomic compare-and-exchange of the 16 bytes at `p`.
    ///
    /// # Safety
    /// `p` is valid for reads and writes and 16-byte aligned.
    #[inline]
    pub unsafe fn cas(p: *mut u128, old: u128, new: u128) -> Result<u128, u128> {
        let (lo, hi): (u64, u64);
        // SAFETY: the caller guarantees a valid, aligned pointer. The loop stores `new` only if
        // the exclusively loaded pair equals `old`; otherwise it stores the loaded pair back,
        // which completes the exclusive sequence and makes the load single-copy atomic.
        unsafe {
            asm!(
                "2:",
                "ldxp {lo}, {hi}, [{p}]",
                "cmp {lo}, {old_lo}",
                "ccmp {hi}, {old_hi}, #0, eq",
                "b.ne 3f",
                "stxp {status:w}, {new_lo}, {new_hi}, [{p}]",
                "cbnz {status:w}, 2b",
                "b 4f",
                "3:",
                "stxp {status:w}, {lo}, {hi}, [{p}]",
                "cbnz {status:w}, 2b",
                "4:",
                p = in(reg) p,
                lo = out(reg) lo,
                hi = out(reg) hi,
                old_lo = in(reg) old as u64,
                old_hi = in(reg) (old >> 64) as u64,
                new_lo = in(reg) new as u64,
                new_hi = in(reg) (new >> 64) as u64,
                status = out(reg) _,
                options(nostack),
            );
        }
        let previous = ((hi as u128) << 64) | lo as u128;
        if previous == old { Ok(previous) } else { Err(previous) }
    }

    /// Atomic load of the 16 bytes at `p`.
    ///
    /// # Safety
    /// As for [`cas`] (the location must be writable: the pair is stored back).
    #[inline]
    pub unsafe fn load(p: *const u128) -> u128 {
        // SAFETY: forwarded; a failed compare stores the loaded value back unchanged.
        match unsafe { cas(p as *mut u128, 0, 0) } {
            Ok(v) | Err(v) => v,
        }
    }
}
