//! Changing the first chunk's mappings after the setup: [`FirstChunk::map_pages`],
//! [`FirstChunk::unmap_pages`], [`FirstChunk::populate`] and [`FirstChunk::depopulate`] on a
//! chunk percpu mapped itself, refused (and counted: [`refused_ops`]) on an immutable one.

use super::{FirstChunk, PageAlloc, PhysPage, VmError, VmSpace};
use crate::boot_memory::{self, OutOfBootMemory, Table};
use crate::cpu_id::CpuId;
use core::fmt;
use core::ops::Range;
use core::sync::atomic::{AtomicUsize, Ordering};

static REFUSED: AtomicUsize = AtomicUsize::new(0);

/// How many map/unmap/populate/depopulate requests on an immutable chunk were refused.
pub fn refused_ops() -> usize {
    REFUSED.load(Ordering::Relaxed)
}

impl FirstChunk {
    /// Maps `pages[i]` at page `range.start + i` of every unit (unit order: `pages` holds
    /// `range.len()` pages per unit). Refused for an immutable chunk (and recorded).
    ///
    /// # Safety
    ///
    /// For a mutable chunk: the pages are free for this chunk to own, `vm` is the virtual-memory
    /// space the chunk was built in, and nothing in those unit pages is live (their old contents
    /// are gone). An immutable chunk refuses the call before touching anything.
    pub unsafe fn map_pages(
        &mut self,
        range: Range<usize>,
        pages: &[PhysPage],
        vm: &mut dyn VmSpace,
    ) -> Result<(), ChunkOpError> {
        self.refuse_if_immutable(ChunkOp::Map, &range)?;
        let per_unit = range.len();
        if pages.len() != per_unit * self.units.len() {
            return Err(ChunkOpError::PageCount {
                given: pages.len(),
                needed: per_unit * self.units.len(),
            });
        }
        let unit_pages = self.ai.unit_size / self.page_size;
        for u in 0..self.units.len() {
            let (cpu, off) = self.units[u];
            for (i, page_index) in range.clone().enumerate() {
                let addr = self.base_addr + off + page_index * self.page_size;
                let page = pages[u * per_unit + i];
                vm.populate_pte(addr)
                    .and_then(|()| vm.map_page(addr, page))
                    .map_err(|error| ChunkOpError::Vm { cpu, addr, error })?;
                self.pages[u * unit_pages + page_index] = Some(page);
            }
        }
        Ok(())
    }

    /// Unmaps pages `range` of every unit; returns the pages that were mapped there. Refused
    /// for an immutable chunk (and recorded).
    ///
    /// # Safety
    ///
    /// For a mutable chunk: `vm` is the virtual-memory space the chunk was built in, and
    /// nothing in those unit pages is live or will be used again before they are mapped anew.
    /// An immutable chunk refuses the call before touching anything.
    pub unsafe fn unmap_pages(
        &mut self,
        range: Range<usize>,
        vm: &mut dyn VmSpace,
    ) -> Result<Table<PhysPage>, ChunkOpError> {
        self.refuse_if_immutable(ChunkOp::Unmap, &range)?;
        let unit_pages = self.ai.unit_size / self.page_size;
        let in_range = |u: usize| &self.pages[u * unit_pages..][range.clone()];
        let mapped = (0..self.units.len()).map(|u| in_range(u).iter().flatten().count()).sum();
        let mut freed = boot_memory::with_capacity(mapped)?;
        for (u, &(_, off)) in self.units.iter().enumerate() {
            for page_index in range.clone() {
                if let Some(page) = self.pages[u * unit_pages + page_index].take() {
                    vm.unmap_page(self.base_addr + off + page_index * self.page_size);
                    freed.push(page);
                }
            }
        }
        Ok(freed)
    }

    /// Populates pages `range` of every unit with fresh pages. Refused for an immutable chunk.
    ///
    /// # Safety
    ///
    /// As for [`FirstChunk::map_pages`], with pages from `pages`.
    pub unsafe fn populate(
        &mut self,
        range: Range<usize>,
        pages: &mut dyn PageAlloc,
        vm: &mut dyn VmSpace,
    ) -> Result<(), ChunkOpError> {
        self.refuse_if_immutable(ChunkOp::Populate, &range)?;
        let mut fresh: Table<PhysPage> =
            boot_memory::with_capacity(range.len() * self.units.len())?;
        for &(cpu, _) in &self.units {
            for _ in range.clone() {
                match pages.alloc_page(cpu) {
                    Some(p) => fresh.push(p),
                    None => {
                        fresh.iter().for_each(|&p| pages.free_page(p));
                        return Err(ChunkOpError::OutOfPages { cpu });
                    }
                }
            }
        }
        // SAFETY: forwarded from the caller; the pages are fresh from `pages`.
        unsafe { self.map_pages(range, &fresh, vm) }
    }

    /// Depopulates pages `range` of every unit, giving the pages back. Refused for an immutable
    /// chunk.
    ///
    /// # Safety
    ///
    /// As for [`FirstChunk::unmap_pages`], and `pages` is the page allocator the pages came
    /// from.
    pub unsafe fn depopulate(
        &mut self,
        range: Range<usize>,
        pages: &mut dyn PageAlloc,
        vm: &mut dyn VmSpace,
    ) -> Result<(), ChunkOpError> {
        self.refuse_if_immutable(ChunkOp::Depopulate, &range)?;
        // SAFETY: forwarded from the caller.
        for &page in unsafe { self.unmap_pages(range, vm)? }.iter() {
            pages.free_page(page);
        }
        Ok(())
    }

    fn refuse_if_immutable(&self, op: ChunkOp, range: &Range<usize>) -> Result<(), ChunkOpError> {
        let unit_pages = self.ai.unit_size / self.page_size;
        if self.immutable {
            REFUSED.fetch_add(1, Ordering::Relaxed);
            return Err(ChunkOpError::Immutable { op, pages: range.clone() });
        }
        if range.start > range.end || range.end > unit_pages {
            return Err(ChunkOpError::OutOfRange { pages: range.clone(), unit_pages });
        }
        Ok(())
    }
}

/// An operation on a chunk's memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChunkOp {
    /// Map pages.
    Map,
    /// Unmap pages.
    Unmap,
    /// Allocate and map pages.
    Populate,
    /// Unmap and free pages.
    Depopulate,
}

impl fmt::Display for ChunkOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ChunkOp::Map => "map",
            ChunkOp::Unmap => "unmap",
            ChunkOp::Populate => "populate",
            ChunkOp::Depopulate => "depopulate",
        })
    }
}

/// A refused or failed operation on the first chunk's memory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChunkOpError {
    /// The chunk is immutable: the caller mapped it, percpu never touches its mappings
    /// (docs/architecture.md, invariant 4). Nothing was done.
    Immutable {
        /// The operation that was refused.
        op: ChunkOp,
        /// The pages it named.
        pages: Range<usize>,
    },
    /// The page range is outside the unit.
    OutOfRange {
        /// The pages named.
        pages: Range<usize>,
        /// Pages per unit.
        unit_pages: usize,
    },
    /// `map_pages` got the wrong number of pages.
    PageCount {
        /// Pages given.
        given: usize,
        /// Pages needed (range length × units).
        needed: usize,
    },
    /// The page allocator ran out.
    OutOfPages {
        /// The CPU whose page could not be allocated.
        cpu: CpuId,
    },
    /// A virtual-memory callback failed.
    Vm {
        /// The CPU.
        cpu: CpuId,
        /// The address.
        addr: usize,
        /// The callback's error.
        error: VmError,
    },
    /// Without the `alloc` feature: the boot memory cannot hold the page list of the
    /// operation (with `alloc` the heap holds it and this never happens). Nothing was done.
    OutOfBootMemory(OutOfBootMemory),
}

impl From<OutOfBootMemory> for ChunkOpError {
    fn from(e: OutOfBootMemory) -> Self {
        ChunkOpError::OutOfBootMemory(e)
    }
}

impl fmt::Display for ChunkOpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChunkOpError::Immutable { op, pages } => write!(
                f,
                "refused to {op} pages {}..{} of the first chunk: it is immutable (the caller \
                 allocated and mapped it, e.g. in large pages), so percpu never changes its \
                 mappings; this request is a bug in its caller",
                pages.start, pages.end
            ),
            ChunkOpError::OutOfRange { pages, unit_pages } => write!(
                f,
                "pages {}..{} are outside the unit ({unit_pages} pages)",
                pages.start, pages.end
            ),
            ChunkOpError::PageCount { given, needed } => {
                write!(f, "{given} pages given, {needed} needed (range length × units)")
            }
            ChunkOpError::OutOfPages { cpu } => {
                write!(f, "no page left for CPU {cpu}; give the page allocator more memory")
            }
            ChunkOpError::Vm { cpu, addr, error } => {
                write!(f, "virtual-memory operation at {addr:#x} (CPU {cpu}) failed: {error}")
            }
            ChunkOpError::OutOfBootMemory(e) => fmt::Display::fmt(e, f),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for ChunkOpError {}
