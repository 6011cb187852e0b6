//! [`OnCpu`]: allocation and free through a named CPU's cache.

use super::cache::CpuCache;
use super::state::Request;
use super::{AllocError, Allocator, FreeError, PerCpuArea};
use core::fmt;

/// Allocation and free through one CPU's cache of free areas ([`Allocator::on_cpu`]), from any
/// code: what [`Allocator::alloc`] and a [`PerCpuArea`]'s free do on that CPU, with the CPU
/// named instead of found from the base register.
///
/// Any code may use any CPU's cache: each cache is a lock taken with one atomic step, and a
/// busy cache sends the call through the chunks, as on the CPU itself. Using another CPU's
/// cache is correct, only not local: the CPU's own allocations then contend for it.
pub struct OnCpu<'a> {
    owner: &'a Allocator,
    cache: &'a CpuCache,
}

impl<'a> OnCpu<'a> {
    pub(super) fn new(owner: &'a Allocator, cache: &'a CpuCache) -> Self {
        OnCpu { owner, cache }
    }

    /// [`Allocator::alloc`] through this CPU's cache.
    ///
    /// CONTEXT: may sleep.
    pub fn alloc(&self, size: usize, align: usize) -> Result<PerCpuArea<'a>, AllocError> {
        let (ptr, class) =
            self.owner.alloc_area(size, align, Request::Normal, true, Some(self.cache))?;
        Ok(PerCpuArea::new(ptr, self.owner, class))
    }

    /// [`Allocator::alloc_atomic`] through this CPU's cache.
    ///
    /// CONTEXT: any, interrupt handlers included.
    pub fn alloc_atomic(&self, size: usize, align: usize) -> Result<PerCpuArea<'a>, AllocError> {
        let (ptr, class) =
            self.owner.alloc_area(size, align, Request::Atomic, true, Some(self.cache))?;
        Ok(PerCpuArea::new(ptr, self.owner, class))
    }

    /// Frees `area` into this CPU's cache (an area of another allocator is freed by its own,
    /// as [`PerCpuArea::free`] does).
    ///
    /// CONTEXT: any, interrupt handlers included.
    pub fn free(&self, area: PerCpuArea<'_>) -> Result<(), FreeError> {
        if !core::ptr::eq(area.owner, self.owner) {
            return area.free();
        }
        let (ptr, class) = (area.ptr, area.class);
        core::mem::forget(area);
        self.owner.release_owned(ptr, class, Some(self.cache))
    }
}

impl fmt::Debug for OnCpu<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OnCpu").field("cache", &(self.cache as *const CpuCache)).finish()
    }
}
