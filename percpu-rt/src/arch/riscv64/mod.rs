//! riscv64: the base register in `tp` (or `gp`, `registers.rs`), the guard-free current-CPU
//! operations (`seq.rs`: the sequences; `by_pointer.rs`: by per-CPU pointer; `static_ops.rs`: by
//! template symbol), and 16-byte atomics with Zacas (`wide.rs`).
//!
//! # Why the by-value operations need no pin
//!
//! riscv64 cannot address memory relative to `tp` or `gp` plus a symbol in one instruction, so
//! every current-CPU operation is two steps: form the address (the template symbol or the
//! per-CPU pointer, plus the base register), then access it. A thread may move to another hart
//! between the two (on a preemptible kernel), and an interrupt may come anywhere. Neither
//! matters, because of what the library lets happen to a by-value
//! ([`Scalar`](crate::Scalar)) copy:
//!
//! 1. every access to it is single-copy atomic: reads and writes are one aligned load or
//!    store of the value's size; every read-modify-write is one AMO (`amoadd`, `amoand`,
//!    `amoor`, `amoxor`, `amoswap`, `amocas`) or an LR/SC loop whose `sc` succeeds only if its
//!    reservation held since the `lr` (a store from another hart breaks it; a trap between them
//!    clears it on the way back, since the kernel's trap return executes a dummy `sc` as the
//!    privileged specification asks: every LR/SC atomic of a RISC-V kernel relies on that);
//!    8- and 16-bit copies without Zabha are changed through their aligned word, with the
//!    other bytes of the word rewritten unchanged by the same atomic step;
//! 2. no mode hands out a reference to it (`&u64` or `&mut u64` to a by-value copy does not
//!    exist in safe code), so there is no non-atomic access for such an access to race with;
//!    remote reads (`read_on`, `iter_possible`) are atomic loads too.
//!
//! So if the thread moves after forming the address, its access lands, atomically, on the
//! copy of the hart it just left: exactly what the same access would have done just before the
//! move. If an interrupt handler on that hart updates the copy meanwhile, the AMO (or the
//! failed `sc`) orders the two updates; none is lost. So these operations need neither
//! preemption nor interrupt masking, and are inline: no call. (Linux riscv's generic
//! `this_cpu_*` masks interrupts around a load, an add and a store of `__per_cpu_offset[cpu]`-
//! relative data.) Shared and local modes hand out references and keep their guards.
//!
//! # 16-byte scalars
//!
//! With Zacas, `u128`/`i128` per-CPU scalars use `amocas.q`. Without it riscv64 has no 16-byte
//! atomic, so declaring one compiles but any operation on it (current-CPU or remote) fails to
//! compile with a message that says to build with `-C target-feature=+zacas`.

mod by_pointer;
pub(crate) mod registers;
mod seq;
mod static_ops;
mod wide;

/// riscv64's implementation of the contract.
#[derive(Debug)]
pub(crate) struct Arch;

/// Whether 16-byte per-CPU scalars are supported (`amocas.q`, Zacas).
pub(crate) const HAS_WIDE_ATOMICS: bool = cfg!(target_feature = "zacas");

/// Asks for the cache line at `addr`: a no-op (RV64GC has no prefetch instruction; Zicbop's
/// `prefetch.r` is not in the base target).
#[inline(always)]
#[cfg(feature = "alloc")]
pub(crate) fn prefetch_line(addr: usize) {
    let _ = addr;
}
