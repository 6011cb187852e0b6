//! aarch64: the base register in `TPIDR_EL1` (or `TPIDR_EL2`, `registers.rs`), the guard-free
//! current-CPU operations (`seq.rs`: the sequences; `by_pointer.rs`: by per-CPU pointer;
//! `static_ops.rs`: by template symbol), and 16-byte atomics on any copy (`wide.rs`).
//!
//! # Why the by-value operations need no pin
//!
//! aarch64 cannot address memory relative to a system register, so every current-CPU operation
//! is two steps: form the address (`mrs` of `TPIDR_ELx`, plus the template symbol or the
//! per-CPU pointer), then access it. A thread may move to another CPU between the two (on a
//! preemptible kernel), and an interrupt may come anywhere. Neither matters, because of what
//! the library lets happen to a by-value ([`Scalar`](crate::Scalar)) copy:
//!
//! 1. every access to it is single-copy atomic: reads and writes are one aligned `ldr`/`str`
//!    of the value's size; every read-modify-write is one atomic instruction (LSE `stadd`,
//!    `ldadd`, `swp`, `cas`, `casp`, ...) or an exclusive-pair loop (`ldxr`/`stxr`), whose store
//!    succeeds only if nothing wrote the copy since its load (an exception between them clears
//!    the monitor, so the loop retries);
//! 2. no mode hands out a reference to it (`&u64` or `&mut u64` to a by-value copy does not
//!    exist in safe code), so there is no non-atomic access for such an access to race with;
//!    remote reads (`read_on`, `iter_possible`) are atomic loads too.
//!
//! So if the thread moves after forming the address, its access lands, atomically, on the
//! copy of the CPU it just left: exactly what the same access would have done just before the
//! move. If an interrupt handler on that CPU updates the copy meanwhile, the atomic
//! instruction (or the failed exclusive store) orders the two updates; none is lost. Linux
//! arm64 wraps the same atomics in `preempt_disable_notrace()`/`preempt_enable_notrace()`
//! (`_pcp_protect`), which only keeps the thread on one CPU: these operations are correct
//! without it, and inline: no call, no preemption counter, no interrupt masking. Shared and
//! local modes hand out references and keep their guards.

mod by_pointer;
pub(crate) mod registers;
mod seq;
mod static_ops;
mod wide;

/// aarch64's implementation of the contract.
#[derive(Debug)]
pub(crate) struct Arch;

/// Whether 16-byte per-CPU scalars are supported (`casp` or `ldxp`/`stxp`).
pub(crate) const HAS_WIDE_ATOMICS: bool = true;

/// Asks for the cache line at `addr` (a hint; any address).
#[inline(always)]
#[cfg(feature = "alloc")]
pub(crate) fn prefetch_line(addr: usize) {
    // SAFETY: `prfm` is a hint: it never faults and has no architectural effect.
    unsafe {
        core::arch::asm!("prfm pldl1keep, [{a}]", a = in(reg) addr, options(nostack, readonly, preserves_flags))
    };
}
