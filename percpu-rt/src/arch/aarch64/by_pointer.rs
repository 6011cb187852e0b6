//! aarch64's current-CPU operations by per-CPU pointer ([`PointerOps`]), for dynamic objects and
//! for statics whose type the macro cannot see: `mrs` of the base register, the pointer added,
//! one single-copy-atomic access (the sequences of `seq.rs`, `ptr` form). No pin, no call.

use super::Arch;
use crate::arch::{PointerOps, Rmw};

/// One `__percpu_a64_amo!` read-modify-write per width of the copy.
macro_rules! by_width {
    ($size:expr, $op:ident, $p:ident, $($args:tt)*) => {
        match $size {
            1 => $crate::__percpu_a64_amo!($op "b" "w"; ptr $p; $($args)*),
            2 => $crate::__percpu_a64_amo!($op "h" "w"; ptr $p; $($args)*),
            4 => $crate::__percpu_a64_amo!($op "" "w"; ptr $p; $($args)*),
            _ => $crate::__percpu_a64_amo!($op "" "x"; ptr $p; $($args)*),
        }
    };
}

// SAFETY: every sequence reads TPIDR_ELx, adds the per-CPU pointer (giving the copy of the CPU
// whose register was read) and makes exactly one `size`-byte single-copy-atomic access to it: an
// aligned `ldr`/`str`, or one atomic read-modify-write (LSE, or an exclusive-pair loop whose
// store succeeds only if nothing wrote the copy since its load). Should the thread move to
// another CPU between the `mrs` and the access, the access lands, atomically, on the copy of
// the CPU it left, which is the same as the whole operation running just before the move; an
// interrupt handler on either CPU sees the copy before or after, never half of it. So every
// operation is atomic with respect to the CPU whose copy it changes, without a pin.
unsafe impl PointerOps for Arch {
    #[inline(always)]
    unsafe fn load(p: usize, size: usize) -> u64 {
        let v: u64;
        // SAFETY: see the impl; the caller guarantees a live, aligned copy of `size` bytes.
        unsafe {
            match size {
                1 => crate::__percpu_a64!(load "b" "w"; ptr p; v),
                2 => crate::__percpu_a64!(load "h" "w"; ptr p; v),
                4 => crate::__percpu_a64!(load "" "w"; ptr p; v),
                _ => crate::__percpu_a64!(load "" "x"; ptr p; v),
            }
        }
        v
    }

    #[inline(always)]
    unsafe fn store(p: usize, size: usize, v: u64) {
        // SAFETY: see the impl.
        unsafe {
            match size {
                1 => crate::__percpu_a64!(store "b" "w"; ptr p; v),
                2 => crate::__percpu_a64!(store "h" "w"; ptr p; v),
                4 => crate::__percpu_a64!(store "" "w"; ptr p; v),
                _ => crate::__percpu_a64!(store "" "x"; ptr p; v),
            }
        }
    }

    by_width_rmw_ops!(by_width);

    #[inline(always)]
    unsafe fn cmpxchg(p: usize, size: usize, old: u64, new: u64) -> u64 {
        let mut old = old;
        // SAFETY: see the impl.
        unsafe { by_width!(size, cas, p, old, new) };
        old
    }

    #[inline(always)]
    unsafe fn cmpxchg16(p: usize, old: u128, new: u128) -> u128 {
        let (mut lo, mut hi) = (old as u64, (old >> 64) as u64);
        // SAFETY: see the impl; the caller guarantees a 16-byte aligned copy.
        unsafe { crate::__percpu_a64_amo!(cas16; ptr p; lo, hi, new) };
        ((hi as u128) << 64) | lo as u128
    }
}
