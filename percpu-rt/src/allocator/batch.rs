//! Several areas in one call, with one acquisition of the allocator's lock: for code that
//! creates many per-CPU objects at once (Linux's `percpu_counter_init_many`, which allocates
//! its counters together).
//!
//! Requests are validated first (an illegal one refuses the whole batch, and nothing changes);
//! then, under the lock, consecutive requests of one shape are taken as runs of neighbours
//! (one update of the chunk's hints per run), and only then are pages populated (growth lock)
//! and every area zeroed in every unit, outside the lock. All or nothing: when the chunks have
//! no room the areas taken so far go back before a chunk is created (under the growth lock) and
//! the batch is tried again; when the backend fails, every area goes back and the error is
//! returned. The batch bypasses the per-CPU caches (their areas are the current CPU's, a batch
//! is anyone's), but its areas are freed into them like any other.

use super::cache::ClassKey;
use super::state::{Placed, Request};
use super::{AllocError, Allocator, PerCpuArea, PerCpuPtr};
use crate::layout::MIN_ALLOC_SHIFT;
use alloc::vec::Vec;
use core::alloc::Layout;

/// One shape of a batch: `count` areas of `bits` granules aligned to `align_bits`, for
/// requests of `size` bytes aligned to `align`.
#[derive(Clone, Copy)]
struct Group {
    count: usize,
    bits: u32,
    align_bits: u32,
    size: usize,
    align: usize,
}

impl Allocator {
    /// Allocates `n` areas of `size` bytes aligned to `align`, each zeroed in every CPU's unit
    /// and owned, taking the allocator's lock once when the chunks have room (neighbours are
    /// taken as one run).
    ///
    /// CONTEXT: may sleep (as [`Allocator::alloc`]).
    ///
    /// RETURNS: the areas, or why not; on error no area is left allocated.
    pub fn alloc_many(
        &self,
        n: usize,
        size: usize,
        align: usize,
    ) -> Result<Vec<PerCpuArea<'_>>, AllocError> {
        let (bits, align_bits) = self.check_request(size, align)?;
        let group = Group { count: n, bits, align_bits, size, align };
        self.alloc_groups(&[group], true)
    }

    /// Allocates one area per layout (of several sizes and alignments), each zeroed in every
    /// CPU's unit and owned, taking the allocator's lock once when the chunks have room.
    ///
    /// CONTEXT: may sleep (as [`Allocator::alloc`]).
    ///
    /// RETURNS: the areas in the order of `layouts`, or why not: an illegal layout (size 0, too
    /// large, aligned above the page) refuses the batch before anything is allocated; on any
    /// error no area is left allocated.
    pub fn alloc_layouts(&self, layouts: &[Layout]) -> Result<Vec<PerCpuArea<'_>>, AllocError> {
        let mut groups: Vec<Group> = Vec::new();
        for l in layouts {
            let (bits, align_bits) = self.check_request(l.size(), l.align())?;
            match groups.last_mut() {
                Some(g) if (g.bits, g.align_bits, g.size) == (bits, align_bits, l.size()) => {
                    g.count += 1;
                }
                _ => groups.push(Group {
                    count: 1,
                    bits,
                    align_bits,
                    size: l.size(),
                    align: l.align(),
                }),
            }
        }
        self.alloc_groups(&groups, true)
    }

    /// `n` areas for `T`s, not initialised, for [`PerCpuBox`](super::PerCpuBox)'s batch.
    pub(super) fn alloc_many_uninit(
        &self,
        n: usize,
        size: usize,
        align: usize,
    ) -> Result<Vec<(PerCpuPtr, ClassKey)>, AllocError> {
        let (bits, align_bits) = self.check_request(size, align)?;
        let group = Group { count: n, bits, align_bits, size, align };
        let areas = self.alloc_groups(&[group], false)?;
        Ok(areas
            .into_iter()
            .map(|a| {
                let parts = (a.ptr, a.class);
                core::mem::forget(a);
                parts
            })
            .collect())
    }

    /// The batch: see the module comment.
    fn alloc_groups(
        &self,
        groups: &[Group],
        zero: bool,
    ) -> Result<Vec<PerCpuArea<'_>>, AllocError> {
        let total: usize = groups.iter().map(|g| g.count).sum();
        let mut runs: Vec<Placed> = Vec::new();
        let mut grow = None;
        let below_low = loop {
            match self.take_groups(groups, &mut runs) {
                Ok(below_low) => break below_low,
                Err(g) => {
                    // No room: make some and try again (with the growth lock held from the
                    // first miss on, as a single allocation's slow path).
                    let Some(backend) = self.backend.get() else {
                        return Err(AllocError::NoBackend { size: g.size, align: g.align });
                    };
                    let guard = grow.get_or_insert_with(|| self.grow.lock());
                    self.create_chunk(*backend, guard).map_err(AllocError::Backend)?;
                }
            }
        };
        for i in 0..runs.len() {
            if runs[i].needs_populate {
                let guard = grow.get_or_insert_with(|| self.grow.lock());
                if let Err(e) = self.populate_area(&runs[i], guard) {
                    // `populate_area` gave run `i` back; the others go back too.
                    let mut st = self.state.lock();
                    for (j, p) in runs.iter().enumerate() {
                        if j != i {
                            st.undo(p, true);
                        }
                    }
                    return Err(e);
                }
            }
        }
        drop(grow);
        if below_low {
            self.request_balance();
        }
        let mut areas = Vec::with_capacity(total);
        for p in &runs {
            if zero && p.contiguous() {
                self.zero(self.geo.encode(p.addr(0)), (p.span() as usize) << MIN_ALLOC_SHIFT);
            } else if zero {
                // Not the holes between the areas: they are free, someone else's to take.
                for i in 0..p.n {
                    self.zero(self.geo.encode(p.addr(i)), (p.bits as usize) << MIN_ALLOC_SHIFT);
                }
            }
            for i in 0..p.n {
                areas.push(PerCpuArea::new(self.geo.encode(p.addr(i)), self, ClassKey::NONE));
            }
        }
        // Each area's shape, for its free: the group it came from.
        let mut k = 0;
        for g in groups {
            let class = self.caches.class(g.bits, g.align_bits);
            for a in &mut areas[k..k + g.count] {
                a.class = class;
            }
            k += g.count;
        }
        Ok(areas)
    }

    /// Takes every group's areas under one acquisition of the state lock, into `runs`
    /// (cleared first), and counts them as allocations.
    ///
    /// RETURNS: whether the empty pages fell below the low mark, or the group that found no
    /// room (every area taken for the batch is given back first).
    fn take_groups(&self, groups: &[Group], runs: &mut Vec<Placed>) -> Result<bool, Group> {
        runs.clear();
        let mut st = self.state.lock();
        for g in groups {
            let mut left = g.count;
            while left > 0 {
                let max = left.min(u32::MAX as usize) as u32;
                match st.take(g.bits, g.align_bits, max, Request::Normal) {
                    Some(p) => {
                        left -= p.n as usize;
                        runs.push(p);
                    }
                    None => {
                        for p in runs.iter() {
                            st.undo(p, false);
                        }
                        runs.clear();
                        return Err(*g);
                    }
                }
            }
        }
        let c = &mut st.counters;
        for g in groups.iter().filter(|g| g.count > 0) {
            c.nr_alloc += g.count as u64;
            if c.min_alloc_size == 0 || g.size < c.min_alloc_size {
                c.min_alloc_size = g.size;
            }
            c.max_alloc_size = c.max_alloc_size.max(g.size);
        }
        Ok(runs.iter().any(|p| p.below_low))
    }
}
