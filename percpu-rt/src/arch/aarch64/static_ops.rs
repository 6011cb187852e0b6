//! aarch64's per-variable operations of a static (`static_ops!`): the `sym` sequences of
//! `seq.rs`, which name the static's template symbol (`adrp` + `#:lo12:`), for the static's one
//! width. Emitted inside the static's `Slot` impl, in the crate that declares it.

/// The per-variable operations of a static, inside its `Slot` impl: for a type written as a
/// primitive, one sequence per operation naming the template symbol, for that width only; for
/// any other type nothing (its operations take the pointer form). Not public API.
///
/// `static_ops!(TEMPLATE; TYPE)`. The width comes from the type's name, and a compile-time
/// assertion checks it against the type's size, so that a name shadowing a primitive cannot
/// mislead it.
#[doc(hidden)]
#[macro_export]
macro_rules! __percpu_static_ops {
    ($t:ident; u8) => { $crate::__percpu_static_ops!(@ops $t; u8, 1, "b", "w"); };
    ($t:ident; i8) => { $crate::__percpu_static_ops!(@ops $t; i8, 1, "b", "w"); };
    ($t:ident; bool) => { $crate::__percpu_static_ops!(@ops $t; bool, 1, "b", "w"); };
    ($t:ident; u16) => { $crate::__percpu_static_ops!(@ops $t; u16, 2, "h", "w"); };
    ($t:ident; i16) => { $crate::__percpu_static_ops!(@ops $t; i16, 2, "h", "w"); };
    ($t:ident; u32) => { $crate::__percpu_static_ops!(@ops $t; u32, 4, "", "w"); };
    ($t:ident; i32) => { $crate::__percpu_static_ops!(@ops $t; i32, 4, "", "w"); };
    ($t:ident; u64) => { $crate::__percpu_static_ops!(@ops $t; u64, 8, "", "x"); };
    ($t:ident; i64) => { $crate::__percpu_static_ops!(@ops $t; i64, 8, "", "x"); };
    ($t:ident; usize) => { $crate::__percpu_static_ops!(@ops $t; usize, 8, "", "x"); };
    ($t:ident; isize) => { $crate::__percpu_static_ops!(@ops $t; isize, 8, "", "x"); };
    ($t:ident; *const $p:ty) => { $crate::__percpu_static_ops!(@ops $t; *const $p, 8, "", "x"); };
    ($t:ident; *mut $p:ty) => { $crate::__percpu_static_ops!(@ops $t; *mut $p, 8, "", "x"); };
    ($t:ident; u128) => { $crate::__percpu_static_ops!(@wide $t; u128); };
    ($t:ident; i128) => { $crate::__percpu_static_ops!(@wide $t; i128); };
    ($t:ident; $($other:tt)*) => {};
    (@ops $t:ident; $ty:ty, $w:literal, $sfx:literal, $r:literal) => {
        const STATIC_OPS: usize = $crate::private::checked_width::<$ty>($w);
        unsafe fn load() -> u64 {
            let v: u64;
            // SAFETY: the current CPU's copy of this static (its template + TPIDR_ELx), one
            // single-copy-atomic access (see percpu_rt::arch).
            unsafe { $crate::__percpu_a64!(load $sfx $r; sym $t; v) };
            v
        }
        unsafe fn store(v: u64) {
            // SAFETY: as in `load`.
            unsafe { $crate::__percpu_a64!(store $sfx $r; sym $t; v) };
        }
        unsafe fn rmw(op: $crate::private::Rmw, v: u64) {
            use $crate::private::Rmw::*;
            // `sub` adds the negation, as Linux's `this_cpu_sub` does.
            let v = if let Sub = op { v.wrapping_neg() } else { v };
            // SAFETY: as in `load`.
            unsafe {
                match op {
                    Add | Sub => $crate::__percpu_a64_amo!(add $sfx $r; sym $t; v),
                    And => $crate::__percpu_a64_amo!(and $sfx $r; sym $t; v),
                    Or => $crate::__percpu_a64_amo!(or $sfx $r; sym $t; v),
                    Xor => $crate::__percpu_a64_amo!(xor $sfx $r; sym $t; v),
                }
            }
        }
        unsafe fn step(up: bool) {
            use $crate::private::Rmw::{Add, Sub};
            // SAFETY: as in `load`.
            unsafe { Self::rmw(if up { Add } else { Sub }, 1) }
        }
        unsafe fn fetch_add(v: u64) -> u64 {
            let old: u64;
            // SAFETY: as in `load`.
            unsafe { $crate::__percpu_a64_amo!(fetch_add $sfx $r; sym $t; v => old) };
            old
        }
        unsafe fn xchg(v: u64) -> u64 {
            let old: u64;
            // SAFETY: as in `load`.
            unsafe { $crate::__percpu_a64_amo!(xchg $sfx $r; sym $t; v => old) };
            old
        }
        unsafe fn cmpxchg(mut old: u64, new: u64) -> u64 {
            // SAFETY: as in `load`.
            unsafe { $crate::__percpu_a64_amo!(cas $sfx $r; sym $t; old, new) };
            old
        }
    };
    (@wide $t:ident; $ty:ty) => {
        const STATIC_OPS: usize = $crate::private::checked_width::<$ty>(16);
        unsafe fn cmpxchg16(old: u128, new: u128) -> u128 {
            let (mut lo, mut hi) = (old as u64, (old >> 64) as u64);
            // SAFETY: the current CPU's copy of this static, one 16-byte atomic (`casp`, or an
            // exclusive pair whose store succeeds).
            unsafe { $crate::__percpu_a64_amo!(cas16; sym $t; lo, hi, new) };
            ((hi as u128) << 64) | lo as u128
        }
    };
}
