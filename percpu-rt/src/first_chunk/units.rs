//! Filling the units: the template copied into every CPU's unit (the boot CPU's included, so
//! that what the boot CPU wrote into the template before setup is kept), the runtime's own
//! variables set, and every `#[percpu(init = ..)]` initialiser run once per CPU.

use super::SetupError;
use crate::cpu::CpuId;

/// Whether `delta` can be loaded into the base register here.
fn delta_is_loadable(delta: usize) -> bool {
    #[cfg(all(target_arch = "x86_64", feature = "hosted"))]
    {
        // arch_prctl(ARCH_SET_GS) takes user addresses only.
        delta < (1usize << 47)
    }
    #[cfg(all(target_arch = "x86_64", not(feature = "hosted")))]
    {
        // GS.base must be canonical (48-bit, sign-extended).
        let top = (delta as i64) >> 47;
        top == 0 || top == -1
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = delta;
        true
    }
}

/// Checks every unit's delta before anything is written.
pub(crate) fn check_deltas(
    units: &[(CpuId, usize)],
    base_addr: usize,
    template_start: usize,
) -> Result<(), SetupError> {
    for &(cpu, offset) in units {
        let delta = base_addr.wrapping_add(offset).wrapping_sub(template_start);
        if !delta_is_loadable(delta) {
            return Err(SetupError::BadDelta { cpu, delta });
        }
    }
    Ok(())
}

/// Copies the template into every unit and initialises each CPU's copy.
///
/// # Safety
///
/// For every `(cpu, offset)`, `base_addr + offset` is writable memory of at least the static
/// size that no one else uses, and does not overlap the template or another unit.
pub(crate) unsafe fn fill_units(units: &[(CpuId, usize)], base_addr: usize) {
    let template = crate::template::start();
    let static_size = crate::template::static_size();
    for &(cpu, offset) in units {
        let unit = base_addr + offset;
        // SAFETY: the caller guarantees a private, writable unit of at least `static_size`
        // bytes that does not overlap the template.
        unsafe {
            core::ptr::copy_nonoverlapping(template, unit as *mut u8, static_size);
            init_unit(cpu, unit);
        }
    }
}

/// Sets the runtime's variables in the unit at `unit` (CPU `cpu`), then runs the initialisers.
///
/// # Safety
///
/// `unit` holds a fresh copy of the template that nothing else uses.
unsafe fn init_unit(cpu: CpuId, unit: usize) {
    let delta = unit.wrapping_sub(crate::template::start() as usize);
    let at = |template: *mut u8| template.wrapping_add(delta);
    // SAFETY: each pointer is this unit's copy of a runtime variable (template address + delta),
    // valid, aligned and unused (caller).
    unsafe {
        at(crate::local::CPU_ID.per_cpu_ptr().cast()).cast::<u32>().write(cpu.as_u32());
        #[cfg(target_arch = "x86_64")]
        at(crate::local::THIS_CPU_OFFSET.per_cpu_ptr().cast()).cast::<usize>().write(delta);
        at(crate::local::IRQ_GUARD_HELD.per_cpu_ptr().cast()).cast::<bool>().write(false);
    }
    for var in crate::registry::variables() {
        if let Some(init) = var.init_fn() {
            // SAFETY: this unit's copy of the variable the initialiser was generated for; the
            // unit is not in use yet.
            unsafe { init(at(var.template() as *mut u8), cpu) };
        }
    }
}
