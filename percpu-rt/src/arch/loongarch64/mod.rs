//! loongarch64: the base register in `$r21` (or `$tp`, `registers.rs`), the guard-free
//! current-CPU operations (`seq.rs`: the sequences; `local.rs`: by per-CPU pointer;
//! `static_ops.rs`: by template symbol), and no 16-byte atomics (`wide.rs`).
//!
//! # Why the by-value operations need no pin
//!
//! As on riscv64 (see its module): loongarch64 cannot address memory relative to a register
//! plus a symbol in one instruction, so every current-CPU operation forms the address first
//! (`pcalau12i` + `%pc_lo12`, or the per-CPU pointer, plus the base register), then accesses it
//! with one single-copy-atomic instruction: an aligned `ld`/`st` of the value's size, one AM*
//! atomic (`amadd`, `amand`, `amor`, `amxor`, `amswap`, `.w`/`.d`), or an `ll`/`sc` loop whose
//! `sc` succeeds only if the LL bit held since the `ll` (another CPU's store to the line clears
//! it, and so does `ertn`, the return from any exception, as long as `LLBCTL.KLO` is clear, its
//! reset value, which the kernel must keep: an interrupt between them makes the `sc` fail and the
//! loop retry). 8- and 16-bit copies are changed through their aligned word,
//! the other bytes rewritten unchanged by the same atomic step. No mode hands out a reference
//! to a by-value copy, and remote reads are atomic loads. So a thread that moves to another CPU
//! after forming the address changes, atomically, the copy of the CPU it left: what the same
//! operation would have done just before the move; an interrupt handler's update on the same
//! CPU is ordered by the atomic and never lost. (Linux loongarch's `this_cpu_*` use the same
//! AM* instructions on `$r21`-relative addresses, inside a preemption-disabled section.)
//!
//! # 16-byte scalars
//!
//! LA64 (as QEMU's `la464` implements it) has no 16-byte atomic: declaring a `u128`/`i128`
//! per-CPU scalar compiles, any operation on it fails to compile with percpu-rt's message.

mod local;
pub(crate) mod registers;
mod seq;
mod static_ops;
mod wide;

/// loongarch64's implementation of the contract.
#[derive(Debug)]
pub(crate) struct Arch;

/// Whether 16-byte per-CPU scalars are supported: no (no 16-byte atomic in LA64).
pub(crate) const HAS_WIDE_ATOMICS: bool = false;

/// Asks for the cache line at `addr` to be loaded (`preld` hint 0: load).
#[inline(always)]
#[cfg(feature = "alloc")]
pub(crate) fn prefetch_line(addr: usize) {
    // SAFETY: `preld` is a hint: it never faults and changes no architectural state.
    unsafe {
        core::arch::asm!("preld 0, {}, 0", in(reg) addr, options(nostack, preserves_flags, readonly))
    };
}
