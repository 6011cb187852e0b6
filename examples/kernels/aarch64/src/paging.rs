//! Stage-1 page tables with a 4 KiB granule and 39-bit virtual addresses (walks start at
//! level 1): extra 1 GiB identity blocks for RAM beyond the boot map, and the helpers the
//! page-mode first chunk maps its pages with. The per-CPU range lies above RAM, where
//! [`populate_pte`] creates the level-2 and level-3 tables (from the frame allocator) and
//! [`map_page`] installs 4 KiB Normal-memory leaves.
//!
//! The tables are in Normal write-back memory and the walks are cacheable, so a barrier makes
//! a new entry visible to every CPU's walker; replacing an invalid entry needs no TLB
//! maintenance.

use core::arch::asm;

use kernel_common::frames;

const VALID: u64 = 1 << 0;
/// Bits [1:0] of a table descriptor (levels 1-2) or a page descriptor (level 3).
const TABLE_OR_PAGE: u64 = 0b11;
/// Bits [1:0] of a block descriptor (levels 1-2).
const BLOCK: u64 = 0b01;
/// `AttrIndx` 1: Normal write-back (see `boot::MAIR`).
const ATTR_NORMAL: u64 = 1 << 2;
/// AP[1]: EL0 access at EL1; RES1 in the EL2 regime.
const AP1: u64 = 1 << 6;
/// Inner shareable.
const SH_INNER: u64 = 3 << 8;
/// Access flag.
const AF: u64 = 1 << 10;
/// PXN (EL1 regime).
const PXN: u64 = 1 << 53;
/// UXN at EL1, XN at EL2.
const XN: u64 = 1 << 54;
const ADDR_MASK: u64 = 0x0000_FFFF_FFFF_F000;
const PAGE: usize = 4096;
/// Virtual addresses are below 2^39.
pub const VA_LIMIT: usize = 1 << 39;

/// Serialises page-table changes.
static LOCK: spin::Mutex<()> = spin::Mutex::new(());

/// The attributes of a writable, non-executable Normal-memory leaf in this kernel's regime.
fn leaf_attributes() -> u64 {
    let regime = if cfg!(feature = "el2") { AP1 | XN } else { PXN | XN };
    AF | SH_INNER | ATTR_NORMAL | regime
}

/// The root (level-1) table.
fn root() -> u64 {
    let ttbr: u64;
    // SAFETY: reading the translation table base register of the kernel's regime.
    unsafe {
        if cfg!(feature = "el2") {
            asm!("mrs {}, ttbr0_el2", out(reg) ttbr, options(nomem, nostack, preserves_flags));
        } else {
            asm!("mrs {}, ttbr0_el1", out(reg) ttbr, options(nomem, nostack, preserves_flags));
        }
    }
    ttbr & ADDR_MASK
}

/// Makes table updates visible to the walkers of every CPU.
fn publish() {
    // SAFETY: barriers only.
    unsafe { asm!("dsb ishst", "isb", options(nostack, preserves_flags)) }
}

fn entry(table: u64, virt: usize, shift: u32) -> *mut u64 {
    (table as usize as *mut u64).wrapping_add((virt >> shift) & 511)
}

fn check(virt: usize) -> Result<(), &'static str> {
    if !virt.is_multiple_of(PAGE) {
        return Err("address not page-aligned");
    }
    if virt >= VA_LIMIT {
        return Err("address beyond the 39-bit virtual range");
    }
    Ok(())
}

/// Walks to the level-3 table of `virt`, creating missing tables when `create`.
fn walk(virt: usize, create: bool) -> Result<u64, &'static str> {
    let mut table = root();
    for shift in [30, 21] {
        let e = entry(table, virt, shift);
        // SAFETY: `table` is a table of the live hierarchy (the root, then tables its valid
        // table descriptors point at), identity-mapped; the lock serialises writers.
        let value = unsafe { e.read_volatile() };
        if value & VALID == 0 {
            if !create {
                return Err("page-table level missing: populate_pte first");
            }
            let new =
                frames::alloc_zeroed(PAGE, PAGE).map_err(|_| "out of frames for page tables")?;
            publish();
            // SAFETY: as above; the new table is zeroed (all invalid) before it is linked.
            unsafe { e.write_volatile(new as u64 | TABLE_OR_PAGE) };
            publish();
            table = new as u64;
        } else if value & TABLE_OR_PAGE == BLOCK {
            return Err("a block mapping already covers this address");
        } else {
            table = value & ADDR_MASK;
        }
    }
    Ok(table)
}

/// Identity-maps the GiB at `gib << 30` as Normal memory with a level-1 block (RAM beyond the
/// boot map's second GiB).
pub fn map_ram_gib(gib: usize) -> Result<(), &'static str> {
    if gib >= VA_LIMIT >> 30 {
        return Err("RAM beyond the 39-bit virtual range");
    }
    let _lock = LOCK.lock();
    let e = entry(root(), gib << 30, 30);
    let regime = if cfg!(feature = "el2") { AP1 } else { 0 };
    // SAFETY: the root's entry for that GiB; the lock serialises writers.
    unsafe {
        if e.read_volatile() & VALID == 0 {
            e.write_volatile(((gib as u64) << 30) | AF | SH_INNER | ATTR_NORMAL | regime | BLOCK);
        }
    }
    publish();
    Ok(())
}

/// Creates the level-2 and level-3 tables of `virt`.
pub fn populate_pte(virt: usize) -> Result<(), &'static str> {
    check(virt)?;
    let _lock = LOCK.lock();
    walk(virt, true).map(|_| ())
}

/// Maps the 4 KiB page `virt` to `phys`: Normal write-back, inner shareable, writable, never
/// executable.
pub fn map_page(virt: usize, phys: usize) -> Result<(), &'static str> {
    check(virt)?;
    if !phys.is_multiple_of(PAGE) {
        return Err("physical address not page-aligned");
    }
    let _lock = LOCK.lock();
    let e = entry(walk(virt, false)?, virt, 12);
    // SAFETY: the level-3 entry of `virt` in the live hierarchy; the lock serialises writers.
    unsafe {
        if e.read_volatile() & VALID != 0 {
            return Err("page already mapped");
        }
        e.write_volatile(phys as u64 | leaf_attributes() | TABLE_OR_PAGE);
    }
    publish();
    Ok(())
}

/// Unmaps the 4 KiB page `virt`, if mapped, and invalidates it in every CPU's TLB.
pub fn unmap_page(virt: usize) {
    if check(virt).is_err() {
        return;
    }
    let _lock = LOCK.lock();
    if let Ok(table) = walk(virt, false) {
        // SAFETY: as in `map_page`; then a broadcast TLB invalidation of that page.
        unsafe {
            entry(table, virt, 12).write_volatile(0);
            asm!("dsb ishst", options(nostack, preserves_flags));
            if cfg!(feature = "el2") {
                asm!("tlbi vae2is, {}", in(reg) virt >> 12, options(nostack, preserves_flags));
            } else {
                asm!("tlbi vaae1is, {}", in(reg) virt >> 12, options(nostack, preserves_flags));
            }
            asm!("dsb ish", "isb", options(nostack, preserves_flags));
        }
    }
}

/// Cleans the data-cache lines of `start..start + len` to the point of coherency, so that a
/// CPU running with its MMU and caches off reads what this CPU wrote there.
pub fn clean_to_poc(start: usize, len: usize) {
    let ctr: u64;
    // SAFETY: reading the cache type register.
    unsafe { asm!("mrs {}, ctr_el0", out(reg) ctr, options(nomem, nostack, preserves_flags)) };
    // DminLine: log2 of the smallest data-cache line, in 4-byte words.
    let line_size = 4usize << ((ctr >> 16) & 0xF);
    let mut line = start & !(line_size - 1);
    while line < start + len {
        // SAFETY: a cache clean by virtual address of mapped memory changes no data.
        unsafe { asm!("dc cvac, {}", in(reg) line, options(nostack, preserves_flags)) };
        line += line_size;
    }
    // SAFETY: a barrier.
    unsafe { asm!("dsb sy", options(nostack, preserves_flags)) };
}
