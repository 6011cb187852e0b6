//! aarch64: the base register in `TPIDR_EL1` (or `TPIDR_EL2`), the arch-neutral current-CPU
//! operations (the CPU pinned, an atomic on the copy: LSE or an exclusive pair), and 16-byte
//! atomics with `ldxp`/`stxp`.

pub(crate) mod registers;
mod wide;

/// aarch64's implementation of the contract.
#[derive(Debug)]
pub(crate) struct Arch;

// SAFETY: the defaults: every operation pins the CPU and is one atomic on its copy.
unsafe impl super::LocalOps for Arch {}

/// Asks for the cache line at `addr` (a hint; any address).
#[inline(always)]
pub(crate) fn prefetch_line(addr: usize) {
    // SAFETY: `prfm` is a hint: it never faults and has no architectural effect.
    unsafe {
        core::arch::asm!("prfm pldl1keep, [{a}]", a = in(reg) addr, options(nostack, readonly, preserves_flags))
    };
}

/// The per-variable operations of a static: none yet on aarch64 (its operations go through the
/// per-CPU pointer, the arch-neutral path). Not public API.
#[doc(hidden)]
#[macro_export]
macro_rules! __percpu_static_ops {
    ($t:ident; $($ty:tt)*) => {};
}
