//! Every refusal of the first-chunk setup, each triggered on its own, followed by the corrected
//! call succeeding (nothing is half set up in between). Nothing is installed here: the builders
//! return filled chunks without publishing them, so each case starts from a clean slate.
//! Installation, `AlreadyInstalled` and `NoPlatform` are in `first_chunk_install.rs`.

mod common;

use common::{PageMachine, TestMemory, TestVm, aligned_buffer, ensure_platform};
use percpu_rt::first_chunk::{
    self, PhysPage, SetupArgs, SetupConfig, SetupError, VmError, prepare_first_chunk,
};
use percpu_rt::layout::{AllocInfo, GroupInfo, LayoutError, LayoutParams, build_alloc_info};
use percpu_rt::{CpuId, template};

const PAGE: usize = 4096;

fn cpus(ids: &[u32]) -> Vec<CpuId> {
    ids.iter().copied().map(CpuId::new).collect()
}

/// A valid one-group layout for `possible`, with Linux's default sizes.
fn good_ai(possible: &[CpuId]) -> AllocInfo {
    let p = LayoutParams::linux_defaults(template::static_size());
    build_alloc_info(&p, possible, None).unwrap()
}

/// `from_alloc_info` on fresh memory for `ai`.
fn given(ai: &AllocInfo, cfg: &SetupConfig<'_>) -> Result<first_chunk::FirstChunk, SetupError> {
    let span = ai.groups.iter().map(|g| g.base_offset + g.nr_units() * ai.unit_size).max().unwrap();
    let base = aligned_buffer(span.max(PAGE), PAGE);
    // SAFETY: a fresh, leaked, page-aligned buffer covering every unit.
    unsafe { first_chunk::FirstChunk::from_alloc_info(ai, base, cfg) }
}

#[test]
fn modern_checks_each_refuse_then_the_corrected_call_succeeds() {
    ensure_platform();
    let possible = cpus(&[0, 1, 2, 3]);
    let cfg = SetupConfig::new(&possible);
    let good = good_ai(&possible);
    let start = template::start() as usize;
    let base = 0x4000_0000;

    // 1: no group.
    let ai = AllocInfo { groups: vec![], ..good.clone() };
    assert_eq!(first_chunk::validate(&ai, base, start, &cfg), Err(SetupError::NoGroups));
    // 2: no static data.
    let ai = AllocInfo { static_size: 0, ..good.clone() };
    assert_eq!(first_chunk::validate(&ai, base, start, &cfg), Err(SetupError::StaticSizeZero));
    // 3: template not page-aligned.
    assert_eq!(
        first_chunk::validate(&good, base, start + 8, &cfg),
        Err(SetupError::TemplateNotPageAligned { start: start + 8, page_size: PAGE })
    );
    // 4, 5: base null or misaligned.
    assert_eq!(first_chunk::validate(&good, 0, start, &cfg), Err(SetupError::NullBase));
    assert_eq!(
        first_chunk::validate(&good, base + 0x10, start, &cfg),
        Err(SetupError::BaseNotPageAligned { base_addr: base + 0x10, page_size: PAGE })
    );
    // 6: unit smaller than static + reserved + dynamic.
    let ai = AllocInfo { unit_size: good.size_sum() - PAGE, ..good.clone() };
    assert_eq!(
        first_chunk::validate(&ai, base, start, &cfg),
        Err(SetupError::UnitTooSmall { unit_size: ai.unit_size, size_sum: good.size_sum() })
    );
    // 7/9: unit not a page multiple.
    let ai = AllocInfo { unit_size: good.unit_size + 100, ..good.clone() };
    assert_eq!(
        first_chunk::validate(&ai, base, start, &cfg),
        Err(SetupError::UnitNotPageAligned { unit_size: ai.unit_size, page_size: PAGE })
    );
    // 8: unit below the minimum (24 KiB covers static + 20 KiB dynamic but is < 32 KiB).
    let small = AllocInfo {
        static_size: template::static_size(),
        reserved_size: 0,
        dyn_size: 20 << 10,
        unit_size: 24 << 10,
        atom_size: PAGE,
        alloc_size: 24 << 10,
        groups: vec![GroupInfo {
            base_offset: 0,
            cpu_map: possible.iter().copied().map(Some).collect(),
        }],
    };
    assert_eq!(
        first_chunk::validate(&small, base, start, &cfg),
        Err(SetupError::UnitBelowMinimum { unit_size: 24 << 10, min_unit_size: 32 << 10 })
    );
    // 10: dynamic area below the early minimum.
    let ai = AllocInfo { dyn_size: 4096, ..good.clone() };
    assert_eq!(
        first_chunk::validate(&ai, base, start, &cfg),
        Err(SetupError::DynamicBelowEarly { dyn_size: 4096, early_size: 20 << 10 })
    );
    // 11: reserved size not a multiple of 4.
    let ai = AllocInfo { reserved_size: 8190, dyn_size: good.dyn_size, ..good.clone() };
    assert_eq!(
        first_chunk::validate(&ai, base, start, &cfg),
        Err(SetupError::ReservedNotAligned { reserved_size: 8190 })
    );
    // 13: the backend vetoes the layout.
    let one_group_only = |ai: &AllocInfo| -> Result<(), &'static str> {
        if ai.groups.len() > 1 { Err("can't handle more than one group") } else { Ok(()) }
    };
    let vetoing = SetupConfig { verify: Some(&one_group_only), ..cfg };
    let node = |c: CpuId| c.as_u32() / 2;
    let two_nodes = |a: CpuId, b: CpuId| if node(a) == node(b) { 10 } else { 20 };
    let p = LayoutParams::linux_defaults(template::static_size());
    let grouped = build_alloc_info(&p, &possible, Some(&two_nodes)).unwrap();
    assert_eq!(grouped.groups.len(), 2);
    assert_eq!(
        first_chunk::validate(&grouped, base, start, &vetoing),
        Err(SetupError::BackendRejected { reason: "can't handle more than one group" })
    );
    assert_eq!(first_chunk::validate(&good, base, start, &vetoing), Ok(()));
    // 14: a CPU id beyond max_cpus, a CPU that is not possible, a CPU mapped twice.
    let limited = SetupConfig { max_cpus: 3, ..cfg };
    assert_eq!(
        first_chunk::validate(&good, base, start, &limited),
        Err(SetupError::CpuIdTooLarge { cpu: CpuId::new(3), nr_cpu_ids: 3 })
    );
    let fewer = cpus(&[0, 1, 2]);
    let fewer_cfg = SetupConfig::new(&fewer);
    assert_eq!(
        first_chunk::validate(&good, base, start, &fewer_cfg),
        Err(SetupError::CpuNotPossible { cpu: CpuId::new(3) })
    );
    let mut twice = good.clone();
    twice.groups[0].cpu_map[1] = Some(CpuId::new(0));
    assert_eq!(
        first_chunk::validate(&twice, base, start, &cfg),
        Err(SetupError::CpuMappedTwice { cpu: CpuId::new(0) })
    );
    // 15: a possible CPU without unit.
    let mut missing = good.clone();
    missing.groups[0].cpu_map[3] = None;
    assert_eq!(
        first_chunk::validate(&missing, base, start, &cfg),
        Err(SetupError::CpuWithoutUnit { cpu: CpuId::new(3) })
    );
    // Group geometry.
    let mut unaligned = grouped.clone();
    unaligned.groups[1].base_offset += 100;
    assert_eq!(
        first_chunk::validate(&unaligned, base, start, &cfg),
        Err(SetupError::GroupNotPageAligned {
            group: 1,
            base_offset: unaligned.groups[1].base_offset
        })
    );
    let mut overlapping = grouped.clone();
    overlapping.groups[1].base_offset = overlapping.unit_size;
    assert_eq!(
        first_chunk::validate(&overlapping, base, start, &cfg),
        Err(SetupError::GroupsOverlap { group: 1, other: 0 })
    );

    // The corrected layouts pass, and a real setup with them fills every unit.
    assert_eq!(first_chunk::validate(&good, base, start, &cfg), Ok(()));
    assert_eq!(first_chunk::validate(&grouped, base, start, &cfg), Ok(()));
    let chunk = given(&good, &cfg).expect("corrected call");
    assert!(chunk.is_immutable());
    assert_eq!(chunk.units().len(), 4);
    let chunk = given(&grouped, &cfg).expect("corrected grouped call");
    assert_eq!(chunk.alloc_info().groups.len(), 2);
}

#[test]
fn modern_setup_refuses_a_static_size_below_the_linked_template() {
    let possible = cpus(&[0]);
    let cfg = SetupConfig::new(&possible);
    let good = good_ai(&possible);
    let small = AllocInfo { static_size: 4, ..good.clone() };
    assert_eq!(
        given(&small, &cfg).err(),
        Some(SetupError::StaticSizeBelowTemplate {
            static_size: 4,
            template_size: template::static_size()
        })
    );
    assert!(given(&good, &cfg).is_ok());
}

/// A callback-style call with a given unit and base, for single-CPU checks.
fn seed_call(
    static_size: usize,
    unit_size: Option<usize>,
    free_size: Option<usize>,
    base: Option<*mut u8>,
    with_populate: bool,
) -> Result<first_chunk::FirstChunk, SetupError> {
    let possible = cpus(&[0]);
    let cfg = SetupConfig::new(&possible);
    let mut vm = TestVm::default();
    let mut next = 0u64;
    let mut get_page = |_cpu: CpuId, _i: usize| {
        next += 1;
        Some(PhysPage(next))
    };
    let mut populate = |_addr: usize| Ok(());
    let args = SetupArgs {
        get_page: &mut get_page,
        static_size,
        unit_size,
        free_size,
        base_addr: base.and_then(core::ptr::NonNull::new),
        populate_pte: if with_populate { Some(&mut populate) } else { None },
    };
    // SAFETY: a given base is a fresh leaked buffer of the unit size; otherwise TestVm maps
    // real memory.
    unsafe { prepare_first_chunk(args, &cfg, &mut vm) }
}

#[test]
fn seed_checks_each_refuse_then_the_corrected_call_succeeds() {
    let s = template::static_size();
    let unit = 64 << 10;
    let buf = aligned_buffer(unit, PAGE);

    assert_eq!(seed_call(0, None, None, None, true).err(), Some(SetupError::StaticSizeZero));
    assert_eq!(
        seed_call(s, None, Some(8192), None, true).err(),
        Some(SetupError::FreeSizeWithoutUnitSize { free_size: 8192 })
    );
    assert_eq!(
        seed_call(s, Some(8192), Some(8192), None, true).err(),
        Some(SetupError::UnitSmallerThanStaticPlusFree {
            unit_size: 8192,
            static_size: s,
            free_size: 8192
        })
    );
    assert_eq!(
        seed_call(s, Some(unit + 100), None, None, true).err(),
        Some(SetupError::UnitNotPageAligned { unit_size: unit + 100, page_size: PAGE })
    );
    assert_eq!(
        seed_call(s, None, None, Some(buf), false).err(),
        Some(SetupError::BaseWithoutUnitSize)
    );
    assert_eq!(
        seed_call(s, Some(unit), None, Some(buf), true).err(),
        Some(SetupError::BaseWithPopulate)
    );
    assert_eq!(
        seed_call(1, Some(unit), None, None, true).err(),
        Some(SetupError::StaticSizeBelowTemplate { static_size: 1, template_size: s })
    );

    // The corrected calls: automatic unit, given unit and free size, caller-mapped base.
    let auto = seed_call(s, None, None, None, true).expect("automatic unit");
    assert_eq!(auto.unit_size(), (32 << 10).max(s.div_ceil(PAGE) * PAGE));
    assert!(!auto.is_immutable(), "the setup mapped it: percpu's own chunk");
    let sized = seed_call(s, Some(unit), Some(8192), None, true).expect("given unit and free size");
    assert_eq!((sized.unit_size(), sized.dyn_size()), (unit, 8192));
    let based = seed_call(s, Some(unit), None, Some(buf), false).expect("caller-mapped base");
    assert!(based.is_immutable());
    assert_eq!(based.base_addr(), buf as usize);
}

#[test]
fn seed_page_callback_must_cover_static_and_agree_across_cpus() {
    ensure_platform();
    let s = template::static_size();
    let possible = cpus(&[0, 1]);
    let cfg = SetupConfig::new(&possible);
    let unit = 32 << 10;
    let run = |pages_of: &dyn Fn(CpuId) -> usize| {
        let mut vm = TestVm::default();
        let mut get_page = |cpu: CpuId, i: usize| (i < pages_of(cpu)).then_some(PhysPage(i as u64));
        let args = SetupArgs {
            get_page: &mut get_page,
            static_size: s,
            unit_size: Some(unit),
            free_size: None,
            base_addr: None,
            populate_pte: None,
        };
        // SAFETY: TestVm maps real memory.
        unsafe { prepare_first_chunk(args, &cfg, &mut vm) }.map(|c| (c, vm))
    };
    assert_eq!(
        run(&|_| 0).err(),
        Some(SetupError::PagesDontCoverStatic { cpu: CpuId::new(0), pages: 0, needed: 1 })
    );
    assert_eq!(
        run(&|cpu| if cpu.as_u32() == 0 { 8 } else { 5 }).err(),
        Some(SetupError::PageCountMismatch { cpu: CpuId::new(1), pages: 5, expected: 8 })
    );
    // Fewer pages than the unit: the dynamic area stops where the pages stop.
    let (chunk, vm) = run(&|_| 3).expect("3 pages per CPU");
    assert_eq!(chunk.dyn_size(), 3 * PAGE - s);
    assert_eq!(vm.mapped.len(), 6, "every returned page is mapped");
    let (chunk, _) = run(&|_| 8).expect("a full unit");
    assert_eq!(chunk.dyn_size(), unit - s);
}

#[test]
fn seed_mapping_failures_undo_everything() {
    ensure_platform();
    let s = template::static_size();
    let possible = cpus(&[0, 1]);
    let cfg = SetupConfig::new(&possible);
    let unit = 32 << 10;
    let attempt = |vm: &mut TestVm, fail_populate_at: Option<usize>| {
        let mut get_page = |_cpu: CpuId, i: usize| Some(PhysPage(i as u64));
        let mut count = 0;
        let mut populate = |_addr: usize| {
            count += 1;
            if Some(count) == fail_populate_at {
                Err(VmError { reason: "no page-table page" })
            } else {
                Ok(())
            }
        };
        let args = SetupArgs {
            get_page: &mut get_page,
            static_size: s,
            unit_size: Some(unit),
            free_size: None,
            base_addr: None,
            populate_pte: Some(&mut populate),
        };
        // SAFETY: TestVm maps real memory.
        unsafe { prepare_first_chunk(args, &cfg, vm) }
    };
    // No virtual range.
    let mut vm = TestVm { refuse_reserve: true, ..TestVm::default() };
    assert_eq!(attempt(&mut vm, None).err(), Some(SetupError::NoVirtualSpace { size: 2 * unit }));
    // The populate callback fails on the 11th page: the 10 mapped pages are unmapped, the range
    // released.
    let mut vm = TestVm::default();
    let err = attempt(&mut vm, Some(11)).unwrap_err();
    assert!(
        matches!(err, SetupError::PopulateFailed { cpu, .. } if cpu == CpuId::new(1)),
        "{err:?}"
    );
    assert_eq!((vm.mapped.len(), vm.unmapped.len(), vm.released), (10, 10, 1));
    // The map callback fails on the 5th page.
    let mut vm = TestVm { fail_map_at: Some(5), ..TestVm::default() };
    let err = attempt(&mut vm, None).unwrap_err();
    assert!(matches!(err, SetupError::MapFailed { cpu, .. } if cpu == CpuId::new(0)), "{err:?}");
    assert_eq!((vm.mapped.len(), vm.unmapped.len(), vm.released), (4, 4, 1));
    // A range below the template: the delta cannot be loaded into GS.base.
    let mut vm = TestVm { low_range: true, ..TestVm::default() };
    assert!(matches!(attempt(&mut vm, None).err(), Some(SetupError::BadDelta { .. })));
    assert_eq!((vm.mapped.len(), vm.released), (0, 1));
    // Corrected: everything mapped, nothing released.
    let mut vm = TestVm::default();
    let chunk = attempt(&mut vm, None).expect("corrected call");
    assert_eq!((vm.mapped.len(), vm.unmapped.len(), vm.released), (16, 0, 0));
    assert_eq!(chunk.origin(), first_chunk::Origin::Mapped);
}

#[test]
fn embed_refusals_give_all_memory_back() {
    ensure_platform();
    let possible = cpus(&[0, 1, 2, 3]);
    let cfg = SetupConfig::new(&possible);
    let node = |c: CpuId| c.as_u32() / 2;
    let distance = |a: CpuId, b: CpuId| if node(a) == node(b) { 10 } else { 20 };
    let params = LayoutParams {
        atom_size: 2 << 20,
        ..LayoutParams::linux_defaults(template::static_size())
    };
    let embed = |mem: &mut TestMemory, p: &LayoutParams| {
        // SAFETY: TestMemory hands out fresh leaked allocations.
        unsafe { first_chunk::embed_first_chunk(p, &cfg, Some(&distance), mem) }
    };
    // The second group's allocation fails: the first is given back.
    let mut mem = TestMemory { fail_at: Some(2), ..TestMemory::default() };
    assert_eq!(
        embed(&mut mem, &params).err(),
        Some(SetupError::OutOfMemory { group: 1, size: 2 << 20, align: 2 << 20 })
    );
    assert_eq!(mem.live(), 0);
    // Misaligned memory.
    let mut mem = TestMemory { misalign: true, ..TestMemory::default() };
    assert!(
        matches!(embed(&mut mem, &params).err(), Some(SetupError::MisalignedMemory { align, .. }) if align == 2 << 20)
    );
    assert_eq!(mem.live(), 0);
    // The layout itself refused.
    let bad = LayoutParams { atom_size: 3000, ..params };
    assert_eq!(
        embed(&mut TestMemory::default(), &bad).err(),
        Some(SetupError::Layout(LayoutError::BadAtomSize { atom_size: 3000, page_size: PAGE }))
    );
    let zero = LayoutParams { static_size: 0, ..params };
    assert_eq!(embed(&mut TestMemory::default(), &zero).err(), Some(SetupError::StaticSizeZero));
    // Corrected: two 2 MiB groups, atom-aligned, and only static + reserved + dynamic kept.
    let mut mem = TestMemory::default();
    let chunk = embed(&mut mem, &params).expect("corrected call");
    let ai = chunk.alloc_info();
    assert_eq!(ai.groups.len(), 2);
    for g in &ai.groups {
        assert_eq!((chunk.base_addr() + g.base_offset) % (2 << 20), 0, "groups are atom-aligned");
    }
    assert_eq!(mem.live(), 4 * ai.size_sum(), "unused units and unit tails were given back");
}

#[test]
fn page_refusals_give_all_pages_and_mappings_back() {
    ensure_platform();
    let possible = cpus(&[0, 1]);
    let cfg = SetupConfig::new(&possible);
    let params = LayoutParams::linux_defaults(template::static_size());
    let page = |m: &mut PageMachine| {
        // SAFETY: PageMachine maps real memory at reserved addresses.
        unsafe { first_chunk::page_first_chunk(&params, &cfg, m) }
    };
    let unit_pages = build_alloc_info(&params, &possible, None).unwrap().unit_size / PAGE;
    let mut m = PageMachine { page_limit: Some(unit_pages + 3), ..PageMachine::default() };
    assert_eq!(page(&mut m).err(), Some(SetupError::OutOfPages { cpu: CpuId::new(1), index: 3 }));
    assert_eq!(m.pages_live(), 0);
    let mut m = PageMachine {
        vm: TestVm { refuse_reserve: true, ..TestVm::default() },
        ..PageMachine::default()
    };
    assert!(matches!(page(&mut m).err(), Some(SetupError::NoVirtualSpace { .. })));
    assert_eq!(m.pages_live(), 0);
    let mut m = PageMachine { fail_populate_at: Some(7), ..PageMachine::default() };
    assert!(matches!(page(&mut m).err(), Some(SetupError::PopulateFailed { .. })));
    assert_eq!(
        (m.pages_live(), m.vm.mapped.len(), m.vm.unmapped.len(), m.vm.released),
        (0, 6, 6, 1)
    );
    let mut m = PageMachine {
        vm: TestVm { fail_map_at: Some(unit_pages + 2), ..TestVm::default() },
        ..PageMachine::default()
    };
    assert!(
        matches!(page(&mut m).err(), Some(SetupError::MapFailed { cpu, .. }) if cpu == CpuId::new(1))
    );
    assert_eq!((m.pages_live(), m.vm.unmapped.len(), m.vm.released), (0, unit_pages + 1, 1));
    // Corrected: every page of every unit mapped once, populate called for each.
    let mut m = PageMachine::default();
    let chunk = page(&mut m).expect("corrected call");
    assert_eq!(chunk.origin(), first_chunk::Origin::Page);
    assert_eq!(
        (m.vm.mapped.len(), m.populated, m.pages_live()),
        (2 * unit_pages, 2 * unit_pages, 2 * unit_pages)
    );
}

#[test]
fn a_mutable_seed_chunk_can_be_unmapped_and_repopulated() {
    ensure_platform();
    let s = template::static_size();
    let possible = cpus(&[0, 1]);
    let cfg = SetupConfig::new(&possible);
    let mut vm = TestVm::default();
    let mut get_page = |_cpu: CpuId, i: usize| Some(PhysPage(100 + i as u64));
    let args = SetupArgs {
        get_page: &mut get_page,
        static_size: s,
        unit_size: Some(32 << 10),
        free_size: None,
        base_addr: None,
        populate_pte: None,
    };
    // SAFETY: TestVm maps real memory.
    let mut chunk = unsafe { prepare_first_chunk(args, &cfg, &mut vm) }.unwrap();
    assert!(!chunk.is_immutable());
    let refused = first_chunk::refused_ops();
    // SAFETY: the chunk is not installed and nothing uses its units' pages 6..8 (or 5..9);
    // `vm` and `pages` are the callbacks it was built with.
    unsafe {
        let freed = chunk.unmap_pages(6..8, &mut vm).unwrap();
        assert_eq!(freed, [PhysPage(106), PhysPage(107), PhysPage(106), PhysPage(107)]);
        assert_eq!(vm.unmapped.len(), 4);
        let mut pages = PageMachine::default();
        chunk.populate(6..8, &mut pages, &mut vm).unwrap();
        assert_eq!((pages.allocated, vm.mapped.len()), (4, 16 + 4));
        chunk.depopulate(6..8, &mut pages, &mut vm).unwrap();
        assert_eq!(pages.pages_live(), 0);
        assert_eq!(
            chunk.map_pages(5..8, &[PhysPage(1)], &mut vm),
            Err(first_chunk::ChunkOpError::PageCount { given: 1, needed: 6 })
        );
        assert!(matches!(
            chunk.unmap_pages(7..9, &mut vm),
            Err(first_chunk::ChunkOpError::OutOfRange { unit_pages: 8, .. })
        ));
    }
    assert_eq!(first_chunk::refused_ops(), refused, "a mutable chunk refuses nothing");
}
