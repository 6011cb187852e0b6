//! Model test of the dynamic per-CPU allocator: random sequences of allocations (normal,
//! non-sleeping, reserved; one at a time or in batches), frees (good and bad), illegal requests
//! and balance steps, on an allocator instance with a first chunk mmapped here and the hosted
//! backend, checked after every step against a plain reference model:
//!
//! * allocations and frees go through CPU 0's or CPU 1's cache of free areas (`on_cpu`) or
//!   through the chunks (this thread is not a CPU), so an area allocated on one CPU is freed
//!   on another, into a cache or by pointer, and the caches fill, drain, and are drained by
//!   the balance step in between;
//! * areas never overlap, lie inside one unit of one chunk (the reserved or dynamic region for
//!   the first chunk) and are aligned, in every unit;
//! * a fresh area reads zero in every unit, and the bytes written to every unit's copy survive
//!   every later operation. Half the cases use the hosted backend, whose pages are zero when
//!   populated; the other half a backend that fills every page it populates with garbage, so
//!   an area the allocator failed to zero in some unit shows up even on fresh pages;
//! * the counters are exact (live areas, allocations, frees, free bytes of all chunks plus the
//!   bytes held by the caches);
//! * every refused request (illegal, or a batch with an illegal layout) and bad free leaves the
//!   statistics unchanged, caches included;
//! * the allocator's own consistency check (every bitmap hint, list and count; every cached
//!   area live, held once, and zero in every unit if clean) passes.

use percpu_rt::CpuId;
use percpu_rt::allocator::hosted::HostedBackend;
use percpu_rt::allocator::{
    AllocConfig, AllocError, Allocator, Backend, BackendError, ChunkGeometry, ChunkKind,
    FirstChunkRegions, FreeError, PerCpuArea, PerCpuPtr,
};
use proptest::prelude::*;
use std::alloc::Layout;
use std::ops::Range;

/// The hosted backend, except that populated pages are filled with garbage in every unit.
struct DirtyBackend(HostedBackend);

// SAFETY: forwards to the hosted backend; writing populated pages before returning them is
// allowed (their content is unspecified).
unsafe impl Backend for DirtyBackend {
    fn create_chunk(&self, g: &ChunkGeometry) -> Result<usize, BackendError> {
        self.0.create_chunk(g)
    }
    unsafe fn populate(
        &self,
        g: &ChunkGeometry,
        base: usize,
        pages: Range<usize>,
    ) -> Result<(), BackendError> {
        // SAFETY: forwarded from the caller (the allocator).
        unsafe { self.0.populate(g, base, pages.clone())? };
        for &(_, off) in &g.units {
            let start = base + off + pages.start * g.page_size;
            let len = (pages.end - pages.start) * g.page_size;
            // SAFETY: just populated: readable and writable, and nothing in it is live.
            unsafe { core::ptr::write_bytes(start as *mut u8, 0xA5, len) };
        }
        Ok(())
    }
    unsafe fn depopulate(&self, g: &ChunkGeometry, base: usize, pages: Range<usize>) {
        // SAFETY: forwarded from the caller (the allocator).
        unsafe { self.0.depopulate(g, base, pages) }
    }
    unsafe fn destroy_chunk(&self, g: &ChunkGeometry, base: usize) {
        // SAFETY: forwarded from the caller (the allocator).
        unsafe { self.0.destroy_chunk(g, base) }
    }
}

const PAGE: usize = 4096;
const UNIT: usize = 4 * PAGE;
const STATIC: usize = 1000;
const RESERVED: usize = 2000;
/// The dynamic region covers two whole pages (empty when nothing is allocated there): as
/// many as the low mark, so the balance step can destroy every fully free dynamic chunk.
const DYN: usize = 13000;

/// Two units in two groups with a gap between them, so congruence is really exercised.
const UNITS: [usize; 2] = [0, 3 * UNIT];

/// Which way an allocation or a free goes: through the chunks (this thread is not a CPU), or
/// through CPU 0's or CPU 1's cache; a free may also go by pointer (`free_raw`, checked).
#[derive(Clone, Copy, Debug)]
enum Via {
    Chunks,
    Cpu(u32),
    Raw,
}

fn via() -> impl Strategy<Value = Via> {
    prop_oneof![2 => Just(Via::Chunks), 3 => (0u32..2).prop_map(Via::Cpu), 1 => Just(Via::Raw)]
}

#[derive(Clone, Debug)]
enum Op {
    Alloc { size: usize, align_shift: u32, kind: u8, via: Via },
    Batch { n: usize, size: usize, align_shift: u32, mixed: bool },
    Free { pick: prop::sample::Index, via: Via },
    BadFree { kind: u8, pick: prop::sample::Index, delta: usize },
    Illegal { kind: u8, via: Via },
    Balance,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (prop_oneof![4 => 1usize..64, 2 => 1usize..1500, 1 => 1usize..=UNIT], 0u32..8, 0u8..10, via())
            .prop_map(|(size, align_shift, kind, via)| Op::Alloc { size, align_shift, kind, via }),
        1 => (0usize..24, prop_oneof![3 => 1usize..64, 1 => 1usize..1500], 0u32..6, any::<bool>())
            .prop_map(|(n, size, align_shift, mixed)| Op::Batch { n, size, align_shift, mixed }),
        6 => (any::<prop::sample::Index>(), via()).prop_map(|(pick, via)| Op::Free { pick, via }),
        1 => (0u8..4, any::<prop::sample::Index>(), 1usize..64)
            .prop_map(|(kind, pick, delta)| Op::BadFree { kind, pick, delta }),
        1 => (0u8..5, via()).prop_map(|(kind, via)| Op::Illegal { kind, via }),
        1 => Just(Op::Balance),
    ]
}

/// Whether every byte is `value` (`memcmp` against a buffer of that byte, so that the check of
/// every live area after every step stays fast in a debug build).
fn filled_with(bytes: &[u8], value: u8) -> bool {
    let pattern = [value; 1024];
    bytes.chunks(pattern.len()).all(|c| c == &pattern[..c.len()])
}

struct Area {
    /// The owner (`None` once given up with `into_raw`, to be freed by pointer).
    owned: Option<PerCpuArea<'static>>,
    ptr: PerCpuPtr,
    size: usize,
    align: usize,
    reserved: bool,
    tag: u8,
}

struct Harness {
    /// Leaked for the areas' `'static` lifetime; taken back in `drop`, after every area.
    alloc: &'static Allocator,
    first: usize,
    span: usize,
    live: Vec<Area>,
    freed: Vec<PerCpuPtr>,
    nr_alloc: u64,
    nr_dealloc: u64,
    next_tag: u8,
}

impl Drop for Harness {
    fn drop(&mut self) {
        // Every owned area goes back first (a failed case leaves some); raw ones die with the
        // allocator.
        self.live.clear();
        // SAFETY: `alloc` came from `Box::leak` in `new`, and nothing refers to it any more:
        // every area that borrowed it was dropped just above (or given up with `into_raw`).
        drop(unsafe { Box::from_raw(self.alloc as *const Allocator as *mut Allocator) });
        // SAFETY: the first chunk mapped in `new`; nothing touches it after this (the
        // allocator's Drop, just run, released only its dynamic chunks).
        unsafe { libc::munmap(self.first as *mut libc::c_void, self.span) };
    }
}

fn map(len: usize) -> usize {
    // SAFETY: a fresh anonymous mapping, checked.
    let p = unsafe {
        libc::mmap(
            core::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    assert_ne!(p, libc::MAP_FAILED);
    p as usize
}

impl Harness {
    fn new(dirty_backend: bool) -> Harness {
        let span = UNITS[1] + UNIT;
        let first = map(span);
        let regions = FirstChunkRegions {
            base_addr: first,
            unit_size: UNIT,
            page_size: PAGE,
            static_size: STATIC,
            reserved_size: RESERVED,
            dyn_size: DYN,
            units: vec![(CpuId::new(0), UNITS[0]), (CpuId::new(1), UNITS[1])],
            groups: vec![(0, UNIT), (UNITS[1], UNIT)],
            immutable: true,
        };
        let config = AllocConfig { max_alloc_size: Some(UNIT), ..AllocConfig::LINUX };
        // SAFETY: both units are fresh mappings owned by this allocator alone.
        let alloc = unsafe { Allocator::new(regions, config) }.expect("valid regions");
        let backend: &'static dyn Backend = if dirty_backend {
            Box::leak(Box::new(DirtyBackend(HostedBackend::new())))
        } else {
            Box::leak(Box::new(HostedBackend::new()))
        };
        alloc.set_backend(backend).unwrap();
        Harness {
            alloc: Box::leak(Box::new(alloc)),
            first,
            span,
            live: Vec::new(),
            freed: Vec::new(),
            nr_alloc: 0,
            nr_dealloc: 0,
            next_tag: 1,
        }
    }

    fn copy(&self, ptr: PerCpuPtr, unit: usize) -> *mut u8 {
        self.alloc.unit_ptr(ptr, unit).expect("unit exists")
    }

    /// Every live area: aligned, inside a unit of one chunk, disjoint, data intact.
    fn check(&self) -> Result<(), TestCaseError> {
        if let Err(e) = self.alloc.verify() {
            return Err(TestCaseError::fail(e.to_string()));
        }
        let stats = self.alloc.stats();
        let g = &stats.global;
        prop_assert_eq!(g.nr_cur_alloc, self.live.len() as u64);
        prop_assert_eq!((g.nr_alloc, g.nr_dealloc), (self.nr_alloc, self.nr_dealloc));
        // Free bytes: every chunk's usable bytes minus the live areas (rounded to 4).
        let usable: usize = stats
            .chunks
            .iter()
            .map(|c| match c.kind {
                ChunkKind::Dynamic => UNIT,
                ChunkKind::First => {
                    (STATIC + RESERVED + DYN) / 4 * 4 - (STATIC + RESERVED).div_ceil(4) * 4
                }
                ChunkKind::Reserved => (STATIC + RESERVED) / 4 * 4 - STATIC.div_ceil(4) * 4,
            })
            .sum();
        let used: usize = self.live.iter().map(|a| a.size.div_ceil(4) * 4).sum();
        let free: usize = stats.chunks.iter().map(|c| c.free_bytes).sum();
        prop_assert_eq!(free + used + g.cached_bytes, usable, "{}", stats);

        let mut ranges: Vec<(usize, usize)> = Vec::new();
        for a in &self.live {
            let addr0 = self.copy(a.ptr, 0) as usize;
            // Inside one unit of one chunk.
            let inside = stats.chunks.iter().any(|c| {
                let (lo, hi) = match c.kind {
                    ChunkKind::Dynamic => (c.base, c.base + UNIT),
                    ChunkKind::Reserved => (c.base + STATIC, c.base + STATIC + RESERVED),
                    ChunkKind::First => {
                        (c.base + STATIC + RESERVED, c.base + STATIC + RESERVED + DYN)
                    }
                };
                let right_kind = (c.kind == ChunkKind::Reserved) == a.reserved;
                right_kind && lo <= addr0 && addr0 + a.size <= hi
            });
            prop_assert!(
                inside,
                "area {:?} (size {}) is outside every chunk's region",
                a.ptr,
                a.size
            );
            ranges.push((addr0, addr0 + a.size));
            for u in 0..UNITS.len() {
                let p = self.copy(a.ptr, u);
                prop_assert_eq!(p as usize % a.align, 0, "misaligned copy");
                // SAFETY: a live area of `size` bytes in every unit.
                let bytes = unsafe { core::slice::from_raw_parts(p, a.size) };
                let want = a.tag ^ (u as u8 * 0x55);
                prop_assert!(filled_with(bytes, want), "area {:?} unit {u} was overwritten", a.ptr);
            }
        }
        ranges.sort_unstable();
        for w in ranges.windows(2) {
            prop_assert!(w[0].1 <= w[1].0, "areas overlap: {:?} and {:?}", w[0], w[1]);
        }
        Ok(())
    }

    /// Frees by pointer: the model holds each live area's pointer once (taken with
    /// `into_raw`), and the bad frees name pointers it knows are no live area's.
    fn free(&self, ptr: PerCpuPtr) -> Result<(), FreeError> {
        // SAFETY: `ptr` is either a live area the model owns and drops from `live` now, or
        // (a bad free) a pointer that names no live area: nothing else owns it either way.
        unsafe { self.alloc.free_raw(ptr) }
    }

    /// Takes a fresh area into the model: zero in every unit, then tagged per unit.
    fn adopt(
        &mut self,
        area: PerCpuArea<'static>,
        size: usize,
        align: usize,
        reserved: bool,
    ) -> Result<(), TestCaseError> {
        let ptr = area.ptr();
        let tag = self.next_tag;
        self.next_tag = self.next_tag.wrapping_add(1).max(1);
        for u in 0..UNITS.len() {
            let p = self.copy(ptr, u);
            // SAFETY: the fresh area, `size` bytes in every unit.
            let bytes = unsafe { core::slice::from_raw_parts_mut(p, size) };
            prop_assert!(filled_with(bytes, 0), "fresh area not zeroed");
            bytes.fill(tag ^ (u as u8 * 0x55));
        }
        self.live.push(Area { owned: Some(area), ptr, size, align, reserved, tag });
        Ok(())
    }

    fn step(&mut self, op: Op) -> Result<(), TestCaseError> {
        match op {
            Op::Alloc { size, align_shift, kind, via } => {
                let align = 1usize << align_shift;
                let on = match via {
                    Via::Cpu(c) => Some(self.alloc.on_cpu(CpuId::new(c)).expect("a unit")),
                    _ => None,
                };
                let (res, reserved) = match (kind, &on) {
                    (0, _) => (self.alloc.alloc_reserved(size, align), true),
                    (1 | 2, Some(on)) => (on.alloc_atomic(size, align), false),
                    (1 | 2, None) => (self.alloc.alloc_atomic(size, align), false),
                    (_, Some(on)) => (on.alloc(size, align), false),
                    (_, None) => (self.alloc.alloc(size, align), false),
                };
                match res {
                    Ok(area) => {
                        self.nr_alloc += 1;
                        self.adopt(area, size, align, reserved)?;
                    }
                    Err(AllocError::ReservedFull { .. }) if reserved => {}
                    Err(AllocError::AtomicNoSpace { .. }) if kind == 1 || kind == 2 => {}
                    Err(e) => {
                        prop_assert!(false, "allocation of {size} aligned {align} failed: {e}")
                    }
                }
            }
            Op::Batch { n, size, align_shift, mixed } => {
                let align = 1usize << align_shift;
                // Several sizes: `size`, then smaller ones with other alignments.
                let layouts: Vec<Layout> = (0..n)
                    .map(|i| {
                        let (s, a) = if mixed {
                            (1 + size / (1 + i % 3), 4 << (i % 2))
                        } else {
                            (size, align)
                        };
                        Layout::from_size_align(s, a).unwrap()
                    })
                    .collect();
                let res = if mixed {
                    self.alloc.alloc_layouts(&layouts)
                } else {
                    self.alloc.alloc_many(n, size, align)
                };
                let areas = res.map_err(|e| TestCaseError::fail(format!("batch of {n}: {e}")))?;
                prop_assert_eq!(areas.len(), n);
                for (area, l) in areas.into_iter().zip(&layouts) {
                    self.nr_alloc += 1;
                    self.adopt(area, l.size(), l.align(), false)?;
                }
            }
            Op::Free { pick, via } => {
                if !self.live.is_empty() {
                    let mut a = self.live.swap_remove(pick.index(self.live.len()));
                    let owned = a.owned.take();
                    let r = match (via, owned) {
                        (Via::Cpu(c), Some(area)) => {
                            self.alloc.on_cpu(CpuId::new(c)).expect("a unit").free(area)
                        }
                        (Via::Chunks, Some(area)) => area.free(),
                        (_, owned) => {
                            // By pointer: give up the owner first (it never frees now).
                            let ptr = owned.map_or(a.ptr, PerCpuArea::into_raw);
                            self.free(ptr)
                        }
                    };
                    prop_assert_eq!(r, Ok(()));
                    self.nr_dealloc += 1;
                    self.freed.push(a.ptr);
                }
            }
            Op::BadFree { kind, pick, delta } => {
                if kind == 0 {
                    // A double free is only that if no cache holds the area (a cache is its
                    // owner, as a new allocation would be: `free_raw`'s checks cannot tell
                    // owners apart). The balance step gives every cached area back.
                    self.alloc.balance().map_err(|e| TestCaseError::fail(e.to_string()))?;
                }
                let before = self.alloc.stats();
                let bad = match kind {
                    0 => {
                        if self.freed.is_empty() {
                            return Ok(());
                        }
                        let p = self.freed[pick.index(self.freed.len())];
                        // Only a double free if nothing was allocated there since.
                        if self.live.iter().any(|a| a.ptr == p) {
                            return Ok(());
                        }
                        p
                    }
                    1 => {
                        if self.live.is_empty() {
                            return Ok(());
                        }
                        let a = &self.live[pick.index(self.live.len())];
                        if a.size <= 4 {
                            return Ok(());
                        }
                        PerCpuPtr::from_addr(a.ptr.addr() + 4 * (1 + delta % ((a.size - 1) / 4)))
                    }
                    2 => PerCpuPtr::from_addr(
                        self.copy(PerCpuPtr::from_addr(0), 0) as usize ^ (delta << 40),
                    ),
                    _ => {
                        // Into the static area of the first chunk.
                        let t = self.alloc.unit_ptr(PerCpuPtr::from_addr(0), 0).unwrap() as usize;
                        PerCpuPtr::from_addr((self.first + delta * 4).wrapping_sub(t))
                    }
                };
                let r = self.free(bad);
                prop_assert!(r.is_err(), "bad free of {:?} accepted", bad);
                if kind == 1 {
                    prop_assert!(matches!(r, Err(FreeError::Interior { .. })), "{:?}", r);
                }
                if kind >= 3 {
                    prop_assert_eq!(r, Err(FreeError::Static { ptr: bad }));
                }
                prop_assert_eq!(self.alloc.stats(), before);
            }
            Op::Illegal { kind, via } => {
                let before = self.alloc.stats();
                let (size, align, want) = match kind {
                    0 => (0, 8, AllocError::ZeroSize),
                    1 => (UNIT + 1, 8, AllocError::TooLarge { size: UNIT + 1, max: UNIT }),
                    2 => (8, 12, AllocError::AlignNotPowerOfTwo { align: 12 }),
                    _ => (8, 2 * PAGE, AllocError::AlignTooLarge { align: 2 * PAGE, max: PAGE }),
                };
                if kind == 4 {
                    // A batch with one illegal layout among legal ones is refused whole.
                    let mut layouts = vec![Layout::from_size_align(16, 8).unwrap(); 5];
                    layouts[3] = Layout::from_size_align(UNIT + 1, 8).unwrap();
                    let r = self.alloc.alloc_layouts(&layouts).map(|v| v.len());
                    prop_assert_eq!(r, Err(AllocError::TooLarge { size: UNIT + 1, max: UNIT }));
                    let r = self.alloc.alloc_many(3, 0, 8).map(|v| v.len());
                    prop_assert_eq!(r, Err(AllocError::ZeroSize));
                } else if let Via::Cpu(c) = via {
                    let on = self.alloc.on_cpu(CpuId::new(c)).expect("a unit");
                    prop_assert_eq!(on.alloc(size, align).map(|a| a.into_raw()), Err(want));
                    prop_assert_eq!(on.alloc_atomic(size, align).map(|a| a.into_raw()), Err(want));
                } else {
                    prop_assert_eq!(self.alloc.alloc(size, align).map(|a| a.into_raw()), Err(want));
                    let atomic = self.alloc.alloc_atomic(size, align).map(|a| a.into_raw());
                    prop_assert_eq!(atomic, Err(want));
                }
                prop_assert_eq!(self.alloc.stats(), before);
            }
            Op::Balance => {
                self.alloc.balance().map_err(|e| TestCaseError::fail(e.to_string()))?;
                let g = self.alloc.stats().global;
                prop_assert!((2..=4).contains(&g.empty_pop_pages), "{:?}", g);
            }
        }
        self.check()
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(1000),
        max_shrink_iters: 2000,
        ..ProptestConfig::default()
    })]

    #[test]
    fn allocator_matches_model(
        dirty_backend in any::<bool>(),
        ops in proptest::collection::vec(op(), 100..300),
    ) {
        let mut h = Harness::new(dirty_backend);
        for op in ops {
            h.step(op)?;
        }
        // Free everything: the allocator is back to its first chunk after a balance step.
        while let Some(mut a) = h.live.pop() {
            let r = match a.owned.take() {
                Some(area) => h.alloc.on_cpu(CpuId::new(a.tag as u32 % 2)).unwrap().free(area),
                None => h.free(a.ptr),
            };
            prop_assert_eq!(r, Ok(()));
            h.nr_dealloc += 1;
        }
        // Two steps: the first may populate pages for a non-sleeping allocation that failed
        // earlier (as Linux's worker does); the second finds them unneeded.
        for _ in 0..2 {
            h.alloc.balance().map_err(|e| TestCaseError::fail(e.to_string()))?;
        }
        h.check()?;
        let stats = h.alloc.stats();
        prop_assert!(stats.chunks.iter().all(|c| c.kind != ChunkKind::Dynamic), "{}", stats);
        prop_assert_eq!(stats.global.nr_cur_alloc, 0);
    }
}
