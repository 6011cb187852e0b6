//! 4-level page tables: the helpers the page-mode first chunk maps its pages with. The boot
//! code identity-maps the first 4 GiB with 2 MiB pages; the per-CPU range lies beyond, where
//! [`populate_pte`] creates the missing levels (from the frame allocator) and [`map_page`]
//! installs 4 KiB leaves.

// `crate::frames`: the kernel's frame allocator (kernel-common's here; the core-only kernel,
// which shares this file, has its own).
use crate::frames;

const PRESENT: u64 = 1 << 0;
const WRITABLE: u64 = 1 << 1;
const LARGE: u64 = 1 << 7;
const ADDR_MASK: u64 = 0x000F_FFFF_FFFF_F000;
const PAGE: usize = 4096;

/// Serialises page-table changes.
static LOCK: spin::Mutex<()> = spin::Mutex::new(());

/// The entry of `virt` in the table at physical `table` for the level whose index starts at
/// bit `shift`.
fn entry(table: u64, virt: usize, shift: u32) -> *mut u64 {
    let index = (virt >> shift) & 511;
    (table as usize as *mut u64).wrapping_add(index)
}

fn check(virt: usize) -> Result<(), &'static str> {
    if !virt.is_multiple_of(PAGE) {
        return Err("address not page-aligned");
    }
    let top = (virt as i64) >> 47;
    if top != 0 && top != -1 {
        return Err("address not canonical");
    }
    Ok(())
}

/// Walks from the root to the page table (level 1) of `virt`, creating missing tables when
/// `create`. Returns the page table's physical address.
fn walk(virt: usize, create: bool) -> Result<u64, &'static str> {
    let mut table = crate::cpu::cr3() & ADDR_MASK;
    for shift in [39, 30, 21] {
        let e = entry(table, virt, shift);
        // SAFETY: `table` is a page table of the live hierarchy (the root from CR3, then the
        // tables its present entries point at), identity-mapped; the lock serialises writers.
        let value = unsafe { e.read() };
        if value & PRESENT == 0 {
            if !create {
                return Err("page-table level missing: populate_pte first");
            }
            let new =
                frames::alloc_zeroed(PAGE, PAGE).map_err(|_| "out of frames for page tables")?;
            // SAFETY: as above; the new table is zeroed (no mappings) before it is linked.
            unsafe { e.write(new as u64 | PRESENT | WRITABLE) };
            table = new as u64;
        } else if value & LARGE != 0 {
            return Err("a large page already maps this address");
        } else {
            table = value & ADDR_MASK;
        }
    }
    Ok(table)
}

/// Creates the page-table levels above the leaf entry of `virt`.
pub fn populate_pte(virt: usize) -> Result<(), &'static str> {
    check(virt)?;
    let _lock = LOCK.lock();
    walk(virt, true).map(|_| ())
}

/// Maps the 4 KiB page `virt` to `phys`, writable (write-back cacheable).
pub fn map_page(virt: usize, phys: usize) -> Result<(), &'static str> {
    check(virt)?;
    if !phys.is_multiple_of(PAGE) {
        return Err("physical address not page-aligned");
    }
    let _lock = LOCK.lock();
    let e = entry(walk(virt, false)?, virt, 12);
    // SAFETY: `e` is the leaf entry of `virt` in the live hierarchy; the lock serialises writers.
    unsafe {
        if e.read() & PRESENT != 0 {
            return Err("page already mapped");
        }
        e.write(phys as u64 | PRESENT | WRITABLE);
    }
    Ok(())
}

/// Unmaps the 4 KiB page `virt`, if mapped, and flushes it from this CPU's TLB.
pub fn unmap_page(virt: usize) {
    if check(virt).is_err() {
        return;
    }
    let _lock = LOCK.lock();
    if let Ok(table) = walk(virt, false) {
        // SAFETY: as in `map_page`.
        unsafe { entry(table, virt, 12).write(0) };
        crate::cpu::invlpg(virt);
    }
}
