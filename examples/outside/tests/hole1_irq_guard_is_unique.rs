//! Hole 1: `IrqGuard` must be unique per CPU whatever threads share a base register: threads
//! that are not CPUs (before boot, they share the template), and a thread spawned by a CPU
//! thread (it inherits that CPU). Two threads racing for the guard never hold it at once, and
//! no update through `get_mut` is lost.

use percpu_rt::hosted::{Machine, MachineConfig};
use percpu_rt::{CpuId, IrqGuard, percpu};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

#[percpu(local)]
static C: [u64; 1] = [0];

const ROUNDS: u64 = 200_000;

/// Two threads (from `spawn`) each try `ROUNDS` times to take the guard and increment `C`;
/// returns the increments done. Panics if the two ever hold a guard at once.
fn race(spawn: impl Fn(&(dyn Fn() -> u64 + Sync)) -> [u64; 2]) -> u64 {
    let inside = AtomicBool::new(false);
    let body = || {
        let mut done = 0;
        for _ in 0..ROUNDS {
            if let Ok(mut g) = IrqGuard::try_new() {
                assert!(!inside.swap(true, Ordering::SeqCst), "two IrqGuards live on one CPU");
                C.get_mut(&mut g)[0] += 1;
                inside.store(false, Ordering::SeqCst);
                done += 1;
            }
        }
        done
    };
    spawn(&body).iter().sum()
}

#[test]
fn irq_guard_is_unique_for_threads_that_share_a_base() {
    // Before the boot: two plain threads, both on the template.
    let done = race(|body: &(dyn Fn() -> u64 + Sync)| {
        std::thread::scope(|s| {
            let a = s.spawn(body);
            let b = s.spawn(body);
            [a.join().unwrap(), b.join().unwrap()]
        })
    });
    let mut g = IrqGuard::new();
    assert_eq!(C.get_mut(&mut g)[0], done, "no increment lost on the template");
    drop(g);

    // After the boot: a CPU thread and a thread it spawned, both on CPU 1.
    let machine = Machine::boot(MachineConfig::new(2)).expect("boot");
    let total = AtomicU64::new(0);
    machine.run_on(CpuId::new(1), || {
        let done = race(|body: &(dyn Fn() -> u64 + Sync)| {
            std::thread::scope(|s| {
                let child = s.spawn(body); // inherits CPU 1's base register
                let here = body();
                [here, child.join().unwrap()]
            })
        });
        let mut g = IrqGuard::new();
        assert_eq!(C.get_mut(&mut g)[0], done, "no increment lost on CPU 1");
        total.store(done, Ordering::Relaxed);
    });
    assert!(total.load(Ordering::Relaxed) > 0);
}
