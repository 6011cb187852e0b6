//! riscv64's 16-byte atomics on any CPU's copy: `amocas.q` (Zacas). Without Zacas the
//! architecture has no 16-byte atomic at all, and 16-byte per-CPU scalars are a compile error
//! (`HAS_WIDE_ATOMICS`, asserted by every generic path that reaches a 16-byte copy).

use crate::arch::WideOps;

impl WideOps for super::Arch {
    #[cfg(target_feature = "zacas")]
    #[inline]
    unsafe fn cas16(p: *mut u128, old: u128, new: u128) -> Result<u128, u128> {
        let (mut lo, mut hi) = (old as u64, (old >> 64) as u64);
        // SAFETY: the caller guarantees a valid, 16-byte aligned pointer; `amocas.q` compares
        // a0:a1 with the 16 bytes at `p`, stores a2:a3 if equal, and returns what it read.
        unsafe {
            core::arch::asm!(
                "amocas.q a0, a2, ({p})",
                p = in(reg) p,
                inout("a0") lo,
                inout("a1") hi,
                in("a2") new as u64,
                in("a3") (new >> 64) as u64,
                options(nostack, preserves_flags),
            );
        }
        let previous = ((hi as u128) << 64) | lo as u128;
        if previous == old { Ok(previous) } else { Err(previous) }
    }

    #[cfg(not(target_feature = "zacas"))]
    unsafe fn cas16(_p: *mut u128, _old: u128, _new: u128) -> Result<u128, u128> {
        // Every caller is generic over the scalar type and asserts at compile time that the
        // architecture has 16-byte atomics (`percpu_rt::arch::HAS_WIDE_ATOMICS`): a program
        // that would reach this does not compile.
        unreachable!("riscv64 without Zacas has no 16-byte atomics")
    }
}
