//! x86_64's 16-byte atomics on any CPU's copy: `lock cmpxchg16b`.

use super::Arch;
use crate::arch::WideOps;
use core::arch::asm;

impl WideOps for Arch {
    #[inline]
    unsafe fn cas16(p: *mut u128, old: u128, new: u128) -> Result<u128, u128> {
        let (mut lo, mut hi) = (old as u64, (old >> 64) as u64);
        // SAFETY: the caller guarantees a valid, aligned pointer; rbx is saved and restored.
        unsafe {
            asm!(
                "xchg {t}, rbx",
                "lock cmpxchg16b xmmword ptr [{p}]",
                "mov rbx, {t}",
                p = in(reg) p,
                t = inout(reg) new as u64 => _,
                in("rcx") (new >> 64) as u64,
                inout("rax") lo,
                inout("rdx") hi,
                options(nostack),
            );
        }
        let previous = ((hi as u128) << 64) | lo as u128;
        if previous == old { Ok(previous) } else { Err(previous) }
    }
}
