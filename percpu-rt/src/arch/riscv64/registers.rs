//! riscv64's base register: `tp` (the default), or `gp` with the `riscv64-gp` feature.
//!
//! LLVM never allocates either register, so inline assembly may keep the per-CPU base in it;
//! each has one other user, which the kernel gives up by choosing it:
//!
//! * `tp` is the psABI's thread pointer: a kernel that keeps `#[thread_local]` data (or its
//!   current task) in `tp` cannot use it for the per-CPU base. It has no linker interaction.
//! * `gp` is the psABI's global pointer, which **linker relaxation** uses: when the program
//!   defines `__global_pointer$`, GNU ld (and LLD ≥ 19 with `--relax-gp`) rewrite accesses
//!   near that symbol into `gp`-relative ones, which then miss their data once `gp` holds a
//!   per-CPU offset. The rule: **with `gp` as the base register, `__global_pointer$` is never
//!   defined**; the linker fragment percpu-build generates for `base_register = "gp"` fails the
//!   link when it is (`ERROR(percpu): ... __global_pointer$ ...`). percpu-rt's own sequences are
//!   assembled with `.option norelax`, so they are never rewritten either. `gp` is also the
//!   shadow-call-stack pointer (`-Zsanitizer=shadow-call-stack`): not both.
//!
//! Boot code zeroes the register before the first per-CPU access (0 makes early accesses reach
//! the template itself); with `gp` it must not load `__global_pointer$` into it, as C start-up
//! code does.

use core::arch::asm;

/// Which register holds the per-CPU base on this architecture.
#[cfg(not(feature = "riscv64-gp"))]
pub const BASE_REGISTER: &str = "tp";
/// Which register holds the per-CPU base on this architecture.
#[cfg(feature = "riscv64-gp")]
pub const BASE_REGISTER: &str = "gp";

/// The base register's name in assembly, for the current-CPU sequences (`seq.rs`). Chosen
/// when percpu-rt is compiled, so that code expanded in other crates uses the same register.
/// Not public API.
#[cfg(not(feature = "riscv64-gp"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __percpu_rv_base {
    () => {
        "tp"
    };
}
/// See the other definition.
#[cfg(feature = "riscv64-gp")]
#[doc(hidden)]
#[macro_export]
macro_rules! __percpu_rv_base {
    () => {
        "gp"
    };
}

/// Reads the per-CPU base register.
#[inline(always)]
pub fn read_base() -> usize {
    let value: usize;
    // SAFETY: copies the base register (which LLVM never allocates) into a general register.
    unsafe {
        asm!(
            concat!("mv {}, ", crate::__percpu_rv_base!()),
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
/// for `tp`; `__global_pointer$` or the shadow call stack for `gp`).
#[inline]
pub unsafe fn write_base(delta: usize) {
    // SAFETY: forwarded from the caller; LLVM never allocates the register, so no compiled
    // code depends on its old value.
    unsafe {
        asm!(
            concat!("mv ", crate::__percpu_rv_base!(), ", {}"),
            in(reg) delta,
            options(nomem, nostack, preserves_flags)
        )
    };
}
