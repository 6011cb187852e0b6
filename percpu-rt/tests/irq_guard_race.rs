//! Two threads that share one base register race for its `IrqGuard`, without the hosted
//! machine: before any setup every thread runs on the template and the default platform masks
//! nothing, so the claim itself must be exclusive (one atomic exchange on the CPU's flag). An
//! outside program once held two guards at once in about a quarter of 200,000 rounds and lost
//! updates to a `local` static; here every round that got a guard must be counted exactly once.
//!
//! Runs with and without the `hosted` feature (`cargo test -p percpu-rt --no-default-features
//! --test irq_guard_race` is the case that matters: no machine at all).

use std::sync::Barrier;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

use percpu_rt::{IrqGuard, percpu};

#[percpu(local)]
static COUNT: [u64; 1] = [0];

const ROUNDS: usize = 200_000;

#[test]
fn threads_sharing_a_base_never_hold_its_irq_guard_together() {
    let holders = AtomicUsize::new(0);
    let overlaps = AtomicUsize::new(0);
    let granted = AtomicUsize::new(0);
    let start = Barrier::new(2);
    thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                start.wait();
                for _ in 0..ROUNDS {
                    if let Ok(mut guard) = IrqGuard::try_new() {
                        if holders.fetch_add(1, Ordering::SeqCst) != 0 {
                            overlaps.fetch_add(1, Ordering::SeqCst);
                        }
                        COUNT.get_mut(&mut guard)[0] += 1;
                        granted.fetch_add(1, Ordering::Relaxed);
                        holders.fetch_sub(1, Ordering::SeqCst);
                    }
                }
            });
        }
    });
    assert_eq!(overlaps.load(Ordering::SeqCst), 0, "two live IrqGuards on one CPU");
    let granted = granted.load(Ordering::Relaxed) as u64;
    assert!(granted > 0, "no round got the guard");
    let mut guard = IrqGuard::new();
    assert_eq!(COUNT.get_mut(&mut guard)[0], granted, "an update under a guard was lost");
}
