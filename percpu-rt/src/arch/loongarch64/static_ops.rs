//! loongarch64's per-variable operations of a static (`static_ops!`): the `sym` sequences of
//! `seq.rs`, which name the static's template symbol (`pcalau12i` + `%pc_lo12`), for the
//! static's one width. Emitted inside the static's `Slot` impl, in the crate that declares it.

/// The per-variable operations of a static, inside its `Slot` impl: for a type written as a
/// primitive, one sequence per operation naming the template symbol, for that width only; for
/// any other type nothing (its operations take the pointer form). Not public API.
///
/// `static_ops!(TEMPLATE; TYPE)`. The width comes from the type's name, and a compile-time
/// assertion checks it against the type's size, so that a name shadowing a primitive cannot
/// mislead it. 16-byte types get nothing: loongarch64 has no 16-byte atomic (see
/// `percpu_rt::arch`).
#[doc(hidden)]
#[macro_export]
macro_rules! __percpu_static_ops {
    ($t:ident; u8) => { $crate::__percpu_static_ops!(@ops $t; u8, 1, sub "b" 0xff i8, "ld.bu", "st.b"); };
    ($t:ident; i8) => { $crate::__percpu_static_ops!(@ops $t; i8, 1, sub "b" 0xff i8, "ld.bu", "st.b"); };
    ($t:ident; bool) => { $crate::__percpu_static_ops!(@ops $t; bool, 1, sub "b" 0xff i8, "ld.bu", "st.b"); };
    ($t:ident; u16) => { $crate::__percpu_static_ops!(@ops $t; u16, 2, sub "h" 0xffff i16, "ld.hu", "st.h"); };
    ($t:ident; i16) => { $crate::__percpu_static_ops!(@ops $t; i16, 2, sub "h" 0xffff i16, "ld.hu", "st.h"); };
    ($t:ident; u32) => { $crate::__percpu_static_ops!(@ops $t; u32, 4, word "w" 0 i32, "ld.wu", "st.w"); };
    ($t:ident; i32) => { $crate::__percpu_static_ops!(@ops $t; i32, 4, word "w" 0 i32, "ld.wu", "st.w"); };
    ($t:ident; u64) => { $crate::__percpu_static_ops!(@ops $t; u64, 8, word "d" 0 i64, "ld.d", "st.d"); };
    ($t:ident; i64) => { $crate::__percpu_static_ops!(@ops $t; i64, 8, word "d" 0 i64, "ld.d", "st.d"); };
    ($t:ident; usize) => { $crate::__percpu_static_ops!(@ops $t; usize, 8, word "d" 0 i64, "ld.d", "st.d"); };
    ($t:ident; isize) => { $crate::__percpu_static_ops!(@ops $t; isize, 8, word "d" 0 i64, "ld.d", "st.d"); };
    ($t:ident; *const $p:ty) => { $crate::__percpu_static_ops!(@ops $t; *const $p, 8, word "d" 0 i64, "ld.d", "st.d"); };
    ($t:ident; *mut $p:ty) => { $crate::__percpu_static_ops!(@ops $t; *mut $p, 8, word "d" 0 i64, "ld.d", "st.d"); };
    ($t:ident; $($other:tt)*) => {};
    (@ops $t:ident; $ty:ty, $w:literal, $kind:ident $sz:literal $mask:literal $sx:ty, $ld:literal, $st:literal) => {
        const STATIC_OPS: usize = $crate::private::checked_width::<$ty>($w);
        unsafe fn load() -> u64 {
            let v: u64;
            // SAFETY: the current CPU's copy of this static (its template + the base register),
            // one single-copy-atomic access (see percpu_rt::arch).
            unsafe { $crate::__percpu_la!(load $ld; sym $t; v) };
            v
        }
        unsafe fn store(v: u64) {
            // SAFETY: as in `load`.
            unsafe { $crate::__percpu_la!(store $st; sym $t; v) };
        }
        unsafe fn rmw(op: $crate::private::Rmw, v: u64) {
            use $crate::private::Rmw::*;
            // `sub` adds the negation, as Linux's `this_cpu_sub` does.
            let v = if let Sub = op { v.wrapping_neg() } else { v };
            // SAFETY: as in `load`.
            unsafe {
                match op {
                    Add | Sub => $crate::__percpu_la_op!($kind add $sz $mask $sx; sym $t; v),
                    And => $crate::__percpu_la_op!($kind and $sz $mask $sx; sym $t; v),
                    Or => $crate::__percpu_la_op!($kind or $sz $mask $sx; sym $t; v),
                    Xor => $crate::__percpu_la_op!($kind xor $sz $mask $sx; sym $t; v),
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
            unsafe { $crate::__percpu_la_op!($kind fetch_add $sz $mask $sx; sym $t; v => old) };
            old
        }
        unsafe fn xchg(v: u64) -> u64 {
            let old: u64;
            // SAFETY: as in `load`.
            unsafe { $crate::__percpu_la_op!($kind xchg $sz $mask $sx; sym $t; v => old) };
            old
        }
        unsafe fn cmpxchg(mut old: u64, new: u64) -> u64 {
            // SAFETY: as in `load`.
            unsafe { $crate::__percpu_la_op!($kind cas $sz $mask $sx; sym $t; old, new) };
            old
        }
    };
}

/// Dispatches one operation of `static_ops!` to the word or sub-word sequences. Not public API.
#[doc(hidden)]
#[macro_export]
macro_rules! __percpu_la_op {
    (word cas $sz:literal $mask:literal $sx:ty; $($args:tt)*) => {
        $crate::__percpu_la_cas!($sz $sx; $($args)*)
    };
    (word $op:ident $sz:literal $mask:literal $sx:ty; $($args:tt)*) => {
        $crate::__percpu_la_amo!($op $sz; $($args)*)
    };
    (sub $op:ident $sz:literal $mask:literal $sx:ty; $($args:tt)*) => {
        $crate::__percpu_la_sub!($op $sz $mask $sx; $($args)*)
    };
}
