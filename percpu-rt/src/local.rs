//! The runtime's own per-CPU variables, set for every CPU at first-chunk setup.

use crate::percpu;

/// This CPU's logical number (`CpuId::current` reads it with one instruction).
#[percpu(crate = crate)]
pub(crate) static CPU_ID: u32 = 0;

/// This CPU's per-CPU offset (the value in its base register), so that `this_cpu_ptr` is one
/// `gs:`-relative load plus an add, as Linux's `this_cpu_off`.
#[cfg(target_arch = "x86_64")]
#[percpu(crate = crate)]
pub(crate) static THIS_CPU_OFFSET: usize = 0;

/// Whether an [`IrqGuard`](crate::IrqGuard) is live on this CPU (it is unique per CPU).
#[percpu(crate = crate)]
pub(crate) static IRQ_GUARD_HELD: bool = false;

/// The current CPU's per-CPU offset.
#[inline(always)]
pub(crate) fn this_cpu_offset() -> usize {
    #[cfg(target_arch = "x86_64")]
    {
        THIS_CPU_OFFSET.read()
    }
    #[cfg(target_arch = "aarch64")]
    {
        crate::arch::read_base()
    }
}
