//! The owners of counters: [`PerCpuCounter`] (one counter, one per-CPU `i32`) and
//! [`PerCpuCounters`] (`N` counters in one per-CPU allocation of `N` `i32`s, as Linux's
//! `percpu_counter_init_many`, which made `execve` 39% faster on 26 cores by allocating a
//! process's counters at once), with their construction errors.

use super::{Counter, MAX_BATCH};
use crate::allocator::{self, AllocError, PerCpuArea};
use core::fmt;
use core::ops::Deref;

/// Linux's default batch, `max(32, 2 × CPUs)`, over the possible CPUs.
pub fn default_batch() -> i32 {
    let cpus = i32::try_from(crate::nr_possible_cpus()).unwrap_or(MAX_BATCH / 2);
    cpus.saturating_mul(2).clamp(32, MAX_BATCH)
}

/// A counter could not be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CounterError {
    /// The batch is not in `1..=MAX_BATCH`.
    Batch {
        /// The batch asked for.
        batch: i32,
    },
    /// The per-CPU deltas could not be allocated.
    Alloc(AllocError),
}

impl fmt::Display for CounterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CounterError::Batch { batch } => write!(
                f,
                "batch {batch} is out of range: give a batch in 1..={MAX_BATCH} (a CPU folds its \
                 delta into the shared count when it would reach the batch), or use the default \
                 (percpu_rt::counter::default_batch())"
            ),
            CounterError::Alloc(e) => write!(f, "allocating the per-CPU deltas failed: {e}"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for CounterError {}

impl From<AllocError> for CounterError {
    fn from(e: AllocError) -> Self {
        CounterError::Alloc(e)
    }
}

/// Allocates `n` zeroed per-CPU `i32`s.
fn alloc_deltas(n: usize, batch: i32) -> Result<PerCpuArea<'static>, CounterError> {
    if !(1..=MAX_BATCH).contains(&batch) {
        return Err(CounterError::Batch { batch });
    }
    if !crate::first_chunk_installed() {
        return Err(AllocError::NotInitialized.into());
    }
    Ok(allocator::alloc(n * size_of::<i32>(), align_of::<i32>())?)
}

/// A batched per-CPU counter (Linux's `struct percpu_counter`): see the
/// [module documentation](super) for the model, and [`Counter`] for the operations.
///
/// Dropping it frees its per-CPU deltas. `Send` and `Sync`: every operation is safe from any
/// CPU at once (the deltas are only ever written by their own CPU, with one-instruction
/// operations; the count under a lock).
///
/// ```
/// # use percpu_rt::hosted::{Machine, MachineConfig};
/// use percpu_rt::PerCpuCounter;
/// # let machine = Machine::boot(MachineConfig::new(2)).unwrap();
/// let dirty = PerCpuCounter::with_batch(0, 64).unwrap();
/// machine.run(|_| (0..1000).for_each(|_| dirty.inc()));
/// assert_eq!(dirty.sum(), 2000);
/// ```
pub struct PerCpuCounter {
    counter: Counter,
    /// Owns the deltas; dropped (freed) after `counter`.
    _deltas: PerCpuArea<'static>,
}

impl PerCpuCounter {
    /// A counter of exact value `value`, with the [default batch](default_batch).
    ///
    /// CONTEXT: may sleep (it allocates per-CPU memory); after the first-chunk setup.
    pub fn new(value: i64) -> Result<Self, CounterError> {
        Self::with_batch(value, default_batch())
    }

    /// A counter of exact value `value` whose CPUs fold their delta at `batch`
    /// (`1..=`[`MAX_BATCH`](super::MAX_BATCH)).
    ///
    /// CONTEXT: may sleep.
    pub fn with_batch(value: i64, batch: i32) -> Result<Self, CounterError> {
        let area = alloc_deltas(1, batch)?;
        // SAFETY: a fresh zeroed area of one `i32` per CPU, owned by the counter and dropped
        // after it; the batch was checked.
        let counter = unsafe { Counter::new(area.ptr().addr(), value, batch) };
        Ok(PerCpuCounter { counter, _deltas: area })
    }
}

impl Deref for PerCpuCounter {
    type Target = Counter;
    #[inline(always)]
    fn deref(&self) -> &Counter {
        &self.counter
    }
}

impl fmt::Debug for PerCpuCounter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.counter.fmt(f)
    }
}

/// `N` batched counters in one per-CPU allocation (Linux's `percpu_counter_init_many`): one
/// allocation and one free for all of them, their deltas side by side in every CPU's unit.
/// Dereferences to `[Counter; N]`.
///
/// ```
/// # use percpu_rt::hosted::{Machine, MachineConfig};
/// use percpu_rt::PerCpuCounters;
/// # let machine = Machine::boot(MachineConfig::new(2)).unwrap();
/// // A process's memory counters: file pages, anonymous pages, swap entries, shared pages.
/// let rss = PerCpuCounters::<4>::new([0; 4]).unwrap();
/// let [file, anon, ..] = &*rss;
/// machine.run(|_| {
///     file.add(3);
///     anon.add(5);
/// });
/// assert_eq!((rss[0].sum(), rss[1].sum(), rss[2].sum()), (6, 10, 0));
/// ```
pub struct PerCpuCounters<const N: usize> {
    counters: [Counter; N],
    /// Owns the deltas; dropped (freed) after `counters`.
    _deltas: PerCpuArea<'static>,
}

impl<const N: usize> PerCpuCounters<N> {
    /// `N` counters of the given exact values, with the [default batch](default_batch).
    ///
    /// CONTEXT: may sleep.
    pub fn new(values: [i64; N]) -> Result<Self, CounterError> {
        Self::with_batch(values, default_batch())
    }

    /// `N` counters of the given exact values, all with batch `batch`.
    ///
    /// CONTEXT: may sleep.
    pub fn with_batch(values: [i64; N], batch: i32) -> Result<Self, CounterError> {
        const { assert!(N > 0, "PerCpuCounters needs at least one counter") };
        let area = alloc_deltas(N, batch)?;
        let base = area.ptr().addr();
        let counters = values.map({
            let mut next = base;
            move |value| {
                let p = next;
                next += size_of::<i32>();
                // SAFETY: `i32` number `(p - base) / 4` of a fresh zeroed area of `N` of them
                // per CPU, used by this counter only, and dropped after it; batch checked.
                unsafe { Counter::new(p, value, batch) }
            }
        });
        Ok(PerCpuCounters { counters, _deltas: area })
    }
}

impl<const N: usize> Deref for PerCpuCounters<N> {
    type Target = [Counter; N];
    #[inline(always)]
    fn deref(&self) -> &[Counter; N] {
        &self.counters
    }
}

impl<const N: usize> fmt::Debug for PerCpuCounters<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.counters.iter()).finish()
    }
}
