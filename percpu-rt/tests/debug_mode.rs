//! The debug mode (feature `debug-checks`) on a hosted machine: each misuse it knows, done on
//! purpose, is reported through the platform's hook with the variable, the CPUs and the call
//! site; correct code is never reported. The platform here records each report and then panics,
//! as the default hook does, so that nothing runs on after a misuse.
#![cfg(feature = "debug-checks")]

use percpu_rt::debug::{DebugReport, Variable};
use percpu_rt::hosted::{Machine, MachineConfig};
use percpu_rt::{CpuId, IrqGuard, Platform, PreemptGuard, first_chunk, percpu};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex;

#[percpu]
static PACKETS: u64 = 0;

#[percpu]
static QUEUE: core::sync::atomic::AtomicU32 = core::sync::atomic::AtomicU32::new(0);

/// Records every report, then panics with its message. Pinned only by the guards (`pinned` is
/// left to the default: the platform cannot tell).
struct Recording(Mutex<Vec<DebugReport>>);

// SAFETY: the machine's CPUs are hosted threads that never migrate and take no interrupts.
unsafe impl Platform for Recording {
    fn preempt_disable(&self) {}
    fn preempt_enable(&self) {}
    fn irq_save(&self) -> usize {
        0
    }
    fn irq_restore(&self, _saved: usize) {}
    fn report(&self, report: &DebugReport) {
        self.0.lock().unwrap().push(*report);
        panic!("{report}");
    }
}

static PLATFORM: Recording = Recording(Mutex::new(Vec::new()));

/// Runs `f`, which must be reported: returns the one report and its message.
fn reported(f: impl FnOnce()) -> (DebugReport, String) {
    let before = PLATFORM.0.lock().unwrap().len();
    let payload = catch_unwind(AssertUnwindSafe(f)).expect_err("the misuse must be reported");
    let text = payload.downcast_ref::<String>().cloned().expect("the report's message");
    let reports = PLATFORM.0.lock().unwrap();
    assert_eq!(reports.len(), before + 1, "one report: {text}");
    (reports[before], text)
}

fn quiet() -> usize {
    PLATFORM.0.lock().unwrap().len()
}

const PACKETS_VAR: Variable = Variable::Static { module_path: "debug_mode", name: "PACKETS" };

#[test]
fn every_misuse_is_reported_with_its_variable_cpus_and_call_site() {
    percpu_rt::set_platform(&PLATFORM).expect("the first platform");
    let machine = Machine::boot(MachineConfig::new(2)).expect("boots");
    let (cpu0, cpu1) = (CpuId::new(0), CpuId::new(1));
    let this_file = file!();

    machine.run_on(cpu0, || {
        // Correct code is quiet: operations, guarded access, a pointer under a guard, nested
        // guards dropped in order.
        let before = quiet();
        PACKETS.add(3);
        let pin = PreemptGuard::new();
        QUEUE.get(&pin).fetch_add(1, core::sync::atomic::Ordering::Relaxed);
        let _ = PACKETS.this_cpu_ptr();
        let irq = IrqGuard::new();
        drop(irq);
        drop(pin);
        assert_eq!(quiet(), before, "correct code is never reported");

        // A current-CPU pointer with nothing pinning the CPU.
        let (report, text) = reported(|| {
            let _ = PACKETS.this_cpu_ptr();
        });
        let DebugReport::NotPinned { variable, cpu, at } = report else { panic!("{report:?}") };
        assert_eq!((variable, cpu, at.file()), (PACKETS_VAR, cpu0, this_file));
        assert!(text.contains("this_cpu_ptr of `debug_mode::PACKETS`"), "{text}");
        assert!(text.contains("take a PreemptGuard"), "{text}");

        // Guards dropped out of order: reported once, at the first wrong drop.
        let outer = PreemptGuard::new();
        let inner = PreemptGuard::new();
        let (report, text) = reported(move || drop(outer));
        let DebugReport::OutOfOrder { cpu, depth, live, taken_at } = report else {
            panic!("{report:?}")
        };
        assert_eq!((cpu, depth, live, taken_at.file()), (cpu0, 0, 2, this_file));
        assert!(text.contains("reverse order"), "{text}");
        let before = quiet();
        drop(inner);
        let _pinned_again = PreemptGuard::new();
        let _ = PACKETS.this_cpu_ptr();
        assert_eq!(quiet(), before, "the count is right again after one report");
    });

    machine.run_on(cpu0, || {
        // A migration under a guard (a platform whose pin does not pin): the guard is taken on
        // CPU 0, then the code finds itself on CPU 1.
        let pin = PreemptGuard::new();
        let guard_line = line!() - 1;
        // SAFETY: CPU 1's thread is idle (run_on runs one CPU at a time here); this thread plays
        // CPU 1 until it loads CPU 0's base back below, and holds no reference into a copy.
        unsafe { first_chunk::load_base(cpu1).unwrap() };
        let (report, text) = reported(|| {
            QUEUE.get(&pin);
        });
        let DebugReport::Migrated { variable, taken_on, now_on, taken_at, at } = report else {
            panic!("{report:?}")
        };
        assert_eq!(variable, Variable::Static { module_path: "debug_mode", name: "QUEUE" });
        assert_eq!((taken_on, now_on), (cpu0, cpu1));
        assert_eq!((taken_at.file(), taken_at.line()), (this_file, guard_line));
        assert_eq!(at.file(), this_file);
        assert!(text.contains("taken on CPU 0"), "{text}");
        assert!(text.contains("on CPU 1"), "{text}");
        // And at the guard's drop.
        let (report, _) = reported(move || drop(pin));
        assert!(
            matches!(report, DebugReport::Migrated { variable: Variable::None, .. }),
            "{report:?}"
        );
        // SAFETY: back to this thread's own CPU.
        unsafe { first_chunk::load_base(cpu0).unwrap() };

        // A base register that is no CPU's offset: reported before the access reaches memory.
        let offset = percpu_rt::cpu_offset(cpu0).unwrap();
        // SAFETY: the base points into CPU 0's unit, 8 bytes on; the access below is reported
        // (and panics) before it is made; the base is restored right after.
        unsafe { percpu_rt::arch::write_base(offset + 8) };
        let (report, text) = reported(|| PACKETS.inc());
        // SAFETY: back to this CPU's offset.
        unsafe { percpu_rt::arch::write_base(offset) };
        let DebugReport::NoUnit { variable, offset: base, at } = report else {
            panic!("{report:?}")
        };
        assert_eq!((variable, base, at.file()), (PACKETS_VAR, offset + 8, this_file));
        assert!(text.contains("no possible CPU's offset"), "{text}");
        assert_eq!(PACKETS.read(), 3, "nothing was written through the wrong base");
    });

    // A thread that is no CPU of the machine (its base register was never loaded).
    std::thread::spawn(|| {
        let (report, text) = reported(|| {
            PACKETS.read();
        });
        let DebugReport::BaseNotLoaded { variable, at } = report else { panic!("{report:?}") };
        assert_eq!((variable, at.file()), (PACKETS_VAR, file!()));
        assert!(text.contains("call first_chunk::load_base"), "{text}");
    })
    .join()
    .unwrap();

    // Each CPU ran correct code after the reports: nothing leaked into another CPU's copy.
    assert_eq!((PACKETS.read_on(cpu0), PACKETS.read_on(cpu1)), (3, 0));
}
