//! The dynamic per-CPU allocator's memory backend in these kernels (Linux's `percpu-vm.c` in
//! miniature): a chunk beyond the first is a reservation in a virtual range of its own, laid
//! out like the first chunk, and its pages are populated on demand with frames from
//! [`crate::frames`], mapped through the kernel's page tables ([`Arch::populate_pte`],
//! [`Arch::map_page`]) and unmapped again when the allocator depopulates them.
//!
//! Reservations are taken from the range in order and never reused: the range is far larger
//! than any run of these kernels needs.

use alloc::collections::BTreeMap;
use core::ops::Range;

use percpu_rt::allocator::{Backend, BackendError, ChunkGeometry};

use crate::arch::Arch;
use crate::percpu_setup::GiveBackError;
use crate::{fail, frames};

/// Bytes of virtual address space for dynamic chunks.
pub const RANGE_SIZE: usize = 16 << 30;

/// What the backend tracks.
struct State {
    /// Next free virtual address.
    next: usize,
    /// End of the range.
    end: usize,
    /// Every populated page: virtual address → frame.
    mapped: BTreeMap<usize, usize>,
    /// The first frame the frame allocator refused to take back, and how many more it refused.
    /// `depopulate` and `destroy_chunk` cannot return an error, so the backend records it and
    /// the kernel reports it ([`KernelChunks::refused_frames`]).
    refused: Option<GiveBackError>,
}

/// The backend: chunks in `[base, base + RANGE_SIZE)`.
pub struct KernelChunks {
    arch: &'static dyn Arch,
    state: spin::Mutex<State>,
}

impl core::fmt::Debug for KernelChunks {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let st = self.state.lock();
        f.debug_struct("KernelChunks")
            .field("next", &st.next)
            .field("end", &st.end)
            .field("mapped_pages", &st.mapped.len())
            .finish()
    }
}

impl KernelChunks {
    /// A backend reserving chunks from `base` on.
    pub fn new(arch: &'static dyn Arch, base: usize) -> KernelChunks {
        let state =
            State { next: base, end: base + RANGE_SIZE, mapped: BTreeMap::new(), refused: None };
        KernelChunks { arch, state: spin::Mutex::new(state) }
    }

    /// Pages currently populated in dynamic chunks.
    pub fn mapped_pages(&self) -> usize {
        self.state.lock().mapped.len()
    }

    /// The first frame of a dynamic chunk that the frame allocator refused to take back (it
    /// stays allocated, never reused), with the number of further refusals; `None` when every
    /// frame went back.
    pub fn refused_frames(&self) -> Option<GiveBackError> {
        self.state.lock().refused.clone()
    }

    /// Gives `frame` back to the frame allocator, recording a refusal.
    fn give_back(st: &mut State, frame: usize) {
        if let Err(e) = frames::free(frame, frames::FRAME_SIZE) {
            match &mut st.refused {
                Some(first) => first.more += 1,
                None => {
                    st.refused = Some(GiveBackError {
                        start: frame,
                        size: frames::FRAME_SIZE,
                        error: e,
                        more: 0,
                    })
                }
            }
        }
    }

    /// The first page address of every unit page in `pages` of the chunk at `base`.
    fn addresses(
        geometry: &ChunkGeometry,
        base: usize,
        pages: Range<usize>,
    ) -> impl Iterator<Item = usize> + '_ {
        geometry.units.iter().flat_map(move |&(_, offset)| {
            pages.clone().map(move |p| base + offset + p * geometry.page_size)
        })
    }

    /// Unmaps `virt` and frees its frame, if it is mapped.
    fn release(&self, st: &mut State, virt: usize) {
        if let Some(frame) = st.mapped.remove(&virt) {
            self.arch.unmap_page(virt);
            Self::give_back(st, frame);
        }
    }
}

// SAFETY: `create_chunk` hands out disjoint ranges of a virtual range nothing else uses (the
// first chunk is elsewhere) and never reuses them; `populate` returns Ok only after every
// page asked for is mapped writable to a frame of its own, which stays mapped until
// `depopulate` or `destroy_chunk`; on error it unmaps what it mapped in that call.
unsafe impl Backend for KernelChunks {
    fn create_chunk(&self, geometry: &ChunkGeometry) -> Result<usize, BackendError> {
        let mut st = self.state.lock();
        let bytes = geometry.span();
        let base = st.next.next_multiple_of(geometry.page_size);
        let end = base.checked_add(bytes).filter(|&end| end <= st.end);
        let Some(end) = end else {
            return Err(BackendError::NoAddressSpace { bytes });
        };
        st.next = end;
        Ok(base)
    }

    unsafe fn populate(
        &self,
        geometry: &ChunkGeometry,
        base: usize,
        pages: Range<usize>,
    ) -> Result<(), BackendError> {
        let mut st = self.state.lock();
        let mut done = alloc::vec::Vec::new();
        for virt in Self::addresses(geometry, base, pages.clone()) {
            if st.mapped.contains_key(&virt) {
                fail!("the allocator populated dynamic chunk page {virt:#x} twice");
            }
            let mapped =
                frames::alloc(frames::FRAME_SIZE, frames::FRAME_SIZE).ok().and_then(|frame| {
                    let result =
                        self.arch.populate_pte(virt).and_then(|()| self.arch.map_page(virt, frame));
                    if result.is_err() {
                        Self::give_back(&mut st, frame);
                    }
                    result.ok().map(|()| frame)
                });
            match mapped {
                Some(frame) => {
                    st.mapped.insert(virt, frame);
                    done.push(virt);
                }
                None => {
                    for virt in done {
                        self.release(&mut st, virt);
                    }
                    let bytes = pages.len() * geometry.page_size * geometry.units.len();
                    return Err(BackendError::NoMemory { bytes });
                }
            }
        }
        Ok(())
    }

    unsafe fn depopulate(&self, geometry: &ChunkGeometry, base: usize, pages: Range<usize>) {
        let mut st = self.state.lock();
        for virt in Self::addresses(geometry, base, pages) {
            self.release(&mut st, virt);
        }
    }

    unsafe fn destroy_chunk(&self, geometry: &ChunkGeometry, base: usize) {
        let mut st = self.state.lock();
        let all = 0..geometry.unit_pages();
        for virt in Self::addresses(geometry, base, all) {
            self.release(&mut st, virt);
        }
    }
}
