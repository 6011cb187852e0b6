//! The runtime without a heap: everything but the dynamic allocator works on `core` alone, with
//! the first chunk's bookkeeping in the boot memory (`boot_memory::provide`). Run it that way
//! with `cargo test -p percpu-rt --no-default-features --test core_only`; with `alloc` (as in
//! `cargo test --workspace --all-features`) the same calls run with the tables on the heap,
//! and the boot memory stays unused.
//!
//! One process, one boot: the steps run as one test, in order.

use core::ptr::NonNull;
use core::sync::atomic::{AtomicU32, Ordering};
use std::alloc::Layout;

use percpu_rt::boot_memory::{self, StaticBuffer};
use percpu_rt::first_chunk::{
    self, BumpMemory, EarlyMemory, FirstChunk, PageAlloc, PhysPage, SetupConfig, SetupError,
    VmError, VmSpace,
};
use percpu_rt::layout::{self, LayoutParams};
use percpu_rt::{CpuId, IrqGuard, PreemptGuard, percpu, template};

const PAGE: usize = 4096;

#[percpu]
static EVENTS: u64 = 0;

#[percpu(init = tag_of)]
static TAG: u32 = 7;

fn tag_of(cpu: CpuId) -> u32 {
    1000 + cpu.as_u32()
}

#[percpu]
static LAST: AtomicU32 = AtomicU32::new(0);

#[percpu(local)]
static SCRATCH: [u64; 4] = [0; 4];

/// Leaked, zeroed, aligned memory.
fn buffer(size: usize, align: usize) -> NonNull<u8> {
    let layout = Layout::from_size_align(size, align).unwrap();
    // SAFETY: the layout has a non-zero size.
    NonNull::new(unsafe { std::alloc::alloc_zeroed(layout) }).expect("memory")
}

/// An early allocator over leaked allocations, counting live bytes (frees are counted only).
#[derive(Default)]
struct Early {
    allocated: usize,
    freed: usize,
}

impl EarlyMemory for Early {
    fn alloc(&mut self, size: usize, align: usize, _cpu: CpuId) -> Option<NonNull<u8>> {
        self.allocated += size;
        Some(buffer(size, align))
    }
    fn free(&mut self, _ptr: NonNull<u8>, size: usize) {
        self.freed += size;
    }
}

/// Pages as numbers, and a "virtual range" of real memory in which mapping is recorded only.
#[derive(Default)]
struct Pages {
    live: usize,
    mapped: usize,
    released: usize,
}

impl PageAlloc for Pages {
    fn alloc_page(&mut self, _cpu: CpuId) -> Option<PhysPage> {
        self.live += 1;
        Some(PhysPage(self.live as u64))
    }
    fn free_page(&mut self, _page: PhysPage) {
        self.live -= 1;
    }
}

impl VmSpace for Pages {
    fn reserve(&mut self, size: usize, align: usize) -> Option<NonNull<u8>> {
        Some(buffer(size, align.max(PAGE)))
    }
    fn release(&mut self, _base: NonNull<u8>, _size: usize) {
        self.released += 1;
    }
    fn map_page(&mut self, _addr: usize, _page: PhysPage) -> Result<(), VmError> {
        self.mapped += 1;
        Ok(())
    }
    fn unmap_page(&mut self, _addr: usize) {
        self.mapped -= 1;
    }
}

struct Text(String);

impl core::fmt::Write for Text {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        self.0.push_str(s);
        Ok(())
    }
}

static BOOT_MEMORY: StaticBuffer<{ 64 << 10 }> = StaticBuffer::new();

/// The bound the `boot_memory` documentation gives on what a first chunk keeps in the boot
/// memory, for `n` possible CPUs with ids below `m` in `g` groups.
#[cfg(not(feature = "alloc"))]
fn kept(n: usize, m: usize, g: usize) -> usize {
    64 * n + 8 * m + 72 * g + 256
}

/// The bound it gives on the setup's scratch tables, on top of that at its peak.
#[cfg(not(feature = "alloc"))]
fn scratch(n: usize, m: usize, g: usize) -> usize {
    8 * n + m + 32 * g + 128
}

#[test]
fn statics_guards_remote_access_and_the_first_chunk_work_without_a_heap() {
    // Sparse ids: 4 possible CPUs, ids below 8.
    let possible: Vec<CpuId> = [0, 2, 5, 7].map(CpuId::new).to_vec();
    let cfg = SetupConfig::new(&possible);
    let params = LayoutParams::linux_defaults(template::static_size());
    let _ = percpu_rt::set_platform(&percpu_rt::NoopPlatform);

    // Before the setup: statics reach the template, guards work.
    EVENTS.add(2);
    EVENTS.inc();
    assert_eq!(EVENTS.read(), 3);
    assert_eq!(TAG.read(), 7);
    LAST.get(&PreemptGuard::new()).store(1, Ordering::Relaxed);
    let mut guard = IrqGuard::new();
    assert!(IrqGuard::try_new().is_err(), "one IrqGuard at a time");
    SCRATCH.get_mut(&mut guard)[1] = 42;
    assert_eq!(SCRATCH.get(&guard)[1], 42);
    drop(guard);

    // Without `alloc` and before any boot memory: a typed error that says what to do.
    #[cfg(not(feature = "alloc"))]
    {
        let e = layout::build_alloc_info(&params, &possible, None).unwrap_err();
        let layout::LayoutError::OutOfBootMemory(oom) = e else { panic!("{e:?}") };
        assert_eq!((oom.in_use, oom.capacity), (0, 0));
        assert!(e.to_string().contains("percpu_rt::boot_memory::provide"), "{e}");
        let mut early = Early::default();
        // SAFETY: fresh leaked allocations.
        let e =
            unsafe { first_chunk::embed_first_chunk(&params, &cfg, None, &mut early) }.unwrap_err();
        assert!(matches!(e, SetupError::OutOfBootMemory(_)), "{e:?}");
        assert_eq!(early.allocated, 0, "refused before taking any memory");
    }

    let memory = BOOT_MEMORY.take().expect("taken once");
    assert!(BOOT_MEMORY.take().is_none(), "a static buffer is handed out once");
    boot_memory::provide(memory).expect("provided once");
    let again = Box::leak(Box::new([core::mem::MaybeUninit::new(0u8); 16]));
    assert_eq!(boot_memory::provide(again), Err(boot_memory::AlreadyProvided));
    assert_eq!(boot_memory::usage().capacity, 64 << 10);

    // A page-mode chunk, built and given back without being installed: its pages, mappings,
    // range and boot memory all come back.
    let mut pages = Pages::default();
    // SAFETY: `Pages` reserves real memory, where "mapping" changes nothing.
    let paged =
        unsafe { first_chunk::page_first_chunk(&params, &cfg, &mut pages) }.expect("page mode");
    assert_eq!(paged.units().len(), 4);
    let unit_pages = paged.unit_size() / PAGE;
    assert_eq!(pages.live, 4 * unit_pages);
    for &cpu in &possible {
        let unit = paged.unit_addr(cpu).expect("a unit") as *const u8;
        let tag = TAG.per_cpu_ptr() as usize - template::start() as usize;
        // SAFETY: the unit is the test's own memory, filled by the setup.
        assert_eq!(unsafe { unit.add(tag).cast::<u32>().read() }, tag_of(cpu));
    }
    // Until it is installed a page-mode chunk keeps its page list; the setup's scratch tables
    // are gone, and they came on top of all that at the peak.
    let in_use = boot_memory::usage().in_use;
    #[cfg(feature = "alloc")]
    assert_eq!(in_use, 0, "with `alloc` the heap holds the tables");
    #[cfg(not(feature = "alloc"))]
    {
        let (n, m, g) = (4, 8, 1);
        let page_list = 8 * n * unit_pages + 32;
        assert!(in_use > page_list && in_use <= kept(n, m, g) + page_list, "{in_use}");
        let peak = boot_memory::usage().peak;
        assert!(peak >= in_use && peak <= in_use + scratch(n, m, g), "{peak} {in_use}");
    }
    // SAFETY: never installed; built from `pages`.
    unsafe { paged.release_paged(&mut pages) }.map_err(|_| ()).expect("a page-mode chunk");
    assert_eq!((pages.live, pages.mapped, pages.released), (0, 0, 1));
    assert_eq!(boot_memory::usage().in_use, 0, "the chunk's tables are given back");

    // The callback form, mapping the pages itself: a mutable chunk, whose pages can be unmapped
    // and mapped again; dropped unused, it gives its boot memory back.
    let mut vm = Pages::default();
    let mut get_page =
        |cpu: CpuId, i: usize| Some(PhysPage(u64::from(cpu.as_u32()) << 32 | i as u64));
    let args = first_chunk::SetupArgs {
        get_page: &mut get_page,
        static_size: template::static_size(),
        unit_size: None,
        free_size: None,
        base_addr: None,
        populate_pte: None,
    };
    // SAFETY: `Pages` reserves real memory, where "mapping" changes nothing.
    let mut seeded = unsafe { first_chunk::prepare_first_chunk(args, &cfg, &mut vm) }.unwrap();
    let unit_pages = seeded.unit_size() / PAGE;
    assert!(!seeded.is_immutable());
    assert_eq!(vm.mapped, 4 * unit_pages);
    // SAFETY: a mutable chunk nobody uses, in `vm`; the pages go back where they were.
    unsafe {
        let freed = seeded.unmap_pages(2..4, &mut vm).unwrap();
        assert_eq!(freed.len(), 4 * 2);
        assert_eq!(freed[0], PhysPage(2), "CPU 0's page 2");
        assert_eq!(vm.mapped, 4 * (unit_pages - 2));
        seeded.map_pages(2..4, &freed, &mut vm).unwrap();
    }
    assert_eq!(vm.mapped, 4 * unit_pages);
    drop(seeded);
    assert_eq!(boot_memory::usage().in_use, 0, "the callback form's tables are given back");

    // Larger machines, in groups (embedded in 2 MiB atoms), within the same bound.
    for (ids, node_size) in
        [((0..64).collect::<Vec<u32>>(), 8), ((0..33).map(|i| i * 3).collect(), 33)]
    {
        let possible: Vec<CpuId> = ids.iter().copied().map(CpuId::new).collect();
        let cfg = SetupConfig::new(&possible);
        let params = LayoutParams { atom_size: 2 << 20, ..params };
        let node = |c: CpuId| ids.iter().position(|&i| i == c.as_u32()).unwrap() / node_size;
        let distance =
            |a: CpuId, b: CpuId| if node(a) == node(b) { layout::LOCAL_DISTANCE } else { 20 };
        let mut early = Early::default();
        // SAFETY: fresh leaked allocations.
        let chunk =
            unsafe { first_chunk::embed_first_chunk(&params, &cfg, Some(&distance), &mut early) }
                .unwrap();
        let g = chunk.alloc_info().groups.len();
        assert_eq!(g, ids.len().div_ceil(node_size));
        let in_use = boot_memory::usage().in_use;
        #[cfg(feature = "alloc")]
        assert_eq!(in_use, 0);
        #[cfg(not(feature = "alloc"))]
        {
            let (n, m) = (ids.len(), *ids.last().unwrap() as usize + 1);
            assert!(in_use <= kept(n, m, g), "{in_use} for {n} CPUs, ids below {m}, {g} groups");
        }
        // SAFETY: never installed; built from `early`.
        unsafe { chunk.release_embedded(&mut early) }.map_err(|_| ()).unwrap();
        assert_eq!(early.allocated, early.freed);
        assert_eq!(boot_memory::usage().in_use, 0);
    }

    // Without `alloc`: a boot memory too full for the setup refuses it, gives every byte back
    // to the early allocator, installs nothing; once room is made, the same call succeeds.
    #[cfg(not(feature = "alloc"))]
    {
        // Layouts fill it; the last one goes, leaving room for the layout but not for the rest
        // of the setup, which fails once the early allocator has given it the units.
        let mut hog = Vec::new();
        while let Ok(ai) = layout::build_alloc_info(&params, &possible, None) {
            hog.push(ai);
        }
        hog.pop();
        let mut early = Early::default();
        // SAFETY: fresh leaked allocations.
        let e =
            unsafe { first_chunk::embed_first_chunk(&params, &cfg, None, &mut early) }.unwrap_err();
        let SetupError::OutOfBootMemory(oom) = e else { panic!("{e:?}") };
        assert_eq!(oom.capacity, 64 << 10);
        assert!(e.to_string().contains("give percpu_rt::boot_memory::provide a buffer"), "{e}");
        assert!(early.allocated > 0 && early.allocated == early.freed, "units given back");
        assert!(!percpu_rt::first_chunk_installed() && first_chunk::installed().is_none());
        drop(hog);
        assert_eq!(boot_memory::usage().in_use, 0, "every table given back");
    }

    // The embedded chunk, installed, its units carved from a static region as a kernel without
    // a boot allocator does.
    static UNITS: StaticBuffer<{ 1 << 20 }> = StaticBuffer::new();
    let mut units = BumpMemory::new(UNITS.take().expect("taken once"));
    // SAFETY: the region is static, used by nothing else, and not the template.
    let chunk: FirstChunk =
        unsafe { first_chunk::embed_first_chunk(&params, &cfg, None, &mut units) }.unwrap();
    assert!(units.used() >= possible.len() * chunk.unit_size(), "{units:?}");
    let chunk = chunk.install().map_err(|e| e.error).expect("installed");
    assert!(percpu_rt::first_chunk_installed());
    assert_eq!(percpu_rt::possible_cpus().collect::<Vec<_>>(), possible);
    assert!(percpu_rt::cpu_offset(CpuId::new(1)).is_err(), "CPU 1 is not possible");

    // Remote access: every unit is its own, built from the declared initial values.
    for &cpu in &possible {
        let offset = percpu_rt::cpu_offset(cpu).unwrap();
        assert_eq!(offset, chunk.unit_addr(cpu).unwrap() - template::start() as usize);
        assert_eq!(EVENTS.read_on(cpu), 0, "the template's value, not what it holds now");
        assert_eq!(TAG.read_on(cpu), tag_of(cpu));
        LAST.remote(cpu).store(cpu.as_u32() * 10, Ordering::Relaxed);
    }
    let tags: u32 = TAG.iter_possible().sum();
    assert_eq!(tags, 4000 + 2 + 5 + 7);
    let lasts: Vec<u32> = LAST.iter_possible().map(|(_, v)| v.load(Ordering::Relaxed)).collect();
    assert_eq!(lasts, [0, 20, 50, 70]);

    // (This thread never loads a base register, which needs a CPU: after the setup it touches
    // per-CPU data only remotely, as the debug mode requires.)

    // The boot lines, in Linux's format.
    let mut dump = Text(String::new());
    chunk.dump(&mut dump).unwrap();
    let unit = chunk.unit_size();
    assert!(dump.0.starts_with("percpu: Embedded "), "{}", dump.0);
    assert!(dump.0.contains(&format!("pcpu-alloc: s{} r8192 ", chunk.static_size())), "{}", dump.0);
    assert!(dump.0.contains(&format!(" u{unit} ")), "{}", dump.0);
    assert!(dump.0.ends_with("pcpu-alloc: [0] 0 [0] 2 [0] 5 [0] 7 \n"), "{}", dump.0);

    // The second install is refused; the chunk comes back whole.
    let mut early = Early::default();
    // SAFETY: fresh leaked allocations.
    let second =
        unsafe { first_chunk::embed_first_chunk(&params, &cfg, None, &mut early) }.unwrap();
    let refused = second.install().expect_err("installed already");
    assert_eq!(refused.error, SetupError::AlreadyInstalled);
    // SAFETY: never installed; built from `early`.
    unsafe { refused.into_chunk().release_embedded(&mut early) }.map_err(|_| ()).unwrap();
    assert_eq!(early.allocated, early.freed);

    // What stays in the boot memory: the installed chunk's tables, within the documented bound
    // (n = 4 CPUs, ids below m = 8, g = 1 group).
    let usage = boot_memory::usage();
    #[cfg(not(feature = "alloc"))]
    {
        let (n, m, g) = (4, 8, 1);
        assert!(usage.in_use > 0 && usage.in_use <= kept(n, m, g), "{usage:?}");
    }
    #[cfg(feature = "alloc")]
    assert_eq!((usage.in_use, usage.peak), (0, 0), "with `alloc` the heap holds the tables");
}
