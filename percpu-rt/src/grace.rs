//! Grace periods: the one hook a kernel provides so that [`PerCpuRef`](crate::PerCpuRef)'s
//! readers need no atomic instruction and no shared cache line ([`GracePeriod`], registered
//! with [`set_grace_period`]). A `PerCpuRef` switches from per-CPU to atomic counting through
//! it, as Linux's `percpu_ref` waits for an RCU grace period before it sums the per-CPU counts.
//!
//! # Pinned sections
//!
//! A *pinned section* is the code between the platform's
//! [`preempt_disable`](crate::Platform::preempt_disable) and the matching
//! [`preempt_enable`](crate::Platform::preempt_enable): the life of a
//! [`PreemptGuard`](crate::PreemptGuard). Sections nest (an interrupt handler's inside the
//! code it interrupted, a guard inside a guard); a CPU is *outside* every section when the
//! nesting count of its sections is 0. `PerCpuRef`'s `get` and `put` read the mode and change
//! their CPU's count inside one section.
//!
//! # The contract
//!
//! [`GracePeriod::synchronize`] returns only after every CPU has left every pinned section
//! that began before the call. In memory-model terms, for every pinned section `S` on any CPU
//! and every call `C` of `synchronize`, one of these holds:
//!
//! 1. `S` ended before `C` returned, and everything `S` did happens before everything the
//!    caller does after `C` returns; or
//! 2. `S` began after `C` began, and everything the caller did before `C` happens before
//!    everything `S` does.
//!
//! This is RCU's fundamental guarantee (Linux's `synchronize_rcu`, for which preempt-disabled
//! regions are readers). The second half is what keeps readers cheap: a section that starts
//! after the call sees the caller's earlier stores without a fence of its own, so the
//! implementation supplies the ordering on the readers' behalf (an interrupt or `membarrier`
//! on every CPU), or has each section start with a full fence.
//!
//! # What rests on it
//!
//! Only counts: a wrong implementation makes a `PerCpuRef` sum while a CPU is still changing
//! its per-CPU count, so the release may run early, late or never. Memory safety never rests
//! on it (the referenced value is owned by the `PerCpuRef` and borrowed by every reference,
//! so the borrow checker keeps it alive), which is why the trait is safe to implement, like
//! `Ord` (a wrong `Ord` makes a sort wrong, never unsound).
//!
//! # Implementations
//!
//! | where | sections are seen through | waiting | ordering |
//! |---|---|---|---|
//! | hosted mode (`percpu_rt::hosted`, registered by `Machine::boot`) | the hosted platform's preemption hooks: a word per thread (nesting count and generation), written with plain stores | until each word's count is 0 or its generation moved | `membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)`: a full barrier on every running thread, so readers need none |
//! | the example kernels (`examples/kernels/common/src/grace.rs`) | the kernel's `Platform` preemption hooks: an atomic word per CPU | the same | no IPIs: each section starts with a sequentially consistent read-modify-write and a full fence |
//! | a kernel with RCU | its own | `synchronize_rcu()` | RCU's |
//!
//! A kernel registers its implementation once at boot, after
//! [`set_platform`](crate::set_platform).
//!
//! ```
//! use percpu_rt::grace::{self, GracePeriod};
//!
//! /// A single-CPU kernel without preemption: no other CPU can be inside a section, and the
//! /// calling code is in none when it may wait.
//! struct Uniprocessor;
//!
//! impl GracePeriod for Uniprocessor {
//!     fn synchronize(&self) {}
//!     fn in_pinned_section(&self) -> bool {
//!         false // this kernel never waits inside a guard (it checks elsewhere)
//!     }
//! }
//!
//! static GRACE: Uniprocessor = Uniprocessor;
//! # if grace::grace_period().is_none() {
//! grace::set_grace_period(&GRACE).expect("registered once, at boot");
//! # }
//! assert!(grace::grace_period().is_some());
//! ```

use core::fmt;

/// The kernel's grace-period primitive: waits until every CPU has left every pinned section
/// that began before the call (see the [module documentation](self) for the contract and for
/// why breaking it makes counts wrong but never memory unsafe).
pub trait GracePeriod: Sync {
    /// Returns once every CPU has left every pinned section that began before the call.
    ///
    /// CONTEXT: may wait (spin or sleep); never inside a pinned section, where it would wait
    /// for itself (callers check [`GracePeriod::in_pinned_section`] first).
    fn synchronize(&self);

    /// Whether the calling code is inside a pinned section on its CPU. Returning `false`
    /// inside one makes a switch wait for itself; returning `true` outside one only makes the
    /// switches refuse.
    fn in_pinned_section(&self) -> bool;
}

static GRACE: spin::Once<&'static dyn GracePeriod> = spin::Once::new();

/// [`set_grace_period`] was called twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GracePeriodAlreadySet;

impl fmt::Display for GracePeriodAlreadySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "a grace period is already registered: call percpu_rt::grace::set_grace_period once, \
             at boot (a hosted machine registers its own in Machine::boot)",
        )
    }
}

#[cfg(feature = "std")]
impl std::error::Error for GracePeriodAlreadySet {}

/// Registers the kernel's grace period. Call once, at boot, after
/// [`set_platform`](crate::set_platform) (the sections it sees are the platform's).
pub fn set_grace_period(grace: &'static dyn GracePeriod) -> Result<(), GracePeriodAlreadySet> {
    let mut registered = false;
    GRACE.call_once(|| {
        registered = true;
        grace
    });
    if registered { Ok(()) } else { Err(GracePeriodAlreadySet) }
}

/// The registered grace period, if any.
pub fn grace_period() -> Option<&'static dyn GracePeriod> {
    GRACE.get().copied()
}
