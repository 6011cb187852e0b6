//! The allocator with the hosted backend: chunks are created and destroyed for real, pages are
//! populated on demand and released by the balance step (checked with the backend's counts and
//! with `mincore`), non-sleeping allocations use populated pages only, the immutable first chunk
//! is never touched, and without a backend only the first chunk serves. Frees find their chunk
//! while chunks come and go (the lookup remembers the last chunk it found).

use percpu_rt::CpuId;
use percpu_rt::allocator::hosted::HostedBackend;
use percpu_rt::allocator::{
    AllocConfig, AllocError, Allocator, Backend, BackendError, ChunkGeometry, ChunkKind,
    FirstChunkRegions, FreeError, PerCpuPtr,
};
use std::ops::Range;
use std::sync::Mutex;

const PAGE: usize = 4096;
const UNIT: usize = 16 * PAGE;
const STATIC: usize = 3000;
const RESERVED: usize = 1000;
/// The dynamic region ends on a page boundary and holds three whole pages.
const DYN: usize = 4 * PAGE - STATIC - RESERVED;

/// The hosted backend, recording every range it is asked to populate or depopulate.
struct Recording {
    inner: HostedBackend,
    touched: Mutex<Vec<(usize, Range<usize>)>>,
}

// SAFETY: forwards to the hosted backend.
unsafe impl Backend for Recording {
    fn create_chunk(&self, g: &ChunkGeometry) -> Result<usize, BackendError> {
        self.inner.create_chunk(g)
    }
    unsafe fn populate(
        &self,
        g: &ChunkGeometry,
        base: usize,
        pages: Range<usize>,
    ) -> Result<(), BackendError> {
        self.touched.lock().unwrap().push((base, pages.clone()));
        // SAFETY: forwarded from the caller (the allocator).
        unsafe { self.inner.populate(g, base, pages) }
    }
    unsafe fn depopulate(&self, g: &ChunkGeometry, base: usize, pages: Range<usize>) {
        self.touched.lock().unwrap().push((base, pages.clone()));
        // SAFETY: forwarded from the caller (the allocator).
        unsafe { self.inner.depopulate(g, base, pages) }
    }
    unsafe fn destroy_chunk(&self, g: &ChunkGeometry, base: usize) {
        // SAFETY: forwarded from the caller (the allocator).
        unsafe { self.inner.destroy_chunk(g, base) }
    }
}

struct Setup {
    alloc: Allocator,
    backend: &'static Recording,
    first: usize,
}

impl Setup {
    /// Frees by pointer: these tests keep the pointers of the areas they allocate (taken with
    /// `into_raw`) and free each once, or deliberately free pointers that name no live area.
    fn free(&self, p: PerCpuPtr) -> Result<(), FreeError> {
        // SAFETY: `p` is a live area these tests own and stop using now, or one that is no live
        // area (a double free, a destroyed chunk's): nothing else owns it either way.
        unsafe { self.alloc.free_raw(p) }
    }
}

/// Two units, contiguous; the first chunk mapped here.
fn setup(with_backend: bool) -> Setup {
    let (alloc, first) = first_chunk_allocator();
    let backend: &'static Recording = Box::leak(Box::new(Recording {
        inner: HostedBackend::new(),
        touched: Mutex::new(Vec::new()),
    }));
    if with_backend {
        alloc.set_backend(backend).unwrap();
    }
    Setup { alloc, backend, first }
}

/// An allocator over a first chunk of two contiguous units mapped here, and its address.
fn first_chunk_allocator() -> (Allocator, usize) {
    let span = 2 * UNIT;
    // SAFETY: a fresh anonymous mapping, checked below.
    let first = unsafe {
        libc::mmap(
            core::ptr::null_mut(),
            span,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE,
            -1,
            0,
        )
    };
    assert_ne!(first, libc::MAP_FAILED);
    let regions = FirstChunkRegions {
        base_addr: first as usize,
        unit_size: UNIT,
        page_size: PAGE,
        static_size: STATIC,
        reserved_size: RESERVED,
        dyn_size: DYN,
        units: vec![(CpuId::new(0), 0), (CpuId::new(1), UNIT)],
        groups: vec![(0, span)],
        immutable: true,
    };
    // SAFETY: the units are a fresh mapping owned by this allocator (never unmapped: the test
    // process ends first).
    let alloc = unsafe { Allocator::new(regions, AllocConfig::LINUX) }.unwrap();
    (alloc, first as usize)
}

/// Resident pages of every dynamic chunk's units, by `mincore`.
fn mincore_dynamic(s: &Setup) -> usize {
    s.alloc
        .stats()
        .chunks
        .iter()
        .filter(|c| c.kind == ChunkKind::Dynamic)
        .map(|c| {
            (0..2)
                .map(|u| HostedBackend::mincore_resident(c.base + u * UNIT, UNIT).expect("mapped"))
                .sum::<usize>()
        })
        .sum()
}

fn dynamic_populated(s: &Setup) -> usize {
    let st = s.alloc.stats();
    st.chunks
        .iter()
        .filter(|c| c.kind == ChunkKind::Dynamic)
        .map(|c| c.populated_pages)
        .sum::<usize>()
        * 2
}

fn write_all(s: &Setup, p: PerCpuPtr, size: usize, byte: u8) {
    for u in 0..2 {
        // SAFETY: a live area of `size` bytes in both units.
        unsafe { core::ptr::write_bytes(s.alloc.unit_ptr(p, u).unwrap(), byte, size) };
    }
}

#[test]
fn chunks_are_created_populated_on_demand_and_destroyed() {
    let s = setup(true);
    // 40 areas of one page: the first chunk's region, then three dynamic chunks.
    let ptrs: Vec<PerCpuPtr> =
        (0..40).map(|_| s.alloc.alloc(PAGE, PAGE).unwrap().into_raw()).collect();
    for &p in &ptrs {
        write_all(&s, p, PAGE, 0xAB);
    }
    let stats = s.alloc.stats();
    let chunks = stats.chunks.iter().filter(|c| c.kind == ChunkKind::Dynamic).count();
    assert_eq!(chunks, 3, "{stats}");
    assert_eq!(s.backend.inner.chunks(), 3);
    // Pages are populated for the areas only (plus nothing else), and really resident.
    assert_eq!(dynamic_populated(&s), s.backend.inner.resident_pages());
    assert_eq!(mincore_dynamic(&s), s.backend.inner.resident_pages());
    assert_eq!(s.backend.inner.resident_pages(), (40 - 3) * 2);
    s.alloc.verify().unwrap();

    for &p in &ptrs {
        s.free(p).unwrap();
    }
    let report = s.alloc.balance().unwrap();
    assert_eq!(report.chunks_destroyed, 3, "{report:?}");
    assert_eq!(s.backend.inner.chunks(), 0);
    assert_eq!(s.backend.inner.resident_pages(), 0);
    let stats = s.alloc.stats();
    assert!(stats.chunks.iter().all(|c| c.kind != ChunkKind::Dynamic), "{stats}");
    s.alloc.verify().unwrap();
}

#[test]
fn balance_releases_empty_pages_beyond_the_high_mark() {
    let s = setup(true);
    // Fill the first chunk, then one dynamic chunk with 16 one-page areas.
    let filler: Vec<PerCpuPtr> =
        (0..3).map(|_| s.alloc.alloc(PAGE, PAGE).unwrap().into_raw()).collect();
    let ptrs: Vec<PerCpuPtr> =
        (0..16).map(|_| s.alloc.alloc(PAGE, PAGE).unwrap().into_raw()).collect();
    assert_eq!(mincore_dynamic(&s), 32);
    // Free all but two: 14 empty populated pages per unit.
    for &p in &ptrs[2..] {
        s.free(p).unwrap();
    }
    assert_eq!(s.alloc.stats().global.empty_pop_pages, 14);
    let report = s.alloc.balance().unwrap();
    assert_eq!(report.pages_depopulated, 10, "{report:?}");
    let g = s.alloc.stats().global;
    assert_eq!(g.empty_pop_pages, 4);
    assert_eq!(mincore_dynamic(&s), (2 + 4) * 2);
    assert_eq!(s.backend.inner.resident_pages(), (2 + 4) * 2);
    s.alloc.verify().unwrap();
    // The live data is intact and the released pages come back on demand.
    let again: Vec<PerCpuPtr> =
        (0..14).map(|_| s.alloc.alloc(PAGE, PAGE).unwrap().into_raw()).collect();
    assert_eq!(mincore_dynamic(&s), 32);
    for p in again.into_iter().chain(ptrs[..2].iter().copied()).chain(filler) {
        s.free(p).unwrap();
    }
    s.alloc.balance().unwrap();
    assert_eq!(s.backend.inner.chunks(), 0);
}

#[test]
fn atomic_allocations_use_populated_pages_only() {
    let s = setup(true);
    let filler = vec![s.alloc.alloc(DYN, 4).unwrap().into_raw()];
    // The first chunk is full and no other page is populated.
    assert!(matches!(s.alloc.alloc_atomic(64, 8), Err(AllocError::AtomicNoSpace { .. })));
    assert!(s.alloc.needs_balance());
    let report = s.alloc.balance().unwrap();
    assert_eq!((report.chunks_created, report.pages_populated), (1, 4), "{report:?}");
    let a = s.alloc.alloc_atomic(64, 8).unwrap().into_raw();
    write_all(&s, a, 64, 1);
    assert_eq!(s.backend.inner.resident_pages(), 8, "an atomic allocation populated nothing");
    s.free(a).unwrap();
    for p in filler {
        s.free(p).unwrap();
    }
    s.alloc.verify().unwrap();
}

#[test]
fn the_immutable_first_chunk_is_never_populated_or_depopulated() {
    let s = setup(true);
    let ptrs: Vec<PerCpuPtr> =
        (0..200).map(|i| s.alloc.alloc(8 + i * 17, 8).unwrap().into_raw()).collect();
    for &p in &ptrs {
        s.free(p).unwrap();
    }
    s.alloc.balance().unwrap();
    let touched = s.backend.touched.lock().unwrap();
    assert!(!touched.is_empty());
    assert!(touched.iter().all(|(base, _)| *base != s.first), "the first chunk was touched");
    // Its pages are all still resident.
    assert_eq!(HostedBackend::mincore_resident(s.first, 4 * PAGE), Ok(4));
}

#[test]
fn without_a_backend_only_the_first_chunk_serves() {
    let s = setup(false);
    let mut ptrs = Vec::new();
    loop {
        match s.alloc.alloc(100, 4) {
            Ok(p) => ptrs.push(p.into_raw()),
            Err(e) => {
                assert_eq!(e, AllocError::NoBackend { size: 100, align: 4 });
                break;
            }
        }
    }
    assert_eq!(ptrs.len(), DYN / 100);
    // The reserved region serves reserved requests only, and cannot grow.
    let r = s.alloc.alloc_reserved(RESERVED, 4).unwrap().into_raw();
    assert_eq!(
        s.alloc.alloc_reserved(4, 4).map(|a| a.into_raw()),
        Err(AllocError::ReservedFull { size: 4, align: 4 })
    );
    s.free(r).unwrap();
    assert_eq!(s.alloc.balance().unwrap(), Default::default());
    s.alloc.verify().unwrap();
}

#[test]
fn frees_find_their_chunk_while_chunks_come_and_go() {
    let s = setup(true);
    let filler = s.alloc.alloc(DYN, 4).unwrap().into_raw();
    // Areas in three dynamic chunks, freed alternating between chunks.
    let ptrs: Vec<PerCpuPtr> =
        (0..48).map(|_| s.alloc.alloc(PAGE, PAGE).unwrap().into_raw()).collect();
    assert_eq!(s.backend.inner.chunks(), 3);
    for i in 0..16 {
        for c in 0..3 {
            s.free(ptrs[c * 16 + i]).unwrap();
        }
        // One freed already, in one of the three chunks.
        let again = s.free(ptrs[(i * 7) % 3 * 16 + i / 2]);
        assert!(matches!(again, Err(FreeError::NotAllocated { .. })), "{again:?}");
    }
    s.alloc.verify().unwrap();
    // The chunks are gone: a stale pointer into the last one freed is refused.
    s.free(filler).unwrap();
    assert_eq!(s.alloc.balance().unwrap().chunks_destroyed, 3);
    let stale = *ptrs.last().unwrap();
    assert!(matches!(s.free(stale), Err(FreeError::Foreign { .. })));
    // New chunks reuse the ids (and perhaps the addresses): their areas are found.
    let filler = s.alloc.alloc(DYN, 4).unwrap().into_raw();
    let again: Vec<PerCpuPtr> =
        (0..40).map(|_| s.alloc.alloc(2000, 8).unwrap().into_raw()).collect();
    assert_eq!(s.backend.inner.chunks(), 2);
    for &p in again.iter().rev() {
        s.free(p).unwrap();
        assert!(matches!(s.free(p), Err(FreeError::NotAllocated { .. })));
    }
    s.free(filler).unwrap();
    s.alloc.verify().unwrap();
}

#[test]
fn the_hosted_backend_refuses_what_is_not_its_chunk() {
    let backend = HostedBackend::new();
    let one_unit = ChunkGeometry {
        unit_size: 2 * PAGE,
        page_size: PAGE,
        units: vec![(CpuId::new(0), 0)],
        groups: vec![(0, 2 * PAGE)],
    };
    // A page of this process's heap, which the backend never reserved.
    let buffer = vec![7u8; 4 * PAGE];
    let page = (buffer.as_ptr() as usize).next_multiple_of(PAGE);
    // SAFETY: the hosted backend checks every request against the chunks it reserved and
    // refuses these (what this test shows): nothing is released or unmapped.
    unsafe {
        one_unit_requests_are_refused(&backend, &one_unit, page);
    }
    assert!(buffer.iter().all(|&b| b == 7), "the heap page is intact and mapped");
    assert_eq!((backend.chunks(), backend.resident_pages(), backend.calls()), (0, 0, (0, 0)));

    // Its own chunk: pages outside the unit and another geometry are refused; populating or
    // releasing the same pages twice counts them once, so the counters never wrap.
    let base = backend.create_chunk(&one_unit).unwrap();
    let other = ChunkGeometry { unit_size: PAGE, groups: vec![(0, PAGE)], ..one_unit.clone() };
    // SAFETY: `base` is this backend's chunk for `one_unit`, nothing lives in it; the refused
    // requests change nothing.
    unsafe {
        assert_eq!(
            backend.populate(&one_unit, base, 1..3),
            Err(BackendError::UnknownChunk { base })
        );
        assert_eq!(backend.populate(&other, base, 0..1), Err(BackendError::UnknownChunk { base }));
        backend.populate(&one_unit, base, 0..2).unwrap();
        backend.populate(&one_unit, base, 1..2).unwrap();
        assert_eq!(backend.resident_pages(), 2);
        backend.depopulate(&one_unit, base, 0..1);
        backend.depopulate(&one_unit, base, 0..1);
        assert_eq!(backend.resident_pages(), 1);
        backend.destroy_chunk(&one_unit, base);
        backend.destroy_chunk(&one_unit, base);
    }
    assert_eq!((backend.chunks(), backend.resident_pages()), (0, 0));
}

/// Every releasing request on `page`, which is not a chunk of `backend`.
///
/// # Safety
///
/// Only for a backend that checks requests against its own chunks (the hosted one).
unsafe fn one_unit_requests_are_refused(backend: &HostedBackend, g: &ChunkGeometry, page: usize) {
    // SAFETY: forwarded from the caller.
    unsafe {
        assert_eq!(backend.populate(g, page, 0..1), Err(BackendError::UnknownChunk { base: page }));
        backend.depopulate(g, page, 0..1);
        backend.destroy_chunk(g, page);
    }
}
