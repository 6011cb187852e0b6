//! Per-CPU caches of free areas: allocation and free without the global lock.
//!
//! Every CPU of an allocator has one [`CpuCache`]: a few *classes*, each a stack of free areas
//! of one shape (length in granules and requested alignment, a [`ClassKey`]). An allocation
//! of a cached shape pops an area from the current CPU's class; a free of an owned area
//! ([`PerCpuArea`](super::PerCpuArea), [`PerCpuBox`](super::PerCpuBox)) pushes it there. Only
//! when a class is empty (refill) or full (drain) is the allocator's state lock taken, once
//! for a batch of areas; the state takes and gives back neighbours as one run, with one update
//! of the chunk's hints.
//!
//! ```text
//!   CPU 0's cache: class (4 B, align 4)  [a7 a3 a9 | a1 a2]   <- push (free) / pop (alloc)
//!                  class (64 B, align 8) [b4 | ]                  ^ dirty (freed by users)
//!                  ...                     ^ clean: zeroed at refill, in every unit
//!   refill (class empty): take half a class of neighbours (areas one aligned stride apart
//!                         when the alignment exceeds the length) under the state lock,
//!                         zero them run by run in every unit, push them;
//!   drain (class full):   give the oldest half back under the state lock, run by run.
//! ```
//!
//! # Soundness
//!
//! A cache is a spin lock over its classes. The fast path only ever *tries* the lock (one
//! atomic exchange) and takes the locked path through the chunks when it is held, so it never
//! waits: an interrupt handler that interrupted the holder on the same CPU, a task that
//! preempted it, a second thread sharing the CPU's base register (a hosted thread spawned by a
//! CPU thread) all fall back, correctly. Exclusive access is decided by that atomic step, not
//! by pinning, so a task that migrates between choosing the cache and locking it merely uses
//! another CPU's cache. Only the balance step and the consistency check wait for a cache's
//! lock, and neither runs in interrupt context. Lock order: a cache, then the state.
//!
//! The current CPU's cache is found only for code that has a unit ([`Caches::current`]): code
//! with base register 0 (a hosted thread that is not a CPU, a CPU before
//! [`load_base`](crate::first_chunk::load_base)) must not read per-CPU data, and uses the
//! locked path. An area is in exactly one place: a user's owner, one class of one cache, or
//! free in its chunk's bitmap, so none is handed out twice. Clean areas were zeroed in every
//! unit when the cache took them and nobody has touched them since; dirty ones are zeroed in
//! every unit when they are handed out.
//!
//! # Memory
//!
//! A class holds at most `class_bytes` per unit (64 KiB with one CPU, 16 KiB with 4, less on
//! bigger machines, down to 256 bytes: see [`Caches::new`]) and at most [`DEPTH`] areas, and
//! areas larger than half of `class_bytes` are not cached. Cached areas count as taken in the chunks and appear in the statistics
//! ([`GlobalStats::nr_cached`](super::GlobalStats::nr_cached)); the balance step gives every
//! cached area back, so that a page or a chunk holding only cached areas is empty again and
//! can be released (a few hundred bytes per CPU and class: the caches refill in one batch).

use super::state::DEPTH;
use crate::cpu_id::CpuId;
use crate::layout::MIN_ALLOC_SHIFT;
use alloc::boxed::Box;
use alloc::vec;
use core::cell::UnsafeCell;
use core::ops::{Deref, DerefMut};
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

/// Classes (shapes) per CPU cache.
pub(crate) const NR_CLASSES: usize = 4;
/// `index_of_cpu` entry of a CPU without a cache.
const NO_CACHE: u32 = u32::MAX;
/// The bytes per unit a class may hold, at most and at least (see [`Caches::new`]).
const CLASS_BYTES_MAX: usize = 64 << 10;
const CLASS_BYTES_MIN: usize = 256;
/// [`Caches::new`]: `class_bytes = CLASS_BYTES_BUDGET / nr_units`, clamped.
const CLASS_BYTES_BUDGET: usize = 64 << 10;

/// The shape of the areas of a class: length in granules and requested alignment in granules
/// (a power of two), packed as `bits | (log2(align) + 1) << 16`; 0 is no class.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct ClassKey(u32);

impl ClassKey {
    /// Not a cached shape (or unknown: the area is freed through the checked locked path).
    pub(crate) const NONE: ClassKey = ClassKey(0);

    /// The key of `bits` granules aligned to `align_bits` granules (`bits < 2^16`).
    #[inline(always)]
    fn new(bits: u32, align_bits: u32) -> ClassKey {
        debug_assert!(bits > 0 && bits < 1 << 16 && align_bits.is_power_of_two());
        ClassKey(bits | (align_bits.trailing_zeros() + 1) << 16)
    }

    /// Whether this is no class.
    #[inline(always)]
    pub(crate) fn is_none(self) -> bool {
        self.0 == 0
    }

    /// Length of the areas, in granules.
    #[inline(always)]
    pub(crate) fn bits(self) -> u32 {
        self.0 & 0xFFFF
    }

    /// Alignment of the areas, in granules.
    #[inline(always)]
    pub(crate) fn align_bits(self) -> u32 {
        1 << ((self.0 >> 16) - 1)
    }

    /// Length of the areas, in bytes.
    #[inline(always)]
    pub(crate) fn bytes(self) -> usize {
        (self.bits() as usize) << MIN_ALLOC_SHIFT
    }
}

/// Every CPU's cache of one allocator.
pub(crate) struct Caches {
    /// The cache of each CPU id ([`NO_CACHE`] for ids that are not the allocator's units).
    index_of_cpu: Box<[u32]>,
    cpus: Box<[CpuCache]>,
    /// Bytes per unit one class may hold.
    class_bytes: usize,
    /// Whether the calling code's unit can be told cheaply (see `current.rs`); if not, only
    /// [`Allocator::on_cpu`] reaches the caches.
    current_known: bool,
}

impl Caches {
    /// One cache per unit of `units` (CPU id, offset). A class may hold
    /// `64 KiB / units` bytes per unit, clamped to `[256 B, 64 KiB]`: the areas all caches hold
    /// at most (4 classes per CPU, every unit) grow as `units × 256 KiB` up to 256 units
    /// (256 KiB with one CPU, 1 MiB with 4, 4 MiB with 16, 64 MiB with 256), and areas of up to
    /// half a class are cached (32 KiB with one unit, 8 KiB with 4, 2 KiB with 16, 512 bytes
    /// with 64). A class also holds at most [`DEPTH`] areas.
    pub(crate) fn new(units: &[(CpuId, usize)]) -> Caches {
        let max_id = units.iter().map(|u| u.0.as_usize()).max().unwrap_or(0);
        let mut index_of_cpu = vec![NO_CACHE; max_id + 1].into_boxed_slice();
        for (i, &(cpu, _)) in units.iter().enumerate() {
            index_of_cpu[cpu.as_usize()] = i as u32;
        }
        let class_bytes =
            (CLASS_BYTES_BUDGET / units.len().max(1)).clamp(CLASS_BYTES_MIN, CLASS_BYTES_MAX);
        Caches {
            index_of_cpu,
            cpus: units.iter().map(|_| CpuCache::new()).collect(),
            class_bytes,
            current_known: super::current::unit_known(),
        }
    }

    /// The class of requests of `bits` granules aligned to `align_bits`, or
    /// [`ClassKey::NONE`] if areas that large are not cached.
    #[inline(always)]
    pub(crate) fn class(&self, bits: u32, align_bits: u32) -> ClassKey {
        if ((bits as usize) << MIN_ALLOC_SHIFT) * 2 <= self.class_bytes {
            ClassKey::new(bits, align_bits)
        } else {
            ClassKey::NONE
        }
    }

    /// The most areas a class of `key` holds (at least 2).
    #[inline(always)]
    pub(crate) fn cap(&self, key: ClassKey) -> usize {
        (self.class_bytes / key.bytes()).min(DEPTH)
    }

    /// The cache of the CPU the calling code runs on, if it has a unit and that CPU is one of
    /// the allocator's.
    #[inline(always)]
    pub(crate) fn current(&self) -> Option<&CpuCache> {
        if !self.current_known || !super::current::has_unit() {
            return None;
        }
        // The calling code has a unit, so per-CPU data may be read (`current.rs`).
        self.of_cpu(CpuId::current())
    }

    /// CPU `cpu`'s cache.
    #[inline(always)]
    pub(crate) fn of_cpu(&self, cpu: CpuId) -> Option<&CpuCache> {
        let i = *self.index_of_cpu.get(cpu.as_usize())?;
        self.cpus.get(i as usize)
    }

    /// Every cache.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &CpuCache> {
        self.cpus.iter()
    }

    /// Bytes of the caches themselves (allocator metadata).
    pub(crate) fn metadata_bytes(&self) -> usize {
        self.cpus.len() * core::mem::size_of::<CpuCache>() + self.index_of_cpu.len() * 4
    }
}

/// One CPU's cache: its classes behind a spin lock, and counters its holder writes. The lock,
/// the counters and the classes' headers share the first cache line (one line per call, plus
/// the line of the stack entry used).
#[repr(C, align(128))]
pub(crate) struct CpuCache {
    lock: AtomicBool,
    pub(crate) counts: CacheCounts,
    classes: UnsafeCell<Classes>,
}

// SAFETY: the classes are only reached through a `CacheGuard`, which exists only while its
// holder owns the lock (taken with an atomic exchange, released with a release store); the
// counters are atomics.
unsafe impl Sync for CpuCache {}

/// A cache's counters: written only under its lock (so a load and a store suffice), read by
/// the statistics without it (each value is exact, a set of them is not a snapshot while the
/// cache is in use).
#[derive(Default)]
pub(crate) struct CacheCounts {
    /// Allocations served by this cache.
    pub nr_alloc: AtomicU64,
    /// Frees taken by this cache.
    pub nr_dealloc: AtomicU64,
    /// Areas held now, and their granules.
    pub held: AtomicU64,
    pub held_bits: AtomicU64,
    /// Smallest and largest request served (bytes; 0 if none).
    pub min_size: AtomicUsize,
    pub max_size: AtomicUsize,
}

/// Adds `by` (wrapping: `by` may be a negated amount) to a counter only its lock holder writes.
#[inline(always)]
pub(super) fn bump(counter: &AtomicU64, by: u64) {
    counter.store(counter.load(Ordering::Relaxed).wrapping_add(by), Ordering::Relaxed);
}

impl CacheCounts {
    /// `(areas, granules)` the cache holds now.
    pub(crate) fn held(&self) -> (u64, u64) {
        (self.held.load(Ordering::Relaxed), self.held_bits.load(Ordering::Relaxed))
    }

    /// `n` areas of `bits` granules each came in (`n > 0`) or went out (`n < 0`).
    #[inline(always)]
    pub(super) fn moved(&self, n: i64, bits: u32) {
        bump(&self.held, n as u64);
        bump(&self.held_bits, n.wrapping_mul(i64::from(bits)) as u64);
    }
}

/// The classes of one cache. `areas[c][..len[c]]` is class `c`'s stack (the top is the last);
/// the bottom `clean[c]` entries are clean.
pub(crate) struct Classes {
    pub(super) keys: [ClassKey; NR_CLASSES],
    pub(super) len: [u16; NR_CLASSES],
    pub(super) clean: [u16; NR_CLASSES],
    /// The most areas each class holds ([`Caches::cap`] of its key).
    pub(super) cap: [u16; NR_CLASSES],
    /// When each class was last used (for eviction), from `tick`.
    last_use: [u32; NR_CLASSES],
    tick: u32,
    /// The shape of the last allocation no class held.
    pub(super) last_miss: ClassKey,
    pub(super) areas: [[usize; DEPTH]; NR_CLASSES],
}

impl CpuCache {
    fn new() -> CpuCache {
        CpuCache {
            lock: AtomicBool::new(false),
            counts: CacheCounts::default(),
            classes: UnsafeCell::new(Classes {
                keys: [ClassKey::NONE; NR_CLASSES],
                len: [0; NR_CLASSES],
                clean: [0; NR_CLASSES],
                cap: [0; NR_CLASSES],
                last_use: [0; NR_CLASSES],
                tick: 0,
                last_miss: ClassKey::NONE,
                areas: [[0; DEPTH]; NR_CLASSES],
            }),
        }
    }

    /// Takes the lock if it is free; never waits.
    #[inline(always)]
    pub(crate) fn try_lock(&self) -> Option<CacheGuard<'_>> {
        if self.lock.swap(true, Ordering::Acquire) {
            return None;
        }
        Some(CacheGuard { cache: self })
    }

    /// Waits for the lock.
    ///
    /// CONTEXT: not from interrupt context, and not while holding another cache or the state
    /// lock (its holder may be waiting for that, or be the code this interrupted).
    pub(crate) fn lock(&self) -> CacheGuard<'_> {
        loop {
            if let Some(g) = self.try_lock() {
                return g;
            }
            while self.lock.load(Ordering::Relaxed) {
                core::hint::spin_loop();
            }
        }
    }
}

/// Holds a cache's lock: access to its classes; releases the lock when dropped.
pub(crate) struct CacheGuard<'a> {
    cache: &'a CpuCache,
}

impl CacheGuard<'_> {
    /// The cache's counters.
    #[inline(always)]
    pub(crate) fn counts(&self) -> &CacheCounts {
        &self.cache.counts
    }
}

impl Deref for CacheGuard<'_> {
    type Target = Classes;
    #[inline(always)]
    fn deref(&self) -> &Classes {
        // SAFETY: the guard holds the lock, so nothing else reaches the classes.
        unsafe { &*self.cache.classes.get() }
    }
}

impl DerefMut for CacheGuard<'_> {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut Classes {
        // SAFETY: as in `deref`, and `&mut self` makes this the only reference through the
        // guard.
        unsafe { &mut *self.cache.classes.get() }
    }
}

impl Drop for CacheGuard<'_> {
    #[inline(always)]
    fn drop(&mut self) {
        self.cache.lock.store(false, Ordering::Release);
    }
}

impl Classes {
    /// The class holding `key`.
    #[inline(always)]
    pub(crate) fn find(&self, key: ClassKey) -> Option<usize> {
        self.keys.iter().position(|&k| k == key)
    }

    /// The least recently used class.
    pub(super) fn victim(&self) -> usize {
        let now = self.tick;
        (0..NR_CLASSES).max_by_key(|&c| now.wrapping_sub(self.last_use[c])).unwrap_or(0)
    }

    /// An empty class (unused, or holding no area).
    pub(super) fn empty(&self) -> Option<usize> {
        (0..NR_CLASSES).find(|&c| self.keys[c].is_none() || self.len[c] == 0)
    }

    #[inline(always)]
    pub(super) fn touch(&mut self, c: usize) {
        self.tick = self.tick.wrapping_add(1);
        self.last_use[c] = self.tick;
    }

    /// Class `c`'s key, length and clean count.
    pub(crate) fn class(&self, c: usize) -> (ClassKey, &[usize], usize) {
        (self.keys[c], &self.areas[c][..self.len[c] as usize], self.clean[c] as usize)
    }

    /// Pops the top area of class `c`, and whether it is clean.
    #[inline(always)]
    pub(super) fn pop(&mut self, c: usize) -> Option<(usize, bool)> {
        let len = self.len[c] as usize;
        if len == 0 {
            return None;
        }
        let addr = self.areas[c][len - 1];
        self.len[c] = (len - 1) as u16;
        let clean = len <= self.clean[c] as usize;
        if clean {
            self.clean[c] = (len - 1) as u16;
        }
        Some((addr, clean))
    }

    /// Moves the bottom `n` areas of class `c` (the oldest) to `out`.
    pub(super) fn take_bottom(&mut self, c: usize, n: usize, out: &mut [usize]) -> usize {
        let len = self.len[c] as usize;
        let n = n.min(len);
        out[..n].copy_from_slice(&self.areas[c][..n]);
        self.areas[c].copy_within(n..len, 0);
        self.len[c] = (len - n) as u16;
        self.clean[c] = self.clean[c].saturating_sub(n as u16);
        n
    }
}
