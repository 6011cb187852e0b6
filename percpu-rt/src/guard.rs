//! Pin guards: values that prove, by their existence, that the code holding them stays on one
//! CPU. Both are neither `Send` nor `Sync` (a guard, or a reference to it, cannot reach another
//! thread), and every reference they hand out is bounded by their lifetime.
//!
//! * [`PreemptGuard`] disables preemption (nests freely). Enough for `&T` to a `T: Sync` copy.
//! * [`IrqGuard`] also masks interrupts, and is *unique per CPU*: while one is live, taking
//!   another on the same CPU fails. All access to a [`Local`](crate::mode::Local) variable goes
//!   through it, by `&guard` (shared) or `&mut guard` (exclusive), so the borrow checker rules
//!   out two live `&mut T` to one copy, nesting and interrupt handlers included.

use crate::cpu_id::CpuId;
use crate::platform::platform;
use crate::runtime_vars::IRQ_GUARD_HELD;
use core::fmt;
use core::marker::PhantomData;
use core::sync::atomic::{Ordering, fence};

/// Proof that the current CPU cannot change while `self` lives.
///
/// # Safety
///
/// Implementors keep the holder on one CPU for their whole life (sealed: only this crate's
/// guards).
pub unsafe trait PinCpu: sealed::Sealed {
    /// The CPU the holder is pinned to.
    fn cpu(&self) -> CpuId {
        CpuId::current()
    }

    /// What the debug mode recorded when the guard was taken.
    #[cfg(feature = "debug-checks")]
    #[doc(hidden)]
    fn record(&self) -> crate::debug::checks::GuardRecord;
}

/// Guards that allow a `&T` to the current CPU's copy of a [`Shared`](crate::mode::Shared)
/// variable: [`PreemptGuard`] when `T: Sync` (interrupt handlers may look at the copy at the
/// same time), [`IrqGuard`] when `T: Send` (nothing else can).
///
/// # Safety
///
/// As for [`PinCpu`], plus the concurrency rule above.
pub unsafe trait GuardFor<T: ?Sized>: PinCpu {}

/// The types a [`PreemptGuard`] lends a `&T` to: exactly the `Sync` types (sealed, implemented
/// for every `T: Sync` and nothing else).
///
/// It is `Sync` under another name, so that borrowing a type that is not `Sync` under a
/// `PreemptGuard` is reported with the fix (an [`IrqGuard`]) rather than as a bare missing
/// `Sync`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not `Sync`: reading it under a `PreemptGuard` could race with an \
               interrupt handler on this CPU",
    label = "use an `IrqGuard` (or the `Local` mode: `#[percpu(local)]`)"
)]
pub trait SharedWithPreemptGuard: sealed::SyncOnly {}

// The rustc diagnostic stops here: the failed bound is reported as this trait (with its message),
// not as the `Sync` bound below.
#[diagnostic::do_not_recommend]
impl<T: Sync + ?Sized> SharedWithPreemptGuard for T {}

mod sealed {
    pub trait Sealed {}
    /// Seals [`SharedWithPreemptGuard`](super::SharedWithPreemptGuard): only `Sync` types.
    pub trait SyncOnly {}
    impl<T: Sync + ?Sized> SyncOnly for T {}
}

/// A `PhantomData` that makes a guard neither `Send` nor `Sync`.
type NotSendSync = PhantomData<*mut ()>;

/// Preemption disabled: the holder stays on this CPU.
#[must_use = "the CPU is pinned only while the guard lives"]
pub struct PreemptGuard {
    #[cfg(feature = "debug-checks")]
    record: crate::debug::checks::GuardRecord,
    _not_send_sync: NotSendSync,
}

impl PreemptGuard {
    /// Disables preemption (through the registered [`Platform`](crate::Platform)).
    #[inline]
    #[track_caller]
    pub fn new() -> Self {
        platform().preempt_disable();
        PreemptGuard {
            #[cfg(feature = "debug-checks")]
            record: crate::debug::checks::GuardRecord::take(),
            _not_send_sync: PhantomData,
        }
    }
}

impl Default for PreemptGuard {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for PreemptGuard {
    #[inline]
    fn drop(&mut self) {
        #[cfg(feature = "debug-checks")]
        self.record.release();
        platform().preempt_enable();
    }
}

impl fmt::Debug for PreemptGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PreemptGuard").field("cpu", &self.cpu()).finish()
    }
}

impl sealed::Sealed for PreemptGuard {}
// SAFETY: preemption is disabled from `new` to `drop`.
unsafe impl PinCpu for PreemptGuard {
    #[cfg(feature = "debug-checks")]
    fn cpu(&self) -> CpuId {
        self.record.cpu
    }
    #[cfg(feature = "debug-checks")]
    fn record(&self) -> crate::debug::checks::GuardRecord {
        self.record
    }
}
// SAFETY: pinned; for `T: Sync` (which `SharedWithPreemptGuard` is, sealed), concurrent `&T`
// from interrupt handlers or remote CPUs is fine.
unsafe impl<T: SharedWithPreemptGuard + ?Sized> GuardFor<T> for PreemptGuard {}

/// Interrupts masked on this CPU (and therefore no preemption): the only guard per CPU.
#[must_use = "interrupts stay masked only while the guard lives"]
pub struct IrqGuard {
    saved: usize,
    #[cfg(feature = "debug-checks")]
    record: crate::debug::checks::GuardRecord,
    _not_send_sync: NotSendSync,
}

/// [`IrqGuard::try_new`] found a live guard on this CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IrqGuardHeld {
    /// The CPU that already holds its guard.
    pub cpu: CpuId,
}

impl fmt::Display for IrqGuardHeld {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "an IrqGuard is already live on CPU {}: it is unique per CPU (that is what makes \
             `get_mut` sound); pass the existing guard down (`&guard` or `&mut guard`) instead of \
             taking a second one (or, on a hosted machine, wait for the other thread that runs this \
             CPU to drop its guard)",
            self.cpu
        )
    }
}

#[cfg(feature = "std")]
impl std::error::Error for IrqGuardHeld {}

impl IrqGuard {
    /// Masks interrupts and claims this CPU's guard.
    ///
    /// # Panics
    ///
    /// If a guard is already live on this CPU (nested code, or an exception handler that
    /// interrupted its holder); use [`IrqGuard::try_new`] where that can happen.
    #[inline]
    #[track_caller]
    #[allow(clippy::new_without_default)] // `new` may panic: a `Default` would hide that.
    pub fn new() -> Self {
        match Self::try_new() {
            Ok(guard) => guard,
            Err(held) => panic!("{held}"),
        }
    }

    /// Masks interrupts and claims this CPU's guard, or reports that it is taken (interrupts are
    /// then left as they were).
    #[inline]
    #[track_caller]
    pub fn try_new() -> Result<Self, IrqGuardHeld> {
        let saved = platform().irq_save();
        // The claim is one atomic exchange on this CPU's flag, never a read then a write: code
        // that shares this CPU's base register without being masked by `irq_save` (a second
        // thread on one hosted CPU, threads before setup sharing the template, an interrupt
        // handler under a platform that does not mask) races on the same flag, and exactly one
        // of them sees `false`.
        if IRQ_GUARD_HELD.xchg(true) {
            platform().irq_restore(saved);
            return Err(IrqGuardHeld { cpu: CpuId::current() });
        }
        // Everything the previous holder did through its guard happens before what this one
        // does (pairs with the release fence in `drop`).
        fence(Ordering::Acquire);
        Ok(IrqGuard {
            saved,
            #[cfg(feature = "debug-checks")]
            record: crate::debug::checks::GuardRecord::take(),
            _not_send_sync: PhantomData,
        })
    }
}

impl Drop for IrqGuard {
    #[inline]
    fn drop(&mut self) {
        // Pairs with the acquire fence of the next claim on this CPU's flag.
        #[cfg(feature = "debug-checks")]
        self.record.release();
        fence(Ordering::Release);
        IRQ_GUARD_HELD.write(false);
        platform().irq_restore(self.saved);
    }
}

impl fmt::Debug for IrqGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IrqGuard").field("cpu", &self.cpu()).finish()
    }
}

impl sealed::Sealed for IrqGuard {}
// SAFETY: interrupts are masked (so no preemption) from `new` to `drop`.
unsafe impl PinCpu for IrqGuard {
    #[cfg(feature = "debug-checks")]
    fn cpu(&self) -> CpuId {
        self.record.cpu
    }
    #[cfg(feature = "debug-checks")]
    fn record(&self) -> crate::debug::checks::GuardRecord {
        self.record
    }
}
// SAFETY: pinned, no interrupt handler runs, and the guard is unique on this CPU, so the holder
// is the only code touching the copy; `T: Send` because the copy is used by whichever thread
// runs on this CPU over time.
unsafe impl<T: Send + ?Sized> GuardFor<T> for IrqGuard {}
