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

/// Sets the runtime's own variables in `cpu`'s copy, then runs every `#[percpu(init = ..)]`.
///
/// # Safety
///
/// `cpu` is possible, its unit holds a fresh copy of the template, and no code runs on it yet.
pub(crate) unsafe fn init_cpu(cpu: crate::CpuId) {
    let offset = crate::cpu_offset(cpu).expect("init_cpu on a possible CPU");
    // SAFETY: the copies are valid, aligned and not in use (caller).
    unsafe {
        CPU_ID.ptr_on(cpu).write(cpu.as_u32());
        #[cfg(target_arch = "x86_64")]
        THIS_CPU_OFFSET.ptr_on(cpu).write(offset);
        IRQ_GUARD_HELD.ptr_on(cpu).write(false);
    }
    let _ = offset;
    for var in crate::registry::variables() {
        if let (Some(init), Ok(ptr)) = (var.init_fn(), var.ptr_on(cpu)) {
            // SAFETY: `ptr` is this CPU's copy of the variable the initialiser was generated
            // for, and nothing uses it yet.
            unsafe { init(ptr as *mut u8, cpu) };
        }
    }
}
