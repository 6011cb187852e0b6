//! The work on an area's copies in every unit: zeroing each CPU's copy of a fresh area, and
//! starting the fetch of its cache lines early.
//!
//! Every allocation returns memory that reads zero in every CPU's copy (Linux's `pcpu_alloc`
//! clears it too). The zeroing runs after the state lock is released, but its cost shows up
//! under the lock: the stores of an area that is not in the cache wait in the store buffer for
//! their lines, and the next locked instruction (the next allocation's or free's lock) waits for
//! all of them. For an area longer than one cache line the allocator therefore asks for its
//! lines as soon as the area is chosen, still under the lock, and only then updates the bitmaps
//! and hints ([`prefetch_area`]): the line fetches overlap the bookkeeping instead of queueing
//! behind it. On the reference machine this takes 1 KiB allocations from about 190 to 150 ns and
//! 256-byte ones from 75 to 60 ns. Areas of one line are left alone: the hardware's stream
//! prefetcher covers them, and a software prefetch there measured slower (41 to 53 ns for
//! 64 bytes). Read prefetches are used: write-intent prefetches (`prefetchw`) measured slower on
//! the same machine. Non-temporal stores and `rep stosb` were measured too and are slower than
//! the C library's `memset` for single areas, which is what `write_bytes` calls.
//!
//! A per-CPU cache zeroes the areas of a refill together, run by run ([`zero_areas`]). Runs of at
//! least 2 KiB are written with non-temporal stores (`movnti`): whole lines, so the core need not
//! read each line first (on the AMD EPYC machine this took 1 KiB allocations from about 220 to 150
//! ns and 256-byte ones from about 78 to 65 ns, both with the machine busy); the areas are handed
//! out over the next allocations, so what they lose is only lines that would have stayed cached
//! from the zeroing, which a run this long mostly pushes out anyway.

/// Bytes per cache line.
const LINE: usize = 64;
/// Areas up to this size are not prefetched (one line: the hardware prefetcher is enough).
const PREFETCH_MIN: usize = LINE + 1;
/// Lines prefetched per allocation at most, over all units (the first units' copies first): a
/// core tracks only so many outstanding misses, and the zeroing itself streams the rest.
const PREFETCH_MAX_LINES: usize = 32;

/// Starts fetching the lines of `[addr + off, addr + off + size)` for each unit offset `off`,
/// for the zeroing that follows the allocation. A hint only: it never faults and has no
/// visible effect (so an address that is not mapped is harmless).
#[inline]
pub(crate) fn prefetch_area(addr: usize, size: usize, unit_offsets: &[usize]) {
    if size < PREFETCH_MIN {
        return;
    }
    let mut budget = PREFETCH_MAX_LINES;
    for &off in unit_offsets {
        let start = addr.wrapping_add(off);
        let end = start.wrapping_add(size);
        let mut line = start & !(LINE - 1);
        while line < end {
            if budget == 0 {
                return;
            }
            prefetch_line(line);
            line += LINE;
            budget -= 1;
        }
    }
}

/// Asks for the cache line at `addr` (a hint; any address; `arch` has the instruction).
#[inline(always)]
fn prefetch_line(addr: usize) {
    crate::arch::prefetch_line(addr);
}

/// Zeroes `[addr + off, addr + off + size)` for each unit offset `off`.
///
/// # Safety
///
/// Each of those ranges is `size` bytes of writable memory that nothing else uses meanwhile
/// (a fresh area, in every unit).
#[inline]
pub(crate) unsafe fn zero_area(addr: usize, size: usize, unit_offsets: &[usize]) {
    for &off in unit_offsets {
        // SAFETY: forwarded from the caller.
        unsafe { core::ptr::write_bytes(addr.wrapping_add(off) as *mut u8, 0, size) };
    }
}

/// Zeroes the areas at `addrs`, `size` bytes each, in every unit (offsets `unit_offsets`):
/// neighbours in rising address order are zeroed as one range.
///
/// # Safety
///
/// As for [`zero_area`], for every area.
#[inline]
pub(crate) unsafe fn zero_areas(addrs: &[usize], size: usize, unit_offsets: &[usize]) {
    let mut i = 0;
    while i < addrs.len() {
        let start = addrs[i];
        let mut end = start + size;
        i += 1;
        while i < addrs.len() && addrs[i] == end {
            end += size;
            i += 1;
        }
        // SAFETY: `[start, end)` is a run of the caller's areas.
        unsafe { zero_run(start, end - start, unit_offsets) };
    }
}

/// [`zero_area`] for a run of areas: long runs with non-temporal stores (no read for
/// ownership of lines about to be overwritten whole; x86_64's `movnti`, in `arch`).
///
/// # Safety
///
/// As for [`zero_area`].
#[inline]
unsafe fn zero_run(addr: usize, size: usize, unit_offsets: &[usize]) {
    #[cfg(target_arch = "x86_64")]
    if size >= NT_MIN {
        for &off in unit_offsets {
            // SAFETY: forwarded from the caller: this unit's copy of the run is writable and
            // ours.
            unsafe { crate::arch::zero_nontemporal(addr.wrapping_add(off), size) };
        }
        // What follows sees the zeroes ordered as plain stores would be.
        crate::arch::nontemporal_fence();
        return;
    }
    // SAFETY: forwarded from the caller.
    unsafe { zero_area(addr, size, unit_offsets) };
}

/// Runs at least this long are zeroed with non-temporal stores.
#[cfg(target_arch = "x86_64")]
const NT_MIN: usize = 2048;
