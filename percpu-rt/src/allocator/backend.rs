//! The memory backend: what the allocator needs from the memory system, kept apart from the
//! allocation logic (as Linux's `percpu-vm.c` / `percpu-km.c` are apart from `percpu.c`).
//!
//! # Contract
//!
//! A backend provides, for chunks congruent with the first chunk ([`ChunkGeometry`]):
//!
//! | call | what it does | context |
//! |---|---|---|
//! | [`Backend::create_chunk`] | reserve address space for every group, laid out exactly as the first chunk's groups (one base, the same group offsets), nothing populated | may sleep |
//! | [`Backend::populate`] | make pages `[start, end)` of *every* CPU's unit readable and writable (content unspecified) | may sleep |
//! | [`Backend::depopulate`] | release pages `[start, end)` of every unit; they are never touched again until populated | may sleep |
//! | [`Backend::destroy_chunk`] | release the reservation (every page is depopulated already) | may sleep |
//! | [`Backend::request_balance`] | ask the kernel's worker to call the balance step soon | any context, interrupts included; must not block |
//!
//! The allocator calls the first four with its growth lock held (one at a time) and never with
//! the allocator state locked, so a backend may sleep and may allocate memory. `populate`,
//! `depopulate` and `destroy_chunk` are `unsafe` to call: given a chunk or pages that are not
//! the caller's to release, they would take memory from under live objects; only the allocator
//! calls them, for chunks it created and pages it knows to be free. It never asks for
//! a page of the first chunk (populated by the first-chunk setup, and immutable when given
//! mapped). Page indexes are pages of one unit, from the unit's start.

use super::error::BackendError;
use crate::cpu_id::CpuId;
use alloc::vec::Vec;
use core::ops::Range;

/// The layout every chunk reproduces (docs/architecture.md, invariant 3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChunkGeometry {
    /// Bytes per unit.
    pub unit_size: usize,
    /// Bytes per page.
    pub page_size: usize,
    /// Each possible CPU's unit: its offset from the chunk base.
    pub units: Vec<(CpuId, usize)>,
    /// Each group's `(offset from the chunk base, size in bytes)`; one starts at offset 0.
    pub groups: Vec<(usize, usize)>,
}

impl ChunkGeometry {
    /// Bytes from the chunk base to the end of its last group: the reservation of one chunk.
    pub fn span(&self) -> usize {
        self.groups.iter().map(|&(off, size)| off + size).max().unwrap_or(0)
    }

    /// Pages per unit.
    pub fn unit_pages(&self) -> usize {
        self.unit_size / self.page_size
    }
}

/// Memory for chunks other than the first.
///
/// # Safety
///
/// The allocator hands out memory on the backend's word: after `create_chunk` returns `base`,
/// `base + offset .. + size` for every group must be address space owned by this chunk alone
/// (no other chunk, the first one included, overlaps it); after `populate` returns `Ok`, those
/// pages of every unit must be readable and writable memory, and stay so until `depopulate` or
/// `destroy_chunk` is called for them.
pub unsafe trait Backend: Sync {
    /// Reserves address space for a chunk shaped as `geometry`.
    ///
    /// CONTEXT: may sleep; called with the allocator's growth lock held.
    ///
    /// RETURNS: the chunk base (group `i` is at `base + geometry.groups[i].0`).
    fn create_chunk(&self, geometry: &ChunkGeometry) -> Result<usize, BackendError>;

    /// Populates `pages` (unit page indexes) of every unit of the chunk at `base`.
    ///
    /// CONTEXT: may sleep; growth lock held. On error nothing must remain populated of `pages`.
    ///
    /// # Safety
    ///
    /// `base` was returned by this backend's [`Backend::create_chunk`] for `geometry` and not
    /// destroyed since; `pages` lies within a unit (`end <= geometry.unit_pages()`).
    unsafe fn populate(
        &self,
        geometry: &ChunkGeometry,
        base: usize,
        pages: Range<usize>,
    ) -> Result<(), BackendError>;

    /// Releases `pages` of every unit of the chunk at `base`.
    ///
    /// CONTEXT: may sleep; growth lock held.
    ///
    /// # Safety
    ///
    /// As for [`Backend::populate`], and nothing in those pages is live: no reference, no
    /// object and no allocation reaches them (their memory is gone afterwards).
    unsafe fn depopulate(&self, geometry: &ChunkGeometry, base: usize, pages: Range<usize>);

    /// Releases the chunk at `base` (every page is depopulated).
    ///
    /// CONTEXT: may sleep; growth lock held.
    ///
    /// # Safety
    ///
    /// `base` was returned by this backend's [`Backend::create_chunk`] for `geometry` and not
    /// destroyed since, and nothing in the chunk is live.
    unsafe fn destroy_chunk(&self, geometry: &ChunkGeometry, base: usize);

    /// Asks for a call of the balance step soon (fewer empty populated pages than the low
    /// mark, a failed non-sleeping allocation, or a chunk became fully free).
    ///
    /// CONTEXT: any, interrupt handlers included; must not block. The default does nothing
    /// (the kernel then calls the balance step periodically).
    fn request_balance(&self) {}
}

#[cfg(feature = "hosted")]
pub mod hosted;
