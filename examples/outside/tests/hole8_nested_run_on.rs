//! Hole 8: `Machine::run_on(cpu)` from code that already runs on `cpu` can never start; it
//! returns an error (`try_run_on`) or panics with that error (`run_on`) instead of deadlocking,
//! directly, through another CPU, and from a thread the CPU thread spawned.

use percpu_rt::CpuId;
use percpu_rt::hosted::{Machine, MachineConfig, RunError};
use std::sync::mpsc;
use std::time::Duration;

/// Runs `f` on another thread and fails if it does not finish within a minute (a deadlock).
fn within_a_minute<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || tx.send(f()).unwrap());
    rx.recv_timeout(Duration::from_secs(60)).expect("deadlock: run_on never returned")
}

#[test]
fn nested_run_on_is_an_error_not_a_deadlock() {
    let machine = Machine::boot(MachineConfig::new(2)).expect("boot");
    let (c0, c1) = (CpuId::new(0), CpuId::new(1));
    within_a_minute(move || {
        // Directly.
        let r = machine.run_on(c0, || machine.try_run_on(c0, || ()));
        assert_eq!(r, Err(RunError::Nested { cpu: c0 }));
        // Through another CPU.
        let r = machine.run_on(c0, || machine.run_on(c1, || machine.try_run_on(c0, || ())));
        assert_eq!(r, Err(RunError::Nested { cpu: c0 }));
        // From a thread the CPU thread spawned (it inherits the CPU).
        let r = machine.run_on(c1, || {
            std::thread::scope(|s| s.spawn(|| machine.try_run_on(c1, || ())).join().unwrap())
        });
        assert_eq!(r, Err(RunError::Nested { cpu: c1 }));
        // The panicking form says why.
        let r = machine
            .run_on(c0, || std::panic::catch_unwind(|| machine.run_on(c0, || ())).unwrap_err());
        let text = r.downcast_ref::<String>().expect("a message");
        assert!(text.contains("could never start"), "{text}");
        // Not nested: fine.
        assert_eq!(machine.run_on(c0, || machine.run_on(c1, || 7)), 7);
        assert_eq!(
            machine.try_run_on(CpuId::new(9), || ()),
            Err(RunError::NotACpu { cpu: CpuId::new(9) })
        );
    });
}
