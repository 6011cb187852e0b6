//! Whether the calling code has a per-CPU unit, told without touching per-CPU data: the per-CPU
//! caches ([`cache`](super::cache)) are found through the current CPU's id, a per-CPU
//! variable, which code without a unit must not read (docs/architecture.md, invariant 7).
//!
//! * In a kernel (x86_64 or aarch64), the runtime's own per-CPU offset is the base register's
//!   value: 0 before [`load_base`](crate::first_chunk::load_base) (the template, which is
//!   readable there), the unit's offset after.
//! * On a hosted machine the template is revoked after boot, so a thread that is not a CPU must
//!   not read even that: the base register itself is read, with `rdgsbase` (one instruction,
//!   usable in user space when the kernel enables FSGSBASE, which Linux does since 5.9 and
//!   reports in `AT_HWCAP2`). Without it the caches are reached only through
//!   [`Allocator::on_cpu`](super::Allocator::on_cpu), and allocations take the locked path.
//!
//! The `rdgsbase` below is architecture code outside `arch/`, like the prefetch in `copies.rs`:
//! both belong there once `arch/` offers them.

/// Whether [`has_unit`] can answer (hosted: FSGSBASE is usable).
pub(crate) fn unit_known() -> bool {
    #[cfg(all(feature = "hosted", target_arch = "x86_64"))]
    {
        /// `HWCAP2_FSGSBASE` (Linux, `arch/x86/include/uapi/asm/hwcap2.h`).
        const HWCAP2_FSGSBASE: libc::c_ulong = 1 << 1;
        // SAFETY: getauxval only reads the process's auxiliary vector.
        let hwcap2 = unsafe { libc::getauxval(libc::AT_HWCAP2) };
        hwcap2 & HWCAP2_FSGSBASE != 0
    }
    #[cfg(not(all(feature = "hosted", target_arch = "x86_64")))]
    {
        true
    }
}

/// Whether the calling code has a unit (its base register is not 0). Only meaningful where
/// [`unit_known`] is true.
#[inline(always)]
pub(crate) fn has_unit() -> bool {
    #[cfg(all(feature = "hosted", target_arch = "x86_64"))]
    {
        // SAFETY: only reached when `unit_known` found FSGSBASE enabled for user space
        // (`Caches::current` checks that first), so `rdgsbase` cannot fault.
        unsafe { crate::arch::rdgsbase() != 0 }
    }
    #[cfg(not(all(feature = "hosted", target_arch = "x86_64")))]
    {
        crate::runtime_vars::this_cpu_offset() != 0
    }
}
