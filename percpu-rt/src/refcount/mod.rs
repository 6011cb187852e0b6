//! Per-CPU reference counts (Linux's `lib/percpu-refcount.c`): [`PerCpuRef`], whose `get` and
//! `put` touch only the current CPU's count until the object starts dying, and [`Ref`], the
//! reference it hands out.
//!
//! # Modes
//!
//! * **Per-CPU mode**: [`get`](PerCpuRef::get) adds 1 to the current CPU's count and
//!   [`put`](Ref) subtracts 1 from whichever CPU's count the putter runs on (one instruction
//!   on x86_64, inside a pinned section), so no cache line is shared between CPUs. No CPU's
//!   count means anything alone (a reference taken on CPU 0 and dropped on CPU 1 leaves +1
//!   and −1); only the sum does, and it cannot be read cheaply: in this mode the count never
//!   reaches zero and the release never runs.
//! * **Atomic mode**: one shared atomic count, as an `Arc`'s. [`kill`](PerCpuRef::kill) and
//!   [`switch_to_atomic`](PerCpuRef::switch_to_atomic) go there: they set the mode, wait for a
//!   [grace period](crate::grace) (after it, every `get`/`put` that saw per-CPU mode has
//!   finished, and every later one sees atomic mode), then add the per-CPU counts into the
//!   atomic count. While in per-CPU mode the atomic count carries a bias of 2^62 so that the
//!   `get`s and `put`s that raced with the switch never take it to zero.
//!
//! # Life
//!
//! A `PerCpuRef` starts with one reference, the *initial* one, owned by whoever made it.
//! [`kill`](PerCpuRef::kill) marks it dead (so [`tryget_live`](PerCpuRef::tryget_live)
//! fails), switches to atomic mode and drops the initial reference; the `put` that takes the
//! count to zero runs the release function, once per life. [`resurrect`](PerCpuRef::resurrect)
//! (before the count reaches zero) and [`reinit`](PerCpuRef::reinit) (after) start a new life.
//!
//! # Ownership
//!
//! The counted value `T` belongs to the `PerCpuRef`; a [`Ref`] borrows it, so the borrow
//! checker, not the count, keeps the value alive while references exist: a count made wrong
//! (a [`GracePeriod`](crate::grace::GracePeriod) that breaks its contract, extra
//! [`put`](PerCpuRef::put)s) can make the release run early, late or never, never free
//! memory in use. The release is a notification (`fn(&T)`): it typically wakes whoever waits
//! to tear the object down (Linux's `percpu_ref_kill` + completion pattern).
//!
//! ```
//! use percpu_rt::hosted::{Machine, MachineConfig};
//! use percpu_rt::PerCpuRef;
//! use core::sync::atomic::{AtomicBool, Ordering};
//!
//! struct Queue {
//!     drained: AtomicBool,
//! }
//!
//! let machine = Machine::boot(MachineConfig::new(2)).unwrap();
//! let queue = PerCpuRef::new(Queue { drained: AtomicBool::new(false) }, |q| {
//!     q.drained.store(true, Ordering::Release)
//! })
//! .unwrap();
//! machine.run(|_cpu| {
//!     for _ in 0..1000 {
//!         let request = queue.tryget_live().expect("alive"); // this CPU's count only
//!         drop(request);
//!     }
//! });
//! let held = machine.run_on(percpu_rt::CpuId::new(0), || queue.get());
//! queue.kill().unwrap(); // waits for a grace period, then counts atomically
//! assert!(queue.tryget_live().is_none());
//! assert!(!queue.data().drained.load(Ordering::Acquire)); // `held` is still out
//! drop(held);
//! assert!(queue.data().drained.load(Ordering::Acquire)); // the last put ran the release
//! ```

mod error;
mod switch;

pub use error::RefError;

use crate::allocator::{DynSlot, PerCpuArea};
use crate::mode::ByValue;
use crate::var::PerCpu;
use core::fmt;
use core::ops::Deref;
use core::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering, fence};

/// The mode bit of [`PerCpuRef::state`]: counting atomically.
const ATOMIC: usize = 1;
/// Killed: `tryget_live` fails (always with `ATOMIC`).
const DEAD: usize = 2;
/// Added to the atomic count while in per-CPU mode, so that it cannot reach zero there.
const BIAS: i64 = 1 << 62;

/// A pinned section around one `get` or `put` (the platform's `preempt_disable` ..
/// `preempt_enable`, inlined on a hosted machine): the grace period of a switch to atomic mode
/// waits for it.
struct Section;

impl Section {
    #[inline(always)]
    fn enter() -> Section {
        enter_section();
        Section
    }
}

impl Drop for Section {
    #[inline(always)]
    fn drop(&mut self) {
        exit_section();
    }
}

/// Enters a pinned section the way the runtime's own readers do ([`PerCpuRef`]'s get and
/// put): the platform's `preempt_disable`, inlined when it is the hosted machine's (no call
/// through the platform). Pair with [`exit_section`].
#[inline(always)]
fn enter_section() {
    #[cfg(feature = "hosted")]
    if crate::hosted::sections::try_enter() {
        return;
    }
    crate::platform::platform().preempt_disable();
}

/// Leaves the section [`enter_section`] entered.
#[inline(always)]
fn exit_section() {
    #[cfg(feature = "hosted")]
    if crate::hosted::sections::is_active() {
        crate::hosted::sections::exit_entered();
        return;
    }
    crate::platform::platform().preempt_enable();
}

/// How a [`PerCpuRef`] starts (Linux's `PERCPU_REF_INIT_*` flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StartMode {
    /// Alive, counting per CPU. (Spelled `Percpu`, as Linux's mode and [`PerCpuRef::is_percpu`],
    /// so that `PerCpu` keeps naming the per-CPU variable type alone.)
    #[default]
    Percpu,
    /// Alive, counting atomically (`PERCPU_REF_INIT_ATOMIC`), and staying so until
    /// [`switch_to_percpu`](PerCpuRef::switch_to_percpu).
    Atomic,
    /// Dead with a count of zero (`PERCPU_REF_INIT_DEAD`): [`reinit`](PerCpuRef::reinit)
    /// brings it to life. No release runs for this state.
    Dead,
}

/// A reference count whose `get` and `put` touch only the current CPU until it is killed
/// (Linux's `struct percpu_ref`), owning the counted value `T`. See the
/// [module documentation](self).
///
/// `Send` when `T` is (dropping it drops `T`), `Sync` when `T` is (references and the
/// release reach `&T` from any CPU); the counts themselves are safe from every CPU at once.
pub struct PerCpuRef<T = ()> {
    /// `ATOMIC` and `DEAD`; read (acquire) by every `get`/`put`.
    state: AtomicUsize,
    /// Every possible CPU's count (wrapping); `None` for [`PerCpuRef::atomic_only`].
    counts: Option<PerCpu<i64, DynSlot, ByValue>>,
    /// The atomic count (plus `BIAS` in per-CPU mode).
    count: AtomicI64,
    /// Whether this life's release ran (or, for a dead start, that there is none to run).
    released: AtomicBool,
    /// Serialises mode changes; holds "forced atomic" (`switch_to_atomic` asked for it).
    switching: spin::Mutex<bool>,
    release: fn(&T),
    data: T,
    /// Owns the per-CPU counts; dropped (freed) after `counts`.
    _area: Option<PerCpuArea<'static>>,
}

impl<T> PerCpuRef<T> {
    /// A live reference count in per-CPU mode holding the initial reference, owning `data`;
    /// `release` runs once per life, when the count reaches zero after [`kill`](Self::kill).
    ///
    /// CONTEXT: may sleep (it allocates one per-CPU `i64`); after the first-chunk setup.
    pub fn new(data: T, release: fn(&T)) -> Result<Self, crate::allocator::AllocError> {
        Self::with_mode(data, release, StartMode::Percpu)
    }

    /// [`new`](Self::new), starting in `mode`.
    ///
    /// CONTEXT: may sleep.
    pub fn with_mode(
        data: T,
        release: fn(&T),
        mode: StartMode,
    ) -> Result<Self, crate::allocator::AllocError> {
        if !crate::first_chunk_installed() {
            return Err(crate::allocator::AllocError::NotInitialized);
        }
        let area = crate::allocator::alloc(size_of::<i64>(), align_of::<i64>())?;
        // SAFETY: a fresh zeroed area of one `i64` per CPU, owned by the reference count
        // (`_area`) and dropped after the handle; `i64` is a `Scalar`.
        let counts = unsafe { PerCpu::from_slot(DynSlot::at(area.ptr().addr())) };
        let (state, count, force) = match mode {
            StartMode::Percpu => (0, BIAS + 1, false),
            StartMode::Atomic => (ATOMIC, 1, true),
            StartMode::Dead => (ATOMIC | DEAD, 0, false),
        };
        Ok(PerCpuRef {
            state: AtomicUsize::new(state),
            counts: Some(counts),
            count: AtomicI64::new(count),
            released: AtomicBool::new(mode == StartMode::Dead),
            switching: spin::Mutex::new(force),
            release,
            data,
            _area: Some(area),
        })
    }

    /// A live reference count that only ever counts atomically: no per-CPU memory, no grace
    /// period needed (usable before the first-chunk setup), and
    /// [`switch_to_percpu`](Self::switch_to_percpu) refuses.
    pub fn atomic_only(data: T, release: fn(&T)) -> Self {
        PerCpuRef {
            state: AtomicUsize::new(ATOMIC),
            counts: None,
            count: AtomicI64::new(1),
            released: AtomicBool::new(false),
            switching: spin::Mutex::new(true),
            release,
            data,
            _area: None,
        }
    }

    /// The counted value.
    pub fn data(&self) -> &T {
        &self.data
    }

    /// Adds 1 to the current CPU's count inside one pinned section (per-CPU mode), or to the
    /// atomic count.
    #[inline(always)]
    #[track_caller]
    fn acquire(&self) {
        let _section = Section::enter();
        let state = self.state.load(Ordering::Acquire);
        match &self.counts {
            Some(counts) if state & ATOMIC == 0 => counts.inc(),
            _ => {
                self.count.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Takes a reference (Linux's `percpu_ref_get`): always succeeds, dead or alive (taking
    /// one on a dead count whose release ran is a logic error Linux does not catch either;
    /// the release does not run twice). Use [`tryget_live`](Self::tryget_live) where the
    /// object may be dying.
    ///
    /// CONTEXT: any; in per-CPU mode the calling code must have a per-CPU unit.
    #[inline]
    #[track_caller]
    pub fn get(&self) -> Ref<'_, T> {
        self.acquire();
        Ref { owner: self }
    }

    /// Takes a reference unless the count is zero (Linux's `percpu_ref_tryget`): in per-CPU
    /// mode always, in atomic mode while a reference is held.
    #[inline]
    #[track_caller]
    pub fn tryget(&self) -> Option<Ref<'_, T>> {
        self.try_acquire(false).then(|| Ref { owner: self })
    }

    /// Takes a reference unless the count is dead (killed) or zero (Linux's
    /// `percpu_ref_tryget_live`): the usual way in, since it fails from the moment
    /// [`kill`](Self::kill) starts.
    #[inline]
    #[track_caller]
    pub fn tryget_live(&self) -> Option<Ref<'_, T>> {
        self.try_acquire(true).then(|| Ref { owner: self })
    }

    #[inline(always)]
    #[track_caller]
    fn try_acquire(&self, live: bool) -> bool {
        let _section = Section::enter();
        let state = self.state.load(Ordering::Acquire);
        match &self.counts {
            Some(counts) if state & ATOMIC == 0 => {
                counts.inc();
                true
            }
            _ if live && state & DEAD != 0 => false,
            _ => self
                .count
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |c| (c > 0).then_some(c + 1))
                .is_ok(),
        }
    }

    /// Drops one reference; runs the release if it was the last one in atomic mode.
    #[inline(always)]
    #[track_caller]
    fn put_one(&self) -> Result<(), RefError> {
        let previous = {
            let _section = Section::enter();
            let state = self.state.load(Ordering::Acquire);
            match &self.counts {
                Some(counts) if state & ATOMIC == 0 => {
                    counts.dec();
                    return Ok(());
                }
                _ => self.count.fetch_sub(1, Ordering::Release),
            }
        };
        if previous == 1 {
            // Everything every holder did happens before the release (pairs with the
            // release decrements).
            fence(Ordering::Acquire);
            self.run_release();
        } else if previous <= 0 {
            self.count.fetch_add(1, Ordering::Relaxed);
            return Err(RefError::BelowZero { count: previous - 1 });
        }
        Ok(())
    }

    /// Runs this life's release, unless it ran.
    fn run_release(&self) {
        if !self.released.swap(true, Ordering::AcqRel) {
            (self.release)(&self.data);
        }
    }

    /// Drops a reference given up with [`Ref::leak`] (Linux's `percpu_ref_put`).
    ///
    /// In atomic mode a put with no reference to drop is refused,
    /// [`RefError::BelowZero`]; in per-CPU mode it cannot be seen until the switch to atomic
    /// mode sums the counts (which then reports it).
    #[track_caller]
    pub fn put(&self) -> Result<(), RefError> {
        self.put_one()
    }

    /// Whether the count is in per-CPU mode.
    pub fn is_percpu(&self) -> bool {
        self.state.load(Ordering::Acquire) & ATOMIC == 0
    }

    /// Whether it was killed and not brought back (Linux's `percpu_ref_is_dying`).
    pub fn is_dying(&self) -> bool {
        self.state.load(Ordering::Acquire) & DEAD != 0
    }

    /// Whether the count is in atomic mode and zero (Linux's `percpu_ref_is_zero`).
    pub fn is_zero(&self) -> bool {
        !self.is_percpu() && self.count.load(Ordering::Acquire) == 0
    }

    /// Whether this life's release ran (a [`StartMode::Dead`] count starts with it "run").
    pub fn is_released(&self) -> bool {
        self.released.load(Ordering::Acquire)
    }
}

impl<T: fmt::Debug> fmt::Debug for PerCpuRef<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PerCpuRef")
            .field("data", &self.data)
            .field("percpu", &self.is_percpu())
            .field("dying", &self.is_dying())
            .field("released", &self.is_released())
            .finish()
    }
}

/// A reference taken from a [`PerCpuRef`]: dropping it puts it back (on whichever CPU drops
/// it). Dereferences to the counted value.
///
/// `Send` and `Sync` when `T` is `Sync`: a reference may be taken on one CPU and dropped on
/// another, as a request's completion does.
#[must_use = "dropping the reference puts it back at once"]
pub struct Ref<'a, T> {
    owner: &'a PerCpuRef<T>,
}

impl<'a, T> Ref<'a, T> {
    /// The reference count it came from.
    pub fn owner(this: &Self) -> &'a PerCpuRef<T> {
        this.owner
    }

    /// Gives the reference up without putting it: the count keeps it until
    /// [`PerCpuRef::put`] (Linux code that passes references through C-like interfaces).
    pub fn leak(this: Self) -> &'a PerCpuRef<T> {
        let owner = this.owner;
        core::mem::forget(this);
        owner
    }
}

impl<T> Deref for Ref<'_, T> {
    type Target = T;
    #[inline(always)]
    fn deref(&self) -> &T {
        &self.owner.data
    }
}

impl<T> Clone for Ref<'_, T> {
    /// Another reference (a `get`).
    #[track_caller]
    fn clone(&self) -> Self {
        self.owner.get()
    }
}

impl<T> Drop for Ref<'_, T> {
    #[inline]
    fn drop(&mut self) {
        // A handle's reference was counted when it was made, so this put has one to drop:
        // `BelowZero` here means an extra `PerCpuRef::put` took it already, and that call was
        // the one told.
        let _ = self.owner.put_one();
    }
}

impl<T> fmt::Debug for Ref<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ref").field("type", &core::any::type_name::<T>()).finish()
    }
}
