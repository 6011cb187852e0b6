//! Hole 5: ownership is never duplicated by the setup. What the booting thread does to per-CPU
//! statics before `Machine::boot` stays in the template: every CPU's copy starts as the declared
//! initial value, so a `Vec` pushed to before the boot is not shared by every CPU (each CPU's
//! `Vec` growing would free one buffer many times), and a counter bumped before the boot does
//! not count on every CPU.

use percpu_rt::hosted::{Machine, MachineConfig};
use percpu_rt::{IrqGuard, percpu};

#[percpu(local)]
static LOG: Vec<u64> = Vec::new();

#[percpu]
static COUNTER: u64 = 0;

#[test]
fn each_cpu_starts_from_the_declared_initial_value() {
    // Before the boot, on the template (as a boot CPU before setup).
    {
        let mut irq = IrqGuard::new();
        LOG.get_mut(&mut irq).push(42);
    }
    COUNTER.add(5);

    let machine = Machine::boot(MachineConfig::new(4)).expect("boot");
    machine.run(|cpu| {
        let mut irq = IrqGuard::new();
        let log = LOG.get_mut(&mut irq);
        assert!(log.is_empty(), "CPU {cpu} starts with an empty Vec, not the template's");
        for i in 0..1000 {
            log.push(i); // grows: reallocates its own buffer
        }
        drop(irq);
        assert_eq!(COUNTER.read(), 0, "CPU {cpu} starts from 0, not the template's 5");
        COUNTER.inc();
    });
    assert_eq!(COUNTER.iter_possible().sum::<u64>(), 4);
    machine.run(|_| {
        let mut irq = IrqGuard::new();
        let log = LOG.get_mut(&mut irq);
        assert_eq!(log.len(), 1000);
        *log = Vec::new(); // frees this CPU's buffer, once
    });
}
