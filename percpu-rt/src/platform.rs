//! How the kernel tells the runtime to pin the CPU and mask interrupts: it implements
//! [`Platform`] once and registers it with [`set_platform`]. Until then (and in hosted mode, and
//! on single-CPU kernels without preemption) the hooks are no-ops.

use core::fmt;

/// The kernel's preemption and interrupt primitives.
///
/// # Safety
///
/// The pin guards rely on these being correct: between `preempt_disable` and the matching
/// `preempt_enable` the calling code must not move to another CPU; between `irq_save` and the
/// matching `irq_restore` no interrupt handler may run on this CPU (NMI-like exceptions that
/// cannot be masked must not take per-CPU guards: make `irq_save` refuse by panicking in them if
/// they can happen). Calls nest.
pub unsafe trait Platform: Sync {
    /// Disables preemption of the current task (nesting).
    fn preempt_disable(&self);
    /// Re-enables preemption (when the nesting count drops to zero).
    fn preempt_enable(&self);
    /// Masks interrupts on this CPU; returns the previous state for [`Platform::irq_restore`].
    fn irq_save(&self) -> usize;
    /// Restores the interrupt state saved by [`Platform::irq_save`].
    fn irq_restore(&self, saved: usize);

    /// Whether the calling code is pinned to its CPU by the kernel's own means (preemption or
    /// interrupts disabled, interrupt context), for the debug mode's check of `this_cpu_ptr`;
    /// `None` (the default) when the kernel cannot tell, and then only this crate's guards
    /// count.
    fn pinned(&self) -> Option<bool> {
        None
    }

    /// Reports a misuse the debug mode (feature `debug-checks`) caught. The default panics with
    /// the report's message; a kernel may log it, stop the CPUs, or enter its debugger.
    fn report(&self, report: &crate::debug::DebugReport) {
        panic!("{report}");
    }
}

/// The no-op platform: correct when nothing can migrate code between CPUs or interrupt it while
/// it touches per-CPU data (hosted mode, where each thread is bound to one CPU for its life; a
/// single-CPU kernel without preemption that never touches per-CPU data from interrupts).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoopPlatform;

// SAFETY: see the type's documentation: in the environments it is documented for, code never
// moves between CPUs and no interrupt handler touches per-CPU data.
unsafe impl Platform for NoopPlatform {
    fn preempt_disable(&self) {}
    fn preempt_enable(&self) {}
    fn irq_save(&self) -> usize {
        0
    }
    fn irq_restore(&self, _saved: usize) {}
    fn pinned(&self) -> Option<bool> {
        Some(true)
    }
}

static PLATFORM: spin::Once<&'static dyn Platform> = spin::Once::new();

/// `set_platform` was called twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlatformAlreadySet;

impl fmt::Display for PlatformAlreadySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "a per-CPU platform is already registered: call percpu_rt::set_platform once, early \
             in boot, before any guard is taken",
        )
    }
}

#[cfg(feature = "std")]
impl std::error::Error for PlatformAlreadySet {}

/// Registers the kernel's preemption and interrupt primitives. Call once, early, before any CPU
/// other than the boot CPU runs.
pub fn set_platform(platform: &'static dyn Platform) -> Result<(), PlatformAlreadySet> {
    let mut registered = false;
    PLATFORM.call_once(|| {
        registered = true;
        platform
    });
    if registered { Ok(()) } else { Err(PlatformAlreadySet) }
}

/// Whether a platform has been registered.
pub fn platform_is_set() -> bool {
    PLATFORM.get().is_some()
}

/// The registered platform, or the no-op one.
#[inline]
pub(crate) fn platform() -> &'static dyn Platform {
    match PLATFORM.get() {
        Some(p) => *p,
        None => &NoopPlatform,
    }
}
