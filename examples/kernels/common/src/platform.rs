//! The kernel's [`percpu_rt::Platform`]: these kernels have no scheduler, so nothing can move
//! code to another CPU and the preemption hooks only count pinned sections, for the grace
//! period ([`crate::grace`]); interrupt masking is the architecture's (`pushf`/`cli`/`popf` on
//! x86_64, `DAIF` on aarch64).

use percpu_rt::Platform;

use crate::arch::arch;

/// The platform hooks registered with [`percpu_rt::set_platform`] at boot.
#[derive(Debug)]
pub struct KernelPlatform;

// SAFETY: without a scheduler, code never migrates between CPUs, so preemption hooks that only
// count sections keep every pinned section on its CPU; `irq_save`/`irq_restore` are the architecture's
// interrupt-flag save, mask and restore, which nest (each restore puts back what its save saw).
// No NMI-like handler in these kernels takes a per-CPU guard (their exception handlers only
// print and exit).
unsafe impl Platform for KernelPlatform {
    fn preempt_disable(&self) {
        crate::grace::enter();
    }

    fn preempt_enable(&self) {
        crate::grace::exit();
    }

    fn irq_save(&self) -> usize {
        arch().irq_save()
    }

    fn irq_restore(&self, saved: usize) {
        arch().irq_restore(saved)
    }

    /// A misuse the debug mode caught ends the run: `FAIL: percpu debug: ...`.
    fn report(&self, report: &percpu_rt::debug::DebugReport) {
        crate::fail!("{report}")
    }
}

/// The registered instance.
pub static PLATFORM: KernelPlatform = KernelPlatform;
