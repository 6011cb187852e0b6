//! The current-CPU reads and writes of up to 8 bytes without any check, under the checked
//! operations of [`ops`](super): the debug mode's checks and the runtime's own per-CPU
//! statics (`runtime_vars.rs`) keep their bookkeeping with them, as they cannot check
//! themselves. Also the small conversions every operation shares.

use crate::arch::{Arch, PointerOps};
use crate::scalar::{Raw, Scalar};
use crate::slot::Slot;

/// The width of `T`'s raw word.
#[inline(always)]
pub(super) fn size<T: Scalar>() -> usize {
    <T::Raw as Raw>::SIZE
}

/// Whether the slot's static operations serve `T`.
#[inline(always)]
pub(super) fn by_symbol<T: Scalar, S: Slot<T>>() -> bool {
    S::STATIC_OPS == size::<T>()
}

#[inline(always)]
pub(super) fn bits<T: Scalar>(v: T) -> u64 {
    v.into_raw().to_bits() as u64
}

#[inline(always)]
pub(super) fn value<T: Scalar>(bits: u128) -> T {
    T::from_raw(<T::Raw as Raw>::from_bits(bits))
}

/// Reads the current CPU's copy of up to 8 bytes, without any check (`read`, and the
/// debug mode's checks, which cannot check themselves).
#[inline(always)]
pub(crate) fn read_unchecked<T: Scalar, S: Slot<T>>(s: &S) -> T {
    debug_assert!(size::<T>() <= 8);
    // SAFETY: `s` addresses the current CPU's copy of a live, aligned `T` of `size::<T>()`
    // bytes (the slot's contract), only ever accessed by value; the static form exists when
    // STATIC_OPS is that width.
    let bits = unsafe {
        if by_symbol::<T, S>() {
            S::load()
        } else {
            Arch::load(s.per_cpu_ptr() as usize, size::<T>())
        }
    };
    value(bits.into())
}

/// Writes the current CPU's copy of up to 8 bytes, without any check (as [`read_unchecked`]).
#[inline(always)]
pub(crate) fn write_unchecked<T: Scalar, S: Slot<T>>(s: &S, v: T) {
    debug_assert!(size::<T>() <= 8);
    // SAFETY: as in `read_unchecked`.
    unsafe {
        if by_symbol::<T, S>() {
            S::store(bits(v))
        } else {
            Arch::store(s.per_cpu_ptr() as usize, size::<T>(), bits(v))
        }
    }
}
