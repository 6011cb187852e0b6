//! The arch-neutral operations on the current CPU's copy (the defaults of
//! [`PointerOps`](super::PointerOps)): the CPU is pinned through the platform's preemption hook
//! while the copy's address is formed from the base register, and an atomic instruction acts on
//! it, so that neither a migration nor an interrupt handler on the same CPU can split the
//! operation. Any architecture with atomics gets correct operations from these; each overrides
//! them with forms that need no pin where its instructions allow.

use super::Rmw;
use crate::platform::platform;
use core::sync::atomic::{AtomicU8, AtomicU16, AtomicU32, AtomicU64, Ordering::Relaxed};

/// An atomic word, through `u64` values (truncated on the way in, zero-extended on the way out).
trait Word {
    fn load(&self) -> u64;
    fn store(&self, v: u64);
    fn fetch(&self, op: Rmw, v: u64) -> u64;
    fn swap(&self, v: u64) -> u64;
    fn cas(&self, old: u64, new: u64) -> u64;
}

macro_rules! word {
    ($($atomic:ty => $t:ty),*) => {$(
        impl Word for $atomic {
            #[inline(always)]
            fn load(&self) -> u64 {
                self.load(Relaxed) as u64
            }
            #[inline(always)]
            fn store(&self, v: u64) {
                self.store(v as $t, Relaxed)
            }
            #[inline(always)]
            fn fetch(&self, op: Rmw, v: u64) -> u64 {
                (match op {
                    Rmw::Add => self.fetch_add(v as $t, Relaxed),
                    Rmw::Sub => self.fetch_sub(v as $t, Relaxed),
                    Rmw::And => self.fetch_and(v as $t, Relaxed),
                    Rmw::Or => self.fetch_or(v as $t, Relaxed),
                    Rmw::Xor => self.fetch_xor(v as $t, Relaxed),
                }) as u64
            }
            #[inline(always)]
            fn swap(&self, v: u64) -> u64 {
                self.swap(v as $t, Relaxed) as u64
            }
            #[inline(always)]
            fn cas(&self, old: u64, new: u64) -> u64 {
                match self.compare_exchange(old as $t, new as $t, Relaxed, Relaxed) {
                    Ok(x) | Err(x) => x as u64,
                }
            }
        }
    )*};
}
word!(AtomicU8 => u8, AtomicU16 => u16, AtomicU32 => u32, AtomicU64 => u64);

/// Runs `f` on the atomic word of `size` bytes that is the current CPU's copy of `p`, with the
/// CPU pinned.
///
/// # Safety
///
/// As for [`PointerOps::load`](super::PointerOps::load).
#[inline(always)]
unsafe fn pinned(p: usize, size: usize, f: impl Fn(&dyn Word) -> u64) -> u64 {
    platform().preempt_disable();
    let addr = p.wrapping_add(super::read_base());
    // SAFETY: pinned, so `addr` stays the current CPU's copy, which the caller guarantees is a
    // live, aligned `size`-byte word accessed only by value and by atomics.
    let result = unsafe {
        match size {
            1 => f(&*(addr as *const AtomicU8)),
            2 => f(&*(addr as *const AtomicU16)),
            4 => f(&*(addr as *const AtomicU32)),
            _ => f(&*(addr as *const AtomicU64)),
        }
    };
    platform().preempt_enable();
    result
}

/// Reads the current CPU's copy.
///
/// # Safety
///
/// As for [`PointerOps::load`](super::PointerOps::load).
#[inline(always)]
pub(super) unsafe fn load(p: usize, size: usize) -> u64 {
    // SAFETY: forwarded from the caller.
    unsafe { pinned(p, size, |w| w.load()) }
}

/// Writes the current CPU's copy.
///
/// # Safety
///
/// As for [`PointerOps::load`](super::PointerOps::load).
#[inline(always)]
pub(super) unsafe fn store(p: usize, size: usize, v: u64) {
    // SAFETY: forwarded from the caller.
    unsafe { pinned(p, size, |w| (w.store(v), 0).1) };
}

/// `copy = copy op v`; returns the previous value.
///
/// # Safety
///
/// As for [`PointerOps::load`](super::PointerOps::load).
#[inline(always)]
pub(super) unsafe fn fetch_rmw(p: usize, size: usize, op: Rmw, v: u64) -> u64 {
    // SAFETY: forwarded from the caller.
    unsafe { pinned(p, size, |w| w.fetch(op, v)) }
}

/// Stores `v`; returns the previous value.
///
/// # Safety
///
/// As for [`PointerOps::load`](super::PointerOps::load).
#[inline(always)]
pub(super) unsafe fn xchg(p: usize, size: usize, v: u64) -> u64 {
    // SAFETY: forwarded from the caller.
    unsafe { pinned(p, size, |w| w.swap(v)) }
}

/// Stores `new` if the copy holds `old`; returns the previous value.
///
/// # Safety
///
/// As for [`PointerOps::load`](super::PointerOps::load).
#[inline(always)]
pub(super) unsafe fn cmpxchg(p: usize, size: usize, old: u64, new: u64) -> u64 {
    // SAFETY: forwarded from the caller.
    unsafe { pinned(p, size, |w| w.cas(old, new)) }
}

/// 16-byte compare-and-exchange on the current CPU's copy; returns the previous value.
///
/// # Safety
///
/// As for [`PointerOps::cmpxchg16`](super::PointerOps::cmpxchg16).
#[inline(always)]
pub(super) unsafe fn cmpxchg16(p: usize, old: u128, new: u128) -> u128 {
    use super::WideOps;
    platform().preempt_disable();
    let addr = p.wrapping_add(super::read_base());
    // SAFETY: pinned, so `addr` stays the current CPU's copy: live, 16-byte aligned, writable.
    let previous = match unsafe { super::Arch::cas16(addr as *mut u128, old, new) } {
        Ok(x) | Err(x) => x,
    };
    platform().preempt_enable();
    previous
}
