//! [`PerCpuBox`]: a typed dynamic per-CPU object with the accessors of a `#[percpu]` static.
//!
//! The box is a [`PerCpu<T, DynSlot, M>`](crate::PerCpu) whose slot holds the per-CPU pointer
//! instead of naming a template symbol. Because dynamic and static per-CPU pointers are encoded
//! alike (docs/architecture.md, invariant 3), every accessor works unchanged: on x86_64 `b.add(1)`
//! is the one instruction `add qword ptr gs:[reg], ..` with the pointer in `reg`.
//!
//! Every copy is dropped exactly once, and only if it was built (docs/architecture.md, invariant
//! 6): while the copies are being built, the area belongs to a `Filling` record that, if an
//! initialiser panics, drops exactly the copies built so far and frees the area, and the box
//! exists only once every copy is built; the box's drop goes through a `Dropping` record that
//! carries on with the remaining copies (and frees the area) if one copy's drop panics, as a
//! slice's drop does. Current-CPU accesses check first that the calling code has a unit
//! ([`Slot::check_current`]): with base register 0 the per-CPU pointer is no copy at all.

use super::{AllocError, PerCpuPtr};
use crate::cpu_id::CpuId;
use crate::mode::{ByValue, Local, Mode, Shared};
use crate::scalar::Scalar;
use crate::slot::Slot;
use crate::var::PerCpu;
use core::fmt;
use core::marker::PhantomData;
use core::mem::{align_of, needs_drop, size_of};
use core::ops::Deref;

/// The slot of a dynamic per-CPU object: its per-CPU pointer. Made only by [`PerCpuBox`] and
/// the facilities built on dynamic areas ([`PerCpuCounter`](crate::PerCpuCounter),
/// [`PerCpuRef`](crate::PerCpuRef)).
#[derive(Debug)]
pub struct DynSlot {
    p: usize,
}

impl DynSlot {
    /// The slot of the per-CPU object at per-CPU pointer `p`.
    ///
    /// # Safety
    ///
    /// For as long as any [`PerCpu`] made from the slot is used, `p` names a live area that
    /// holds an initialised `T` (the `T` the slot is used for) in every possible CPU's unit, at
    /// `p + cpu_offset(cpu)`.
    pub(crate) const unsafe fn at(p: usize) -> DynSlot {
        DynSlot { p }
    }
}

// SAFETY: a `DynSlot` is only created (by `PerCpuBox`, or through the unsafe `DynSlot::at`) for a
// live area holding an initialised `T` in every possible CPU's unit, at `p + cpu_offset(cpu)`; its
// `gs:` operations address `GS.base + p`, the current CPU's copy (`GS.base` holds the current CPU's
// offset).
unsafe impl<T> Slot<T> for DynSlot {
    #[inline(always)]
    fn per_cpu_ptr(&self) -> *mut T {
        self.p as *mut T
    }

    #[inline(always)]
    #[track_caller]
    fn check_current(&self) {
        crate::runtime_vars::require_unit();
    }
}

/// Types for which all-zero bytes are a valid value ([`PerCpuBox::zeroed`]).
///
/// # Safety
///
/// The all-zero bit pattern must be a valid `Self`.
pub unsafe trait Zeroable {}

macro_rules! zeroable {
    ($($t:ty),* $(,)?) => {$(
        // SAFETY: zero is a valid value of this primitive type.
        unsafe impl Zeroable for $t {}
    )*};
}

zeroable!(
    u8,
    u16,
    u32,
    u64,
    u128,
    usize,
    i8,
    i16,
    i32,
    i64,
    i128,
    isize,
    f32,
    f64,
    bool,
    char,
    (),
    core::sync::atomic::AtomicU8,
    core::sync::atomic::AtomicU16,
    core::sync::atomic::AtomicU32,
    core::sync::atomic::AtomicU64,
    core::sync::atomic::AtomicUsize,
    core::sync::atomic::AtomicI8,
    core::sync::atomic::AtomicI16,
    core::sync::atomic::AtomicI32,
    core::sync::atomic::AtomicI64,
    core::sync::atomic::AtomicIsize,
    core::sync::atomic::AtomicBool,
);
// SAFETY: a null pointer is a valid raw pointer.
unsafe impl<T> Zeroable for *const T {}
// SAFETY: a null pointer is a valid raw pointer.
unsafe impl<T> Zeroable for *mut T {}
// SAFETY: a null atomic pointer is valid.
unsafe impl<T> Zeroable for core::sync::atomic::AtomicPtr<T> {}
// SAFETY: all-zero is `None`.
unsafe impl<T> Zeroable for Option<core::ptr::NonNull<T>> {}
// SAFETY: zero-sized.
unsafe impl<T: ?Sized> Zeroable for PhantomData<T> {}
// SAFETY: an array of valid zero values.
unsafe impl<T: Zeroable, const N: usize> Zeroable for [T; N] {}
// SAFETY: same layout as `T`.
unsafe impl<T: Zeroable> Zeroable for core::cell::Cell<T> {}
// SAFETY: same layout as `T`.
unsafe impl<T: Zeroable> Zeroable for core::cell::UnsafeCell<T> {}
// SAFETY: any bytes are a valid `MaybeUninit`.
unsafe impl<T> Zeroable for core::mem::MaybeUninit<T> {}

/// A dynamically allocated per-CPU `T`: one copy per possible CPU, with the accessors of a
/// `#[percpu]` static of mode `M` (see [`mode`](crate::mode)), through `Deref` to
/// [`PerCpu`](crate::PerCpu).
///
/// The mode is part of the type and the compiler does not guess it from the value: name it
/// (`PerCpuBox::<u64, ByValue>::new(0)`, `let b: PerCpuBox<u64, ByValue> = ..`), or name only
/// `T` for the default, [`Shared`] (`PerCpuBox::<AtomicU64>::new(..)`). Each mode fits some
/// types ([`Fits`]): `ByValue` the [`Scalar`](crate::Scalar) types, `Shared` and `Local` the
/// `Send` ones.
///
/// Dropping it drops every possible CPU's copy, then frees the area. The references its
/// accessors hand out borrow the box, so none outlives it.
///
/// ```text
/// let hits = PerCpuBox::<u64, ByValue>::new(0)?;
/// hits.add(1);                                  // one instruction on x86_64
/// let total: u64 = hits.iter_possible().sum();
/// ```
// No `M: Mode` bound here: the constructors' `M: Fits<T>` is then the only bound an unnamed
// mode leaves open, and the compiler's "type annotations needed" lists the modes once.
pub struct PerCpuBox<T, M = Shared> {
    inner: PerCpu<T, DynSlot, M>,
    /// `!Send`/`!Sync` by default; see the impls below.
    _not_send_sync: PhantomData<*mut T>,
}

// SAFETY: dropping the box drops every CPU's copy on the dropping thread, so sending it needs
// `T: Send`.
unsafe impl<T: Send, M: Mode> Send for PerCpuBox<T, M> {}
// SAFETY: shared access goes through `PerCpu`'s accessors, whose guard and mode rules are the
// ones that make `#[percpu]` statics (always shared) sound; `T: Send` because each copy is used
// by whichever thread runs on its CPU.
unsafe impl<T: Send, M: Mode> Sync for PerCpuBox<T, M> {}

impl<T, M: Mode> PerCpuBox<T, M> {
    /// Allocates an area for `T` and initialises every possible CPU's copy with `init`.
    ///
    /// # Safety
    ///
    /// `M` fits `T` ([`Fits`]: `ByValue` only for `T: Scalar`, `Shared` and `Local` only for
    /// `T: Send`), and `init` writes a valid `T` through the pointer it is given.
    unsafe fn alloc_with(mut init: impl FnMut(CpuId, *mut T)) -> Result<Self, AllocError> {
        let global = super::global().ok_or(AllocError::NotInitialized)?;
        if !crate::first_chunk_installed() {
            return Err(AllocError::NotInitialized);
        }
        let request = super::state::Request::Normal;
        let (ptr, _) = global.alloc_area(size_of::<T>(), align_of::<T>(), request, false, None)?;
        // Until every copy is written, `filling` owns the area and the copies written so far:
        // if `init` panics for one CPU, its drop drops exactly those copies (never one that was
        // not written) and frees the area, and no box ever exists.
        let mut filling = Filling::<T> { ptr, written: 0, _types: PhantomData };
        for (cpu, offset) in crate::cpu::possible_offsets() {
            init(cpu, ptr.addr().wrapping_add(offset) as *mut T);
            filling.written += 1;
        }
        core::mem::forget(filling);
        // SAFETY: a live area sized and aligned for `T` whose every copy now holds a `T`; the
        // caller picked a fitting mode.
        let inner = unsafe { PerCpu::from_slot(DynSlot { p: ptr.addr() }) };
        Ok(PerCpuBox { inner, _not_send_sync: PhantomData })
    }

    /// Allocates `n` areas for `T` at once
    /// ([`Allocator::alloc_many`](super::Allocator::alloc_many): one acquisition of the allocator's
    /// lock) and initialises every possible CPU's copy of box `i` with `init(i, cpu, ptr)`.
    ///
    /// # Safety
    ///
    /// As for `alloc_with`.
    unsafe fn alloc_many_with(
        n: usize,
        mut init: impl FnMut(usize, CpuId, *mut T),
    ) -> Result<alloc::vec::Vec<Self>, AllocError> {
        let global = super::global().ok_or(AllocError::NotInitialized)?;
        if !crate::first_chunk_installed() {
            return Err(AllocError::NotInitialized);
        }
        let areas = global.alloc_many_uninit(n, size_of::<T>(), align_of::<T>())?;
        // Until its box exists, each area is owned by `pending` (freed, with no copy dropped,
        // if an initialiser panics before its turn) or, while being filled, by a `Filling`.
        let mut pending = Pending { ptrs: areas.iter().map(|a| a.0).collect(), next: 0 };
        let mut boxes = alloc::vec::Vec::with_capacity(n);
        for i in 0..n {
            let ptr = pending.ptrs[i];
            pending.next = i + 1;
            let mut filling = Filling::<T> { ptr, written: 0, _types: PhantomData };
            for (cpu, offset) in crate::cpu::possible_offsets() {
                init(i, cpu, ptr.addr().wrapping_add(offset) as *mut T);
                filling.written += 1;
            }
            core::mem::forget(filling);
            // SAFETY: as in `alloc_with`: every copy of this area holds a `T`.
            let inner = unsafe { PerCpu::from_slot(DynSlot { p: ptr.addr() }) };
            boxes.push(PerCpuBox { inner, _not_send_sync: PhantomData });
        }
        Ok(boxes)
    }

    /// The per-CPU pointer (the box owns the area: freeing it by pointer, with the `unsafe`
    /// [`free_raw`](super::free_raw), while the box lives breaks the box).
    pub fn as_per_cpu_ptr(&self) -> PerCpuPtr {
        PerCpuPtr::from_addr(self.inner.per_cpu_ptr() as usize)
    }

    /// Gives up ownership without dropping the copies or freeing the area.
    pub fn into_raw(self) -> PerCpuPtr {
        let p = self.as_per_cpu_ptr();
        core::mem::forget(self);
        p
    }

    /// Takes ownership of an area made by [`PerCpuBox::into_raw`].
    ///
    /// # Safety
    ///
    /// `ptr` came from `into_raw` of a `PerCpuBox<T, M>` and is not owned by anything else.
    pub unsafe fn from_raw(ptr: PerCpuPtr) -> Self {
        // SAFETY: forwarded from the caller.
        let inner = unsafe { PerCpu::from_slot(DynSlot { p: ptr.addr() }) };
        PerCpuBox { inner, _not_send_sync: PhantomData }
    }
}

/// The modes a [`PerCpuBox<T, M>`](PerCpuBox) can be made with (sealed): [`Shared`] and
/// [`Local`] for `T: Send`, [`ByValue`] for `T: Scalar`. The constructors require `M: Fits<T>`.
#[diagnostic::on_unimplemented(
    message = "`{T}` does not fit the mode `{Self}` of a `PerCpuBox`",
    label = "`ByValue` is only for `Scalar` types (integers, `bool`, raw pointers)",
    note = "for other types write `Shared` or `Local`: `PerCpuBox::<{T}, Shared>::new(..)`"
)]
pub trait Fits<T>: Mode + sealed::Sealed<T> {}

mod sealed {
    /// Seals [`Fits`](super::Fits).
    pub trait Sealed<T> {}
}

impl<T: Send> sealed::Sealed<T> for Shared {}
impl<T: Scalar> sealed::Sealed<T> for ByValue {}
impl<T: Send> sealed::Sealed<T> for Local {}
impl<T: Send> Fits<T> for Shared {}
// A type that is not a scalar is reported as not fitting `ByValue` (the message above), rather
// than as a bare missing `Scalar` with the list of scalar types. `Shared` and `Local` keep the
// compiler's own report of the missing `Send`.
#[diagnostic::do_not_recommend]
impl<T: Scalar> Fits<T> for ByValue {}
impl<T: Send> Fits<T> for Local {}

/// The constructors, for every mode that [fits](Fits) `T` (name the mode: see [`PerCpuBox`]).
// The bound is on each constructor, not on the impl: a mode that does not fit is then reported
// as that bound (with `Fits`'s message), not as a constructor that "exists but cannot be called".
impl<T, M> PerCpuBox<T, M> {
    /// Allocates a per-CPU `T` with a clone of `value` in every possible CPU's copy.
    ///
    /// CONTEXT: may sleep (it may create and populate a chunk).
    pub fn new(value: T) -> Result<Self, AllocError>
    where
        M: Fits<T>,
        T: Clone,
    {
        // SAFETY: `M: Fits<T>` makes the mode fit; each copy is written a clone.
        unsafe { Self::alloc_with(|_, p| p.write(value.clone())) }
    }

    /// Allocates a per-CPU `T` with `f(cpu)` in CPU `cpu`'s copy, for every possible
    /// CPU.
    ///
    /// CONTEXT: may sleep.
    pub fn new_with(mut f: impl FnMut(CpuId) -> T) -> Result<Self, AllocError>
    where
        M: Fits<T>,
    {
        // SAFETY: as in `new`.
        unsafe { Self::alloc_with(|cpu, p| p.write(f(cpu))) }
    }

    /// Allocates a per-CPU `T` whose every copy is all zeroes.
    ///
    /// CONTEXT: may sleep.
    pub fn zeroed() -> Result<Self, AllocError>
    where
        M: Fits<T>,
        T: Zeroable,
    {
        // SAFETY: the mode fits; all-zero is a valid `T` (`Zeroable`).
        unsafe { Self::alloc_with(|_, p| p.cast::<u8>().write_bytes(0, size_of::<T>())) }
    }

    /// Allocates `n` per-CPU `T`s at once, with one acquisition of the allocator's lock
    /// (Linux's `percpu_counter_init_many`), a clone of `value` in every copy. All or
    /// nothing: on error no box exists and nothing stays allocated.
    ///
    /// CONTEXT: may sleep.
    pub fn new_many(n: usize, value: T) -> Result<alloc::vec::Vec<Self>, AllocError>
    where
        M: Fits<T>,
        T: Clone,
    {
        // SAFETY: as in `new`.
        unsafe { Self::alloc_many_with(n, |_, _, p| p.write(value.clone())) }
    }

    /// Allocates `n` per-CPU `T`s at once, `f(i, cpu)` in CPU `cpu`'s copy of box `i`.
    ///
    /// CONTEXT: may sleep.
    pub fn new_many_with(
        n: usize,
        mut f: impl FnMut(usize, CpuId) -> T,
    ) -> Result<alloc::vec::Vec<Self>, AllocError>
    where
        M: Fits<T>,
    {
        // SAFETY: as in `new`.
        unsafe { Self::alloc_many_with(n, |i, cpu, p| p.write(f(i, cpu))) }
    }

    /// Allocates `n` per-CPU `T`s at once, every copy all zeroes.
    ///
    /// CONTEXT: may sleep.
    pub fn zeroed_many(n: usize) -> Result<alloc::vec::Vec<Self>, AllocError>
    where
        M: Fits<T>,
        T: Zeroable,
    {
        // SAFETY: as in `zeroed`.
        unsafe { Self::alloc_many_with(n, |_, _, p| p.cast::<u8>().write_bytes(0, size_of::<T>())) }
    }
}

impl<T, M: Mode> Deref for PerCpuBox<T, M> {
    type Target = PerCpu<T, DynSlot, M>;

    #[inline(always)]
    fn deref(&self) -> &Self::Target {
        &self.inner
    }
}

impl<T, M> Drop for PerCpuBox<T, M> {
    fn drop(&mut self) {
        // Every copy is dropped once, then the area freed, even if one copy's drop panics: the
        // rest are dropped while unwinding, as a slice's elements are.
        let ptr = PerCpuPtr::from_addr(self.inner.per_cpu_ptr() as usize);
        Dropping::<T>::new(ptr, crate::nr_possible_cpus()).run();
    }
}

/// The areas of a batch whose boxes are not built yet (`ptrs[next..]`): on unwinding (an
/// initialiser panicked), freed without dropping anything (none of their copies was written).
struct Pending {
    ptrs: alloc::vec::Vec<PerCpuPtr>,
    next: usize,
}

impl Drop for Pending {
    fn drop(&mut self) {
        if let Some(global) = super::global() {
            for &ptr in &self.ptrs[self.next..] {
                let freed = global.release(ptr);
                debug_assert!(freed.is_ok(), "freeing a batch's area failed: {freed:?}");
            }
        }
    }
}

/// The copies written so far of an area being filled; on unwinding (an initialiser panicked),
/// drops exactly those copies and frees the area.
struct Filling<T> {
    ptr: PerCpuPtr,
    /// How many possible CPUs (in `possible_cpus()` order) have their copy written.
    written: usize,
    _types: PhantomData<T>,
}

impl<T> Drop for Filling<T> {
    fn drop(&mut self) {
        Dropping::<T>::new(self.ptr, self.written).run();
    }
}

/// Drops the first `end` copies of an area (in `possible_cpus()` order), then frees it; if one
/// copy's drop panics, its own drop, while unwinding, carries on with the next copy.
struct Dropping<T> {
    ptr: PerCpuPtr,
    /// The first copy not yet dropped; `usize::MAX` once the area is freed.
    next: usize,
    end: usize,
    _types: PhantomData<T>,
}

impl<T> Dropping<T> {
    fn new(ptr: PerCpuPtr, end: usize) -> Self {
        Dropping { ptr, next: 0, end, _types: PhantomData }
    }

    fn run(&mut self) {
        if needs_drop::<T>() {
            let copies = crate::cpu::possible_offsets().enumerate().take(self.end);
            for (i, (_, offset)) in copies.skip(self.next) {
                self.next = i + 1;
                let copy = self.ptr.addr().wrapping_add(offset) as *mut T;
                // SAFETY: the owner of the area (a box, or an area being filled) guarantees
                // that the first `end` copies hold a `T` nobody references; `next` moved past
                // this copy first, so if its drop panics it is not dropped again.
                unsafe { core::ptr::drop_in_place(copy) };
            }
        }
        self.next = usize::MAX;
        if let Some(global) = super::global() {
            let class = global.class_of(size_of::<T>(), align_of::<T>());
            let freed = global.release_owned(self.ptr, class, None);
            debug_assert!(freed.is_ok(), "freeing a PerCpuBox failed: {freed:?}");
        }
    }
}

impl<T> Drop for Dropping<T> {
    fn drop(&mut self) {
        // Reached before the area is freed only while unwinding from a copy's drop.
        if self.next != usize::MAX {
            self.run();
        }
    }
}

impl<T, M: Mode> fmt::Debug for PerCpuBox<T, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PerCpuBox")
            .field("type", &core::any::type_name::<T>())
            .field("per_cpu_ptr", &self.as_per_cpu_ptr())
            .finish()
    }
}
