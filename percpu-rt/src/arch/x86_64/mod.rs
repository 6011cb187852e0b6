//! x86_64: `GS.base` (`registers.rs`), the one-instruction `gs:`-relative current-CPU
//! operations (`gs_ops.rs`), 16-byte atomics (`wide.rs`), the prefetch hint and the
//! non-temporal zeroing of the allocator's new areas.

mod gs_ops;
pub(crate) mod registers;
mod wide;

/// x86_64's implementation of the contract.
#[derive(Debug)]
pub(crate) struct Arch;

/// Whether 16-byte per-CPU scalars are supported (`cmpxchg16b`).
pub(crate) const HAS_WIDE_ATOMICS: bool = true;

/// Asks for the cache line at `addr` (a hint; any address).
#[inline(always)]
#[cfg(feature = "alloc")]
pub(crate) fn prefetch_line(addr: usize) {
    use core::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
    // SAFETY: a prefetch is a hint: it reads nothing architecturally, never faults, and has no
    // effect beyond the caches, whatever the address.
    unsafe { _mm_prefetch::<_MM_HINT_T0>(addr as *const i8) };
}

/// Zeroes `[start, start + len)`, the 8-byte-aligned middle with non-temporal stores (no read
/// for ownership of lines that are overwritten whole), the edges plainly. The stores are
/// `movnti` (8 bytes from a general register), which every x86_64 CPU has and which needs no
/// SSE state: kernels built for `x86_64-unknown-none` have SSE disabled and cannot use the
/// 16-byte `movntdq`. Call [`nontemporal_fence`] before anything that must see the zeroes
/// ordered with later plain stores.
///
/// # Safety
///
/// `[start, start + len)` is writable memory that nothing else accesses meanwhile.
#[cfg(feature = "alloc")]
#[inline]
pub(crate) unsafe fn zero_nontemporal(start: usize, len: usize) {
    let end = start + len;
    let a = ((start + 7) & !7).min(end);
    let b = (end & !7).max(a);
    // SAFETY: forwarded from the caller: `[start, end)` is writable and ours; `[start, a)` and
    // `[b, end)` lie inside it.
    unsafe {
        core::ptr::write_bytes(start as *mut u8, 0, a - start);
        core::ptr::write_bytes(b as *mut u8, 0, end - b);
    }
    let mut p = a;
    while p < b {
        // SAFETY: `p` is 8-byte aligned and `[p, p + 8)` lies in `[a, b)`, inside the caller's
        // writable range.
        unsafe {
            core::arch::asm!(
                "movnti qword ptr [{p}], {zero}",
                p = in(reg) p,
                zero = in(reg) 0u64,
                options(nostack, preserves_flags)
            );
        }
        p += 8;
    }
}

/// Orders the non-temporal stores before later stores (`sfence`), as plain stores are.
#[cfg(feature = "alloc")]
#[inline]
pub(crate) fn nontemporal_fence() {
    // SAFETY: a store fence: no other effect.
    unsafe { core::arch::asm!("sfence", options(nostack, preserves_flags)) };
}
