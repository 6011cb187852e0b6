//! loongarch64's current-CPU operations by per-CPU pointer ([`LocalOps`]), for dynamic objects and
//! for statics whose type the macro cannot see: the base register added to the pointer, then
//! one single-copy-atomic access (the sequences of `seq.rs`, `ptr` form). No pin, no call.

use super::Arch;
use crate::arch::{LocalOps, Rmw};

/// One read-modify-write per width of the copy: the word AMOs for 4 and 8 bytes, the
/// sub-word sequences for 1 and 2.
macro_rules! by_width {
    ($size:expr, $op:ident, $p:ident, $($args:tt)*) => {
        match $size {
            1 => $crate::__percpu_la_sub!($op "b" 0xff i8; ptr $p; $($args)*),
            2 => $crate::__percpu_la_sub!($op "h" 0xffff i16; ptr $p; $($args)*),
            4 => $crate::__percpu_la_amo!($op "w"; ptr $p; $($args)*),
            _ => $crate::__percpu_la_amo!($op "d"; ptr $p; $($args)*),
        }
    };
}

/// The low `size` bytes of `v` (`amadd.w`, `amswap.w` and `ll.w` sign-extend their result).
#[inline(always)]
fn truncate(v: u64, size: usize) -> u64 {
    if size >= 8 { v } else { v & ((1u64 << (size * 8)) - 1) }
}

// SAFETY: every sequence adds the base register to the per-CPU pointer (giving the copy of the
// CPU whose register was read) and makes exactly one `size`-byte single-copy-atomic access to
// it: an aligned load or store, one AM* atomic, or an `ll`/`sc` loop whose `sc` succeeds only if
// the LL bit held since its `ll` (another CPU's store to the line clears it, and so does `ertn`
// on the way back from any exception or interrupt between them). Should the thread move to
// another CPU between the `add.d` and the access, the access lands, atomically, on the copy of
// the CPU it left: the same as the whole operation running just before the move. So every
// operation is atomic with respect to the CPU whose copy it changes, without a pin.
unsafe impl LocalOps for Arch {
    #[inline(always)]
    unsafe fn load(p: usize, size: usize) -> u64 {
        let v: u64;
        // SAFETY: see the impl; the caller guarantees a live, aligned copy of `size` bytes.
        unsafe {
            match size {
                1 => crate::__percpu_la!(load "ld.bu"; ptr p; v),
                2 => crate::__percpu_la!(load "ld.hu"; ptr p; v),
                4 => crate::__percpu_la!(load "ld.wu"; ptr p; v),
                _ => crate::__percpu_la!(load "ld.d"; ptr p; v),
            }
        }
        v
    }

    #[inline(always)]
    unsafe fn store(p: usize, size: usize, v: u64) {
        // SAFETY: see the impl.
        unsafe {
            match size {
                1 => crate::__percpu_la!(store "st.b"; ptr p; v),
                2 => crate::__percpu_la!(store "st.h"; ptr p; v),
                4 => crate::__percpu_la!(store "st.w"; ptr p; v),
                _ => crate::__percpu_la!(store "st.d"; ptr p; v),
            }
        }
    }

    #[inline(always)]
    unsafe fn rmw(p: usize, size: usize, op: Rmw, v: u64) {
        // SAFETY: see the impl.
        unsafe {
            match op {
                Rmw::Add => by_width!(size, add, p, v),
                Rmw::Sub => by_width!(size, sub, p, v),
                Rmw::And => by_width!(size, and, p, v),
                Rmw::Or => by_width!(size, or, p, v),
                Rmw::Xor => by_width!(size, xor, p, v),
            }
        }
    }

    #[inline(always)]
    unsafe fn fetch_add(p: usize, size: usize, v: u64) -> u64 {
        let old: u64;
        // SAFETY: see the impl.
        unsafe { by_width!(size, fetch_add, p, v => old) };
        truncate(old, size)
    }

    #[inline(always)]
    unsafe fn xchg(p: usize, size: usize, v: u64) -> u64 {
        let old: u64;
        // SAFETY: see the impl.
        unsafe { by_width!(size, xchg, p, v => old) };
        truncate(old, size)
    }

    #[inline(always)]
    unsafe fn cmpxchg(p: usize, size: usize, old: u64, new: u64) -> u64 {
        let mut old = old;
        // SAFETY: see the impl.
        unsafe {
            match size {
                1 => crate::__percpu_la_sub!(cas "b" 0xff i8; ptr p; old, new),
                2 => crate::__percpu_la_sub!(cas "h" 0xffff i16; ptr p; old, new),
                4 => crate::__percpu_la_cas!("w" i32; ptr p; old, new),
                _ => crate::__percpu_la_cas!("d" i64; ptr p; old, new),
            }
        }
        truncate(old, size)
    }
}
