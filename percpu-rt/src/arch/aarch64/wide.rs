//! aarch64's 16-byte atomics: an exclusive load/store pair (`ldxp`/`stxp`).

use crate::arch::WideOps;
use core::arch::asm;

impl WideOps for super::Arch {
    #[inline]
    unsafe fn cas16(p: *mut u128, old: u128, new: u128) -> Result<u128, u128> {
        let (lo, hi): (u64, u64);
        // SAFETY: the caller guarantees a valid, aligned pointer. The loop stores `new` only if
        // the exclusively loaded pair equals `old`; otherwise it stores the loaded pair back,
        // which completes the exclusive sequence and makes the load single-copy atomic.
        unsafe {
            asm!(
                "2:",
                "ldxp {lo}, {hi}, [{p}]",
                "cmp {lo}, {old_lo}",
                "ccmp {hi}, {old_hi}, #0, eq",
                "b.ne 3f",
                "stxp {status:w}, {new_lo}, {new_hi}, [{p}]",
                "cbnz {status:w}, 2b",
                "b 4f",
                "3:",
                "stxp {status:w}, {lo}, {hi}, [{p}]",
                "cbnz {status:w}, 2b",
                "4:",
                p = in(reg) p,
                lo = out(reg) lo,
                hi = out(reg) hi,
                old_lo = in(reg) old as u64,
                old_hi = in(reg) (old >> 64) as u64,
                new_lo = in(reg) new as u64,
                new_hi = in(reg) (new >> 64) as u64,
                status = out(reg) _,
                options(nostack),
            );
        }
        let previous = ((hi as u128) << 64) | lo as u128;
        if previous == old { Ok(previous) } else { Err(previous) }
    }
}
