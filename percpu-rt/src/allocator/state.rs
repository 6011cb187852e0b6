//! The allocator's bookkeeping over all chunks: the chunk table, the slots, the address index,
//! the population counts and the statistics counters. Pure logic: no area memory is read or
//! written and no backend is called here (the [`engine`](super::engine) does both, around calls
//! into this); the one exception is a prefetch hint for a fresh area's lines, issued between
//! finding the area and recording it (`memory.rs`).
//!
//! `free` first checks the chunk it found last (frees come in runs from one chunk: objects
//! allocated together are freed together), then the first chunk's two regions, then the
//! address index: a run of frees from one chunk skips the hash lookup and its dependent loads.
//! The empty-page counts are only touched when a page changed state.
//!
//! CONTEXT for every method: the caller holds the allocator's state lock (interrupts masked).

use super::PerCpuPtr;
use super::bitmap::{AreaError, test_bit};
use super::chunk::{Chunk, ChunkId, ChunkIndex, ChunkKind, NIL};
use super::error::FreeError;
use super::memory;
use super::slots::{Slots, UNLISTED};
use crate::layout::{MIN_ALLOC_SHIFT, MIN_ALLOC_SIZE};
use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

/// The fixed geometry of the first chunk, in bytes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Geo {
    pub unit_size: usize,
    pub page_shift: u32,
    pub first_base: usize,
    pub template_start: usize,
    pub static_size: usize,
    /// `[static, static + reserved)` of each unit.
    pub reserved: (usize, usize),
    /// `[static + reserved, static + reserved + dyn)` of each unit.
    pub dynamic: (usize, usize),
}

impl Geo {
    /// The per-CPU pointer of address `addr` (ARCHITECTURE.md, invariant 3).
    #[inline(always)]
    pub(crate) fn encode(&self, addr: usize) -> PerCpuPtr {
        PerCpuPtr::from_addr(addr.wrapping_sub(self.first_base).wrapping_add(self.template_start))
    }

    /// The address a per-CPU pointer names.
    #[inline(always)]
    pub(crate) fn decode(&self, ptr: PerCpuPtr) -> usize {
        ptr.addr().wrapping_sub(self.template_start).wrapping_add(self.first_base)
    }

    pub(crate) fn page_size(&self) -> usize {
        1 << self.page_shift
    }
}

/// Statistics counters (in the spirit of Linux's `percpu_stats`).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Counters {
    pub nr_alloc: u64,
    pub nr_dealloc: u64,
    pub nr_cur_alloc: u64,
    pub nr_max_alloc: u64,
    pub nr_chunks: usize,
    pub nr_max_chunks: usize,
    pub min_alloc_size: usize,
    pub max_alloc_size: usize,
}

/// Where a request may be served from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Request {
    /// Any chunk; pages may be populated afterwards.
    Normal,
    /// Any chunk, populated pages only.
    Atomic,
    /// The reserved region only.
    Reserved,
}

/// An area just taken.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Placed {
    pub id: ChunkId,
    pub bit: u32,
    pub bits: u32,
    pub base: usize,
    /// Byte offset of the area in each unit.
    pub offset: usize,
    /// Some page of the area is not populated yet.
    pub needs_populate: bool,
    /// Fewer empty populated pages than the low mark are left.
    pub below_low: bool,
}

/// A range of pages picked by the balance step.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PageRun {
    pub id: ChunkId,
    pub base: usize,
    /// Map pages `[start, end)`.
    pub start: u32,
    pub end: u32,
    /// The same pages as unit page indexes.
    pub unit_start: usize,
}

/// All chunks and their bookkeeping.
#[derive(Debug)]
pub(crate) struct State {
    pub geo: Geo,
    chunks: Vec<Option<Chunk>>,
    free_ids: Vec<ChunkId>,
    slots: Slots,
    index: ChunkIndex,
    first: Option<ChunkId>,
    reserved: Option<ChunkId>,
    /// `(start, length, chunk)`: the address ranges where areas of the first chunk's dynamic
    /// and reserved regions start (checked before the index).
    fixed: [(usize, usize, ChunkId); 2],
    /// `(start, length, chunk)`: the range of the chunk `free` found last (checked first).
    recent: (usize, usize, ChunkId),
    /// Populated pages with nothing allocated, over every chunk but the reserved one.
    pub nr_empty_pop: usize,
    /// Populated pages per unit, over every chunk.
    pub nr_populated: usize,
    pub counters: Counters,
    /// A non-sleeping allocation failed since the last balance step.
    pub atomic_failed: bool,
    pub low: usize,
    pub high: usize,
    /// Every used unit's offset from a chunk base (to prefetch fresh areas).
    unit_offsets: Box<[usize]>,
    /// `(chunk, bit, bits)` of every area taken but not yet populated: a sleeping allocation
    /// takes its area under the lock, then populates its pages without it (`verify` must not
    /// count those pages as live data in unpopulated pages).
    populating: Vec<(ChunkId, u32, u32)>,
}

/// The chunk over bytes `[start, end)` of each unit of the first chunk, or `None` if that holds
/// no granule.
fn region_chunk(
    geo: &Geo,
    (start, end): (usize, usize),
    kind: ChunkKind,
    immutable: bool,
) -> Option<Chunk> {
    let page = geo.page_size();
    let map_offset = start & !(page - 1);
    let start_bit = (start - map_offset).div_ceil(MIN_ALLOC_SIZE) as u32;
    let end_bit = ((end - map_offset) / MIN_ALLOC_SIZE) as u32;
    if end_bit <= start_bit {
        return None;
    }
    let nr_pages = (end - map_offset).div_ceil(page) as u32;
    Some(Chunk::new(
        geo.first_base,
        map_offset,
        geo.page_shift,
        nr_pages,
        (start_bit, end_bit),
        kind,
        immutable,
    ))
}

impl State {
    /// The bookkeeping of a fresh allocator whose first chunk is described by `geo`.
    pub(crate) fn new(
        geo: Geo,
        unit_offsets: Box<[usize]>,
        immutable: bool,
        low: usize,
        high: usize,
    ) -> State {
        let unit_bits = (geo.unit_size / MIN_ALLOC_SIZE) as u32;
        let mut st = State {
            geo,
            chunks: Vec::new(),
            free_ids: Vec::new(),
            slots: Slots::new(unit_bits),
            index: ChunkIndex::new(geo.unit_size),
            first: None,
            reserved: None,
            fixed: [(0, 0, NIL); 2],
            recent: (0, 0, NIL),
            nr_empty_pop: 0,
            nr_populated: 0,
            counters: Counters::default(),
            atomic_failed: false,
            low,
            high,
            unit_offsets,
            populating: Vec::new(),
        };
        if let Some(c) = region_chunk(&geo, geo.reserved, ChunkKind::Reserved, immutable) {
            st.reserved = Some(st.insert(c));
        }
        if let Some(c) = region_chunk(&geo, geo.dynamic, ChunkKind::First, immutable) {
            st.first = Some(st.insert(c));
        }
        for (i, id) in [st.first, st.reserved].into_iter().enumerate() {
            if let Some(c) = id.and_then(|id| st.chunk(id)) {
                let (s, e) = c.map.usable();
                let lo = c.base + c.map_offset + ((s as usize) << MIN_ALLOC_SHIFT);
                st.fixed[i] = (lo, ((e - s) as usize) << MIN_ALLOC_SHIFT, id.unwrap_or(NIL));
            }
        }
        st
    }

    /// A new, unpopulated dynamic chunk at `base` (built outside the lock, then [inserted]).
    ///
    /// [inserted]: State::insert
    pub(crate) fn new_dynamic_chunk(geo: &Geo, base: usize) -> Chunk {
        let pages = (geo.unit_size >> geo.page_shift) as u32;
        let bits = (geo.unit_size / MIN_ALLOC_SIZE) as u32;
        Chunk::new(base, 0, geo.page_shift, pages, (0, bits), ChunkKind::Dynamic, false)
    }

    /// Adds a chunk: listed (unless reserved), indexed (if dynamic), counted.
    pub(crate) fn insert(&mut self, chunk: Chunk) -> ChunkId {
        let id = match self.free_ids.pop() {
            Some(id) => id,
            None => {
                self.chunks.push(None);
                (self.chunks.len() - 1) as ChunkId
            }
        };
        self.slots.reserve(id);
        if chunk.kind != ChunkKind::Reserved {
            self.nr_empty_pop += chunk.nr_empty_pop as usize;
            let slot = if chunk.map.is_empty() {
                self.slots.free_slot()
            } else {
                Slots::size_slot(chunk.map.contig_bits())
            };
            self.slots.link(id, slot, false);
        }
        if chunk.kind == ChunkKind::Dynamic {
            self.index.insert(chunk.base, id);
        }
        self.nr_populated += chunk.nr_populated as usize;
        self.chunks[id as usize] = Some(chunk);
        self.counters.nr_chunks += 1;
        self.counters.nr_max_chunks = self.counters.nr_max_chunks.max(self.counters.nr_chunks);
        id
    }

    /// Takes chunk `id` out of everything and returns it.
    fn remove(&mut self, id: ChunkId) -> Option<Chunk> {
        let chunk = self.chunks.get_mut(id as usize)?.take()?;
        if self.recent.2 == id {
            self.recent = (0, 0, NIL);
        }
        self.slots.unlink(id);
        if chunk.kind == ChunkKind::Dynamic {
            self.index.remove(chunk.base, id);
        }
        if chunk.kind != ChunkKind::Reserved {
            self.nr_empty_pop -= chunk.nr_empty_pop as usize;
        }
        self.nr_populated -= chunk.nr_populated as usize;
        self.counters.nr_chunks -= 1;
        self.free_ids.push(id);
        Some(chunk)
    }

    /// Chunk `id`, if live.
    #[inline(always)]
    pub(crate) fn chunk(&self, id: ChunkId) -> Option<&Chunk> {
        self.chunks.get(id as usize).and_then(Option::as_ref)
    }

    /// Every live chunk.
    pub(crate) fn chunks(&self) -> impl Iterator<Item = (ChunkId, &Chunk)> + '_ {
        self.chunks.iter().enumerate().filter_map(|(i, c)| c.as_ref().map(|c| (i as ChunkId, c)))
    }

    /// The list chunk `id` is in.
    pub(crate) fn slot_of(&self, id: ChunkId) -> u8 {
        self.slots.slot_of(id)
    }

    /// The slots (read-only, for statistics).
    pub(crate) fn slots(&self) -> &Slots {
        &self.slots
    }

    /// Bytes of allocator metadata outside the chunks' maps.
    pub(crate) fn table_bytes(&self) -> usize {
        self.chunks.capacity() * core::mem::size_of::<Option<Chunk>>()
            + self.free_ids.capacity() * 4
            + self.slots.metadata_bytes()
            + self.index.metadata_bytes()
    }

    // ---------------------------------------------------------------------------------------
    // Allocation.

    /// Takes the first fitting area for `bits` bits aligned to `align` bits, searching the
    /// fullest chunks first. `size` is the request in bytes (statistics).
    ///
    /// RETURNS: the area, or `None` if no chunk has room (for [`Request::Normal`], none with
    /// room *or* unpopulated pages that could be populated).
    pub(crate) fn alloc(
        &mut self,
        bits: u32,
        align: u32,
        size: usize,
        req: Request,
    ) -> Option<Placed> {
        let placed = match req {
            Request::Reserved => self.try_chunk(self.reserved?, bits, align, false),
            Request::Normal | Request::Atomic => self.search(bits, align, req == Request::Atomic),
        };
        match placed {
            Some(mut p) => {
                p.below_low = self.nr_empty_pop < self.low;
                let c = &mut self.counters;
                c.nr_alloc += 1;
                c.nr_cur_alloc += 1;
                c.nr_max_alloc = c.nr_max_alloc.max(c.nr_cur_alloc);
                if c.min_alloc_size == 0 || size < c.min_alloc_size {
                    c.min_alloc_size = size;
                }
                c.max_alloc_size = c.max_alloc_size.max(size);
                Some(p)
            }
            None => {
                if req == Request::Atomic {
                    self.atomic_failed = true;
                }
                None
            }
        }
    }

    fn search(&mut self, bits: u32, align: u32, pop_only: bool) -> Option<Placed> {
        let mut mask = self.slots.candidates(bits);
        while mask != 0 {
            let slot = mask.trailing_zeros() as u8;
            mask &= mask - 1;
            if let Some(p) = self.search_list(slot, bits, align, pop_only) {
                return Some(p);
            }
        }
        if let Some(p) = self.search_list(self.slots.relegated_slot(), bits, align, pop_only) {
            return Some(p);
        }
        self.search_list(self.slots.free_slot(), bits, align, pop_only)
    }

    #[inline]
    fn search_list(&mut self, slot: u8, bits: u32, align: u32, pop_only: bool) -> Option<Placed> {
        let mut id = self.slots.head(slot);
        while id != NIL {
            let next = self.slots.next(id);
            if let Some(p) = self.try_chunk(id, bits, align, pop_only) {
                return Some(p);
            }
            id = next;
        }
        None
    }

    /// Tries one chunk; on success updates the population counts and the chunk's slot, on an
    /// alignment failure relegates it.
    #[inline]
    fn try_chunk(&mut self, id: ChunkId, bits: u32, align: u32, pop_only: bool) -> Option<Placed> {
        let c = self.chunks[id as usize].as_mut()?;
        if c.map.contig_bits() < bits {
            return None;
        }
        let Some(bit) = c.map.find(bits, align, &c.populated, pop_only) else {
            if !pop_only && !c.map.is_empty() && self.slots.slot_of(id) != UNLISTED {
                let relegated = self.slots.relegated_slot();
                self.slots.move_to(id, relegated);
            }
            return None;
        };
        let offset = c.map_offset + ((bit as usize) << MIN_ALLOC_SHIFT);
        let needs_populate = !pop_only && !c.range_populated(bit, bits);
        if !needs_populate {
            // The zeroing after the lock writes every line of the area: ask for them now, so
            // the fetches overlap the bookkeeping below (`memory`).
            let size = (bits as usize) << MIN_ALLOC_SHIFT;
            memory::prefetch_area(c.base + offset, size, &self.unit_offsets);
        }
        let delta = c.map.take(bit, bits, &c.populated);
        if delta != 0 {
            c.nr_empty_pop = c.nr_empty_pop.wrapping_add_signed(delta);
            if c.kind != ChunkKind::Reserved {
                self.nr_empty_pop = self.nr_empty_pop.wrapping_add_signed(delta as isize);
            }
        }
        let placed =
            Placed { id, bit, bits, base: c.base, offset, needs_populate, below_low: false };
        self.slots.move_if_listed(id, Slots::size_slot(c.map.contig_bits()));
        if needs_populate {
            self.populating.push((id, bit, bits));
        }
        Some(placed)
    }

    // ---------------------------------------------------------------------------------------
    // Free.

    /// The chunk whose areas `addr` may start. The chunk found last is checked first: frees
    /// tend to come in runs from one chunk (objects allocated together are freed together).
    #[inline(always)]
    fn chunk_of(&mut self, addr: usize) -> Result<ChunkId, FreeError> {
        let (lo, len, id) = self.recent;
        if addr.wrapping_sub(lo) < len {
            return Ok(id);
        }
        for &(lo, len, id) in &self.fixed {
            if addr.wrapping_sub(lo) < len {
                self.recent = (lo, len, id);
                return Ok(id);
            }
        }
        match self.index.lookup(addr) {
            Some((base, id)) => {
                self.recent = (base, self.geo.unit_size, id);
                Ok(id)
            }
            None => Err(self.foreign(addr)),
        }
    }

    /// The error for an address that is in no chunk.
    #[cold]
    #[inline(never)]
    fn foreign(&self, addr: usize) -> FreeError {
        let ptr = self.geo.encode(addr);
        if addr.wrapping_sub(self.geo.first_base) < self.geo.static_size {
            return FreeError::Static { ptr };
        }
        FreeError::Foreign { ptr }
    }

    /// The error for `addr`, which is in chunk `id` but starts no live area (`err` says why).
    #[cold]
    #[inline(never)]
    fn not_an_area(&self, id: ChunkId, addr: usize, err: AreaError) -> FreeError {
        let ptr = self.geo.encode(addr);
        match (err, self.chunk(id)) {
            (AreaError::Interior { start }, Some(c)) => {
                let area = c.base + c.map_offset + ((start as usize) << MIN_ALLOC_SHIFT);
                FreeError::Interior { ptr, area: self.geo.encode(area) }
            }
            _ => FreeError::NotAllocated { ptr },
        }
    }

    /// Frees the area starting at `addr`; on error nothing changes.
    ///
    /// RETURNS: whether the balance step should run (a dynamic chunk became fully free), and
    /// the area's size in bytes.
    #[inline]
    pub(crate) fn free(&mut self, addr: usize) -> Result<(bool, usize), FreeError> {
        let id = self.chunk_of(addr)?;
        let Some(c) = self.chunks.get_mut(id as usize).and_then(Option::as_mut) else {
            return Err(self.foreign(addr));
        };
        let rel = addr - c.base - c.map_offset;
        if rel % MIN_ALLOC_SIZE != 0 {
            return Err(FreeError::Misaligned { ptr: self.geo.encode(addr) });
        }
        let (bits, delta) = match c.map.release((rel >> MIN_ALLOC_SHIFT) as u32, &c.populated) {
            Ok(r) => r,
            Err(e) => return Err(self.not_an_area(id, addr, e)),
        };
        if delta != 0 {
            c.nr_empty_pop = c.nr_empty_pop.wrapping_add_signed(delta);
            if c.kind != ChunkKind::Reserved {
                self.nr_empty_pop = self.nr_empty_pop.wrapping_add_signed(delta as isize);
            }
        }
        let empty = c.map.is_empty();
        let notify = empty && c.kind == ChunkKind::Dynamic;
        let slot =
            if empty { self.slots.free_slot() } else { Slots::size_slot(c.map.contig_bits()) };
        self.slots.move_if_listed(id, slot);
        self.counters.nr_dealloc += 1;
        self.counters.nr_cur_alloc -= 1;
        Ok((notify, (bits as usize) << MIN_ALLOC_SHIFT))
    }

    /// The area `placed` (taken with `needs_populate`) is populated now.
    pub(crate) fn populated(&mut self, placed: &Placed) {
        let entry = (placed.id, placed.bit, placed.bits);
        if let Some(i) = self.populating.iter().position(|&e| e == entry) {
            self.populating.swap_remove(i);
        }
    }

    /// Frees the area just taken by [`State::alloc`] (its population failed).
    pub(crate) fn undo(&mut self, placed: &Placed) {
        self.populated(placed);
        let addr = placed.base + placed.offset;
        let done = self.free(addr);
        debug_assert!(done.is_ok(), "undoing a fresh allocation failed: {done:?}");
        self.counters.nr_alloc -= 1;
        self.counters.nr_dealloc -= 1;
    }

    // ---------------------------------------------------------------------------------------
    // Population.

    /// The first run of unpopulated pages of chunk `id` among the pages of `placed`.
    pub(crate) fn unpopulated_run(&self, placed: &Placed) -> Option<PageRun> {
        let c = self.chunk(placed.id)?;
        let shift = c.map.block_bits().trailing_zeros();
        let (k0, k1) = (placed.bit >> shift, (placed.bit + placed.bits - 1) >> shift);
        let start = (k0..=k1).find(|&k| !c.is_populated(k))?;
        let end = (start..=k1).find(|&k| c.is_populated(k)).unwrap_or(k1 + 1);
        Some(self.run(placed.id, c, start, end))
    }

    fn run(&self, id: ChunkId, c: &Chunk, start: u32, end: u32) -> PageRun {
        PageRun {
            id,
            base: c.base,
            start,
            end,
            unit_start: c.first_page(self.geo.page_shift) + start as usize,
        }
    }

    /// Records that pages `run` are populated.
    ///
    /// RETURNS: `false` (and changes nothing) for an immutable chunk: asking to populate one is
    /// a bug.
    pub(crate) fn set_populated(&mut self, run: &PageRun) -> bool {
        let Some(c) = self.chunks.get_mut(run.id as usize).and_then(Option::as_mut) else {
            return false;
        };
        if c.immutable {
            return false;
        }
        for k in run.start..run.end {
            if !c.is_populated(k) {
                super::bitmap::set_bit(&mut c.populated, k);
                c.nr_populated += 1;
                self.nr_populated += 1;
                if c.map.block_is_free(k) {
                    c.nr_empty_pop += 1;
                    if c.kind != ChunkKind::Reserved {
                        self.nr_empty_pop += 1;
                    }
                }
            }
        }
        true
    }

    /// Whether chunk `id` is immutable.
    pub(crate) fn is_immutable(&self, id: ChunkId) -> bool {
        self.chunk(id).is_some_and(|c| c.immutable)
    }

    // ---------------------------------------------------------------------------------------
    // Balance.

    /// Takes out a fully free dynamic chunk whose empty pages are not needed to stay at or
    /// above the low mark.
    pub(crate) fn take_free_chunk(&mut self) -> Option<Chunk> {
        let victim = self.slots.iter(self.slots.free_slot()).find(|&id| {
            self.chunk(id).is_some_and(|c| {
                c.kind == ChunkKind::Dynamic
                    && c.map.is_empty()
                    && self.nr_empty_pop - c.nr_empty_pop as usize >= self.low
            })
        })?;
        self.remove(victim)
    }

    /// Takes out every dynamic chunk (the allocator is going away).
    pub(crate) fn drain_dynamic(&mut self) -> Vec<Chunk> {
        let ids: Vec<ChunkId> =
            self.chunks().filter(|(_, c)| c.kind == ChunkKind::Dynamic).map(|(id, _)| id).collect();
        ids.into_iter().filter_map(|id| self.remove(id)).collect()
    }

    /// Picks empty populated pages to release while there are more than the high mark, from
    /// chunks with ids at or after `*cursor` (advanced), and marks them unpopulated at once so
    /// that no allocation uses them meanwhile.
    pub(crate) fn pick_depopulate(&mut self, cursor: &mut ChunkId) -> Option<PageRun> {
        while self.nr_empty_pop > self.high && (*cursor as usize) < self.chunks.len() {
            let id = *cursor;
            let excess = (self.nr_empty_pop - self.high) as u32;
            let Some(c) = self.chunks[id as usize].as_mut() else {
                *cursor += 1;
                continue;
            };
            if c.kind != ChunkKind::Dynamic || c.immutable || c.nr_empty_pop == 0 {
                *cursor += 1;
                continue;
            }
            // The last run of empty populated pages (keep populated pages near the start).
            let n = c.map.nr_blocks();
            let is_empty_pop = |c: &Chunk, k: u32| c.is_populated(k) && c.map.block_is_free(k);
            let Some(last) = (0..n).rev().find(|&k| is_empty_pop(c, k)) else {
                *cursor += 1;
                continue;
            };
            let mut start = last;
            while start > 0 && last + 1 - start < excess && is_empty_pop(c, start - 1) {
                start -= 1;
            }
            let end = last + 1;
            for k in start..end {
                super::bitmap::clear_bit(&mut c.populated, k);
            }
            let count = end - start;
            c.nr_populated -= count;
            c.nr_empty_pop -= count;
            self.nr_populated -= count as usize;
            self.nr_empty_pop -= count as usize;
            let c = self.chunk(id)?;
            return Some(self.run(id, c, start, end));
        }
        None
    }

    /// How many empty pages the balance step should populate now.
    pub(crate) fn populate_need(&self) -> usize {
        if self.atomic_failed || self.nr_empty_pop < self.low {
            self.high.saturating_sub(self.nr_empty_pop)
        } else {
            0
        }
    }

    /// Picks up to `max` free unpopulated pages to populate, fullest chunk first.
    pub(crate) fn pick_populate(&self, max: usize) -> Option<PageRun> {
        let order = (0..self.slots.nr_slots())
            .filter(|&s| s != self.slots.free_slot())
            .chain([self.slots.free_slot()]);
        for slot in order {
            for id in self.slots.iter(slot) {
                let Some(c) = self.chunk(id) else { continue };
                if c.immutable
                    || c.kind != ChunkKind::Dynamic
                    || c.nr_populated == c.map.nr_blocks()
                {
                    continue;
                }
                let n = c.map.nr_blocks();
                let wanted = |k: u32| !c.is_populated(k) && c.map.block_is_free(k);
                if let Some(start) = (0..n).find(|&k| wanted(k)) {
                    let mut end = start + 1;
                    while end < n && ((end - start) as usize) < max && wanted(end) {
                        end += 1;
                    }
                    return Some(self.run(id, c, start, end));
                }
            }
        }
        None
    }

    // ---------------------------------------------------------------------------------------
    // Checking.

    /// Checks every chunk's map and every count and list against the chunks.
    pub(crate) fn verify(&self) -> Result<(), String> {
        let (mut empty, mut populated, mut areas, mut nr) = (0usize, 0usize, 0u64, 0usize);
        for (id, c) in self.chunks() {
            nr += 1;
            c.map
                .verify()
                .map_err(|e| format!("chunk {id} ({:?} at {:#x}): {e}", c.kind, c.base))?;
            let n = c.map.nr_blocks();
            let pop = (0..n).filter(|&k| c.is_populated(k)).count();
            let ep = (0..n).filter(|&k| c.is_populated(k) && c.map.block_is_free(k)).count();
            if pop != c.nr_populated as usize || ep != c.nr_empty_pop as usize {
                return Err(format!(
                    "chunk {id}: populated/empty {}/{} but {pop}/{ep}",
                    c.nr_populated, c.nr_empty_pop
                ));
            }
            // Every live area lies in populated pages, but for areas being populated right now
            // (taken by a sleeping allocation that populates its pages outside the lock).
            let alloc = c.map.alloc_map();
            let (s, e) = c.map.usable();
            let pending = |b: u32| {
                self.populating
                    .iter()
                    .any(|&(pid, bit, bits)| pid == id && (bit..bit + bits).contains(&b))
            };
            for k in 0..n {
                if !c.is_populated(k) {
                    let shift = c.map.block_bits().trailing_zeros();
                    let (lo, hi) = ((k << shift).max(s), ((k + 1) << shift).min(e));
                    if (lo..hi).any(|b| test_bit(&alloc, b) && !pending(b)) {
                        return Err(format!(
                            "chunk {id}: page {k} has live data but is not populated"
                        ));
                    }
                }
            }
            populated += c.nr_populated as usize;
            if c.kind != ChunkKind::Reserved {
                empty += c.nr_empty_pop as usize;
            }
            areas += c.map.nr_areas() as u64;
            let slot = self.slots.slot_of(id);
            let want = if c.kind == ChunkKind::Reserved {
                UNLISTED
            } else if c.map.is_empty() {
                self.slots.free_slot()
            } else {
                Slots::size_slot(c.map.contig_bits())
            };
            let relegated = slot == self.slots.relegated_slot() && !c.map.is_empty();
            if !(slot == want || relegated) {
                return Err(format!("chunk {id} is in slot {slot}, expected {want}"));
            }
            if slot != UNLISTED && !self.slots.iter(slot).any(|x| x == id) {
                return Err(format!("chunk {id} is not in the list of its slot {slot}"));
            }
            if c.kind == ChunkKind::Dynamic && self.index.lookup(c.base).map(|e| e.1) != Some(id) {
                return Err(format!("chunk {id} is not found by the address index"));
            }
        }
        if (empty, populated, areas, nr)
            != (
                self.nr_empty_pop,
                self.nr_populated,
                self.counters.nr_cur_alloc,
                self.counters.nr_chunks,
            )
        {
            return Err(format!(
                "totals empty/populated/live/chunks {}/{}/{}/{} but {empty}/{populated}/{areas}/{nr}",
                self.nr_empty_pop,
                self.nr_populated,
                self.counters.nr_cur_alloc,
                self.counters.nr_chunks
            ));
        }
        let dynamic = self.chunks().filter(|(_, c)| c.kind == ChunkKind::Dynamic).count();
        if self.index.len() < dynamic || self.index.len() > 2 * dynamic {
            return Err(format!(
                "address index has {} entries for {dynamic} chunks",
                self.index.len()
            ));
        }
        Ok(())
    }
}
