//! The page table the TLB refill handler walks (4 KiB pages, three levels, `PWCL` in
//! `boot.rs`): only the upper half of the address space is translated through it (the
//! page-mode first chunk and the dynamic chunks live there); the lower half is the direct-mapped
//! window `DMW0`. [`populate_pte`] creates the level-1 and level-0 tables (from the frame
//! allocator), [`map_page`] installs 4 KiB leaves, [`unmap_page`] removes them.
//!
//! Directory entries hold the next table's physical address (bit 6, "huge", clear); leaves are
//! valid, dirty, cached, global and never executable. The refill handler loads an even/odd
//! pair of leaves, so a CPU may hold the invalid half of a pair whose page is mapped later: the
//! page-invalid exception that follows flushes its TLB and retries (`loongarch64_exception`).
//! LoongArch has no broadcast TLB invalidation: every change flushes this CPU's TLB; the other
//! CPUs reload a stale pair on their next page-invalid exception.

use core::arch::asm;

use kernel_common::frames;

const VALID: u64 = 1 << 0;
const DIRTY: u64 = 1 << 1;
/// Memory access type 1: coherent cached.
const MAT_CC: u64 = 1 << 4;
const GLOBAL: u64 = 1 << 6;
const NO_EXECUTE: u64 = 1 << 62;
/// A readable, writable, non-executable leaf.
const LEAF_RW: u64 = VALID | DIRTY | MAT_CC | GLOBAL | NO_EXECUTE;
/// The physical address field of a leaf (bits 47:12).
const PA_MASK: u64 = ((1 << 48) - 1) & !0xfff;
const PAGE: usize = 4096;
/// The start of the upper half (48-bit virtual addresses, sign-extended).
pub const UPPER_HALF: usize = 0xffff_8000_0000_0000;

/// Serialises page-table changes.
static LOCK: spin::Mutex<()> = spin::Mutex::new(());

fn root() -> usize {
    &raw const crate::boot::boot_root as usize
}

/// Removes every entry from this CPU's TLB (`invtlb 0`).
pub fn flush_local() {
    // SAFETY: invalidates this CPU's TLB entries; the next accesses refill from the table.
    unsafe { asm!("invtlb 0, $zero, $zero", options(nostack, preserves_flags)) };
}

fn entry(table: usize, virt: usize, shift: u32) -> *mut u64 {
    (table as *mut u64).wrapping_add((virt >> shift) & 511)
}

fn check(virt: usize) -> Result<(), &'static str> {
    if !virt.is_multiple_of(PAGE) {
        return Err("address not page-aligned");
    }
    if virt < UPPER_HALF || virt >= UPPER_HALF + (1 << 39) {
        return Err("address outside the translated part of the upper half");
    }
    Ok(())
}

/// Walks to the level-0 table of `virt`, creating missing tables when `create`.
fn walk(virt: usize, create: bool) -> Result<usize, &'static str> {
    let mut table = root();
    for shift in [30, 21] {
        let e = entry(table, virt, shift);
        // SAFETY: `table` is a table of the live hierarchy (the root, then tables its non-zero
        // entries point at), in direct-mapped RAM; the lock serialises writers.
        let value = unsafe { e.read_volatile() };
        if value == 0 {
            if !create {
                return Err("page-table level missing: populate_pte first");
            }
            let new =
                frames::alloc_zeroed(PAGE, PAGE).map_err(|_| "out of frames for page tables")?;
            // SAFETY: as above; the new table is zeroed (all invalid) before it is linked.
            unsafe { e.write_volatile(new as u64) };
            table = new;
        } else {
            table = value as usize;
        }
    }
    Ok(table)
}

/// Whether the 4 KiB page of `virt` has a valid leaf (for the page-invalid exception).
pub fn is_mapped(virt: usize) -> bool {
    let page = virt & !(PAGE - 1);
    if check(page).is_err() {
        return false;
    }
    match walk(page, false) {
        // SAFETY: the level-0 entry of `page` in the live hierarchy; a racing writer only
        // turns it from 0 into a leaf or back, each one aligned 8-byte store.
        Ok(table) => unsafe { entry(table, page, 12).read_volatile() & VALID != 0 },
        Err(_) => false,
    }
}

/// Creates the level-1 and level-0 tables of `virt`.
pub fn populate_pte(virt: usize) -> Result<(), &'static str> {
    check(virt)?;
    let _lock = LOCK.lock();
    walk(virt, true).map(|_| ())
}

/// Maps the 4 KiB page `virt` to `phys`: readable, writable, never executable.
pub fn map_page(virt: usize, phys: usize) -> Result<(), &'static str> {
    check(virt)?;
    if !phys.is_multiple_of(PAGE) {
        return Err("physical address not page-aligned");
    }
    let _lock = LOCK.lock();
    let e = entry(walk(virt, false)?, virt, 12);
    // SAFETY: the level-0 entry of `virt` in the live hierarchy; the lock serialises writers.
    unsafe {
        if e.read_volatile() & VALID != 0 {
            return Err("page already mapped");
        }
        e.write_volatile((phys as u64 & PA_MASK) | LEAF_RW);
    }
    flush_local();
    Ok(())
}

/// Unmaps the 4 KiB page `virt`, if mapped, and flushes this CPU's TLB.
pub fn unmap_page(virt: usize) {
    if check(virt).is_err() {
        return;
    }
    let _lock = LOCK.lock();
    if let Ok(table) = walk(virt, false) {
        // SAFETY: as in `map_page`.
        unsafe { entry(table, virt, 12).write_volatile(0) };
        flush_local();
    }
}
