//! Issue 13, item 7: what an outside user missed. A by-value static written on another CPU
//! (`write_on`, Linux's `per_cpu(x, cpu) = v`), a copy put back to its initial value
//! (`reset_to_init`, by value and local, with and without a per-CPU initialiser), and a static's
//! offset in the unit and its registry entry. (The tests run at once: each has its statics.)

use percpu_rt::hosted::{Machine, MachineConfig};
use percpu_rt::{CpuId, IrqGuard, percpu};

#[percpu]
static LIMIT: u64 = 100;

#[percpu]
static BUDGET: u64 = 100;

#[percpu(init = |cpu| 10 * cpu.as_u32())]
static QUOTA: u32 = 0;

#[percpu(local)]
static NAMES: Vec<&'static str> = Vec::new();

#[percpu(local, init = |cpu| vec![cpu.as_u32(); 2])]
static HISTORY: Vec<u32> = Vec::new();

fn machine() -> &'static Machine {
    Machine::boot(MachineConfig::new(3)).expect("boot")
}

#[test]
fn another_cpus_copy_is_written_remotely() {
    let m = machine();
    let two = CpuId::new(2);
    LIMIT.write_on(two, 7);
    assert_eq!(LIMIT.read_on(two), 7);
    assert_eq!(m.run_on(two, || LIMIT.read()), 7, "the owner sees it");
    assert_eq!(LIMIT.read_on(CpuId::new(1)), 100, "no other copy changed");
    let err = LIMIT.try_write_on(CpuId::new(9), 1).unwrap_err();
    assert!(err.to_string().contains("CPU 9 is not a possible CPU"), "{err}");
    let panic = std::panic::catch_unwind(|| LIMIT.write_on(CpuId::new(9), 1)).unwrap_err();
    assert!(panic.downcast_ref::<String>().unwrap().contains("not a possible CPU"));
}

#[test]
fn copies_go_back_to_their_initial_values() {
    let m = machine();
    m.run(|cpu| {
        BUDGET.add(5);
        QUOTA.add(1);
        BUDGET.reset_to_init();
        QUOTA.reset_to_init();
        assert_eq!(BUDGET.read(), 100, "the declared value");
        assert_eq!(QUOTA.read(), 10 * cpu.as_u32(), "this CPU's initialiser's value");

        let mut irq = IrqGuard::new();
        NAMES.get_mut(&mut irq).push("eth0");
        HISTORY.get_mut(&mut irq).push(99);
        NAMES.reset_to_init(&mut irq);
        HISTORY.reset_to_init(&mut irq);
        assert!(NAMES.get(&irq).is_empty());
        assert_eq!(*HISTORY.get(&irq), vec![cpu.as_u32(); 2]);
    });
}

#[test]
fn a_static_knows_its_offset_and_its_registry_entry() {
    let m = machine();
    for (offset, descriptor) in [
        (LIMIT.offset(), LIMIT.descriptor()),
        (QUOTA.offset(), QUOTA.descriptor()),
        (NAMES.offset(), NAMES.descriptor()),
    ] {
        assert_eq!(offset, descriptor.offset());
        assert!(offset + descriptor.size() <= percpu_rt::template::static_size());
    }
    assert_eq!(LIMIT.descriptor().name(), "LIMIT");
    assert!(QUOTA.descriptor().has_init());
    // Every CPU's copy is at its unit's base plus the offset.
    let chunk = m.first_chunk();
    for cpu in m.cpus() {
        let unit = chunk.unit_addr(*cpu).expect("a unit");
        assert_eq!(LIMIT.ptr_on(*cpu) as usize, unit + LIMIT.offset());
    }
}
