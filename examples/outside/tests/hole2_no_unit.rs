//! Hole 2: code without a per-CPU unit (base register 0) must not reach memory it does not own.
//!
//! * A dynamic object's current-CPU access on such code fails cleanly: a panic naming the
//!   problem where the template is still readable (the kernel case: set up the first chunk
//!   without a hosted machine, then touch a box from the boot thread before loading a base).
//! * On a hosted machine, after `Machine::boot`, every per-CPU access from a thread that is not
//!   a CPU (the booting thread, a test thread) stops the process with a message that says what
//!   to do, instead of silently reaching the template or unrelated memory.

use percpu_outside::{aborted_with, in_child};
use percpu_rt::allocator::PerCpuBox;
use percpu_rt::hosted::{Machine, MachineConfig};
use percpu_rt::mode::ByValue;
use percpu_rt::{CpuId, percpu};

#[percpu]
static COUNTER: u64 = 0;

const NOT_A_CPU: &str = "from a thread that is not a CPU of the hosted machine";

#[test]
fn a_box_written_from_the_booting_thread_stops_the_process() {
    let Some(out) = in_child("a_box_written_from_the_booting_thread_stops_the_process", || {
        let _machine = Machine::boot(MachineConfig::new(2)).expect("boot");
        let b = PerCpuBox::<u64, ByValue>::new(0).expect("allocate");
        b.write(0xdead_beef); // must not land in some other memory
        unreachable!("the write from a thread that is not a CPU went through");
    }) else {
        return;
    };
    assert!(aborted_with(&out, NOT_A_CPU), "{out:?}");
    assert!(aborted_with(&out, "Machine::run_on"), "the message says what to do: {out:?}");
}

#[test]
fn a_static_read_from_the_main_thread_after_boot_stops_the_process() {
    let Some(out) =
        in_child("a_static_read_from_the_main_thread_after_boot_stops_the_process", || {
            let machine = Machine::boot(MachineConfig::new(2)).expect("boot");
            machine.run(|_| COUNTER.inc());
            // Remote reads are fine from any thread.
            assert_eq!(COUNTER.iter_possible().sum::<u64>(), 2);
            let _ = COUNTER.read(); // a current-CPU access without a CPU
            unreachable!("the read from a thread that is not a CPU went through");
        })
    else {
        return;
    };
    assert!(aborted_with(&out, "`hole2_no_unit::COUNTER`"), "{out:?}");
    assert!(aborted_with(&out, NOT_A_CPU), "{out:?}");
}

#[test]
fn cpu_id_current_from_the_main_thread_after_boot_stops_the_process() {
    let name = "cpu_id_current_from_the_main_thread_after_boot_stops_the_process";
    let Some(out) = in_child(name, || {
        let _machine = Machine::boot(MachineConfig::new(2)).expect("boot");
        let id = CpuId::current();
        unreachable!("the main thread claims to be {id:?}");
    }) else {
        return;
    };
    assert!(aborted_with(&out, NOT_A_CPU), "{out:?}");
}

#[test]
fn on_a_cpu_the_same_box_works() {
    let Some(out) = in_child("on_a_cpu_the_same_box_works", || {
        let machine = Machine::boot(MachineConfig::new(2)).expect("boot");
        let b = PerCpuBox::<u64, ByValue>::new(0).expect("allocate");
        machine.run(|_| b.write(0xdead_beef));
        assert!(b.iter_possible().all(|v| v == 0xdead_beef));
    }) else {
        return;
    };
    assert!(out.status.success(), "{out:?}");
}
