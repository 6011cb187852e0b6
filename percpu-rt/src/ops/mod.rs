//! The current-CPU by-value operations, one function per operation, for any slot (a static's
//! template or a dynamic per-CPU pointer) and any [`Scalar`] type: the arch-neutral dispatch
//! onto the architecture contract (`arch`).
//!
//! * A static declared with a primitive type has operations that name its template symbol
//!   ([`Slot::STATIC_OPS`] is its width): on x86_64 each is the single instruction
//!   `op gs:[rip + SYM]`; on aarch64, riscv64 and loongarch64 the address is formed from the
//!   symbol and the base register, then accessed with one atomic instruction.
//! * Any other slot goes through [`PointerOps`] with its per-CPU pointer: `op gs:[reg]` on x86_64;
//!   the base register added to the pointer, then one atomic access, on aarch64, riscv64 and
//!   loongarch64 (no pin: `arch`'s documentation says why); the CPU pinned around one atomic
//!   instruction on an architecture that only has the arch-neutral defaults.
//! * 16-byte values go through a compare-and-exchange loop on the copy (a compile error where
//!   the architecture has no 16-byte atomics).
//!
//! The choice is made at compile time (the widths are constants after inlining). Every
//! operation first asks the slot whether the current CPU can reach its copy
//! ([`Slot::check_current`]): free for statics, one compare for dynamic objects, whose per-CPU
//! pointer names nothing the caller owns where no unit is loaded.

use crate::arch::{Arch, PointerOps, Rmw};
use crate::scalar::{Raw, Scalar};
use crate::slot::Slot;
use unchecked::{bits, by_symbol, read_unchecked, size, value, write_unchecked};

pub(crate) mod unchecked;

/// 16-byte compare-and-exchange on the current CPU's copy; returns the previous value.
#[inline(always)]
fn cas16<T: Scalar, S: Slot<T>>(s: &S, old: u128, new: u128) -> u128 {
    const { crate::scalar::wide_check::<T>() };
    // SAFETY: `s` addresses the current CPU's copy of a live, 16-byte aligned `T` (the slot's
    // contract), only ever accessed by value; the static form exists when STATIC_OPS is 16.
    unsafe {
        if by_symbol::<T, S>() {
            S::cmpxchg16(old, new)
        } else {
            Arch::cmpxchg16(s.per_cpu_ptr() as usize, old, new)
        }
    }
}

/// Replaces the current CPU's 16-byte copy `x` with `f(x)`; returns the previous value. Each
/// step is one compare-and-exchange on the copy of the CPU executing it, so a migration or an
/// interrupt between steps only makes the next compare fail and retry.
#[inline(always)]
fn update16<T: Scalar, S: Slot<T>>(s: &S, f: impl Fn(u128) -> u128) -> u128 {
    let mut current = cas16(s, 0, 0);
    loop {
        let previous = cas16(s, current, f(current));
        if previous == current {
            return previous;
        }
        current = previous;
    }
}

/// Before every current-CPU access: the slot's check (a dynamic object needs a unit), and the
/// debug mode's (`debug.rs`).
#[inline(always)]
#[track_caller]
fn check<T, S: Slot<T>>(s: &S) {
    s.check_current();
    #[cfg(feature = "debug-checks")]
    crate::debug::checks::on_access(s.per_cpu_ptr() as usize);
}

/// Reads the current CPU's copy.
#[inline(always)]
#[track_caller]
pub(crate) fn read<T: Scalar, S: Slot<T>>(s: &S) -> T {
    check(s);
    if size::<T>() == 16 {
        return value(cas16(s, 0, 0));
    }
    read_unchecked(s)
}

/// Writes the current CPU's copy.
#[inline(always)]
#[track_caller]
pub(crate) fn write<T: Scalar, S: Slot<T>>(s: &S, v: T) {
    check(s);
    if size::<T>() == 16 {
        let new = v.into_raw().to_bits();
        update16(s, |_| new);
        return;
    }
    write_unchecked(s, v)
}

/// `copy = copy op v`.
#[inline(always)]
#[track_caller]
pub(crate) fn rmw<T: Scalar, S: Slot<T>>(s: &S, op: Rmw, v: T) {
    check(s);
    if size::<T>() == 16 {
        let v = v.into_raw().to_bits();
        update16(s, |x| match op {
            Rmw::Add => x.wrapping_add(v),
            Rmw::Sub => x.wrapping_sub(v),
            Rmw::And => x & v,
            Rmw::Or => x | v,
            Rmw::Xor => x ^ v,
        });
        return;
    }
    // SAFETY: as in `read`.
    unsafe {
        if by_symbol::<T, S>() {
            S::rmw(op, bits(v))
        } else {
            Arch::rmw(s.per_cpu_ptr() as usize, size::<T>(), op, bits(v))
        }
    }
}

/// Adds one (`up`) or subtracts one.
#[inline(always)]
#[track_caller]
pub(crate) fn step<T: Scalar, S: Slot<T>>(s: &S, up: bool) {
    check(s);
    if size::<T>() == 16 {
        update16(s, |x| if up { x.wrapping_add(1) } else { x.wrapping_sub(1) });
        return;
    }
    // SAFETY: as in `read`.
    unsafe {
        if by_symbol::<T, S>() {
            S::step(up)
        } else {
            Arch::step(s.per_cpu_ptr() as usize, size::<T>(), up)
        }
    }
}

/// Adds `v`; returns the previous value.
#[inline(always)]
#[track_caller]
pub(crate) fn fetch_add<T: Scalar, S: Slot<T>>(s: &S, v: T) -> T {
    check(s);
    if size::<T>() == 16 {
        let v = v.into_raw().to_bits();
        return value(update16(s, |x| x.wrapping_add(v)));
    }
    // SAFETY: as in `read`.
    let previous = unsafe {
        if by_symbol::<T, S>() {
            S::fetch_add(bits(v))
        } else {
            Arch::fetch_add(s.per_cpu_ptr() as usize, size::<T>(), bits(v))
        }
    };
    value(previous.into())
}

/// Stores `v`; returns the previous value.
#[inline(always)]
#[track_caller]
pub(crate) fn xchg<T: Scalar, S: Slot<T>>(s: &S, v: T) -> T {
    check(s);
    if size::<T>() == 16 {
        let new = v.into_raw().to_bits();
        return value(update16(s, |_| new));
    }
    // SAFETY: as in `read`.
    let previous = unsafe {
        if by_symbol::<T, S>() {
            S::xchg(bits(v))
        } else {
            Arch::xchg(s.per_cpu_ptr() as usize, size::<T>(), bits(v))
        }
    };
    value(previous.into())
}

/// Stores `new` if the copy holds `old`; returns the previous value's raw word.
#[inline(always)]
#[track_caller]
pub(crate) fn cmpxchg<T: Scalar, S: Slot<T>>(s: &S, old: T, new: T) -> T::Raw {
    check(s);
    if size::<T>() == 16 {
        let previous = cas16(s, old.into_raw().to_bits(), new.into_raw().to_bits());
        return <T::Raw as Raw>::from_bits(previous);
    }
    // SAFETY: as in `read`.
    let previous = unsafe {
        if by_symbol::<T, S>() {
            S::cmpxchg(bits(old), bits(new))
        } else {
            Arch::cmpxchg(s.per_cpu_ptr() as usize, size::<T>(), bits(old), bits(new))
        }
    };
    <T::Raw as Raw>::from_bits(previous.into())
}
