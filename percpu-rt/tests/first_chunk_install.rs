//! Installing the first chunk (once per boot), the platform requirement, loading a CPU's base,
//! and the immutable rule: map, unmap, populate and depopulate of an immutable chunk are
//! refused, recorded and never done. One process, one boot: these run as one test, in order.

mod common;

use common::{PageMachine, TestVm, ensure_platform};
use percpu_rt::allocator::InitError;
use percpu_rt::first_chunk::{self, ChunkOp, ChunkOpError, PhysPage, SetupConfig, SetupError};
use percpu_rt::layout::LayoutParams;
use percpu_rt::{CpuId, percpu, template};

#[percpu]
static SEEN: u64 = 5;

#[test]
fn install_once_then_refuse_every_change_to_the_immutable_chunk() {
    let possible: Vec<CpuId> = [0, 1].map(CpuId::new).to_vec();
    let cfg = SetupConfig::new(&possible);
    let params = LayoutParams::linux_defaults(template::static_size());
    let embed = || {
        let mut mem = common::TestMemory::default();
        // SAFETY: fresh leaked allocations.
        unsafe { first_chunk::embed_first_chunk(&params, &cfg, None, &mut mem) }
    };

    // Two CPUs but no platform: the guards would not pin anything.
    assert!(!percpu_rt::platform_is_set());
    assert_eq!(embed().err(), Some(SetupError::NoPlatform { nr_cpus: 2 }));
    assert!(!percpu_rt::first_chunk_installed(), "a refused setup installs nothing");
    assert!(first_chunk::installed().is_none());

    // The dynamic allocator refuses pages too small for its bitmaps, though the first-chunk
    // checks accept them: nothing is installed, neither the allocator nor the CPU table.
    ensure_platform();
    let tiny_cfg = SetupConfig { page_size: 128, ..cfg };
    let tiny = LayoutParams { page_size: 128, atom_size: 128, ..params };
    let mut mem = common::TestMemory::default();
    // SAFETY: fresh leaked allocations.
    let chunk =
        unsafe { first_chunk::embed_first_chunk(&tiny, &tiny_cfg, None, &mut mem) }.unwrap();
    assert_eq!(
        chunk.install().err().map(|e| e.error),
        Some(SetupError::Allocator(InitError::PageSize { page_size: 128 }))
    );
    assert!(!percpu_rt::first_chunk_installed() && first_chunk::installed().is_none());
    assert!(!percpu_rt::allocator::is_initialized());

    // Corrected: the platform registered, set up, install.
    SEEN.write(9); // the boot CPU writes the template before setup
    let chunk = embed().expect("corrected call").install().expect("first install");
    assert!(percpu_rt::first_chunk_installed());
    assert!(core::ptr::eq(first_chunk::installed().unwrap(), chunk));
    for &cpu in &possible {
        assert_eq!(
            percpu_rt::cpu_offset(cpu).unwrap(),
            chunk.unit_addr(cpu).unwrap() - template::start() as usize
        );
        assert_eq!(SEEN.read_on(cpu), 5, "every unit starts from the declared initial value");
    }
    // Once per boot. A refused chunk comes back, and its memory can be given back in full.
    let mut mem = common::TestMemory::default();
    // SAFETY: fresh leaked allocations.
    let second =
        unsafe { first_chunk::embed_first_chunk(&params, &cfg, None, &mut mem) }.expect("prepared");
    let refused = second.install().expect_err("installed already");
    assert_eq!(refused.error, SetupError::AlreadyInstalled);
    // SAFETY: never installed; built from `mem`.
    unsafe { refused.into_chunk().release_embedded(&mut mem) }.expect("an embedded chunk");
    assert_eq!(mem.live(), 0, "every byte the refused setup took is given back");
    let mut pages = PageMachine::default();
    // SAFETY: PageMachine maps real memory (TestVm).
    let paged =
        unsafe { first_chunk::page_first_chunk(&params, &cfg, &mut pages) }.expect("prepared");
    let refused = paged.install().expect_err("installed already");
    // SAFETY: never installed; built from `pages`.
    unsafe { refused.into_chunk().release_paged(&mut pages) }.expect("a page-mode chunk");
    assert_eq!(pages.pages_live(), 0, "every page is freed");
    assert_eq!((pages.vm.unmapped.len(), pages.vm.released), (pages.vm.mapped.len(), 1));
    // The callback-style setup refuses before it reserves or maps anything.
    let mut vm = TestVm::default();
    let mut get_page = |_cpu: CpuId, i: usize| Some(PhysPage(100 + i as u64));
    let args = first_chunk::SetupArgs {
        get_page: &mut get_page,
        static_size: template::static_size(),
        unit_size: Some(32 << 10),
        free_size: None,
        base_addr: None,
        populate_pte: None,
    };
    // SAFETY: TestVm maps real memory.
    let err = unsafe { first_chunk::setup_first_chunk(args, &cfg, &mut vm) }.unwrap_err();
    assert_eq!(err, SetupError::AlreadyInstalled);
    assert_eq!((vm.map_calls, vm.mapped.len(), vm.released), (0, 0, 0), "nothing was taken");

    // Loading CPU 1's base on this thread makes its accesses go to CPU 1's unit.
    std::thread::spawn(|| {
        // SAFETY: this thread acts as CPU 1 and is the only one doing so; it holds no
        // reference into the template.
        unsafe { first_chunk::load_base(CpuId::new(1)).unwrap() };
        assert_eq!(CpuId::current(), CpuId::new(1));
        SEEN.add(1);
        // SAFETY: back to the template; the thread ends.
        unsafe { percpu_rt::arch::write_base(0) };
    })
    .join()
    .unwrap();
    assert_eq!((SEEN.read_on(CpuId::new(0)), SEEN.read_on(CpuId::new(1))), (5, 6));
    // This thread never loaded a base register: it reaches the template, where the pre-setup
    // write stays; the debug mode reports exactly that.
    #[cfg(not(feature = "debug-checks"))]
    assert_eq!(SEEN.read(), 9, "the pre-setup write stays in the template (this thread's copy)");
    #[cfg(feature = "debug-checks")]
    {
        let report = std::panic::catch_unwind(|| SEEN.read()).unwrap_err();
        let text = report.downcast_ref::<String>().expect("a report");
        assert!(text.contains("base register was never loaded"), "{text}");
    }
    // SAFETY: CPU 7 does not exist: the call only reports it.
    let missing = unsafe { first_chunk::load_base(CpuId::new(7)) }.unwrap_err();
    assert!(missing.to_string().contains("CPU 7 is not a possible CPU"), "{missing}");

    // The immutable rule, on a second (uninstalled) embedded chunk and on the installed one's
    // kind of chunk: nothing is done, each refusal is counted.
    let mut other = embed().expect("prepared");
    assert!(other.is_immutable());
    let unit0 = other.unit_addr(CpuId::new(0)).unwrap();
    // SAFETY: the unit is mapped and ours.
    let before = unsafe { *(unit0 as *const [u8; 64]) };
    let mut vm = TestVm::default();
    let mut pages = PageMachine::default();
    let refused = first_chunk::refused_ops();
    // SAFETY: the chunk is immutable: each call is refused before touching anything.
    let errors = unsafe {
        [
            other.map_pages(0..1, &[PhysPage(1), PhysPage(2)], &mut vm).unwrap_err(),
            other.unmap_pages(0..1, &mut vm).unwrap_err(),
            other.populate(1..2, &mut pages, &mut vm).unwrap_err(),
            other.depopulate(1..2, &mut pages, &mut vm).unwrap_err(),
        ]
    };
    let ops: Vec<ChunkOp> = errors
        .iter()
        .map(|e| match e {
            ChunkOpError::Immutable { op, .. } => *op,
            other => panic!("expected a refusal, got {other:?}"),
        })
        .collect();
    assert_eq!(ops, [ChunkOp::Map, ChunkOp::Unmap, ChunkOp::Populate, ChunkOp::Depopulate]);
    assert_eq!(first_chunk::refused_ops(), refused + 4, "every refusal is recorded");
    assert!(vm.mapped.is_empty() && vm.unmapped.is_empty(), "no callback ran");
    assert_eq!(pages.allocated, 0);
    // SAFETY: as above.
    assert_eq!(unsafe { *(unit0 as *const [u8; 64]) }, before, "the memory is untouched");
    assert!(errors[0].to_string().contains("immutable"), "{}", errors[0]);
}
