//! [`Slot`]: where the copies of a per-CPU variable are. A static's slot is a zero-sized marker
//! type whose per-CPU pointer is its template; a dynamic object's slot holds its per-CPU
//! pointer ([`DynSlot`](crate::allocator::DynSlot)).
//!
//! A static declared with a primitive type also gets, in its slot, operations that name its
//! template symbol (`arch`'s `static_ops!`, for its one width): on x86_64 each is the single
//! instruction `op gs:[rip + SYM]`. Every other slot leaves them out ([`Slot::STATIC_OPS`] is
//! 0), and its operations address the copy through the per-CPU pointer (`op gs:[reg]` on
//! x86_64). The by-value operations (`ops.rs`) pick between the two at compile time.

use crate::arch::Rmw;

/// Where the copies of a per-CPU `T` are.
///
/// # Safety
///
/// `per_cpu_ptr` is the per-CPU pointer of a live per-CPU area of type `T` (for a static, its
/// template in `.percpu`): adding a possible CPU's offset gives that CPU's initialised copy.
/// When `STATIC_OPS` is not 0 it is the size of `T`, and the static operations access exactly
/// the current CPU's copy, atomically with respect to the current CPU.
pub unsafe trait Slot<T> {
    /// The per-CPU pointer (template address space).
    fn per_cpu_ptr(&self) -> *mut T;

    /// Called before every current-CPU access. A static's copies are always reachable (with
    /// the base register still 0, the access reaches the template), so the default does
    /// nothing; a dynamic slot panics when the calling code runs where no unit is loaded, since
    /// its per-CPU pointer plus 0 is not memory it owns.
    #[inline(always)]
    #[track_caller]
    fn check_current(&self) {}

    /// The width of the static operations below, or 0 when the slot has none.
    const STATIC_OPS: usize = 0;

    /// Reads the current CPU's copy (the value's bits, zero-extended).
    ///
    /// # Safety
    ///
    /// `STATIC_OPS` is not 0 (16 for [`Slot::cmpxchg16`], the size of the others otherwise),
    /// and the copy is accessed by value only; for every static operation.
    #[inline(always)]
    unsafe fn load() -> u64 {
        unreachable!("a static operation of a slot without any")
    }
    /// Writes the current CPU's copy.
    ///
    /// # Safety
    ///
    /// As for [`Slot::load`].
    #[inline(always)]
    unsafe fn store(_v: u64) {
        unreachable!("a static operation of a slot without any")
    }
    /// `copy = copy op v`.
    ///
    /// # Safety
    ///
    /// As for [`Slot::load`].
    #[inline(always)]
    unsafe fn rmw(_op: Rmw, _v: u64) {
        unreachable!("a static operation of a slot without any")
    }
    /// Adds 1 (`up`) or subtracts 1.
    ///
    /// # Safety
    ///
    /// As for [`Slot::load`].
    #[inline(always)]
    unsafe fn step(_up: bool) {
        unreachable!("a static operation of a slot without any")
    }
    /// Adds `v`; returns the previous value.
    ///
    /// # Safety
    ///
    /// As for [`Slot::load`].
    #[inline(always)]
    unsafe fn fetch_add(_v: u64) -> u64 {
        unreachable!("a static operation of a slot without any")
    }
    /// Stores `v`; returns the previous value.
    ///
    /// # Safety
    ///
    /// As for [`Slot::load`].
    #[inline(always)]
    unsafe fn xchg(_v: u64) -> u64 {
        unreachable!("a static operation of a slot without any")
    }
    /// Stores `new` if the copy holds `old`; returns the previous value.
    ///
    /// # Safety
    ///
    /// As for [`Slot::load`].
    #[inline(always)]
    unsafe fn cmpxchg(_old: u64, _new: u64) -> u64 {
        unreachable!("a static operation of a slot without any")
    }
    /// 16-byte compare-and-exchange; returns the previous value.
    ///
    /// # Safety
    ///
    /// As for [`Slot::load`].
    #[inline(always)]
    unsafe fn cmpxchg16(_old: u128, _new: u128) -> u128 {
        unreachable!("a static operation of a slot without any")
    }
}

/// The slot of a `#[percpu]` static: what a static has that a dynamic object has not, its
/// entry in the registry (name, offset in the unit, class, declared initial value).
///
/// # Safety
///
/// `DESCRIPTOR` describes the static whose template `per_cpu_ptr` returns, of type `T`.
pub unsafe trait StaticSlot<T>: Slot<T> {
    /// The static's registry entry.
    const DESCRIPTOR: &'static crate::registry::Descriptor;
}
