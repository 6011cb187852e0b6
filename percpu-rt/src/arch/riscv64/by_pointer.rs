//! riscv64's current-CPU operations by per-CPU pointer ([`PointerOps`]), for dynamic objects and
//! for statics whose type the macro cannot see: the base register added to the pointer, then
//! one single-copy-atomic access (the sequences of `seq.rs`, `ptr` form). No pin, no call.

use super::Arch;
use crate::arch::{PointerOps, Rmw};

/// One read-modify-write per width of the copy: the word AMOs for 4 and 8 bytes, the
/// sub-word sequences for 1 and 2.
macro_rules! by_width {
    ($size:expr, $op:ident, $p:ident, $($args:tt)*) => {
        match $size {
            1 => $crate::__percpu_rv_sub!($op "b" 0xff i8; ptr $p; $($args)*),
            2 => $crate::__percpu_rv_sub!($op "h" 0xffff i16; ptr $p; $($args)*),
            4 => $crate::__percpu_rv_amo!($op "w"; ptr $p; $($args)*),
            _ => $crate::__percpu_rv_amo!($op "d"; ptr $p; $($args)*),
        }
    };
}

/// The low `size` bytes of `v` (AMOs of 4 bytes and less sign-extend their result).
#[inline(always)]
fn truncate(v: u64, size: usize) -> u64 {
    if size >= 8 { v } else { v & ((1u64 << (size * 8)) - 1) }
}

// SAFETY: every sequence adds the base register to the per-CPU pointer (giving the copy of the
// CPU whose register was read) and makes exactly one `size`-byte single-copy-atomic access to
// it: an aligned load or store, one AMO, or an LR/SC loop whose store succeeds only if its
// reservation held since its load (another hart's store to the word breaks it, and a trap
// between them clears it on the way back: the kernel's trap return executes a dummy `sc`, as
// the privileged specification asks, which every LR/SC atomic of the kernel relies on). Should
// the thread move to another hart between the `add` and the access, the access lands,
// atomically, on the copy of the hart it left: the same as the whole operation running just
// before the move. So every operation is atomic with respect to the CPU whose copy it changes,
// without a pin.
unsafe impl PointerOps for Arch {
    #[inline(always)]
    unsafe fn load(p: usize, size: usize) -> u64 {
        let v: u64;
        // SAFETY: see the impl; the caller guarantees a live, aligned copy of `size` bytes.
        unsafe {
            match size {
                1 => crate::__percpu_rv!(load "lbu"; ptr p; v),
                2 => crate::__percpu_rv!(load "lhu"; ptr p; v),
                4 => crate::__percpu_rv!(load "lwu"; ptr p; v),
                _ => crate::__percpu_rv!(load "ld"; ptr p; v),
            }
        }
        v
    }

    #[inline(always)]
    unsafe fn store(p: usize, size: usize, v: u64) {
        // SAFETY: see the impl.
        unsafe {
            match size {
                1 => crate::__percpu_rv!(store "sb"; ptr p; v),
                2 => crate::__percpu_rv!(store "sh"; ptr p; v),
                4 => crate::__percpu_rv!(store "sw"; ptr p; v),
                _ => crate::__percpu_rv!(store "sd"; ptr p; v),
            }
        }
    }

    by_width_rmw_ops!(by_width, truncate);

    #[inline(always)]
    unsafe fn cmpxchg(p: usize, size: usize, old: u64, new: u64) -> u64 {
        let mut old = old;
        // SAFETY: see the impl.
        unsafe {
            match size {
                1 => crate::__percpu_rv_sub!(cas "b" 0xff i8; ptr p; old, new),
                2 => crate::__percpu_rv_sub!(cas "h" 0xffff i16; ptr p; old, new),
                4 => crate::__percpu_rv_cas!("w" i32; ptr p; old, new),
                _ => crate::__percpu_rv_cas!("d" i64; ptr p; old, new),
            }
        }
        truncate(old, size)
    }

    #[cfg(target_feature = "zacas")]
    #[inline(always)]
    unsafe fn cmpxchg16(p: usize, old: u128, new: u128) -> u128 {
        let (mut lo, mut hi) = (old as u64, (old >> 64) as u64);
        // SAFETY: see the impl; the caller guarantees a 16-byte aligned copy.
        unsafe { crate::__percpu_rv_cas!(cas16; ptr p; lo, hi, new) };
        ((hi as u128) << 64) | lo as u128
    }
}
