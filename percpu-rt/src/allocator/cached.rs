//! The allocator's side of the per-CPU caches ([`cache`](super::cache)): allocation and free
//! through a CPU's cache, its refill from the chunks and its drain back to them under the
//! state lock, the balance step's drain of every cache, and the consistency check of the
//! caches against the state.

use super::cache::{CacheGuard, ClassKey, CpuCache, NR_CLASSES, bump};
use super::engine::Allocator;
use super::state::{DEPTH, Request, State};
use alloc::vec::Vec;
use core::sync::atomic::Ordering;

impl Allocator {
    /// Allocates an area of shape `key` (request `size` bytes) from `cache`, refilling the
    /// class from the chunks when it is empty; zeroes it in every unit unless it is clean or
    /// `!zero`.
    ///
    /// CONTEXT: any, for `req` [`Request::Atomic`]; may sleep for [`Request::Normal`] (it
    /// never does here, but the caller's fallback may).
    ///
    /// RETURNS: the area's address, or `None` when the cache is busy or the chunks have no
    /// room in populated pages (the caller takes the locked path).
    #[inline]
    pub(crate) fn cache_alloc(
        &self,
        cache: &CpuCache,
        key: ClassKey,
        size: usize,
        req: Request,
        zero: bool,
    ) -> Option<usize> {
        let mut g = cache.try_lock()?;
        let c = match g.find(key) {
            Some(c) => c,
            None => self.adopt(&mut g, key)?,
        };
        g.touch(c);
        let (addr, clean) = match g.pop(c) {
            Some(a) => a,
            None => {
                self.refill(&mut g, c, key, req)?;
                g.pop(c)?
            }
        };
        let counts = g.counts();
        bump(&counts.nr_alloc, 1);
        counts.moved(-1, key.bits());
        if size > counts.max_size.load(Ordering::Relaxed) {
            counts.max_size.store(size, Ordering::Relaxed);
        }
        let min = counts.min_size.load(Ordering::Relaxed);
        if min == 0 || size < min {
            counts.min_size.store(size, Ordering::Relaxed);
        }
        drop(g);
        if zero && !clean {
            // SAFETY: the area was just popped: it is this caller's, populated in every unit.
            unsafe { super::copies::zero_area(addr, key.bytes(), &self.unit_offsets) };
        }
        Some(addr)
    }

    /// Frees the area at `addr` of shape `key`, which the caller owns, into `cache`; drains
    /// the oldest half of the class to the chunks when it is full.
    ///
    /// CONTEXT: any, interrupt handlers included.
    ///
    /// RETURNS: `false` when the cache is busy or has no class for `key` (nothing changed:
    /// the caller frees through the chunks).
    #[inline]
    pub(crate) fn cache_free(&self, cache: &CpuCache, addr: usize, key: ClassKey) -> bool {
        let Some(mut g) = cache.try_lock() else { return false };
        let c = match g.find(key) {
            Some(c) => c,
            None => match g.empty() {
                Some(c) => {
                    g.keys[c] = key;
                    g.clean[c] = 0;
                    g.cap[c] = self.caches.cap(key) as u16;
                    c
                }
                None => return false,
            },
        };
        let len = g.len[c];
        if len >= g.cap[c] {
            let batch = g.cap[c] as usize / 2;
            self.drain(&mut g, c, batch);
        }
        let len = g.len[c] as usize;
        g.areas[c][len] = addr;
        g.len[c] = len as u16 + 1;
        let counts = g.counts();
        bump(&counts.nr_dealloc, 1);
        counts.moved(1, key.bits());
        true
    }

    /// A class for `key`, which no class holds: an empty one, or, when `key` missed twice in a
    /// row, the least recently used one, emptied first. A shape seen once (in a workload of
    /// many shapes) does not evict a shape in use.
    ///
    /// RETURNS: `None` if the allocation should go through the chunks this time.
    #[cold]
    fn adopt(&self, g: &mut CacheGuard<'_>, key: ClassKey) -> Option<usize> {
        let c = match g.empty() {
            Some(c) => c,
            None if g.last_miss == key => {
                let c = g.victim();
                self.drain(g, c, DEPTH);
                c
            }
            None => {
                g.last_miss = key;
                return None;
            }
        };
        g.keys[c] = key;
        g.clean[c] = 0;
        g.cap[c] = self.caches.cap(key) as u16;
        Some(c)
    }

    /// Takes up to half a class of areas of `key` from the chunks (populated pages only),
    /// zeroes them in every unit and pushes them, clean, into class `c` (empty), the lowest
    /// address on top.
    ///
    /// RETURNS: `None` if no area was found.
    #[cold]
    #[inline(never)]
    fn refill(&self, g: &mut CacheGuard<'_>, c: usize, key: ClassKey, req: Request) -> Option<()> {
        debug_assert_eq!(g.len[c], 0);
        let want = (g.cap[c] as usize / 2).max(1);
        let mut buf = [0usize; DEPTH];
        let mut n = 0;
        let mut below_low = false;
        {
            let mut st = self.state.lock();
            while n < want {
                let Some(p) = st.take(key.bits(), key.align_bits(), (want - n) as u32, req) else {
                    break;
                };
                if p.needs_populate {
                    // Population may sleep: the caller's locked path does it.
                    st.undo(&p, false);
                    break;
                }
                below_low |= p.below_low;
                for i in 0..p.n {
                    buf[n] = p.addr(i);
                    n += 1;
                }
            }
        }
        if below_low {
            self.request_balance();
        }
        if n == 0 {
            return None;
        }
        // SAFETY: the areas were just taken from populated pages: this cache's, and nobody
        // else's, in every unit.
        unsafe { super::copies::zero_areas(&buf[..n], key.bytes(), &self.unit_offsets) };
        for (i, &addr) in buf[..n].iter().rev().enumerate() {
            g.areas[c][i] = addr;
        }
        g.len[c] = n as u16;
        g.clean[c] = n as u16;
        g.counts().moved(n as i64, key.bits());
        Some(())
    }

    /// Gives the bottom `n` areas of class `c` back to the chunks.
    #[cold]
    #[inline(never)]
    fn drain(&self, g: &mut CacheGuard<'_>, c: usize, n: usize) {
        let key = g.keys[c];
        let mut buf = [0usize; DEPTH];
        let n = g.take_bottom(c, n, &mut buf);
        if n == 0 {
            return;
        }
        g.counts().moved(-(n as i64), key.bits());
        // Sorted before the state lock is taken, to hold it for less time.
        buf[..n].sort_unstable();
        let notify = self.state.lock().release_areas(key.bits(), &buf[..n]);
        if notify {
            self.request_balance();
        }
    }

    /// Gives every cached area back to the chunks (the balance step), so that pages and
    /// chunks that hold only cached areas can be released. The caches refill on their next
    /// allocations, one batch per class.
    ///
    /// CONTEXT: may sleep (waits for each cache's lock).
    pub(crate) fn drain_caches(&self) {
        for cache in self.caches.iter() {
            let mut g = cache.lock();
            for c in 0..NR_CLASSES {
                self.drain(&mut g, c, DEPTH);
            }
        }
    }
}

/// Zero bytes, to compare clean areas with.
static ZEROS: [u8; 1024] = [0; 1024];

impl Allocator {
    /// Checks the caches (all locked by the caller, in `guards`) against the state.
    pub(crate) fn verify_caches(
        &self,
        st: &State,
        guards: &[CacheGuard<'_>],
    ) -> Result<(), alloc::string::String> {
        use alloc::format;
        let mut all: Vec<usize> = Vec::new();
        for (i, g) in guards.iter().enumerate() {
            let (mut areas, mut bits) = (0u64, 0u64);
            for c in 0..NR_CLASSES {
                let (key, held, clean) = g.class(c);
                if held.is_empty() {
                    continue;
                }
                let cap = if key.is_none() { 0 } else { self.caches.cap(key) };
                if key.is_none()
                    || held.len() > cap
                    || clean > held.len()
                    || g.cap[c] as usize != cap
                {
                    return Err(format!(
                        "cache {i} class {c}: key {key:?}, {} areas ({clean} clean) for a cap of {}",
                        held.len(),
                        g.cap[c]
                    ));
                }
                for (j, &addr) in held.iter().enumerate() {
                    st.check_area(addr, key.bits(), key.align_bits())
                        .map_err(|e| format!("cache {i} class {c}: {e}"))?;
                    if j < clean {
                        for &off in self.unit_offsets.iter() {
                            let copy = addr.wrapping_add(off) as *const u8;
                            // SAFETY: a cached area is live in its chunk (checked just above),
                            // so populated in every unit, and nobody but its cache (locked by
                            // the caller) uses it.
                            let bytes = unsafe { core::slice::from_raw_parts(copy, key.bytes()) };
                            if bytes.chunks(ZEROS.len()).any(|c| c != &ZEROS[..c.len()]) {
                                return Err(format!(
                                    "cache {i} class {c}: clean area {:?} is not zero at unit offset {off:#x}",
                                    self.geo.encode(addr)
                                ));
                            }
                        }
                    }
                }
                all.extend_from_slice(held);
                areas += held.len() as u64;
                bits += held.len() as u64 * u64::from(key.bits());
            }
            if g.counts().held() != (areas, bits) {
                return Err(format!(
                    "cache {i}: counts say {:?} areas/granules held, the classes hold {:?}",
                    g.counts().held(),
                    (areas, bits)
                ));
            }
        }
        all.sort_unstable();
        if let Some(w) = all.windows(2).find(|w| w[0] == w[1]) {
            return Err(format!("area {:?} is held twice by the caches", self.geo.encode(w[0])));
        }
        if all.len() as u64 > st.counters.nr_taken {
            return Err(format!(
                "the caches hold {} areas, but only {} are taken",
                all.len(),
                st.counters.nr_taken
            ));
        }
        Ok(())
    }
}
