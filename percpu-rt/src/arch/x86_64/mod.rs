//! x86_64: `GS.base` (`registers.rs`), the one-instruction `gs:`-relative current-CPU
//! operations (`gs_ops.rs`), 16-byte atomics (`wide.rs`), and the prefetch hint.

mod gs_ops;
pub(crate) mod registers;
mod wide;

/// x86_64's implementation of the contract.
#[derive(Debug)]
pub(crate) struct Arch;

/// Whether 16-byte per-CPU scalars are supported (`cmpxchg16b`).
pub(crate) const HAS_WIDE_ATOMICS: bool = true;

/// Asks for the cache line at `addr` (a hint; any address).
#[inline(always)]
#[cfg(feature = "alloc")]
pub(crate) fn prefetch_line(addr: usize) {
    use core::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
    // SAFETY: a prefetch is a hint: it reads nothing architecturally, never faults, and has no
    // effect beyond the caches, whatever the address.
    unsafe { _mm_prefetch::<_MM_HINT_T0>(addr as *const i8) };
}
