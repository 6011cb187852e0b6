//! Issue 11, item 11: testing per-CPU code with the default test harness. Every test boots the
//! machine it needs with `Machine::boot`; the first call boots it and the others (with the same
//! configuration) get the same machine, concurrently or not. Each test runs its per-CPU code on
//! the machine's CPUs with `run_on`/`run`.

use percpu_rt::hosted::{BootError, Machine, MachineConfig};
use percpu_rt::{CpuId, percpu};

#[percpu]
static A: u64 = 0;

#[percpu]
static B: u64 = 0;

fn machine() -> &'static Machine {
    Machine::boot(MachineConfig::new(2)).expect("boot (or the machine booted already)")
}

#[test]
fn one_test_counts_on_its_own_static() {
    let m = machine();
    m.run(|_| A.add(10));
    assert_eq!(A.iter_possible().sum::<u64>(), 20);
}

#[test]
fn another_test_counts_on_another_static() {
    let m = machine();
    m.run_on(CpuId::new(1), || B.inc());
    assert_eq!((B.read_on(CpuId::new(0)), B.read_on(CpuId::new(1))), (0, 1));
}

#[test]
fn the_same_configuration_gets_the_same_machine_and_another_is_refused() {
    let m = machine();
    assert!(core::ptr::eq(m, machine()));
    let err = Machine::boot(MachineConfig::new(3)).expect_err("a machine runs already");
    assert!(matches!(err, BootError::AlreadyBooted { .. }), "{err:?}");
    assert!(err.to_string().contains("boots once per process"), "{err}");
}
