//! The runtime's own per-CPU variables, set for every CPU at first-chunk setup.

use crate::cpu_id::CpuId;
use crate::percpu;

/// This CPU's logical number (`CpuId::current` reads it with one instruction).
#[percpu(crate = crate, hot)]
pub(crate) static CPU_ID: u32 = 0;

/// This CPU's per-CPU offset (the value in its base register), so that `this_cpu_ptr` is one
/// `gs:`-relative load plus an add, as Linux's `this_cpu_off`.
#[cfg(target_arch = "x86_64")]
#[percpu(crate = crate, hot)]
pub(crate) static THIS_CPU_OFFSET: usize = 0;

/// Whether an [`IrqGuard`](crate::IrqGuard) is live on this CPU (it is unique per CPU).
#[percpu(crate = crate, hot)]
pub(crate) static IRQ_GUARD_HELD: bool = false;

/// How many guards are live on this CPU (the debug mode checks they are dropped in order).
#[cfg(feature = "debug-checks")]
#[percpu(crate = crate, hot)]
pub(crate) static GUARD_DEPTH: u32 = 0;

impl CpuId {
    /// The CPU this code runs on (one `gs:`-relative load on x86_64).
    ///
    /// Without a pin guard the answer may be stale as soon as it is returned; hold a
    /// [`PreemptGuard`](crate::PreemptGuard) and use its [`cpu`](crate::PinCpu::cpu) when the
    /// answer must stay true.
    #[inline]
    pub fn current() -> CpuId {
        CpuId::new(CPU_ID.read())
    }
}

/// The current CPU's per-CPU offset. Unchecked: it is what the checks (the unit check of
/// dynamic objects, the debug mode's) look at.
#[inline(always)]
pub(crate) fn this_cpu_offset() -> usize {
    #[cfg(target_arch = "x86_64")]
    {
        crate::ops::unchecked::read_unchecked(THIS_CPU_OFFSET.slot())
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        crate::arch::read_base()
    }
}

/// Panics unless the calling code runs on a CPU whose base register holds its unit's offset.
///
/// A unit is never the template, so its offset is never 0; 0 is the base register of code that
/// has no unit: a thread that is not a CPU of a hosted machine, a CPU that has not loaded its
/// base register yet ([`first_chunk::load_base`](crate::first_chunk::load_base)), or any code
/// before the first-chunk setup. Static variables are still reachable there (their template),
/// dynamic ones are not: their per-CPU pointer plus 0 is memory they do not own.
#[cfg(feature = "alloc")]
#[inline(always)]
#[track_caller]
pub(crate) fn require_unit() {
    if this_cpu_offset() == 0 {
        no_unit()
    }
}

#[cfg(feature = "alloc")]
#[cold]
#[inline(never)]
#[track_caller]
fn no_unit() -> ! {
    panic!(
        "per-CPU access to a dynamic object (PerCpuBox) from code that has no per-CPU unit: its \
         base register was never loaded. On a hosted machine, run per-CPU code on a CPU \
         (Machine::run_on / Machine::run), not on the thread that booted it or another thread \
         that is not a CPU; in a kernel, call first_chunk::load_base on each CPU before its \
         first per-CPU access"
    )
}
