//! The current-CPU scalar operations, one function per operation, for any slot (static template
//! or dynamic per-CPU pointer) and any [`Scalar`] type.
//!
//! * x86_64: one `gs:`-relative instruction (the slot's generated [`GsOps`](crate::arch::x86_64::GsOps)).
//! * aarch64: the CPU is pinned through the platform's preemption hook and the operation is an
//!   atomic instruction on the current CPU's copy, so an interrupt handler on the same CPU
//!   cannot lose an update either.
//!
//! Every operation first asks the slot whether the current CPU can reach its copy
//! ([`Slot::check_current`]): free for statics, one compare for dynamic objects, whose per-CPU
//! pointer names nothing the caller owns where no unit is loaded.

use crate::private::Slot;
#[cfg(target_arch = "aarch64")]
use crate::scalar::Raw;
use crate::scalar::Scalar;

#[cfg(target_arch = "x86_64")]
mod imp {
    use super::*;

    #[inline(always)]
    #[track_caller]
    pub(crate) fn read<T: Scalar, S: Slot<T>>(s: &S) -> T {
        s.check_current();
        // SAFETY: `Slot` addresses the current CPU's copy of a `T`, whose raw word is `T::Raw`.
        T::from_raw(unsafe { S::load::<T::Raw>(s.gs_operand()) })
    }
    #[inline(always)]
    #[track_caller]
    pub(crate) fn write<T: Scalar, S: Slot<T>>(s: &S, v: T) {
        s.check_current();
        // SAFETY: as in `read`.
        unsafe { S::store::<T::Raw>(s.gs_operand(), v.into_raw()) }
    }
    #[inline(always)]
    #[track_caller]
    pub(crate) fn add<T: Scalar, S: Slot<T>>(s: &S, v: T) {
        s.check_current();
        // SAFETY: as in `read`.
        unsafe { S::add::<T::Raw>(s.gs_operand(), v.into_raw()) }
    }
    #[inline(always)]
    #[track_caller]
    pub(crate) fn sub<T: Scalar, S: Slot<T>>(s: &S, v: T) {
        s.check_current();
        // SAFETY: as in `read`.
        unsafe { S::sub::<T::Raw>(s.gs_operand(), v.into_raw()) }
    }
    #[inline(always)]
    #[track_caller]
    pub(crate) fn inc<T: Scalar, S: Slot<T>>(s: &S) {
        s.check_current();
        // SAFETY: as in `read`.
        unsafe { S::inc::<T::Raw>(s.gs_operand()) }
    }
    #[inline(always)]
    #[track_caller]
    pub(crate) fn dec<T: Scalar, S: Slot<T>>(s: &S) {
        s.check_current();
        // SAFETY: as in `read`.
        unsafe { S::dec::<T::Raw>(s.gs_operand()) }
    }
    #[inline(always)]
    #[track_caller]
    pub(crate) fn and<T: Scalar, S: Slot<T>>(s: &S, v: T) {
        s.check_current();
        // SAFETY: as in `read`.
        unsafe { S::and::<T::Raw>(s.gs_operand(), v.into_raw()) }
    }
    #[inline(always)]
    #[track_caller]
    pub(crate) fn or<T: Scalar, S: Slot<T>>(s: &S, v: T) {
        s.check_current();
        // SAFETY: as in `read`.
        unsafe { S::or::<T::Raw>(s.gs_operand(), v.into_raw()) }
    }
    #[inline(always)]
    #[track_caller]
    pub(crate) fn xor<T: Scalar, S: Slot<T>>(s: &S, v: T) {
        s.check_current();
        // SAFETY: as in `read`.
        unsafe { S::xor::<T::Raw>(s.gs_operand(), v.into_raw()) }
    }
    /// Adds `v`; returns the previous value.
    #[inline(always)]
    #[track_caller]
    pub(crate) fn fetch_add<T: Scalar, S: Slot<T>>(s: &S, v: T) -> T {
        s.check_current();
        // SAFETY: as in `read`.
        T::from_raw(unsafe { S::xadd::<T::Raw>(s.gs_operand(), v.into_raw()) })
    }
    #[inline(always)]
    #[track_caller]
    pub(crate) fn xchg<T: Scalar, S: Slot<T>>(s: &S, v: T) -> T {
        s.check_current();
        // SAFETY: as in `read`.
        T::from_raw(unsafe { S::xchg::<T::Raw>(s.gs_operand(), v.into_raw()) })
    }
    /// Returns the previous value; the store happened if it equals `old`.
    #[inline(always)]
    #[track_caller]
    pub(crate) fn cmpxchg<T: Scalar, S: Slot<T>>(s: &S, old: T, new: T) -> T::Raw {
        s.check_current();
        // SAFETY: as in `read`.
        unsafe { S::cmpxchg::<T::Raw>(s.gs_operand(), old.into_raw(), new.into_raw()) }
    }
}

#[cfg(target_arch = "aarch64")]
mod imp {
    use super::*;
    use crate::platform::platform;

    /// Runs `f` on the current CPU's raw copy with the CPU pinned.
    #[inline(always)]
    #[track_caller]
    fn pinned<T: Scalar, S: Slot<T>, U>(s: &S, f: impl FnOnce(*mut T::Raw) -> U) -> U {
        s.check_current();
        platform().preempt_disable();
        let p = (s.per_cpu_ptr() as usize).wrapping_add(crate::local::this_cpu_offset());
        let result = f(p as *mut T::Raw);
        platform().preempt_enable();
        result
    }
    #[inline(always)]
    #[track_caller]
    pub(crate) fn read<T: Scalar, S: Slot<T>>(s: &S) -> T {
        // SAFETY: pinned, so `p` is the current CPU's copy, valid and aligned for `T::Raw`.
        T::from_raw(pinned(s, |p| unsafe { T::Raw::atomic_load(p) }))
    }
    #[inline(always)]
    #[track_caller]
    pub(crate) fn write<T: Scalar, S: Slot<T>>(s: &S, v: T) {
        xchg(s, v);
    }
    #[inline(always)]
    #[track_caller]
    pub(crate) fn add<T: Scalar, S: Slot<T>>(s: &S, v: T) {
        fetch_add(s, v);
    }
    #[inline(always)]
    #[track_caller]
    pub(crate) fn sub<T: Scalar, S: Slot<T>>(s: &S, v: T) {
        fetch_add(s, T::from_raw(v.into_raw().wrapping_neg()));
    }
    #[inline(always)]
    #[track_caller]
    pub(crate) fn inc<T: Scalar, S: Slot<T>>(s: &S) {
        fetch_add(s, T::from_raw(T::Raw::from_bits(1)));
    }
    #[inline(always)]
    #[track_caller]
    pub(crate) fn dec<T: Scalar, S: Slot<T>>(s: &S) {
        fetch_add(s, T::from_raw(T::Raw::from_bits(1).wrapping_neg()));
    }
    #[inline(always)]
    #[track_caller]
    fn bits<T: Scalar, S: Slot<T>>(s: &S, op: u8, v: T) {
        let v = v.into_raw();
        // SAFETY: as in `read`.
        pinned(s, |p| unsafe { T::Raw::atomic_bits(p, op, v) })
    }
    #[inline(always)]
    #[track_caller]
    pub(crate) fn and<T: Scalar, S: Slot<T>>(s: &S, v: T) {
        bits(s, b'&', v)
    }
    #[inline(always)]
    #[track_caller]
    pub(crate) fn or<T: Scalar, S: Slot<T>>(s: &S, v: T) {
        bits(s, b'|', v)
    }
    #[inline(always)]
    #[track_caller]
    pub(crate) fn xor<T: Scalar, S: Slot<T>>(s: &S, v: T) {
        bits(s, b'^', v)
    }
    #[inline(always)]
    #[track_caller]
    pub(crate) fn fetch_add<T: Scalar, S: Slot<T>>(s: &S, v: T) -> T {
        let v = v.into_raw();
        // SAFETY: as in `read`.
        T::from_raw(pinned(s, |p| unsafe { T::Raw::atomic_fetch_add(p, v) }))
    }
    #[inline(always)]
    #[track_caller]
    pub(crate) fn xchg<T: Scalar, S: Slot<T>>(s: &S, v: T) -> T {
        let v = v.into_raw();
        // SAFETY: as in `read`.
        T::from_raw(pinned(s, |p| unsafe { T::Raw::atomic_swap(p, v) }))
    }
    #[inline(always)]
    #[track_caller]
    pub(crate) fn cmpxchg<T: Scalar, S: Slot<T>>(s: &S, old: T, new: T) -> T::Raw {
        let (old, new) = (old.into_raw(), new.into_raw());
        // SAFETY: as in `update`.
        pinned(s, |p| match unsafe { T::Raw::atomic_cas(p, old, new) } {
            Ok(prev) | Err(prev) => prev,
        })
    }
}

pub(crate) use imp::*;
