//! `PerCpuBox` on the hosted machine: the accessors of a static work on a dynamic object
//! (one-instruction scalar ops through the base register, pinned and remote access), every
//! CPU's copy is initialised by `new`, `new_with` and `zeroed` (and their batch forms), and
//! dropping the box drops every copy and frees the area.

use percpu_rt::allocator::{self, AllocError, PerCpuBox};
use percpu_rt::hosted::{Machine, MachineConfig};
use percpu_rt::mode::{ByValue, Local};
use percpu_rt::{CpuId, IrqGuard, PreemptGuard};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

const CPUS: u32 = 3;

/// Boots once; the returned guard keeps this binary's tests one at a time (they compare the
/// global live-allocation count).
fn machine() -> (&'static Machine, std::sync::MutexGuard<'static, ()>) {
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    (boot(), serial)
}

fn boot() -> &'static Machine {
    static M: OnceLock<&'static Machine> = OnceLock::new();
    M.get_or_init(|| {
        let m = Machine::boot(MachineConfig::new(CPUS)).expect("boot the hosted machine");
        assert!(
            allocator::is_initialized(),
            "the first-chunk setup hands its chunk to the allocator"
        );
        m
    })
}

fn live() -> u64 {
    allocator::stats().unwrap().global.nr_cur_alloc
}

#[test]
fn scalar_box_has_the_one_instruction_ops() {
    let (m, _serial) = machine();
    let before = live();
    let b = PerCpuBox::<u64, ByValue>::new(5).unwrap();
    m.run(|cpu| {
        for _ in 0..1000 {
            b.inc();
        }
        b.add(u64::from(cpu.as_u32()));
        assert_eq!(b.read(), 1005 + u64::from(cpu.as_u32()));
        assert_eq!(
            b.cmpxchg(1005 + u64::from(cpu.as_u32()), 1),
            Ok(1005 + u64::from(cpu.as_u32()))
        );
        assert_eq!(b.xchg(2), 1);
        b.sub(1);
        assert_eq!(b.add_return(9), 10);
    });
    assert_eq!(b.iter_possible().collect::<Vec<_>>(), vec![10; CPUS as usize]);
    assert_eq!(live(), before + 1);
    drop(b);
    assert_eq!(live(), before);
    allocator::verify().unwrap();
}

#[test]
fn new_with_initialises_every_cpu_and_remote_access_sees_it() {
    let (m, _serial) = machine();
    let b = PerCpuBox::<AtomicU64>::new_with(|cpu| AtomicU64::new(100 + u64::from(cpu.as_u32())))
        .unwrap();
    for (cpu, v) in b.iter_possible() {
        assert_eq!(v.load(Ordering::Relaxed), 100 + u64::from(cpu.as_u32()));
    }
    m.run(|cpu| {
        let guard = PreemptGuard::new();
        let mine = b.get(&guard);
        assert_eq!(mine.load(Ordering::Relaxed), 100 + u64::from(cpu.as_u32()));
        mine.fetch_add(1, Ordering::Relaxed);
    });
    assert_eq!(b.remote(CpuId::new(2)).load(Ordering::Relaxed), 103);
    assert!(b.try_remote(CpuId::new(CPUS)).is_err());
}

#[test]
fn zeroed_and_local_boxes() {
    let (m, _serial) = machine();
    let z = PerCpuBox::<[u64; 64]>::zeroed().unwrap();
    for (_, v) in z.iter_possible() {
        assert!(v.iter().all(|&x| x == 0));
    }
    let l = PerCpuBox::<Vec<u32>, Local>::new(Vec::new()).unwrap();
    m.run(|cpu| {
        let mut guard = IrqGuard::new();
        l.get_mut(&mut guard).push(cpu.as_u32());
        assert_eq!(l.get(&guard).as_slice(), &[cpu.as_u32()]);
    });
}

/// Counts drops of every copy.
#[derive(Clone)]
struct Tracked(&'static AtomicUsize);

impl Drop for Tracked {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

#[test]
fn drop_runs_for_every_copy_then_frees() {
    let _serial = machine();
    static DROPS: AtomicUsize = AtomicUsize::new(0);
    let before = live();
    let b = PerCpuBox::<Tracked>::new(Tracked(&DROPS)).unwrap();
    // `new` cloned the value into every CPU's copy and dropped the argument.
    assert_eq!(DROPS.load(Ordering::Relaxed), 1);
    let after_new = DROPS.load(Ordering::Relaxed);
    drop(b);
    assert_eq!(DROPS.load(Ordering::Relaxed) - after_new, CPUS as usize);
    assert_eq!(live(), before);
}

#[test]
fn illegal_types_are_errors_not_panics() {
    let _serial = machine();
    #[repr(align(8192))]
    struct Huge(#[allow(dead_code)] u8);
    assert!(matches!(
        PerCpuBox::<Huge>::new_with(|_| Huge(0)),
        Err(AllocError::AlignTooLarge { .. })
    ));
    assert!(matches!(PerCpuBox::<()>::new(()), Err(AllocError::ZeroSize)));
    assert!(matches!(PerCpuBox::<[u8; 40 << 10]>::zeroed(), Err(AllocError::TooLarge { .. })));
    allocator::verify().unwrap();
}

#[test]
fn raw_pointers_use_the_static_encoding() {
    let (m, _serial) = machine();
    let p = allocator::alloc(16, 8).unwrap();
    m.run(|cpu| {
        // This CPU's copy through the base register equals the table's offset for it.
        assert_eq!(p.this_cpu_ptr(), p.ptr_on(cpu).unwrap());
    });
    for cpu in percpu_rt::possible_cpus() {
        let q = p.ptr_on(cpu).unwrap();
        assert_eq!(q as usize, p.ptr().addr() + percpu_rt::cpu_offset(cpu).unwrap());
    }
    let raw = p.into_raw();
    // SAFETY: `raw` came from `into_raw` and nothing else owns it; the second call is the
    // double free the allocator's checks must refuse.
    unsafe {
        allocator::free_raw(raw).unwrap();
        assert!(matches!(allocator::free_raw(raw), Err(allocator::FreeError::NotAllocated { .. })));
    }
}

#[test]
fn batches_of_boxes_and_areas() {
    let (m, _serial) = machine();
    let before = live();
    let boxes = PerCpuBox::<u64, ByValue>::new_many_with(50, |i, cpu| {
        i as u64 * 10 + u64::from(cpu.as_u32())
    })
    .unwrap();
    assert_eq!((boxes.len(), live()), (50, before + 50));
    m.run(|cpu| {
        for (i, b) in boxes.iter().enumerate() {
            assert_eq!(b.read(), i as u64 * 10 + u64::from(cpu.as_u32()));
            b.inc();
        }
    });
    for (i, b) in boxes.iter().enumerate() {
        let want: Vec<u64> = (0..CPUS).map(|c| i as u64 * 10 + u64::from(c) + 1).collect();
        assert_eq!(b.iter_possible().collect::<Vec<_>>(), want);
    }
    drop(boxes);
    let zeroed = PerCpuBox::<[u64; 4]>::zeroed_many(7).unwrap();
    assert!(zeroed.iter().all(|z| z.iter_possible().all(|(_, v)| *v == [0; 4])));
    let shared = PerCpuBox::<Vec<u8>>::new_many(3, vec![9; 5]).unwrap();
    assert!(shared.iter().all(|b| b.iter_possible().all(|(_, v)| *v == [9; 5])));
    drop((zeroed, shared));
    assert_eq!(live(), before);

    // Raw areas in one batch on CPU 1, written there, freed on CPU 2 (into its cache).
    let areas = m.run_on(CpuId::new(1), || {
        let areas = allocator::alloc_many(20, 24, 8).unwrap();
        for a in &areas {
            // SAFETY: this CPU's copy of a fresh area of 24 bytes.
            unsafe { core::ptr::write_bytes(a.this_cpu_ptr(), 0xEE, 24) };
        }
        areas
    });
    let mut addrs: Vec<usize> = areas.iter().map(|a| a.ptr().addr()).collect();
    addrs.sort_unstable();
    assert!(addrs.windows(2).all(|w| w[0] + 24 <= w[1]), "areas overlap");
    for a in &areas {
        for cpu in percpu_rt::possible_cpus() {
            // SAFETY: a live area of 24 bytes in every unit, written only on CPU 1 above.
            let bytes = unsafe { core::slice::from_raw_parts(a.ptr_on(cpu).unwrap(), 24) };
            let want = if cpu == CpuId::new(1) { 0xEE } else { 0 };
            assert!(bytes.iter().all(|&b| b == want));
        }
    }
    let cache_frees = allocator::stats().unwrap().global.nr_cache_dealloc;
    m.run_on(CpuId::new(2), move || drop(areas));
    assert_eq!(allocator::stats().unwrap().global.nr_cache_dealloc, cache_frees + 20);
    assert_eq!(live(), before);

    // Several shapes in one batch.
    let layouts = [
        std::alloc::Layout::new::<u64>(),
        std::alloc::Layout::new::<[u32; 3]>(),
        std::alloc::Layout::from_size_align(100, 64).unwrap(),
    ];
    let mixed = allocator::alloc_layouts(&layouts).unwrap();
    for (a, l) in mixed.iter().zip(&layouts) {
        assert_eq!(a.ptr().addr() % l.align(), 0);
    }
    drop(mixed);

    // A refused batch changes nothing.
    let stats = allocator::stats().unwrap();
    assert_eq!(allocator::alloc_many(3, 0, 8).map(|v| v.len()), Err(AllocError::ZeroSize));
    let bad = [layouts[0], std::alloc::Layout::from_size_align(8, 16384).unwrap()];
    assert!(matches!(allocator::alloc_layouts(&bad), Err(AllocError::AlignTooLarge { .. })));
    assert_eq!(allocator::stats().unwrap(), stats);

    // An initialiser that panics in the middle of a batch: the boxes built so far drop every
    // copy, nothing stays allocated.
    static DROPS: AtomicUsize = AtomicUsize::new(0);
    let r = std::panic::catch_unwind(|| {
        PerCpuBox::<Tracked>::new_many_with(5, |i, _| {
            assert!(i != 3, "initialiser fails for box 3");
            Tracked(&DROPS)
        })
    });
    assert!(r.is_err());
    assert_eq!(DROPS.load(Ordering::Relaxed), 3 * CPUS as usize);
    assert_eq!(live(), before);
    allocator::verify().unwrap();
}
