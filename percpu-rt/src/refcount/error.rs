//! [`RefError`]: what [`PerCpuRef`](crate::PerCpuRef) reports where Linux's `percpu_ref`
//! warns (`WARN_ON_ONCE`) and carries on.

use core::fmt;

/// A [`PerCpuRef`](crate::PerCpuRef) operation refused, or found the count broken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefError {
    /// [`kill`](crate::PerCpuRef::kill) of a reference count that is dead already.
    AlreadyDead,
    /// [`resurrect`](crate::PerCpuRef::resurrect) or [`reinit`](crate::PerCpuRef::reinit) of
    /// a reference count that is alive.
    NotDead,
    /// [`reinit`](crate::PerCpuRef::reinit) while references are still held.
    NotZero {
        /// The references held.
        count: i64,
    },
    /// [`resurrect`](crate::PerCpuRef::resurrect) after the count reached zero (the release
    /// ran or is running).
    Released,
    /// More puts than gets: a [`put`](crate::PerCpuRef::put) found no reference to drop, or
    /// the switch to atomic mode summed the per-CPU counts to this (Linux: "percpu ref <= 0
    /// after switching to atomic").
    BelowZero {
        /// The count found.
        count: i64,
    },
    /// A switch (or `kill`) from inside a pinned section: it would wait for a grace period
    /// that waits for the caller's own section.
    InPinnedSection,
    /// A switch from per-CPU to atomic mode, but no grace period is registered
    /// ([`grace::set_grace_period`](crate::grace::set_grace_period)).
    NoGracePeriod,
    /// [`switch_to_percpu`](crate::PerCpuRef::switch_to_percpu) of a reference count made
    /// with [`PerCpuRef::atomic_only`](crate::PerCpuRef::atomic_only), which has no per-CPU
    /// counts.
    AtomicOnly,
}

impl fmt::Display for RefError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RefError::AlreadyDead => f.write_str(
                "kill of a PerCpuRef that is already dead: kill it once per life (resurrect or \
                 reinit it first to kill it again)",
            ),
            RefError::NotDead => f.write_str(
                "resurrect/reinit of a live PerCpuRef: only a killed (or dead-started) one can \
                 be brought back; kill it first",
            ),
            RefError::NotZero { count } => write!(
                f,
                "reinit of a PerCpuRef that still has {count} reference(s): wait until the \
                 release ran (is_zero()), or use resurrect to revive it with references held",
            ),
            RefError::Released => f.write_str(
                "resurrect of a PerCpuRef whose count reached zero (its release ran): use reinit \
                 to start a new life",
            ),
            RefError::BelowZero { count } => write!(
                f,
                "PerCpuRef count {count} is below zero: more puts than gets; put only what \
                 Ref::leak gave up, once each",
            ),
            RefError::InPinnedSection => f.write_str(
                "PerCpuRef mode switch inside a pinned section (a PreemptGuard or IrqGuard is \
                 live): it waits for a grace period, which would wait for this very section; \
                 drop the guard first",
            ),
            RefError::NoGracePeriod => f.write_str(
                "switching a PerCpuRef to atomic mode needs a grace period, and none is \
                 registered: call percpu_rt::grace::set_grace_period at boot (a hosted machine \
                 registers its own unless another platform was registered first), or make it \
                 with PerCpuRef::atomic_only",
            ),
            RefError::AtomicOnly => f.write_str(
                "switch_to_percpu of a PerCpuRef made with atomic_only, which has no per-CPU \
                 counts: make it with PerCpuRef::new or with_mode to switch modes",
            ),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for RefError {}
