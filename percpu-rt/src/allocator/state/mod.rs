//! The allocator's bookkeeping over all chunks: the chunk table, the slots, the address index,
//! the population counts and the statistics counters. Pure logic: no area memory is read or
//! written and no backend is called here (the [`engine`](super::engine) does both, around calls
//! into this); the one exception is a prefetch hint for a fresh area's lines, issued between
//! finding the area and recording it (`copies.rs`).
//!
//! `free` first checks the chunk it found last (frees come in runs from one chunk: objects
//! allocated together are freed together), then the first chunk's two regions, then the
//! address index: a run of frees from one chunk skips the hash lookup and its dependent loads.
//! The empty-page counts are only touched when a page changed state.
//!
//! CONTEXT for every method: the caller holds the allocator's state lock (interrupts masked).

mod check;
mod pages;

use super::PerCpuPtr;
use super::bitmap::AreaError;
use super::chunk::{Chunk, ChunkId, ChunkIndex, ChunkKind, NIL};
use super::copies;
use super::error::FreeError;
use super::slots::{Slots, UNLISTED};
use crate::layout::{MIN_ALLOC_SHIFT, MIN_ALLOC_SIZE};
use alloc::boxed::Box;
use alloc::vec::Vec;

/// The most areas one class of a per-CPU cache holds, and so the most that one drain gives
/// back at once ([`State::release_areas`]).
pub(crate) const DEPTH: usize = 128;

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
    /// The per-CPU pointer of address `addr` (docs/architecture.md, invariant 3).
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
    /// Allocations served by the chunks directly (not through a per-CPU cache).
    pub nr_alloc: u64,
    /// Frees into the chunks directly.
    pub nr_dealloc: u64,
    /// Areas taken from the chunks now: live allocations and areas held by per-CPU caches.
    pub nr_taken: u64,
    /// The most areas taken at once.
    pub nr_max_taken: u64,
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

/// Areas just taken: `n` areas of `bits` bits, one every `stride` bits from `bit` (side by
/// side when `stride == bits`; with holes between them, in one page, when the alignment is
/// larger than the length).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Placed {
    pub id: ChunkId,
    pub bit: u32,
    pub bits: u32,
    pub stride: u32,
    pub n: u32,
    pub base: usize,
    /// Byte offset of the area in each unit.
    pub offset: usize,
    /// Some page of the area is not populated yet.
    pub needs_populate: bool,
    /// Fewer empty populated pages than the low mark are left.
    pub below_low: bool,
}

impl Placed {
    /// Bits from the first area's start to the last one's end.
    pub(crate) fn span(&self) -> u32 {
        (self.n - 1) * self.stride + self.bits
    }

    /// Whether the areas are side by side (no hole between them).
    pub(crate) fn contiguous(&self) -> bool {
        self.stride == self.bits || self.n == 1
    }

    /// The address of area `i` of the run.
    pub(crate) fn addr(&self, i: u32) -> usize {
        self.base + self.offset + ((i as usize * self.stride as usize) << MIN_ALLOC_SHIFT)
    }
}

/// The distance in bits between the starts of areas of `bits` bits aligned to `align` bits
/// taken as one run: `bits` when neighbours stay aligned, else `bits` rounded up to the
/// alignment (a hole after each area).
#[inline(always)]
fn run_stride(bits: u32, align: u32) -> u32 {
    if bits % align == 0 { bits } else { bits.next_multiple_of(align) }
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
    pub(super) chunks: Vec<Option<Chunk>>,
    pub(super) free_ids: Vec<ChunkId>,
    pub(super) slots: Slots,
    pub(super) index: ChunkIndex,
    pub(super) first: Option<ChunkId>,
    pub(super) reserved: Option<ChunkId>,
    /// `(start, length, chunk)`: the address ranges where areas of the first chunk's dynamic
    /// and reserved regions start (checked before the index).
    pub(super) fixed: [(usize, usize, ChunkId); 2],
    /// `(start, length, chunk)`: the range of the chunk `free` found last (checked first).
    pub(super) recent: (usize, usize, ChunkId),
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
    pub(super) unit_offsets: Box<[usize]>,
    /// `(chunk, bit, bits)` of every area taken but not yet populated: a sleeping allocation
    /// takes its area under the lock, then populates its pages without it (`verify` must not
    /// count those pages as live data in unpopulated pages).
    pub(super) populating: Vec<(ChunkId, u32, u32)>,
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
    pub(super) fn remove(&mut self, id: ChunkId) -> Option<Chunk> {
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
    /// fullest chunks first, for a caller that allocates through the chunks (counted as an
    /// allocation). `size` is the request in bytes (statistics).
    ///
    /// RETURNS: the area, or `None` if no chunk has room (for [`Request::Normal`], none with
    /// room *or* unpopulated pages that could be populated).
    #[inline]
    pub(crate) fn alloc(
        &mut self,
        bits: u32,
        align: u32,
        size: usize,
        req: Request,
    ) -> Option<Placed> {
        let p = self.take(bits, align, 1, req)?;
        let c = &mut self.counters;
        c.nr_alloc += 1;
        if c.min_alloc_size == 0 || size < c.min_alloc_size {
            c.min_alloc_size = size;
        }
        c.max_alloc_size = c.max_alloc_size.max(size);
        Some(p)
    }

    /// Takes the first fitting area for `bits` bits aligned to `align` bits and up to
    /// `max - 1` more of the same length right after it, where they are free (and, but for
    /// [`Request::Normal`], populated): a run of neighbours, taken with one update of the
    /// hints. The areas are counted as taken, not as allocations: a per-CPU cache's refill
    /// (which counts its allocations itself) or a batch (whose caller counts them).
    ///
    /// RETURNS: the run, or `None` as [`State::alloc`].
    #[inline(always)]
    pub(crate) fn take(&mut self, bits: u32, align: u32, max: u32, req: Request) -> Option<Placed> {
        debug_assert!(max >= 1);
        let placed = match req {
            Request::Reserved => self.try_chunk(self.reserved?, bits, align, max, false),
            Request::Normal | Request::Atomic => {
                self.search(bits, align, max, req == Request::Atomic)
            }
        };
        match placed {
            Some(mut p) => {
                p.below_low = self.nr_empty_pop < self.low;
                let c = &mut self.counters;
                c.nr_taken += u64::from(p.n);
                c.nr_max_taken = c.nr_max_taken.max(c.nr_taken);
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

    #[inline(always)]
    fn search(&mut self, bits: u32, align: u32, max: u32, pop_only: bool) -> Option<Placed> {
        let mut mask = self.slots.candidates(bits);
        while mask != 0 {
            let slot = mask.trailing_zeros() as u8;
            mask &= mask - 1;
            if let Some(p) = self.search_list(slot, bits, align, max, pop_only) {
                return Some(p);
            }
        }
        let relegated = self.slots.relegated_slot();
        if let Some(p) = self.search_list(relegated, bits, align, max, pop_only) {
            return Some(p);
        }
        self.search_list(self.slots.free_slot(), bits, align, max, pop_only)
    }

    #[inline]
    fn search_list(
        &mut self,
        slot: u8,
        bits: u32,
        align: u32,
        max: u32,
        pop_only: bool,
    ) -> Option<Placed> {
        let mut id = self.slots.head(slot);
        while id != NIL {
            let next = self.slots.next(id);
            if let Some(p) = self.try_chunk(id, bits, align, max, pop_only) {
                return Some(p);
            }
            id = next;
        }
        None
    }

    /// Tries one chunk; on success updates the population counts and the chunk's slot, on an
    /// alignment failure relegates it.
    #[inline(always)]
    fn try_chunk(
        &mut self,
        id: ChunkId,
        bits: u32,
        align: u32,
        max: u32,
        pop_only: bool,
    ) -> Option<Placed> {
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
        // More areas of the shape after the first, where they are free (and, for `pop_only`,
        // populated): neighbours when the length is a multiple of the alignment (they stay
        // aligned), else one every aligned stride within the page (the holes between them are
        // what taking them one by one would leave).
        let mut n = 1;
        let stride = run_stride(bits, align);
        if max > 1 {
            let mut limit = bit.saturating_add(max.saturating_mul(stride)).min(c.map.usable().1);
            if stride != bits {
                let block_end = ((bit >> c.map.block_bits().trailing_zeros()) + 1)
                    .saturating_mul(c.map.block_bits());
                limit = limit.min(block_end);
            }
            if pop_only || c.range_populated(bit, bits) {
                // A run that starts populated stays so (only its first area may need pages).
                limit = limit.min(c.populated_until(bit));
            }
            let free = c.map.free_until(bit + bits, limit.max(bit + bits));
            n = (free - bit - bits) / stride + 1;
        }
        let span = (n - 1) * stride + bits;
        let offset = c.map_offset + ((bit as usize) << MIN_ALLOC_SHIFT);
        let needs_populate = !pop_only && !c.range_populated(bit, span);
        if !needs_populate && n == 1 {
            // The zeroing after the lock writes every line of the area: ask for them now, so
            // the fetches overlap the bookkeeping below (`memory`).
            let size = (bits as usize) << MIN_ALLOC_SHIFT;
            copies::prefetch_area(c.base + offset, size, &self.unit_offsets);
        }
        let delta = c.map.take_run(bit, bits, stride, n, &c.populated);
        if delta != 0 {
            c.nr_empty_pop = c.nr_empty_pop.wrapping_add_signed(delta);
            if c.kind != ChunkKind::Reserved {
                self.nr_empty_pop = self.nr_empty_pop.wrapping_add_signed(delta as isize);
            }
        }
        let placed = Placed {
            id,
            bit,
            bits,
            stride,
            n,
            base: c.base,
            offset,
            needs_populate,
            below_low: false,
        };
        self.slots.move_if_listed(id, Slots::size_slot(c.map.contig_bits()));
        if needs_populate {
            self.populating.push((id, bit, span));
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

    /// Frees the area starting at `addr`, for a caller that frees through the chunks (counted
    /// as a free); on error nothing changes.
    ///
    /// RETURNS: whether the balance step should run (a dynamic chunk became fully free), and
    /// the area's size in bytes.
    #[inline]
    pub(crate) fn free(&mut self, addr: usize) -> Result<(bool, usize), FreeError> {
        let r = self.release(addr, None, 1)?;
        self.counters.nr_dealloc += 1;
        Ok(r)
    }

    /// Gives back `n` areas of `bits` bits each, side by side from `addr`, which the caller
    /// took with [`State::take`] (not counted as frees); with `bits == None`, one area of any
    /// length. On error (not such areas) nothing changes.
    ///
    /// RETURNS: as [`State::free`] (the size of all `n` areas).
    #[inline]
    pub(crate) fn release(
        &mut self,
        addr: usize,
        bits: Option<u32>,
        n: u32,
    ) -> Result<(bool, usize), FreeError> {
        let id = self.chunk_of(addr)?;
        let Some(c) = self.chunks.get_mut(id as usize).and_then(Option::as_mut) else {
            return Err(self.foreign(addr));
        };
        let rel = addr - c.base - c.map_offset;
        if rel % MIN_ALLOC_SIZE != 0 {
            return Err(FreeError::Misaligned { ptr: self.geo.encode(addr) });
        }
        let p = (rel >> MIN_ALLOC_SHIFT) as u32;
        let released = match bits {
            None => c.map.release(p, &c.populated),
            Some(bits) => {
                // The run must end inside the chunk's map.
                let fits = p.checked_add(bits * n).is_some_and(|e| e <= c.map.usable().1);
                if !fits {
                    return Err(FreeError::NotAllocated { ptr: self.geo.encode(addr) });
                }
                c.map.release_run(p, bits, bits, n, &c.populated).map(|d| (bits * n, d))
            }
        };
        let (span, delta) = match released {
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
        self.counters.nr_taken -= u64::from(n);
        Ok((notify, (span as usize) << MIN_ALLOC_SHIFT))
    }

    /// Gives back areas of `bits` bits each that the caller took with [`State::take`] (a
    /// per-CPU cache's drain, at most [`DEPTH`] of them), sorted by address. Areas at one
    /// distance from each other with only free bits between them (neighbours; areas one
    /// aligned stride apart, as [`State::take`] hands out; areas whose neighbours were freed
    /// already) are released as one run, with one update of the hints; the others one after
    /// the other in one pass.
    ///
    /// RETURNS: whether the balance step should run.
    pub(crate) fn release_areas(&mut self, bits: u32, addrs: &[usize]) -> bool {
        debug_assert!(addrs.len() <= DEPTH);
        debug_assert!(addrs.is_sorted());
        let mut notify = false;
        let mut i = 0;
        while i < addrs.len() {
            // The areas of one chunk: `addrs[i..j]` (a run never crosses into a neighbouring
            // chunk).
            if self.chunk_of(addrs[i]).is_err() {
                debug_assert!(false, "a cached area is in no chunk");
                i += 1;
                continue;
            }
            let (lo, len, _) = self.recent;
            let mut j = i + 1;
            while j < addrs.len() && addrs[j].wrapping_sub(lo) < len {
                j += 1;
            }
            // Runs, one update of the map each; the chunk's counts and list once.
            let id = self.recent.2;
            let Some(c) = self.chunks.get_mut(id as usize).and_then(Option::as_mut) else {
                i = j;
                continue;
            };
            let group = &addrs[i..j];
            let (mut delta, mut released) = (0i32, 0u64);
            // Areas in no run, released together after the runs.
            let mut single = [0u32; DEPTH];
            let mut nr_single = 0;
            let mut k = 0;
            while k < group.len() {
                // The longest stretch from `k` at one distance (at least two areas).
                let step = group.get(k + 1).map_or(0, |&next| next - group[k]);
                let mut n = 1;
                while k + n < group.len() && group[k + n] - group[k + n - 1] == step {
                    n += 1;
                }
                let p = ((group[k] - c.base - c.map_offset) >> MIN_ALLOC_SHIFT) as u32;
                let stride = (step >> MIN_ALLOC_SHIFT) as u32;
                let run = if n > 1 && stride >= bits {
                    c.map.release_run(p, bits, stride, n as u32, &c.populated)
                } else {
                    Err(AreaError::NotAllocated)
                };
                if let Ok(d) = run {
                    delta += d;
                    released += n as u64;
                    k += n;
                } else {
                    // Not a run (something lives between two of them): one by one.
                    for m in 0..n as u32 {
                        single[nr_single] = p + m * stride;
                        nr_single += 1;
                    }
                    k += n;
                }
            }
            match c.map.release_each(&single[..nr_single], bits, &c.populated) {
                Ok(d) => {
                    delta += d;
                    released += nr_single as u64;
                }
                Err(e) => debug_assert!(false, "a cached area was not live: {e:?}"),
            }
            if delta != 0 {
                c.nr_empty_pop = c.nr_empty_pop.wrapping_add_signed(delta);
                if c.kind != ChunkKind::Reserved {
                    self.nr_empty_pop = self.nr_empty_pop.wrapping_add_signed(delta as isize);
                }
            }
            let empty = c.map.is_empty();
            notify |= empty && c.kind == ChunkKind::Dynamic;
            let slot =
                if empty { self.slots.free_slot() } else { Slots::size_slot(c.map.contig_bits()) };
            self.slots.move_if_listed(id, slot);
            self.counters.nr_taken -= released;
            i = j;
        }
        notify
    }

    /// The areas `placed` (taken with `needs_populate`) are populated now.
    pub(crate) fn populated(&mut self, placed: &Placed) {
        let entry = (placed.id, placed.bit, placed.span());
        if let Some(i) = self.populating.iter().position(|&e| e == entry) {
            self.populating.swap_remove(i);
        }
    }

    /// Frees the areas just taken by [`State::alloc`] or [`State::take`] (their population
    /// failed, or a batch is given up); `counted` says whether they were counted as
    /// allocations.
    pub(crate) fn undo(&mut self, placed: &Placed, counted: bool) {
        self.populated(placed);
        let done = if placed.contiguous() {
            self.release(placed.addr(0), Some(placed.bits), placed.n).map(|_| ())
        } else {
            (0..placed.n)
                .try_for_each(|i| self.release(placed.addr(i), Some(placed.bits), 1).map(|_| ()))
        };
        debug_assert!(done.is_ok(), "undoing a fresh allocation failed: {done:?}");
        if counted {
            self.counters.nr_alloc -= u64::from(placed.n);
        }
    }
}
