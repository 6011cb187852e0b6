//! The hosted memory providers are public (issue 13, item 7) so that a program can set up
//! per-CPU memory without a `Machine`; their safe methods must not be a way to unmap or replace
//! memory they do not own. Each misuse is refused and counted, and the memory stays usable.

use percpu_rt::CpuId;
use percpu_rt::first_chunk::{EarlyMemory, PageAlloc, PhysPage, VmSpace};
use percpu_rt::hosted::{MemfdPages, MmapMemory};

#[test]
fn the_early_allocator_frees_only_what_it_handed_out() {
    let mut mem = MmapMemory::new();
    let kept = vec![0xabu8; 4096];
    let foreign = core::ptr::NonNull::new(kept.as_ptr() as *mut u8).unwrap();
    mem.free(foreign, 4096);
    assert_eq!(mem.refused(), 1);
    assert!(kept.iter().all(|&b| b == 0xab), "the vector's memory is still there");

    let p = mem.alloc(3 * 4096, 4096, CpuId::new(0)).unwrap();
    // A tail, then the head: both inside what was handed out.
    mem.free(core::ptr::NonNull::new(p.as_ptr().wrapping_add(2 * 4096)).unwrap(), 4096);
    assert_eq!(mem.live_bytes(), 2 * 4096);
    mem.free(p, 2 * 4096);
    assert_eq!(mem.live_bytes(), 0);
    // Twice: refused.
    mem.free(p, 4096);
    assert_eq!(mem.refused(), 2);
}

#[test]
fn the_page_provider_maps_only_into_its_own_ranges() {
    let mut pages = MemfdPages::new().unwrap();
    let page = pages.alloc_page(CpuId::new(0)).unwrap();
    let kept = vec![0x5au8; 3 * 4096];
    let inside_the_vector = (kept.as_ptr() as usize).next_multiple_of(4096);
    let err = pages.map_page(inside_the_vector, page).unwrap_err();
    assert!(err.reason.contains("not a page of a range this MemfdPages reserved"), "{err:?}");
    pages.unmap_page(inside_the_vector);
    pages.release(core::ptr::NonNull::new(inside_the_vector as *mut u8).unwrap(), 4096);
    assert!(kept.iter().all(|&b| b == 0x5a), "the vector's memory is untouched");

    // A page it never handed out, and one given back twice.
    let range = pages.reserve(4096, 4096).unwrap();
    assert!(pages.map_page(range.as_ptr() as usize, PhysPage(1 << 40)).is_err());
    pages.free_page(page);
    pages.free_page(page);
    assert_eq!(pages.refused(), 5);
    assert_eq!(pages.mapped(), 0);
}
