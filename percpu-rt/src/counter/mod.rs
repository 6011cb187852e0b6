//! Batched per-CPU counters (Linux's `lib/percpu_counter.c`): [`PerCpuCounter`], and
//! [`PerCpuCounters`] for several in one per-CPU allocation (Linux's
//! `percpu_counter_init_many`). Both dereference to [`Counter`], which has the operations.
//!
//! # The model
//!
//! A counter is a shared `i64` *count* plus an `i32` *delta* per possible CPU; its exact
//! value is `count + Σ delta`. [`Counter::add`] changes only the current CPU's delta (a
//! compare-and-exchange loop on it, one instruction per attempt on x86_64, so an interrupt
//! handler's `add` between two steps only makes the next attempt retry), and *folds* the
//! delta into the count under the counter's lock when `|delta + amount|` would reach the
//! batch. So `|delta| ≤ batch` on every CPU at all times, and the count is never further than
//! `batch × possible CPUs` from the exact value:
//!
//! | call | reads | cost |
//! |---|---|---|
//! | [`add`](Counter::add) | this CPU's delta | one per-CPU compare-and-exchange; the lock once every `batch` units |
//! | [`read`](Counter::read) | the count | one load; off by at most `batch × CPUs` |
//! | [`sum`](Counter::sum) | the count and every delta, under the lock | one remote load per possible CPU |
//! | [`compare`](Counter::compare) | the count; the sum only within `batch × CPUs` of `rhs` | usually one load |
//! | [`set`](Counter::set) | every delta, under the lock | as `sum` |
//! | [`limited_add`](Counter::limited_add) | the count; the sum only near the limit | as `add` when far |
//!
//! # No update is lost
//!
//! Only a CPU itself writes its delta, always with one-instruction operations (`add`'s
//! compare-and-exchange, the fold's exchange), and the fold moves the delta into the count
//! under the lock that [`sum`](Counter::sum) and [`set`](Counter::set) hold: a sum sees each
//! unit either in a delta or in the count, never in both or neither. [`set`](Counter::set)
//! therefore writes no CPU's delta (Linux's zeroes them remotely, which loses an `add` that
//! races with it): it sets the count to `value − Σ delta`, so the exact value is `value`, and
//! [`read`](Counter::read) is off from it by the deltas, as it is anyway.
//!
//! The lock is taken with interrupts masked (through the [`Platform`](crate::Platform)), so an
//! interrupt handler may `add` to a counter whose fold it interrupted.
//!
//! # Example
//!
//! ```
//! use percpu_rt::hosted::{Machine, MachineConfig};
//! use percpu_rt::PerCpuCounter;
//! use core::cmp::Ordering;
//!
//! let machine = Machine::boot(MachineConfig::new(2)).unwrap();
//! let free_blocks = PerCpuCounter::new(1000).unwrap();
//! machine.run(|_cpu| {
//!     for _ in 0..100 {
//!         free_blocks.add(-1); // this CPU's delta only, until it reaches the batch
//!     }
//! });
//! assert_eq!(free_blocks.sum(), 800); // exact
//! assert!((free_blocks.read() - 800).abs() <= free_blocks.error_bound()); // approximate
//! assert_eq!(free_blocks.compare(0), Ordering::Greater); // far from 0: no sum needed
//! // Take 500 blocks only if at least 0 stay free (exact near the limit).
//! assert!(machine.run_on(percpu_rt::CpuId::new(0), || free_blocks.limited_add(0, -500)));
//! assert!(!machine.run_on(percpu_rt::CpuId::new(1), || free_blocks.limited_add(0, -301)));
//! assert_eq!(free_blocks.sum(), 300);
//! ```

mod owned;

pub use owned::{CounterError, PerCpuCounter, PerCpuCounters, default_batch};

use crate::allocator::{DynSlot, IrqSpinLock};
use crate::mode::ByValue;
use crate::var::PerCpu;
use core::cmp::Ordering;
use core::fmt;
use core::sync::atomic::Ordering::{Relaxed, SeqCst};
use core::sync::atomic::{AtomicI64, fence};

/// The largest batch: twice it still fits a delta (`i32`).
pub const MAX_BATCH: i32 = 1 << 30;

/// One batched counter: the operations of [`PerCpuCounter`] and of each counter of a
/// [`PerCpuCounters`] (it exists only inside them, borrowed).
pub struct Counter {
    /// Every possible CPU's delta, `|delta| ≤ batch`.
    deltas: PerCpu<i32, DynSlot, ByValue>,
    batch: i32,
    /// What folds write, on a cache line of its own: a fold on one CPU does not take the line
    /// that every other CPU's `add` reads (`deltas`, `batch`) away from it.
    shared: Shared,
}

/// The written part of a [`Counter`].
#[repr(align(64))]
struct Shared {
    /// The shared count; written only under `lock`, read without it.
    count: AtomicI64,
    /// Serialises folds, sums and sets (Linux's `raw_spinlock_t`), interrupts masked.
    lock: IrqSpinLock<()>,
}

impl Counter {
    /// A counter over the deltas at per-CPU pointer `p`.
    ///
    /// # Safety
    ///
    /// `p` names an `i32` in every possible CPU's unit of a live dynamic area that outlives
    /// the counter and that nothing else accesses; `batch` is in `1..=MAX_BATCH`.
    pub(crate) unsafe fn new(p: usize, value: i64, batch: i32) -> Counter {
        debug_assert!((1..=MAX_BATCH).contains(&batch));
        // SAFETY: forwarded from the caller; `i32` is a `Scalar`, so `ByValue` fits.
        let deltas = unsafe { PerCpu::from_slot(DynSlot::at(p)) };
        Counter {
            deltas,
            batch,
            shared: Shared { count: AtomicI64::new(value), lock: IrqSpinLock::new(()) },
        }
    }

    /// The batch: a CPU's delta is folded into the count when it would reach it.
    pub fn batch(&self) -> i32 {
        self.batch
    }

    /// How far [`read`](Counter::read) may be from [`sum`](Counter::sum):
    /// `batch × possible CPUs`.
    pub fn error_bound(&self) -> i64 {
        i64::from(self.batch).saturating_mul(crate::nr_possible_cpus() as i64)
    }

    /// Adds `amount` (Linux's `percpu_counter_add`): to this CPU's delta, or, when
    /// `|delta + amount|` would reach the batch, the delta and `amount` to the count, under the
    /// lock. Wraps around at the ends of `i64`, as the sum does.
    ///
    /// CONTEXT: any, interrupt handlers included; the calling code must have a per-CPU unit
    /// (it panics where the base register was never loaded, as every dynamic object does).
    #[inline]
    #[track_caller]
    pub fn add(&self, amount: i64) {
        let batch = i64::from(self.batch);
        if amount.unsigned_abs() >= batch as u64 {
            return self.fold(amount);
        }
        let mut delta = self.deltas.read();
        loop {
            // |delta| ≤ batch ≤ 2^30 and |amount| < batch: no overflow.
            let new = i64::from(delta) + amount;
            if new.abs() >= batch {
                return self.fold(amount);
            }
            // Whichever CPU runs this step: if its delta is `delta`, it becomes `new`, which is
            // `amount` more and within the batch.
            match self.deltas.cmpxchg(delta, new as i32) {
                Ok(_) => return,
                Err(seen) => delta = seen,
            }
        }
    }

    /// Adds 1.
    #[inline]
    #[track_caller]
    pub fn inc(&self) {
        self.add(1)
    }

    /// Subtracts 1.
    #[inline]
    #[track_caller]
    pub fn dec(&self) {
        self.add(-1)
    }

    /// Subtracts `amount` (`add(-amount)`, wrapping).
    #[inline]
    #[track_caller]
    pub fn sub(&self, amount: i64) {
        self.add(amount.wrapping_neg())
    }

    /// Moves this CPU's delta and `amount` into the count.
    #[cold]
    #[inline(never)]
    #[track_caller]
    fn fold(&self, amount: i64) {
        let _locked = self.shared.lock.lock();
        // One instruction on the CPU that runs it: an interrupt's `add` lands before or after.
        let delta = self.deltas.xchg(0);
        let count = self.shared.count.load(Relaxed);
        self.shared.count.store(count.wrapping_add(i64::from(delta)).wrapping_add(amount), Relaxed);
    }

    /// The count without the CPUs' deltas (Linux's `percpu_counter_read`): one load, off from
    /// [`sum`](Counter::sum) by at most [`error_bound`](Counter::error_bound).
    ///
    /// CONTEXT: any.
    #[inline]
    pub fn read(&self) -> i64 {
        self.shared.count.load(Relaxed)
    }

    /// [`read`](Counter::read), or 0 if it is negative (Linux's `percpu_counter_read_positive`:
    /// a count of things that exist can read below 0 only through the approximation).
    #[inline]
    pub fn read_positive(&self) -> i64 {
        self.read().max(0)
    }

    /// The exact value (Linux's `percpu_counter_sum`): the count plus every possible CPU's
    /// delta, under the lock, so no fold is half-seen. Concurrent `add`s on other CPUs land
    /// before or after it.
    ///
    /// CONTEXT: any; costs one remote load per possible CPU.
    pub fn sum(&self) -> i64 {
        let _locked = self.shared.lock.lock();
        self.sum_locked()
    }

    /// [`sum`](Counter::sum), or 0 if it is negative (`percpu_counter_sum_positive`).
    pub fn sum_positive(&self) -> i64 {
        self.sum().max(0)
    }

    fn sum_locked(&self) -> i64 {
        let deltas = self.deltas.iter_possible().fold(0i64, |s, d| s.wrapping_add(i64::from(d)));
        self.shared.count.load(Relaxed).wrapping_add(deltas)
    }

    /// How the exact value compares with `rhs` (Linux's `percpu_counter_compare`): from
    /// [`read`](Counter::read) alone when it is further than
    /// [`error_bound`](Counter::error_bound) from `rhs` (the deltas cannot bridge that), from
    /// [`sum`](Counter::sum) otherwise.
    pub fn compare(&self, rhs: i64) -> Ordering {
        let count = self.read();
        if (i128::from(count) - i128::from(rhs)).abs() > i128::from(self.error_bound()) {
            return count.cmp(&rhs);
        }
        self.sum().cmp(&rhs)
    }

    /// Sets the exact value to `value` (Linux's `percpu_counter_set`), without writing any
    /// CPU's delta (so no concurrent `add` is lost): the count becomes `value − Σ delta`, under
    /// the lock. An `add` that races with it lands before (overwritten) or after (counted).
    pub fn set(&self, value: i64) {
        let _locked = self.shared.lock.lock();
        let deltas = self.deltas.iter_possible().fold(0i64, |s, d| s.wrapping_add(i64::from(d)));
        self.shared.count.store(value.wrapping_sub(deltas), Relaxed);
    }

    /// Adds `amount` only if the result stays within `limit` (Linux's
    /// `percpu_counter_limited_add`): for `amount > 0`, if `sum() + amount ≤ limit`; for
    /// `amount < 0`, if `sum() + amount ≥ limit` (a floor). Returns whether it added; `amount
    /// == 0` always succeeds.
    ///
    /// Exact near the limit: it adds to this CPU's delta without the lock only when even the
    /// worst case of every delta cannot cross the limit, and otherwise decides on the exact
    /// sum, under the lock. When every update is a `limited_add` of one sign, the limit holds
    /// under concurrency too: a lock-free add that raced with another CPU's fold (which may
    /// have decided without it) is taken back and decided under the lock (Linux's version
    /// lets that race through), so a concurrent `sum` may see it for that moment, and a
    /// racing `limited_add` may be refused because of it. Plain `add`s on other CPUs land
    /// before or after the decision, as with [`sum`](Counter::sum).
    ///
    /// CONTEXT: any (as [`add`](Counter::add)).
    #[track_caller]
    pub fn limited_add(&self, limit: i64, amount: i64) -> bool {
        if amount == 0 {
            return true;
        }
        let batch = i64::from(self.batch);
        let unknown = i128::from(self.error_bound());
        let mut delta = self.deltas.read();
        while amount.unsigned_abs() < batch as u64 {
            let new = i64::from(delta) + amount;
            if new.abs() > batch {
                break;
            }
            // With this CPU's delta at `new` and every other within the batch, the exact value
            // is within `unknown` of the count.
            let count = i128::from(self.read());
            let far = if amount > 0 {
                count + unknown <= i128::from(limit)
            } else {
                count - unknown >= i128::from(limit)
            };
            if !far {
                break;
            }
            match self.deltas.cmpxchg(delta, new as i32) {
                Ok(_) => {
                    // The check above holds only if no fold (or sum, or set) ran between the
                    // count's read and the delta's change: one that read this delta before the
                    // change decided without it. After a full fence, an unchanged count and a
                    // free lock mean none did; otherwise take the add back and decide exactly.
                    fence(SeqCst);
                    if !self.shared.lock.is_locked() && self.read() == count as i64 {
                        return true;
                    }
                    self.add(amount.wrapping_neg());
                    break;
                }
                Err(seen) => delta = seen,
            }
        }
        let _locked = self.shared.lock.lock();
        let after = i128::from(self.sum_locked()) + i128::from(amount);
        let fits = if amount > 0 { after <= i128::from(limit) } else { after >= i128::from(limit) };
        if fits {
            let delta = self.deltas.xchg(0);
            let count = self.shared.count.load(Relaxed);
            self.shared
                .count
                .store(count.wrapping_add(i64::from(delta)).wrapping_add(amount), Relaxed);
        }
        fits
    }
}

impl fmt::Debug for Counter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Counter")
            .field("count", &self.read())
            .field("batch", &self.batch)
            .field("per_cpu_ptr", &self.deltas.per_cpu_ptr())
            .finish()
    }
}
