//! The architecture contract: the only place with `asm!` and architecture intrinsics.
//!
//! Everything the runtime needs from the CPU, in four parts, each arch-neutral here and
//! provided per architecture in its own folder (`x86_64/`, `aarch64/`, `riscv64/`,
//! `loongarch64/`), split by job:
//!
//! * **the base register** (`registers.rs`): [`BASE_REGISTER`], [`read_base`], [`write_base`].
//!   It holds `unit_base(cpu) - __percpu_start` (docs/architecture.md, invariant 2).
//! * **operations on the current CPU's copy by pointer** (`PointerOps`: `by_pointer.rs`, on x86_64
//!   `gs_ops.rs`): for a dynamic object (and a static whose type the macro cannot see through),
//!   given the per-CPU pointer and the width. Each has an arch-neutral default: pin the CPU through
//!   the [`Platform`](crate::Platform) and use an atomic on `pointer + base`; an architecture
//!   overrides them with guard-free forms (x86_64: one `op gs:[reg]` instruction; aarch64 and
//!   riscv64 and loongarch64: the base register added to the pointer, then one atomic access).
//! * **per-variable operations of a static** (the `static_ops!` macro): a static declared with
//!   a primitive type gets operations that name its template symbol (x86_64: one
//!   `op gs:[rip + SYM]`; aarch64: `mrs` + `adrp`/`#:lo12:` + one atomic access; riscv64:
//!   `auipc`/`%pcrel_lo` + `add` of the base register + one atomic access; loongarch64:
//!   `pcalau12i`/`%pc_lo12` + `add.d` of the base register + one atomic access), emitted where the
//!   static is declared, for its one width only.
//! * **16-byte atomics** (`WideOps`, `wide.rs`) and a cache **prefetch** hint.
//!
//! Widths are passed as a byte count with the value's bits in a `u64` (16-byte values as
//! `u128`), so that this module knows nothing of the runtime's scalar types: `scalar` builds on
//! it, never the other way round.

/// The read-modify-write methods of [`PointerOps`] (`rmw`, `fetch_add`, `xchg`) on an
/// architecture whose `by_width!` makes each of them one single-copy-atomic instruction or
/// sequence on the copy (aarch64, riscv64, loongarch64): the same dispatch everywhere. Expands
/// inside that architecture's `unsafe impl PointerOps for Arch`, whose SAFETY comment covers every
/// `by_width!` sequence. `$finish(old, size)`, when given, turns the register the previous value
/// was loaded into back into the copy's `size`-byte word (riscv64 and loongarch64 sign-extend
/// narrow results).
#[cfg(any(target_arch = "aarch64", target_arch = "riscv64", target_arch = "loongarch64"))]
macro_rules! by_width_rmw_ops {
    ($by_width:ident $(, $finish:ident)?) => {
        #[inline(always)]
        unsafe fn rmw(p: usize, size: usize, op: Rmw, v: u64) {
            // SAFETY: see the impl.
            unsafe {
                match op {
                    Rmw::Add => $by_width!(size, add, p, v),
                    Rmw::Sub => $by_width!(size, sub, p, v),
                    Rmw::And => $by_width!(size, and, p, v),
                    Rmw::Or => $by_width!(size, or, p, v),
                    Rmw::Xor => $by_width!(size, xor, p, v),
                }
            }
        }

        #[inline(always)]
        unsafe fn fetch_add(p: usize, size: usize, v: u64) -> u64 {
            let old: u64;
            // SAFETY: see the impl.
            unsafe { $by_width!(size, fetch_add, p, v => old) };
            $(let old = $finish(old, size);)?
            old
        }

        #[inline(always)]
        unsafe fn xchg(p: usize, size: usize, v: u64) -> u64 {
            let old: u64;
            // SAFETY: see the impl.
            unsafe { $by_width!(size, xchg, p, v => old) };
            $(let old = $finish(old, size);)?
            old
        }
    };
}

mod neutral;

#[cfg(target_arch = "x86_64")]
mod x86_64;
#[cfg(target_arch = "x86_64")]
use x86_64 as current;

#[cfg(target_arch = "aarch64")]
mod aarch64;
#[cfg(target_arch = "aarch64")]
use aarch64 as current;

#[cfg(target_arch = "riscv64")]
mod riscv64;
#[cfg(target_arch = "riscv64")]
use riscv64 as current;

#[cfg(target_arch = "loongarch64")]
mod loongarch64;
#[cfg(target_arch = "loongarch64")]
use loongarch64 as current;

#[cfg(not(any(
    target_arch = "x86_64",
    target_arch = "aarch64",
    target_arch = "riscv64",
    target_arch = "loongarch64"
)))]
compile_error!(
    "percpu-rt supports x86_64, aarch64, riscv64 and loongarch64: add an architecture as a folder of \
     src/arch/ that provides the base register and overrides the operations of the contract in \
     src/arch/mod.rs"
);

pub(crate) use current::Arch;
pub(crate) use current::HAS_WIDE_ATOMICS;
pub use current::registers::{BASE_REGISTER, read_base, write_base};

/// Points this CPU's per-CPU accesses at the template: loads the base register with 0.
///
/// The first call of every CPU's boot path, before anything on that CPU touches per-CPU data:
/// a base register's reset value is not specified on every architecture (aarch64's `TPIDR_EL1`
/// and `TPIDR_EL2` are UNKNOWN after reset), and with 0 the accesses made before the CPU's unit
/// is loaded ([`write_base`] after the first-chunk setup) reach the template, as the runtime
/// expects of code that runs before the setup. On x86_64 the firmware leaves `GS.base` at 0, and
/// the call costs one MSR write.
///
/// With the `aarch64-el2` feature this writes `TPIDR_EL2`: call it only once the kernel runs at
/// EL2.
///
/// # Safety
///
/// No per-CPU reference, pointer or guard of this CPU may be live: every per-CPU access on this
/// CPU goes to the template from now on, until [`write_base`] loads its unit. Call it before
/// the CPU's unit is loaded, never after.
#[inline]
pub unsafe fn reset_base() {
    // SAFETY: forwarded from the caller; 0 makes the accesses reach the template, which the
    // image holds.
    unsafe { write_base(0) }
}
#[cfg(target_arch = "x86_64")]
pub use current::registers::{GsBaseMsr, rdgsbase, wrgsbase};
// Only the dynamic allocator (feature `alloc`) prefetches.
#[cfg(feature = "alloc")]
pub(crate) use current::prefetch_line;
// x86_64 zeroes long runs of new areas with non-temporal stores (the allocator's `copies.rs`).
#[cfg(all(feature = "alloc", target_arch = "x86_64"))]
pub(crate) use current::{nontemporal_fence, zero_nontemporal};

/// A read-modify-write operation on the current CPU's copy. Not public API: used by
/// generated code.
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rmw {
    /// Wrapping addition.
    Add,
    /// Wrapping subtraction.
    Sub,
    /// Bitwise and.
    And,
    /// Bitwise or.
    Or,
    /// Bitwise exclusive or.
    Xor,
}

/// Operations on the current CPU's copy of a per-CPU word: `p` is its per-CPU pointer (the
/// address in the template's address space that each CPU's offset is added to), `size` its
/// width (1, 2, 4 or 8 bytes), values the word's bits, zero-extended. The defaults are the
/// arch-neutral path (`neutral.rs`): the CPU pinned through the platform's preemption hook, an
/// atomic instruction on `p + base`, so that an interrupt handler on the same CPU cannot lose
/// an update either. Architectures override them with forms that need no pin.
///
/// # Safety
///
/// Implementations access exactly `size` bytes of the current CPU's copy of `p`, atomically
/// with respect to the current CPU (interrupts included), and nothing else.
pub(crate) unsafe trait PointerOps {
    /// Reads the copy.
    ///
    /// # Safety
    ///
    /// `p + base` is the current CPU's copy of a live per-CPU word of `size` bytes, aligned,
    /// accessed only by value (no reference to it exists); for every method of this trait.
    #[inline(always)]
    unsafe fn load(p: usize, size: usize) -> u64 {
        // SAFETY: forwarded from the caller.
        unsafe { neutral::load(p, size) }
    }
    /// Writes the copy.
    ///
    /// # Safety
    ///
    /// As for [`PointerOps::load`].
    #[inline(always)]
    unsafe fn store(p: usize, size: usize, v: u64) {
        // SAFETY: forwarded from the caller.
        unsafe { neutral::store(p, size, v) }
    }
    /// `copy = copy op v`.
    ///
    /// # Safety
    ///
    /// As for [`PointerOps::load`].
    #[inline(always)]
    unsafe fn rmw(p: usize, size: usize, op: Rmw, v: u64) {
        // SAFETY: forwarded from the caller.
        unsafe { neutral::fetch_rmw(p, size, op, v) };
    }
    /// `copy = copy + 1` (`-1` when `up` is false).
    ///
    /// # Safety
    ///
    /// As for [`PointerOps::load`].
    #[inline(always)]
    unsafe fn step(p: usize, size: usize, up: bool) {
        let op = if up { Rmw::Add } else { Rmw::Sub };
        // SAFETY: forwarded from the caller.
        unsafe { Self::rmw(p, size, op, 1) }
    }
    /// Adds `v`; returns the previous value.
    ///
    /// # Safety
    ///
    /// As for [`PointerOps::load`].
    #[inline(always)]
    unsafe fn fetch_add(p: usize, size: usize, v: u64) -> u64 {
        // SAFETY: forwarded from the caller.
        unsafe { neutral::fetch_rmw(p, size, Rmw::Add, v) }
    }
    /// Stores `v`; returns the previous value.
    ///
    /// # Safety
    ///
    /// As for [`PointerOps::load`].
    #[inline(always)]
    unsafe fn xchg(p: usize, size: usize, v: u64) -> u64 {
        // SAFETY: forwarded from the caller.
        unsafe { neutral::xchg(p, size, v) }
    }
    /// Stores `new` if the copy holds `old`; returns the previous value.
    ///
    /// # Safety
    ///
    /// As for [`PointerOps::load`].
    #[inline(always)]
    unsafe fn cmpxchg(p: usize, size: usize, old: u64, new: u64) -> u64 {
        // SAFETY: forwarded from the caller.
        unsafe { neutral::cmpxchg(p, size, old, new) }
    }
    /// 16-byte compare-and-exchange on the current CPU's copy; returns the previous value.
    ///
    /// # Safety
    ///
    /// As for [`PointerOps::load`], for a 16-byte aligned word.
    #[inline(always)]
    unsafe fn cmpxchg16(p: usize, old: u128, new: u128) -> u128 {
        // SAFETY: forwarded from the caller.
        unsafe { neutral::cmpxchg16(p, old, new) }
    }
}

/// 16-byte atomics on any CPU's copy (remote reads of 128-bit scalars, and the arch-neutral
/// 16-byte path), from the architecture's wide compare-and-exchange.
pub(crate) trait WideOps {
    /// Atomic compare-and-exchange of the 16 bytes at `p`; `Ok(previous)` if it stored.
    ///
    /// # Safety
    ///
    /// `p` is valid for reads and writes and 16-byte aligned.
    unsafe fn cas16(p: *mut u128, old: u128, new: u128) -> Result<u128, u128>;

    /// Atomic load of the 16 bytes at `p` (a compare-and-exchange that stores what it read).
    ///
    /// # Safety
    ///
    /// As for [`WideOps::cas16`]: the location must be writable.
    #[inline]
    unsafe fn load16(p: *const u128) -> u128 {
        // SAFETY: forwarded; comparing with 0 and storing 0 never changes the value.
        match unsafe { Self::cas16(p as *mut u128, 0, 0) } {
            Ok(v) | Err(v) => v,
        }
    }
}
