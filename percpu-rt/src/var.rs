//! [`PerCpu`]: the handle a `#[percpu]` static becomes (and the inside of a
//! [`PerCpuBox`](crate::PerCpuBox)). It stores nothing but its slot: for a static, a zero-sized
//! type whose methods name the template symbol; for a dynamic object, the per-CPU pointer.

use crate::arch::Rmw;
use crate::cpu::{CpuNotPossible, cpu_offset, possible_offsets};
use crate::cpu_id::CpuId;
use crate::guard::{GuardFor, IrqGuard, PinCpu, PreemptGuard};
use crate::mode::{ByValue, Local, Mode, Shared};
use crate::ops;
use crate::registry::Descriptor;
use crate::scalar::{Bitwise, Integer, Raw, Scalar};
use crate::slot::{Slot, StaticSlot};
use core::fmt;
use core::marker::PhantomData;
use core::mem::MaybeUninit;

/// A per-CPU variable: one copy of `T` per possible CPU, at the same offset in every CPU's unit.
///
/// `S` says where the copies are (the variable's slot) and `M` how they may be accessed
/// ([`ByValue`], [`Shared`] or [`Local`]; see [`mode`](crate::mode)). `#[percpu]` picks both;
/// the methods available depend on `M`.
///
/// ```
/// # use percpu_rt::percpu;
/// #[percpu]
/// static HITS: u64 = 0;
///
/// HITS.add(2);      // one `add qword ptr gs:[rip + HITS_template], reg` on x86_64
/// HITS.inc();
/// assert_eq!(HITS.read(), 3);
/// ```
pub struct PerCpu<T, S, M> {
    slot: S,
    _types: PhantomData<(fn() -> T, M)>,
}

impl<T, S, M: Mode> PerCpu<T, S, M> {
    /// The handle of a `#[percpu]` static. Not public API: used by generated code.
    ///
    /// # Safety
    ///
    /// `slot` is the slot of the template of a static of type `T`, and the mode fits `T`
    /// (`ByValue` only for `T: Scalar`).
    #[doc(hidden)]
    pub const unsafe fn __new_static(slot: S) -> Self {
        PerCpu { slot, _types: PhantomData }
    }

    /// A handle for `slot` (dynamic objects).
    ///
    /// # Safety
    ///
    /// As for [`PerCpu::__new_static`], for a live dynamic area.
    #[cfg(feature = "alloc")]
    pub(crate) const unsafe fn from_slot(slot: S) -> Self {
        PerCpu { slot, _types: PhantomData }
    }
}

impl<T, S: Slot<T>, M> PerCpu<T, S, M> {
    /// The per-CPU pointer: the address, in the template's address space, that every CPU's
    /// offset is added to. For a static this is its template.
    #[inline(always)]
    pub fn per_cpu_ptr(&self) -> *mut T {
        self.slot.per_cpu_ptr()
    }

    /// The current CPU's copy, as a raw pointer. Only meaningful while the CPU is pinned;
    /// dereferencing it is `unsafe` and subject to the access rules of the variable's mode.
    ///
    /// With the debug mode (feature `debug-checks`), taking it with the CPU not pinned is
    /// reported.
    #[inline(always)]
    #[track_caller]
    pub fn this_cpu_ptr(&self) -> *mut T {
        #[cfg(feature = "debug-checks")]
        crate::debug::checks::on_raw_pointer(self.per_cpu_ptr() as usize);
        self.current_ptr()
    }

    /// The current CPU's copy, as a raw pointer, for the guarded accessors (checked apart).
    #[inline(always)]
    fn current_ptr(&self) -> *mut T {
        (self.per_cpu_ptr() as usize).wrapping_add(crate::runtime_vars::this_cpu_offset()) as *mut T
    }

    /// The slot (the runtime's own variables are read through it without checks: x86_64's
    /// offset variable, the debug mode's state).
    #[cfg(any(target_arch = "x86_64", feature = "debug-checks"))]
    #[inline(always)]
    pub(crate) fn slot(&self) -> &S {
        &self.slot
    }

    /// CPU `cpu`'s copy, as a raw pointer; `Err` if `cpu` is not a possible CPU.
    #[inline]
    pub fn try_ptr_on(&self, cpu: CpuId) -> Result<*mut T, CpuNotPossible> {
        let offset = cpu_offset(cpu)?;
        Ok((self.per_cpu_ptr() as usize).wrapping_add(offset) as *mut T)
    }

    /// CPU `cpu`'s copy, as a raw pointer (the unsafe path for any `T` and mode).
    ///
    /// # Panics
    ///
    /// If `cpu` is not a possible CPU (never an out-of-bounds pointer).
    #[inline]
    #[track_caller]
    pub fn ptr_on(&self, cpu: CpuId) -> *mut T {
        match self.try_ptr_on(cpu) {
            Ok(p) => p,
            Err(e) => panic!("{e}"),
        }
    }
}

/// By-value access: single-instruction operations on the current CPU's copy, safe anywhere
/// (any context, preemptible or not, interrupt handlers included), and value reads of any CPU's
/// copy.
///
/// The current-CPU operations of a dynamic object ([`PerCpuBox`](crate::PerCpuBox)) panic when
/// the calling code has no per-CPU unit (its base register was never loaded): a static's
/// template is reachable there, a dynamic object's copies are not.
impl<T: Scalar, S: Slot<T>> PerCpu<T, S, ByValue> {
    /// Reads the current CPU's copy (`mov reg, gs:[..]`).
    #[inline(always)]
    #[track_caller]
    pub fn read(&self) -> T {
        ops::read(&self.slot)
    }

    /// Writes the current CPU's copy (`mov gs:[..], reg`).
    #[inline(always)]
    #[track_caller]
    pub fn write(&self, value: T) {
        ops::write(&self.slot, value)
    }

    /// Stores `value` in the current CPU's copy and returns the previous value (`xchg`).
    #[inline(always)]
    #[track_caller]
    pub fn xchg(&self, value: T) -> T {
        ops::xchg(&self.slot, value)
    }

    /// Stores `new` in the current CPU's copy if it holds `current` (`cmpxchg`, without `lock`).
    /// `Ok(previous)` if it stored, `Err(actual)` if the copy held something else.
    #[inline(always)]
    #[track_caller]
    pub fn cmpxchg(&self, current: T, new: T) -> Result<T, T> {
        let want = current.into_raw();
        let previous = ops::cmpxchg(&self.slot, current, new);
        if previous == want { Ok(T::from_raw(previous)) } else { Err(T::from_raw(previous)) }
    }

    /// Reads CPU `cpu`'s copy (an atomic load; the owner may be changing it meanwhile).
    ///
    /// # Panics
    ///
    /// If `cpu` is not a possible CPU.
    #[inline]
    #[track_caller]
    pub fn read_on(&self, cpu: CpuId) -> T {
        match self.try_read_on(cpu) {
            Ok(v) => v,
            Err(e) => panic!("{e}"),
        }
    }

    /// Reads CPU `cpu`'s copy, or reports that `cpu` is not a possible CPU.
    #[inline]
    pub fn try_read_on(&self, cpu: CpuId) -> Result<T, CpuNotPossible> {
        const { crate::scalar::wide_check::<T>() };
        let p = self.try_ptr_on(cpu)?;
        // SAFETY: `p` is a possible CPU's copy of a `T` (aligned, live for the variable's
        // lifetime); all writers use single instructions or atomics, so an atomic load is
        // race-free.
        Ok(T::from_raw(unsafe { T::Raw::atomic_load(p as *const T::Raw) }))
    }

    /// Every possible CPU's value, in CPU order (`HITS.iter_possible().sum::<u64>()`).
    pub fn iter_possible(&self) -> impl ExactSizeIterator<Item = T> + '_ {
        const { crate::scalar::wide_check::<T>() };
        let base = self.per_cpu_ptr() as usize;
        possible_offsets().map(move |(_, offset)| {
            let p = base.wrapping_add(offset) as *const T::Raw;
            // SAFETY: a possible CPU's copy (as in `try_read_on`).
            T::from_raw(unsafe { T::Raw::atomic_load(p) })
        })
    }

    /// Writes CPU `cpu`'s copy: an atomic store, as Linux's `per_cpu(var, cpu) = value`.
    ///
    /// A read-modify-write that CPU makes on its own copy at the same time (`add`, `inc`,
    /// `xchg`, ...: one instruction, but not atomic with respect to other CPUs) may read the
    /// copy before this store and write its result after it: the store is then lost. Write
    /// remotely where the owner does not update the copy meanwhile: a CPU not yet started or
    /// gone offline, a value only other CPUs write (a request flag the owner only reads), or
    /// under the kernel's own serialisation.
    ///
    /// ```
    /// # use percpu_rt::{percpu, CpuId};
    /// #[percpu]
    /// static NEED_RESCHED: bool = false;
    ///
    /// NEED_RESCHED.write_on(CpuId::new(0), true);
    /// assert!(NEED_RESCHED.read_on(CpuId::new(0)));
    /// ```
    ///
    /// # Panics
    ///
    /// If `cpu` is not a possible CPU.
    #[inline]
    #[track_caller]
    pub fn write_on(&self, cpu: CpuId, value: T) {
        if let Err(e) = self.try_write_on(cpu, value) {
            panic!("{e}")
        }
    }

    /// Writes CPU `cpu`'s copy (see [`write_on`](Self::write_on)), or reports that `cpu` is
    /// not a possible CPU.
    #[inline]
    pub fn try_write_on(&self, cpu: CpuId, value: T) -> Result<(), CpuNotPossible> {
        let p = self.try_ptr_on(cpu)?;
        // SAFETY: `p` is a possible CPU's copy of a `T` (aligned, live for the variable's
        // lifetime), accessed by value only: every other access to it is an atomic load or
        // store, or one of the owner's single-instruction operations, which behave as an
        // atomic load followed by an atomic store of the same location (no interrupt can come
        // between them). So this atomic store races with nothing; at worst it is overwritten.
        unsafe { T::Raw::atomic_store(p as *mut T::Raw, value.into_raw()) };
        Ok(())
    }
}

/// A `#[percpu]` static's place in the registry: its offset in every CPU's unit, its
/// declared initial value.
impl<T, S: StaticSlot<T>, M: Mode> PerCpu<T, S, M> {
    /// The static's offset in every CPU's unit (and in the template): its copy on CPU `c` is at
    /// the unit's base plus this (Linux's `per_cpu_offset(c)` + the variable's address).
    ///
    /// ```
    /// # use percpu_rt::percpu;
    /// #[percpu]
    /// static HITS: u64 = 0;
    ///
    /// let offset = HITS.offset();
    /// assert_eq!(HITS.per_cpu_ptr() as usize, percpu_rt::template::start() as usize + offset);
    /// ```
    pub fn offset(&self) -> usize {
        S::DESCRIPTOR.offset()
    }

    /// The static's registry entry: name, module, type, size, class.
    pub fn descriptor(&self) -> &'static Descriptor {
        S::DESCRIPTOR
    }

    /// A fresh initial value of this static for CPU `cpu`: what its copy started as (its
    /// per-CPU initialiser's value, or the declared one).
    fn initial_value(cpu: CpuId) -> T {
        let d = S::DESCRIPTOR;
        let mut fresh = MaybeUninit::<T>::uninit();
        // SAFETY: `d` describes this static of type `T` (`StaticSlot`): its initial value is a
        // `T` that nothing ever writes, so copying its bytes makes a new value, as evaluating
        // its constant initialiser again would; the per-CPU initialiser writes a `T` for `cpu`
        // into the place it is given (if it panics, `fresh` stays uninitialised and is not
        // read).
        unsafe {
            core::ptr::copy_nonoverlapping(d.initial().cast::<T>(), fresh.as_mut_ptr(), 1);
            if let Some(init) = d.init_fn() {
                init(fresh.as_mut_ptr().cast(), cpu);
            }
            fresh.assume_init()
        }
    }
}

/// Resetting a by-value static.
impl<T: Scalar, S: StaticSlot<T>> PerCpu<T, S, ByValue> {
    /// Puts the current CPU's copy back to its initial value (its per-CPU initialiser's value
    /// for this CPU, or the declared one), as ArceOS's `reset_to_init`.
    ///
    /// ```
    /// # use percpu_rt::percpu;
    /// #[percpu]
    /// static HITS: u64 = 7;
    ///
    /// HITS.add(3);
    /// HITS.reset_to_init();
    /// assert_eq!(HITS.read(), 7);
    /// ```
    #[track_caller]
    pub fn reset_to_init(&self) {
        // Pinned, so that the value computed for this CPU goes to this CPU's copy.
        let pin = PreemptGuard::new();
        self.write(Self::initial_value(pin.cpu()));
    }
}

/// Arithmetic on the current CPU's copy (wrapping, as in two's complement).
impl<T: Integer, S: Slot<T>> PerCpu<T, S, ByValue> {
    /// Adds `value` (`add gs:[..], reg`). Negative values subtract.
    #[inline(always)]
    #[track_caller]
    pub fn add(&self, value: T) {
        ops::rmw(&self.slot, Rmw::Add, value)
    }

    /// Subtracts `value` (`sub gs:[..], reg`).
    #[inline(always)]
    #[track_caller]
    pub fn sub(&self, value: T) {
        ops::rmw(&self.slot, Rmw::Sub, value)
    }

    /// Adds one (`inc gs:[..]`).
    #[inline(always)]
    #[track_caller]
    pub fn inc(&self) {
        ops::step(&self.slot, true)
    }

    /// Subtracts one (`dec gs:[..]`).
    #[inline(always)]
    #[track_caller]
    pub fn dec(&self) {
        ops::step(&self.slot, false)
    }

    /// Adds `value` and returns the new value (`xadd`).
    #[inline(always)]
    #[track_caller]
    pub fn add_return(&self, value: T) -> T {
        let previous = ops::fetch_add(&self.slot, value);
        T::from_raw(previous.into_raw().wrapping_add(value.into_raw()))
    }

    /// Subtracts `value` and returns the new value (`xadd` of the negation).
    #[inline(always)]
    #[track_caller]
    pub fn sub_return(&self, value: T) -> T {
        let neg = T::from_raw(value.into_raw().wrapping_neg());
        self.add_return(neg)
    }

    /// Adds one and returns the new value.
    #[inline(always)]
    #[track_caller]
    pub fn inc_return(&self) -> T {
        self.add_return(T::from_raw(T::Raw::from_bits(1)))
    }

    /// Subtracts one and returns the new value.
    #[inline(always)]
    #[track_caller]
    pub fn dec_return(&self) -> T {
        self.add_return(T::from_raw(T::Raw::from_bits(1).wrapping_neg()))
    }

    /// Adds `value` and returns the previous value (`xadd`).
    #[inline(always)]
    #[track_caller]
    pub fn fetch_add(&self, value: T) -> T {
        ops::fetch_add(&self.slot, value)
    }
}

/// Bit operations on the current CPU's copy.
impl<T: Bitwise, S: Slot<T>> PerCpu<T, S, ByValue> {
    /// Bitwise and (`and gs:[..], reg`).
    #[inline(always)]
    #[track_caller]
    pub fn and(&self, value: T) {
        ops::rmw(&self.slot, Rmw::And, value)
    }

    /// Bitwise or (`or gs:[..], reg`).
    #[inline(always)]
    #[track_caller]
    pub fn or(&self, value: T) {
        ops::rmw(&self.slot, Rmw::Or, value)
    }

    /// Bitwise exclusive or (`xor gs:[..], reg`).
    #[inline(always)]
    #[track_caller]
    pub fn xor(&self, value: T) {
        ops::rmw(&self.slot, Rmw::Xor, value)
    }
}

/// Shared references: the current CPU's copy under a pin guard, any CPU's copy for `T: Sync`.
impl<T, S: Slot<T>> PerCpu<T, S, Shared> {
    /// The current CPU's copy, for as long as `guard` pins the CPU.
    ///
    /// A [`PreemptGuard`](crate::PreemptGuard) suffices for `T: Sync`; other `T: Send` need an
    /// [`IrqGuard`].
    ///
    /// # Panics
    ///
    /// For a dynamic object, if the calling code has no per-CPU unit (see
    /// [`PerCpuBox`](crate::PerCpuBox)).
    #[inline(always)]
    #[track_caller]
    pub fn get<'g, G: GuardFor<T>>(&'g self, guard: &'g G) -> &'g T {
        self.slot.check_current();
        #[cfg(feature = "debug-checks")]
        crate::debug::checks::on_guarded_access(
            self.per_cpu_ptr() as usize,
            &crate::guard::PinCpu::record(guard),
        );
        let _ = guard;
        // SAFETY: the guard pins this CPU for 'g, so the pointer stays this CPU's copy, which
        // is initialised (template copy) and lives as long as the variable; `GuardFor<T>`
        // rules out concurrent access that `T` cannot take; no `&mut` to a `Shared` variable
        // exists.
        unsafe { &*self.current_ptr() }
    }

    /// CPU `cpu`'s copy.
    ///
    /// # Panics
    ///
    /// If `cpu` is not a possible CPU.
    #[inline]
    #[track_caller]
    pub fn remote(&self, cpu: CpuId) -> &T
    where
        T: Sync,
    {
        match self.try_remote(cpu) {
            Ok(r) => r,
            Err(e) => panic!("{e}"),
        }
    }

    /// CPU `cpu`'s copy, or `Err` if it is not a possible CPU.
    #[inline]
    pub fn try_remote(&self, cpu: CpuId) -> Result<&T, CpuNotPossible>
    where
        T: Sync,
    {
        let p = self.try_ptr_on(cpu)?;
        // SAFETY: a possible CPU's initialised copy, live as long as `self`; `T: Sync` and no
        // `&mut` to a `Shared` variable ever exists.
        Ok(unsafe { &*p })
    }

    /// Every possible CPU's copy, in CPU order.
    pub fn iter_possible(&self) -> impl ExactSizeIterator<Item = (CpuId, &T)> + '_
    where
        T: Sync,
    {
        let base = self.per_cpu_ptr() as usize;
        possible_offsets().map(move |(cpu, offset)| {
            // SAFETY: as in `try_remote`, for a possible CPU's copy.
            (cpu, unsafe { &*(base.wrapping_add(offset) as *const T) })
        })
    }
}

/// CPU-local exclusive access, all through the CPU's unique [`IrqGuard`].
impl<T: Send, S: Slot<T>> PerCpu<T, S, Local> {
    /// Puts the current CPU's copy back to its initial value (its per-CPU initialiser's value
    /// for this CPU, or the declared one), dropping the value it held.
    ///
    /// ```
    /// # use percpu_rt::{percpu, IrqGuard};
    /// #[percpu(local)]
    /// static QUEUE: [u32; 4] = [0; 4];
    ///
    /// let mut irq = IrqGuard::new();
    /// QUEUE.get_mut(&mut irq)[1] = 5;
    /// QUEUE.reset_to_init(&mut irq);
    /// assert_eq!(*QUEUE.get(&irq), [0; 4]);
    /// ```
    #[track_caller]
    pub fn reset_to_init(&self, guard: &mut IrqGuard)
    where
        S: StaticSlot<T>,
    {
        let fresh = Self::initial_value(guard.cpu());
        // The copy holds its new value before the old one is dropped: a panicking `Drop`
        // leaves a valid copy behind.
        drop(core::mem::replace(self.get_mut(guard), fresh));
    }

    /// The current CPU's copy, shared, while `guard` lives.
    #[inline(always)]
    #[track_caller]
    pub fn get<'g>(&'g self, guard: &'g IrqGuard) -> &'g T {
        self.slot.check_current();
        #[cfg(feature = "debug-checks")]
        crate::debug::checks::on_guarded_access(
            self.per_cpu_ptr() as usize,
            &crate::guard::PinCpu::record(guard),
        );
        let _ = guard;
        // SAFETY: interrupts are masked and the guard is the only one on this CPU; every access
        // to a `Local` copy borrows that guard, so no `&mut` to this copy is live.
        unsafe { &*self.current_ptr() }
    }

    /// The current CPU's copy, exclusive, while `guard` is mutably borrowed.
    #[inline(always)]
    #[track_caller]
    pub fn get_mut<'g>(&'g self, guard: &'g mut IrqGuard) -> &'g mut T {
        self.slot.check_current();
        #[cfg(feature = "debug-checks")]
        crate::debug::checks::on_guarded_access(
            self.per_cpu_ptr() as usize,
            &crate::guard::PinCpu::record(guard),
        );
        let _ = guard;
        // SAFETY: as in `get`, and the guard is borrowed mutably for 'g, so no other reference
        // derived from it (and so no other reference to this copy) can be live.
        unsafe { &mut *self.current_ptr() }
    }
}

impl<T, S: Slot<T>, M: Mode> fmt::Debug for PerCpu<T, S, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PerCpu")
            .field("type", &core::any::type_name::<T>())
            .field("per_cpu_ptr", &self.per_cpu_ptr())
            .finish()
    }
}
