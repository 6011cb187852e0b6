//! Compiler barriers for the measured loops.
//!
//! A loop of N `thread_local!` increments with nothing in between is folded by the optimiser
//! into one addition of N, and a loop of N reads into one read; the `asm!` operations of
//! percpu-rt and of the ArceOS crate cannot be folded. To compare like with like, every loop
//! iteration of every variant ends with [`clobber`] (the compiler must assume that any memory
//! may have been read or written, so each iteration performs its operation on memory) and
//! consumes read values with [`sink`] (the value must exist in a register). Both emit no
//! instruction: they constrain the compiler, not the processor.

use core::arch::asm;

/// Tells the compiler that any memory may have been read or written here; emits nothing.
#[inline(always)]
pub fn clobber() {
    // SAFETY: an empty template executes nothing; without `nomem` the compiler assumes memory
    // may be accessed, which is the point.
    unsafe { asm!("", options(nostack, preserves_flags)) }
}

/// Makes the compiler produce `value` in a register, without storing it; emits nothing.
#[inline(always)]
pub fn sink(value: u64) {
    // SAFETY: an empty template (the operand appears in a comment only) executes nothing.
    unsafe { asm!("/* {0} */", in(reg) value, options(nomem, nostack, preserves_flags)) }
}

/// The loop every measured loop is built on, with no operation in it: its time per iteration
/// is the loop's own cost (counter, compare, branch), shown next to the results and never
/// subtracted from them.
#[inline(never)]
#[unsafe(no_mangle)]
pub extern "C" fn bench_empty_loop(n: u64) {
    for _ in 0..n {
        clobber();
    }
}
