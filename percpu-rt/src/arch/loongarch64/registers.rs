//! loongarch64's base register: `$r21` (the default), or `$tp` with the `loongarch64-tp`
//! feature.
//!
//! * `$r21` is reserved by the LoongArch psABI ("reserved, not allocatable"): Linux keeps its
//!   per-CPU offset there. LLVM never allocates it, and no relocation or linker relaxation
//!   touches it.
//! * `$tp` is the psABI's thread pointer: a kernel that keeps `#[thread_local]` data in it
//!   cannot use it for the per-CPU base. LLVM never allocates it either.
//!
//! Boot code zeroes the register before the first per-CPU access (0 makes early accesses reach
//! the template itself).

use core::arch::asm;

/// Which register holds the per-CPU base on this architecture.
#[cfg(not(feature = "loongarch64-tp"))]
pub const BASE_REGISTER: &str = "r21";
/// Which register holds the per-CPU base on this architecture.
#[cfg(feature = "loongarch64-tp")]
pub const BASE_REGISTER: &str = "tp";

/// The base register's name in assembly, for the current-CPU sequences (`seq.rs`). Chosen
/// when percpu-rt is compiled, so that code expanded in other crates uses the same register.
/// Not public API.
#[cfg(not(feature = "loongarch64-tp"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __percpu_la_base {
    () => {
        "$r21"
    };
}
/// See the other definition.
#[cfg(feature = "loongarch64-tp")]
#[doc(hidden)]
#[macro_export]
macro_rules! __percpu_la_base {
    () => {
        "$tp"
    };
}

/// Reads the per-CPU base register.
#[inline(always)]
pub fn read_base() -> usize {
    let value: usize;
    // SAFETY: copies the base register (which LLVM never allocates) into a general register.
    unsafe {
        asm!(
            concat!("move {}, ", crate::__percpu_la_base!()),
            out(reg) value,
            options(nomem, nostack, preserves_flags)
        )
    };
    value
}

/// Loads this CPU's per-CPU base register with `delta` (= `unit_base - __percpu_start`).
///
/// # Safety
///
/// `delta` must be `unit_base(cpu) - __percpu_start` for the unit of the CPU that runs this, and
/// that unit must hold an initialised copy of the template: every per-CPU access on this CPU
/// goes there from now on. Nothing else on this CPU may use the register (thread-local storage
/// for `$tp`).
#[inline]
pub unsafe fn write_base(delta: usize) {
    // SAFETY: forwarded from the caller; LLVM never allocates the register, so no compiled
    // code depends on its old value.
    unsafe {
        asm!(
            concat!("move ", crate::__percpu_la_base!(), ", {}"),
            in(reg) delta,
            options(nomem, nostack, preserves_flags)
        )
    };
}
