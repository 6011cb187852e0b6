//! [`PerCpuArea`]: an owned, untyped dynamic per-CPU area, freed when dropped.
//!
//! The raw allocation calls return this owner instead of a bare [`PerCpuPtr`], so that safe code
//! cannot free an area it does not own: a pointer is a number anyone can copy (a
//! [`PerCpuBox`](super::PerCpuBox)'s included), an owner exists once. Freeing by pointer stays
//! possible for code that keeps its own records, as the `unsafe` [`free_raw`](super::free_raw)
//! and [`Allocator::free_raw`], whose caller promises the area is not owned by anything else.

use super::cache::ClassKey;
use super::{Allocator, FreeError, PerCpuPtr};
use crate::cpu::CpuNotPossible;
use crate::cpu_id::CpuId;
use core::fmt;

/// A dynamic per-CPU area of raw bytes (one copy per possible CPU, zeroed when allocated), owned:
/// dropping it frees the area (as [`PerCpuArea::free`] does, ignoring the result).
///
/// From [`allocator::alloc`](super::alloc) and its siblings (`PerCpuArea<'static>`, the global
/// allocator) or from an [`Allocator`] instance's methods (borrowing the instance). Its copies
/// are reached through raw pointers ([`PerCpuArea::ptr_on`], [`PerCpuArea::this_cpu_ptr`]):
/// typed access is [`PerCpuBox`](super::PerCpuBox)'s job.
pub struct PerCpuArea<'a> {
    pub(super) ptr: PerCpuPtr,
    pub(super) owner: &'a Allocator,
    /// The shape the area was allocated with, so that its free can go to a per-CPU cache
    /// ([`ClassKey::NONE`]: not cached, or unknown after `from_raw`).
    pub(super) class: ClassKey,
}

impl<'a> PerCpuArea<'a> {
    /// The owner of the area `ptr` of `owner`, of shape `class`.
    #[inline(always)]
    pub(super) fn new(ptr: PerCpuPtr, owner: &'a Allocator, class: ClassKey) -> Self {
        PerCpuArea { ptr, owner, class }
    }

    /// Takes ownership of the area `ptr` of `owner` again (after [`PerCpuArea::into_raw`]).
    ///
    /// # Safety
    ///
    /// `ptr` is an area of `owner` that nothing else owns: it came from `into_raw` of an area
    /// of `owner` and was not freed since (or it is not an area of `owner` at all, which the
    /// free then refuses).
    pub unsafe fn from_raw(ptr: PerCpuPtr, owner: &'a Allocator) -> Self {
        // The shape is unknown: the free goes through the chunks, which check the pointer.
        PerCpuArea { ptr, owner, class: ClassKey::NONE }
    }

    /// The per-CPU pointer that names the area (what [`PerCpuPtr::ptr_on`] adds offsets to).
    pub fn ptr(&self) -> PerCpuPtr {
        self.ptr
    }

    /// CPU `cpu`'s copy, as a raw pointer (global allocator: through the CPU table).
    pub fn ptr_on(&self, cpu: CpuId) -> Result<*mut u8, CpuNotPossible> {
        self.ptr.ptr_on(cpu)
    }

    /// The current CPU's copy, as a raw pointer; meaningful only while the CPU is pinned, and
    /// only where the current CPU has a unit (its base register was loaded).
    pub fn this_cpu_ptr(&self) -> *mut u8 {
        self.ptr.this_cpu_ptr()
    }

    /// Gives up ownership without freeing the area; [`PerCpuArea::from_raw`] or
    /// [`free_raw`](super::free_raw) take it back.
    pub fn into_raw(self) -> PerCpuPtr {
        let ptr = self.ptr;
        core::mem::forget(self);
        ptr
    }

    /// Frees the area now, and says whether the allocator took it back.
    ///
    /// CONTEXT: any, interrupt handlers included.
    #[inline]
    pub fn free(self) -> Result<(), FreeError> {
        let (ptr, owner, class) = (self.ptr, self.owner, self.class);
        core::mem::forget(self);
        owner.release_owned(ptr, class, None)
    }
}

impl Drop for PerCpuArea<'_> {
    #[inline]
    fn drop(&mut self) {
        let freed = self.owner.release_owned(self.ptr, self.class, None);
        debug_assert!(freed.is_ok(), "freeing an owned per-CPU area failed: {freed:?}");
    }
}

impl fmt::Debug for PerCpuArea<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("PerCpuArea").field(&self.ptr).finish()
    }
}
