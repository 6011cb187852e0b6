//! x86_64's base register, `GS.base`: the `IA32_GS_BASE` model-specific register, the
//! `wrgsbase`/`rdgsbase` instructions, and the kernel's (or, with `hosted`, the Linux thread's)
//! base-register access the runtime uses.

use core::arch::asm;

/// Which register holds the per-CPU base on this architecture.
pub const BASE_REGISTER: &str = "GS.base";

/// `IA32_GS_BASE`, the model-specific register behind `GS.base`.
#[derive(Debug)]
pub struct GsBaseMsr;

impl GsBaseMsr {
    /// The MSR number.
    pub const MSR: u32 = 0xC000_0101;

    /// Writes `GS.base` with `wrmsr`.
    ///
    /// # Safety
    ///
    /// Ring 0 only (`#GP` otherwise); `value` must be canonical (`#GP` otherwise); every later
    /// `gs:`-relative access on this CPU uses the new base.
    #[inline]
    pub unsafe fn write(value: u64) {
        // SAFETY: the caller guarantees ring 0 and a canonical value.
        unsafe {
            asm!(
                "wrmsr",
                in("ecx") Self::MSR,
                in("eax") value as u32,
                in("edx") (value >> 32) as u32,
                options(nostack, preserves_flags),
            );
        }
    }

    /// Reads `GS.base` with `rdmsr`.
    ///
    /// # Safety
    ///
    /// Ring 0 only (`#GP` otherwise).
    #[inline]
    pub unsafe fn read() -> u64 {
        let (lo, hi): (u32, u32);
        // SAFETY: the caller guarantees ring 0.
        unsafe {
            asm!(
                "rdmsr",
                in("ecx") Self::MSR,
                out("eax") lo,
                out("edx") hi,
                options(nomem, nostack, preserves_flags),
            );
        }
        ((hi as u64) << 32) | lo as u64
    }
}

/// Writes `GS.base` with `wrgsbase`.
///
/// # Safety
///
/// `CR4.FSGSBASE` must be set (`#UD` otherwise) and `value` canonical; every later
/// `gs:`-relative access on this CPU uses the new base.
///
/// # Exceptions
///
/// `#UD` if `CR4.FSGSBASE` is clear.
#[inline]
pub unsafe fn wrgsbase(value: u64) {
    // SAFETY: the caller guarantees that the instruction is enabled and the value canonical.
    unsafe { asm!("wrgsbase {}", in(reg) value, options(nostack, preserves_flags)) }
}

/// Reads `GS.base` with `rdgsbase`.
///
/// # Safety
///
/// `CR4.FSGSBASE` must be set (`#UD` otherwise).
#[inline]
pub unsafe fn rdgsbase() -> u64 {
    let value: u64;
    // SAFETY: the caller guarantees that the instruction is enabled.
    unsafe { asm!("rdgsbase {}", out(reg) value, options(nomem, nostack, preserves_flags)) }
    value
}

/// Loads this CPU's per-CPU base register with `delta` (= `unit_base - __percpu_start`).
///
/// In a kernel this is `wrmsr IA32_GS_BASE` (load any segment selector into GS *before* this:
/// a selector load zeroes the base). With the `hosted` feature it is
/// `arch_prctl(ARCH_SET_GS, delta)` for the calling thread.
///
/// # Safety
///
/// `delta` must be `unit_base(cpu) - __percpu_start` for the unit of the CPU (or hosted thread)
/// that runs this, and that unit must hold an initialised copy of the template: every per-CPU
/// access on this CPU goes there from now on.
pub unsafe fn write_base(delta: usize) {
    #[cfg(feature = "hosted")]
    crate::hosted::gs_base::set(delta);
    #[cfg(not(feature = "hosted"))]
    {
        // SAFETY: forwarded from the caller (kernel mode, canonical delta).
        unsafe { GsBaseMsr::write(delta as u64) }
    }
}

/// Reads this CPU's per-CPU base register (with `hosted`: one `rdgsbase` where Linux allows it
/// to user space, which the debug mode relies on since it reads the base on every access;
/// `arch_prctl(ARCH_GET_GS)` otherwise).
///
/// The accessors never need this (they use `gs:` addressing, and `this_cpu_ptr` reads the
/// per-CPU offset variable with one `mov`); it is for diagnostics and tests.
pub fn read_base() -> usize {
    #[cfg(feature = "hosted")]
    {
        if crate::hosted::gs_base::rdgsbase_allowed() {
            // SAFETY: Linux set CR4.FSGSBASE for user space (HWCAP2_FSGSBASE), so `rdgsbase`
            // only reads this thread's GS base.
            return unsafe { rdgsbase() } as usize;
        }
        crate::hosted::gs_base::get()
    }
    #[cfg(not(feature = "hosted"))]
    {
        // SAFETY: percpu-rt without `hosted` runs in ring 0 on x86_64.
        unsafe { GsBaseMsr::read() as usize }
    }
}
