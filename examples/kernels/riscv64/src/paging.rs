//! Sv39 page tables (4 KiB pages, three levels, 39-bit virtual addresses): extra 1 GiB identity
//! leaves for RAM beyond the boot map, and the helpers the page-mode first chunk and the dynamic
//! chunks map their pages with. The per-CPU ranges lie above RAM, where [`populate_pte`]
//! creates the level-1 and level-0 tables (from the frame allocator) and [`map_page`] installs
//! 4 KiB leaves.
//!
//! Sv39 lets a hart cache invalid entries, so every change is followed by an `sfence.vma` on
//! every hart (SBI RFENCE): a new mapping is visible to all harts before it is used, and an old
//! one is gone from every TLB before its frame is reused.

use core::arch::asm;

use kernel_common::frames;

use crate::sbi;

const VALID: u64 = 1 << 0;
const READ: u64 = 1 << 1;
const WRITE: u64 = 1 << 2;
const EXECUTE: u64 = 1 << 3;
const GLOBAL: u64 = 1 << 5;
const ACCESSED: u64 = 1 << 6;
const DIRTY: u64 = 1 << 7;
/// A readable, writable, non-executable leaf.
const LEAF_RW: u64 = VALID | READ | WRITE | GLOBAL | ACCESSED | DIRTY;
/// The PPN field of a PTE (bits 53:10).
const PPN_MASK: u64 = ((1 << 44) - 1) << 10;
const PAGE: usize = 4096;
/// Virtual addresses are below 2^38 (the lower half of Sv39).
pub const VA_LIMIT: usize = 1 << 38;

/// Serialises page-table changes.
static LOCK: spin::Mutex<()> = spin::Mutex::new(());

/// A PTE pointing at (or mapping) the physical address `phys`.
fn pte(phys: usize, flags: u64) -> u64 {
    (((phys as u64) >> 12) << 10) | flags
}

/// The physical address a PTE points at.
fn target(pte: u64) -> u64 {
    ((pte & PPN_MASK) >> 10) << 12
}

/// The root table (from `satp`).
fn root() -> u64 {
    let satp: u64;
    // SAFETY: reading satp has no side effects.
    unsafe { asm!("csrr {}, satp", out(reg) satp, options(nomem, nostack, preserves_flags)) };
    (satp & ((1 << 44) - 1)) << 12
}

/// The `satp` value this hart runs with (given to the harts it starts).
pub fn satp() -> u64 {
    let satp: u64;
    // SAFETY: reading satp has no side effects.
    unsafe { asm!("csrr {}, satp", out(reg) satp, options(nomem, nostack, preserves_flags)) };
    satp
}

/// Makes table updates visible to the translation of every hart.
fn publish() -> Result<(), &'static str> {
    // SAFETY: a fence of this hart's address translation; no memory changes.
    unsafe { asm!("sfence.vma", options(nostack, preserves_flags)) };
    sbi::remote_sfence_vma_all().map_err(|e| e.describe())
}

fn entry(table: u64, virt: usize, shift: u32) -> *mut u64 {
    (table as usize as *mut u64).wrapping_add((virt >> shift) & 511)
}

fn check(virt: usize) -> Result<(), &'static str> {
    if !virt.is_multiple_of(PAGE) {
        return Err("address not page-aligned");
    }
    if virt >= VA_LIMIT {
        return Err("address beyond the lower half of the Sv39 range");
    }
    Ok(())
}

/// Walks to the level-0 table of `virt`, creating missing tables when `create`.
fn walk(virt: usize, create: bool) -> Result<u64, &'static str> {
    let mut table = root();
    for shift in [30, 21] {
        let e = entry(table, virt, shift);
        // SAFETY: `table` is a table of the live hierarchy (the root, then tables its valid
        // non-leaf entries point at), identity-mapped; the lock serialises writers.
        let value = unsafe { e.read_volatile() };
        if value & VALID == 0 {
            if !create {
                return Err("page-table level missing: populate_pte first");
            }
            let new =
                frames::alloc_zeroed(PAGE, PAGE).map_err(|_| "out of frames for page tables")?;
            // SAFETY: as above; the new table is zeroed (all invalid) before it is linked.
            unsafe { e.write_volatile(pte(new, VALID)) };
            table = new as u64;
        } else if value & (READ | WRITE | EXECUTE) != 0 {
            return Err("a large leaf already covers this address");
        } else {
            table = target(value);
        }
    }
    Ok(table)
}

/// Identity-maps the GiB at `gib << 30` as RAM with a 1 GiB leaf (RAM beyond the boot map's
/// GiB 2).
pub fn map_ram_gib(gib: usize) -> Result<(), &'static str> {
    if gib >= VA_LIMIT >> 30 {
        return Err("RAM beyond the lower half of the Sv39 range");
    }
    let _lock = LOCK.lock();
    let e = entry(root(), gib << 30, 30);
    // SAFETY: the root's entry for that GiB; the lock serialises writers.
    unsafe {
        if e.read_volatile() & VALID == 0 {
            e.write_volatile(pte(gib << 30, LEAF_RW | EXECUTE));
        }
    }
    publish()
}

/// Creates the level-1 and level-0 tables of `virt`.
pub fn populate_pte(virt: usize) -> Result<(), &'static str> {
    check(virt)?;
    let _lock = LOCK.lock();
    walk(virt, true)?;
    publish()
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
        e.write_volatile(pte(phys, LEAF_RW));
    }
    publish()
}

/// Unmaps the 4 KiB page `virt`, if mapped, and removes it from every hart's TLB.
pub fn unmap_page(virt: usize) {
    if check(virt).is_err() {
        return;
    }
    let _lock = LOCK.lock();
    if let Ok(table) = walk(virt, false) {
        // SAFETY: as in `map_page`.
        unsafe { entry(table, virt, 12).write_volatile(0) };
        if let Err(e) = publish() {
            kernel_common::fail!("unmapping {virt:#x}: the TLB shootdown failed: {e}");
        }
    }
}
