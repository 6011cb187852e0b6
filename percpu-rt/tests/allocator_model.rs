//! Model test of the dynamic per-CPU allocator: random sequences of allocations (normal,
//! non-sleeping, reserved), frees (good and bad), illegal requests and balance steps, on an
//! allocator instance with a first chunk mmapped here and the hosted backend, checked after
//! every step against a plain reference model:
//!
//! * areas never overlap, lie inside one unit of one chunk (the reserved or dynamic region for
//!   the first chunk) and are aligned, in every unit;
//! * a fresh area reads zero in every unit, and the bytes written to every unit's copy survive
//!   every later operation. Half the cases use the hosted backend, whose pages are zero when
//!   populated; the other half a backend that fills every page it populates with garbage, so
//!   an area the allocator failed to zero in some unit shows up even on fresh pages;
//! * the counters are exact (live areas, allocations, frees, free bytes of all chunks);
//! * every refused request and bad free leaves the statistics unchanged;
//! * the allocator's own consistency check (every bitmap hint, list and count) passes.

use percpu_rt::CpuId;
use percpu_rt::allocator::hosted::HostedBackend;
use percpu_rt::allocator::{
    AllocConfig, AllocError, Allocator, Backend, BackendError, ChunkGeometry, ChunkKind,
    FirstChunkRegions, FreeError, PerCpuPtr,
};
use proptest::prelude::*;
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

#[derive(Clone, Debug)]
enum Op {
    Alloc { size: usize, align_shift: u32, kind: u8 },
    Free { pick: prop::sample::Index },
    BadFree { kind: u8, pick: prop::sample::Index, delta: usize },
    Illegal { kind: u8 },
    Balance,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (prop_oneof![3 => 1usize..64, 2 => 1usize..1500, 1 => 1usize..=UNIT], 0u32..8, 0u8..10)
            .prop_map(|(size, align_shift, kind)| Op::Alloc { size, align_shift, kind }),
        5 => any::<prop::sample::Index>().prop_map(|pick| Op::Free { pick }),
        1 => (0u8..4, any::<prop::sample::Index>(), 1usize..64)
            .prop_map(|(kind, pick, delta)| Op::BadFree { kind, pick, delta }),
        1 => (0u8..4).prop_map(|kind| Op::Illegal { kind }),
        1 => Just(Op::Balance),
    ]
}

struct Area {
    ptr: PerCpuPtr,
    size: usize,
    align: usize,
    reserved: bool,
    tag: u8,
}

struct Harness {
    alloc: Allocator,
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
        // SAFETY: the first chunk mapped in `new`; nothing touches it after this (the
        // allocator's own Drop, which runs next, releases only its dynamic chunks).
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
            alloc,
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
        prop_assert_eq!(free + used, usable);

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
                prop_assert!(
                    bytes.iter().all(|&b| b == want),
                    "area {:?} unit {u} was overwritten",
                    a.ptr
                );
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

    fn step(&mut self, op: Op) -> Result<(), TestCaseError> {
        match op {
            Op::Alloc { size, align_shift, kind } => {
                let align = 1usize << align_shift;
                let (res, reserved) = match kind {
                    0 => (self.alloc.alloc_reserved(size, align), true),
                    1 | 2 => (self.alloc.alloc_atomic(size, align), false),
                    _ => (self.alloc.alloc(size, align), false),
                };
                // The model keeps the pointer, and frees it exactly once (see `free`).
                match res.map(|area| area.into_raw()) {
                    Ok(ptr) => {
                        self.nr_alloc += 1;
                        let tag = self.next_tag;
                        self.next_tag = self.next_tag.wrapping_add(1).max(1);
                        for u in 0..UNITS.len() {
                            let p = self.copy(ptr, u);
                            // SAFETY: the fresh area, `size` bytes in every unit.
                            let bytes = unsafe { core::slice::from_raw_parts_mut(p, size) };
                            prop_assert!(bytes.iter().all(|&b| b == 0), "fresh area not zeroed");
                            bytes.fill(tag ^ (u as u8 * 0x55));
                        }
                        self.live.push(Area { ptr, size, align, reserved, tag });
                    }
                    Err(AllocError::ReservedFull { .. }) if reserved => {}
                    Err(AllocError::AtomicNoSpace { .. }) if kind == 1 || kind == 2 => {}
                    Err(e) => {
                        prop_assert!(false, "allocation of {size} aligned {align} failed: {e}")
                    }
                }
            }
            Op::Free { pick } => {
                if !self.live.is_empty() {
                    let a = self.live.swap_remove(pick.index(self.live.len()));
                    prop_assert_eq!(self.free(a.ptr), Ok(()));
                    self.nr_dealloc += 1;
                    self.freed.push(a.ptr);
                }
            }
            Op::BadFree { kind, pick, delta } => {
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
            Op::Illegal { kind } => {
                let before = self.alloc.stats();
                let (size, align, want) = match kind {
                    0 => (0, 8, AllocError::ZeroSize),
                    1 => (UNIT + 1, 8, AllocError::TooLarge { size: UNIT + 1, max: UNIT }),
                    2 => (8, 12, AllocError::AlignNotPowerOfTwo { align: 12 }),
                    _ => (8, 2 * PAGE, AllocError::AlignTooLarge { align: 2 * PAGE, max: PAGE }),
                };
                prop_assert_eq!(self.alloc.alloc(size, align).map(|a| a.into_raw()), Err(want));
                let atomic = self.alloc.alloc_atomic(size, align).map(|a| a.into_raw());
                prop_assert_eq!(atomic, Err(want));
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
        while let Some(a) = h.live.pop() {
            prop_assert_eq!(h.free(a.ptr), Ok(()));
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
    }
}
