//! An interrupt-safe spin lock (Linux's `spin_lock_irqsave`): interrupts are masked through
//! the registered [`Platform`](crate::Platform) before the lock is taken and restored after it
//! is released, so an interrupt handler on the same CPU can take it (to `free`) without
//! deadlocking against the code it interrupted.

use crate::platform::{Platform, platform};
use core::mem::ManuallyDrop;
use core::ops::{Deref, DerefMut};

/// A spin lock taken with interrupts masked.
#[derive(Debug)]
pub(crate) struct IrqSpinLock<T> {
    inner: spin::Mutex<T>,
}

/// Holds the lock; releases it, then restores the interrupt state, when dropped.
pub(crate) struct IrqSpinGuard<'a, T> {
    guard: ManuallyDrop<spin::MutexGuard<'a, T>>,
    platform: &'static dyn Platform,
    saved: usize,
}

impl<T> IrqSpinLock<T> {
    pub(crate) const fn new(value: T) -> Self {
        IrqSpinLock { inner: spin::Mutex::new(value) }
    }

    /// The value, through exclusive access (no locking needed).
    pub(crate) fn get_mut(&mut self) -> &mut T {
        self.inner.get_mut()
    }

    /// Whether some CPU holds the lock (a snapshot).
    #[inline]
    pub(crate) fn is_locked(&self) -> bool {
        self.inner.is_locked()
    }

    /// Masks interrupts, then takes the lock.
    #[inline]
    pub(crate) fn lock(&self) -> IrqSpinGuard<'_, T> {
        let platform = platform();
        let saved = platform.irq_save();
        IrqSpinGuard { guard: ManuallyDrop::new(self.inner.lock()), platform, saved }
    }
}

impl<T> Drop for IrqSpinGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: dropped exactly once, here; the field is not used afterwards.
        unsafe { ManuallyDrop::drop(&mut self.guard) };
        self.platform.irq_restore(self.saved);
    }
}

impl<T> Deref for IrqSpinGuard<'_, T> {
    type Target = T;
    #[inline(always)]
    fn deref(&self) -> &T {
        &self.guard
    }
}

impl<T> DerefMut for IrqSpinGuard<'_, T> {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut T {
        &mut self.guard
    }
}
