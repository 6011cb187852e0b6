//! `PerCpuCounter` and `PerCpuRef` from outside the project, through the public API only, used
//! the way a kernel uses them and then pushed at their edges in safe code: folds racing with
//! sums and sets, limits hammered from every CPU, a kill inside a guard, twice, extra puts,
//! references forgotten, a release that panics, and per-CPU access from a thread that is not
//! a CPU (which stops the process with a message, in a child process here).

use core::cmp::Ordering;
use percpu_outside::{aborted_with, in_child};
use percpu_rt::counter::CounterError;
use percpu_rt::hosted::{Machine, MachineConfig};
use percpu_rt::refcount::{RefError, StartMode};
use percpu_rt::{CpuId, PerCpuCounter, PerCpuCounters, PerCpuRef, PreemptGuard, Ref};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering as Mem};

fn machine() -> &'static Machine {
    Machine::boot(MachineConfig::new(4)).expect("boot")
}

#[test]
fn a_counter_is_exact_under_every_cpu_at_once() {
    let m = machine();
    let pages = PerCpuCounter::new(0).unwrap();
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        // Sums and sets from a thread that is not a CPU, while the CPUs add.
        s.spawn(|| {
            let mut last = i64::MIN;
            while !stop.load(Mem::Acquire) {
                let now = pages.sum();
                assert!(now >= last, "the sum went back: {last} -> {now}");
                last = now;
            }
        });
        m.run(|cpu| {
            for i in 0..50_000 {
                pages.add(i % 7 + i64::from(cpu.as_u32()));
            }
        });
        stop.store(true, Mem::Release);
    });
    let per_cpu: i64 = (0..50_000).map(|i| i % 7).sum();
    let want = 4 * per_cpu + 50_000 * (1 + 2 + 3);
    assert_eq!(pages.sum(), want);
    assert_eq!(pages.compare(want), Ordering::Equal);
    assert_eq!(pages.compare(i64::MIN), Ordering::Greater);
    pages.set(-5);
    assert_eq!((pages.sum(), pages.sum_positive()), (-5, 0));
}

#[test]
fn a_limit_holds_against_every_cpu() {
    let m = machine();
    let quota = PerCpuCounter::with_batch(0, 8).unwrap();
    m.run(|_| while quota.limited_add(1000, 3) {});
    let used = quota.sum();
    assert!(used <= 1000 && used > 1000 - 3 * 4 * 2, "{used}");
    // Freeing down to a floor of 0, from every CPU: exactly to the floor or one step above.
    m.run(|_| while quota.limited_add(0, -2) {});
    assert!((0..2).contains(&quota.sum()), "{}", quota.sum());
}

#[test]
fn counters_of_one_allocation_and_bad_batches() {
    let m = machine();
    let pair = PerCpuCounters::<2>::with_batch([10, 20], 4).unwrap();
    let [a, b] = &*pair;
    m.run(|_| {
        a.inc();
        b.sub(2);
    });
    assert_eq!((a.sum(), b.sum()), (14, 12));
    let e = PerCpuCounter::with_batch(0, 0).unwrap_err();
    assert_eq!(e, CounterError::Batch { batch: 0 });
    assert!(e.to_string().contains("give a batch in 1..="), "{e}");
}

struct Device {
    in_use: AtomicU32,
    gone: AtomicU32,
}

fn device() -> Device {
    Device { in_use: AtomicU32::new(0), gone: AtomicU32::new(0) }
}

fn unplugged(d: &Device) {
    assert_eq!(d.in_use.load(Mem::SeqCst), 0, "released while in use");
    d.gone.fetch_add(1, Mem::SeqCst);
}

#[test]
fn a_reference_count_dies_once_while_every_cpu_uses_it() {
    let m = machine();
    let dev = PerCpuRef::new(device(), unplugged).unwrap();
    std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(std::time::Duration::from_millis(2));
            dev.kill().unwrap();
            assert!(dev.tryget_live().is_none());
        });
        m.run(|_| {
            while let Some(r) = dev.tryget_live() {
                r.in_use.fetch_add(1, Mem::SeqCst);
                let another = r.clone();
                r.in_use.fetch_sub(1, Mem::SeqCst);
                drop(r);
                drop(another);
            }
        });
    });
    assert_eq!(dev.data().gone.load(Mem::SeqCst), 1);
    assert!(dev.is_zero() && dev.is_released());
}

#[test]
fn misuse_is_an_error_not_a_crash() {
    let m = machine();
    let dev = PerCpuRef::new(device(), unplugged).unwrap();
    m.run_on(CpuId::new(2), || {
        let guard = PreemptGuard::new();
        assert_eq!(dev.kill(), Err(RefError::InPinnedSection));
        drop(guard);
    });
    // Killing twice, resurrecting a live one, reinit with references held.
    let held = m.run_on(CpuId::new(1), || dev.get());
    assert_eq!(dev.resurrect(), Err(RefError::NotDead));
    dev.kill().unwrap();
    assert_eq!(dev.kill(), Err(RefError::AlreadyDead));
    assert_eq!(dev.reinit(), Err(RefError::NotZero { count: 1 }));
    // A reference forgotten keeps the object alive forever: no release, no crash.
    std::mem::forget(held);
    assert!(!dev.is_released());
    // Puts of references never taken: refused once nothing is left to drop.
    assert_eq!(dev.put(), Ok(()));
    assert!(dev.is_released());
    assert_eq!(dev.put(), Err(RefError::BelowZero { count: -1 }));
    assert!(RefError::BelowZero { count: -1 }.to_string().contains("Ref::leak"));
    assert_eq!(dev.data().gone.load(Mem::SeqCst), 1);
    // A new life, started in atomic mode and switched to per-CPU by hand.
    dev.reinit().unwrap();
    let leaked = Ref::leak(m.run_on(CpuId::new(3), || dev.get()));
    dev.switch_to_atomic().unwrap();
    dev.switch_to_percpu().unwrap();
    assert!(dev.is_percpu());
    m.run_on(CpuId::new(0), || leaked.put()).unwrap();
    dev.kill().unwrap();
    assert_eq!(dev.data().gone.load(Mem::SeqCst), 2);
}

fn panicking_release(_: &()) {
    panic!("the release panicked");
}

#[test]
fn a_panicking_release_runs_once_and_leaves_the_count_usable() {
    machine();
    let r = PerCpuRef::with_mode((), panicking_release, StartMode::Atomic).unwrap();
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| r.kill()));
    assert!(caught.is_err(), "the release's panic reaches the caller of the last put");
    assert!(r.is_released() && r.is_zero());
    // No second release for this life, whatever happens next.
    drop(r.get());
    assert!(r.reinit().is_ok());
}

#[test]
fn per_cpu_counting_from_a_thread_that_is_not_a_cpu_stops_cleanly() {
    let Some(out) =
        in_child("per_cpu_counting_from_a_thread_that_is_not_a_cpu_stops_cleanly", || {
            machine();
            let r = PerCpuRef::new((), |_| {}).unwrap();
            drop(r.get()); // per-CPU mode, on the test's thread: no unit
        })
    else {
        return;
    };
    assert!(aborted_with(&out, "Machine::run_on"), "{out:?}");
    // In atomic mode nothing per-CPU is touched: any thread may count.
    machine();
    let r = PerCpuRef::atomic_only((), |_| {});
    drop(r.get());
    r.kill().unwrap();
    assert!(r.is_released());
}
