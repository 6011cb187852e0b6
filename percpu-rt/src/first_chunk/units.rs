//! Filling the units: every CPU's copy of every `#[percpu]` static starts as its declared
//! initial value, the runtime's own variables are set, and every `#[percpu(init = ..)]`
//! initialiser runs once per CPU.
//!
//! The template is *not* the source of the copies: before setup the boot CPU's accesses reach it,
//! so it may hold values the program made since (a `Vec` that owns a buffer, a counter that
//! counted). Copying those bytes into every unit would duplicate ownership: every CPU's `Vec` would
//! free the same buffer (docs/architecture.md, invariant 6). Each variable's copy is built from its
//! pristine initial value instead ([`InitialValue`](crate::storage::InitialValue), which the
//! registry points at). What the program wrote into the template before setup stays in the
//! template, which is the copy of code that has no unit (never dropped, as no static is).

use crate::cpu_id::CpuId;

/// Builds every CPU's copies in its unit: the static area zeroed (padding included), each
/// variable's initial value copied in, then [`init_unit`].
///
/// # Safety
///
/// For every `(cpu, offset)`, `base_addr + offset` is writable memory of at least the static
/// size that no one else uses, and does not overlap the template or another unit.
pub(crate) unsafe fn fill_units(units: &[(CpuId, usize)], base_addr: usize) {
    let template = crate::template::start() as usize;
    let static_size = crate::template::static_size();
    let variables = crate::registry::variables();
    for &(cpu, offset) in units {
        let unit = base_addr + offset;
        // SAFETY: the caller guarantees a private, writable unit of at least `static_size`
        // bytes that does not overlap the template; every variable lies inside the template
        // (the linker put it in `.percpu`), so `unit + its offset` is inside the unit, and its
        // initial value is `size` readable bytes that nothing writes.
        unsafe {
            core::ptr::write_bytes(unit as *mut u8, 0, static_size);
            for var in variables {
                let at = var.template() as usize - template;
                debug_assert!(
                    at + var.size() <= static_size,
                    "a registered static outside .percpu"
                );
                core::ptr::copy_nonoverlapping(var.initial(), (unit + at) as *mut u8, var.size());
            }
            init_unit(cpu, unit);
        }
    }
}

/// Sets the runtime's variables in the unit at `unit` (CPU `cpu`), then runs the initialisers.
///
/// # Safety
///
/// `unit` holds every variable's initial value, and nothing else uses it.
unsafe fn init_unit(cpu: CpuId, unit: usize) {
    let delta = unit.wrapping_sub(crate::template::start() as usize);
    let at = |template: *mut u8| template.wrapping_add(delta);
    // SAFETY: each pointer is this unit's copy of a runtime variable (template address + delta),
    // valid, aligned and unused (caller).
    unsafe {
        at(crate::runtime_vars::CPU_ID.per_cpu_ptr().cast()).cast::<u32>().write(cpu.as_u32());
        #[cfg(target_arch = "x86_64")]
        at(crate::runtime_vars::THIS_CPU_OFFSET.per_cpu_ptr().cast()).cast::<usize>().write(delta);
        at(crate::runtime_vars::IRQ_GUARD_HELD.per_cpu_ptr().cast()).cast::<bool>().write(false);
    }
    for var in crate::registry::variables() {
        if let Some(init) = var.init_fn() {
            // SAFETY: this unit's copy of the variable the initialiser was generated for; the
            // unit is not in use yet.
            unsafe { init(at(var.template() as *mut u8), cpu) };
        }
    }
}
