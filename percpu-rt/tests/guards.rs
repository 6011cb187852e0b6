//! The pin guards against a platform that counts its hooks: every guard calls them in balanced
//! pairs, the interrupt guard is unique per CPU (a second one on the same CPU is refused, with
//! interrupts left as they were) while other CPUs take theirs freely, preemption guards nest,
//! and the one-instruction scalar operations call no hook at all.

use core::sync::atomic::{AtomicIsize, AtomicUsize, Ordering};
use percpu_rt::hosted::{Machine, MachineConfig};
use percpu_rt::{CpuId, IrqGuard, IrqGuardHeld, PinCpu, Platform, PreemptGuard, percpu};

/// Counts hook calls; `irq_save` returns a distinct token per call so restores can be matched.
struct Counting {
    preempt_depth: AtomicIsize,
    preempt_calls: AtomicUsize,
    irq_saves: AtomicUsize,
    irq_restores: AtomicUsize,
}

// SAFETY: this test's "CPUs" are hosted threads that never migrate and take no interrupts, so
// counting is all a correct platform needs to do here.
unsafe impl Platform for Counting {
    fn preempt_disable(&self) {
        self.preempt_depth.fetch_add(1, Ordering::SeqCst);
        self.preempt_calls.fetch_add(1, Ordering::SeqCst);
    }
    fn preempt_enable(&self) {
        self.preempt_depth.fetch_sub(1, Ordering::SeqCst);
    }
    fn irq_save(&self) -> usize {
        self.irq_saves.fetch_add(1, Ordering::SeqCst) + 1000
    }
    fn irq_restore(&self, saved: usize) {
        assert!(saved >= 1000, "restore gets what save returned");
        self.irq_restores.fetch_add(1, Ordering::SeqCst);
    }
}

static PLATFORM: Counting = Counting {
    preempt_depth: AtomicIsize::new(0),
    preempt_calls: AtomicUsize::new(0),
    irq_saves: AtomicUsize::new(0),
    irq_restores: AtomicUsize::new(0),
};

#[percpu]
static COUNTER: u64 = 0;

#[percpu(local)]
static SCRATCH: [u32; 2] = [0; 2];

#[test]
fn guards_call_balanced_hooks_and_the_irq_guard_is_unique_per_cpu() {
    percpu_rt::set_platform(&PLATFORM).expect("first registration");
    assert!(percpu_rt::set_platform(&PLATFORM).is_err(), "the platform is registered once");
    let machine = Machine::boot(MachineConfig::new(2)).unwrap();

    machine.run_on(CpuId::new(0), || {
        // Scalar operations: one instruction, no hook.
        let before = PLATFORM.preempt_calls.load(Ordering::SeqCst);
        COUNTER.inc();
        COUNTER.add(2);
        assert_eq!(COUNTER.cmpxchg(3, 4), Ok(3));
        #[cfg(target_arch = "x86_64")]
        assert_eq!(PLATFORM.preempt_calls.load(Ordering::SeqCst), before);
        let _ = before;

        // Preemption guards nest; each disables once and enables once.
        let outer = PreemptGuard::new();
        let inner = PreemptGuard::new();
        assert_eq!(PLATFORM.preempt_depth.load(Ordering::SeqCst), 2);
        assert_eq!(inner.cpu(), CpuId::new(0));
        drop(inner);
        drop(outer);
        assert_eq!(PLATFORM.preempt_depth.load(Ordering::SeqCst), 0);

        // The interrupt guard is unique on this CPU.
        let mut irq = IrqGuard::new();
        let saves = PLATFORM.irq_saves.load(Ordering::SeqCst);
        assert_eq!(IrqGuard::try_new().err(), Some(IrqGuardHeld { cpu: CpuId::new(0) }));
        assert_eq!(PLATFORM.irq_saves.load(Ordering::SeqCst), saves + 1, "it tried");
        assert_eq!(
            PLATFORM.irq_restores.load(Ordering::SeqCst),
            saves,
            "the refused attempt restored what it saved"
        );
        let held = std::panic::catch_unwind(std::panic::AssertUnwindSafe(IrqGuard::new));
        let msg = held.unwrap_err();
        let msg = msg.downcast_ref::<String>().unwrap();
        assert!(msg.contains("an IrqGuard is already live on CPU 0"), "{msg}");
        SCRATCH.get_mut(&mut irq)[0] = 7;
        assert_eq!(SCRATCH.get(&irq)[0], 7);

        // Meanwhile CPU 1 takes its own.
        machine.run_on(CpuId::new(1), || {
            let mut other = IrqGuard::new();
            SCRATCH.get_mut(&mut other)[0] = 9;
        });
        drop(irq);
        // Released: it can be taken again.
        drop(IrqGuard::try_new().expect("free again"));
    });
    assert_eq!(
        PLATFORM.irq_saves.load(Ordering::SeqCst),
        PLATFORM.irq_restores.load(Ordering::SeqCst),
        "every save has its restore"
    );
    // SAFETY: both CPUs have stopped.
    let copies =
        unsafe { [(*SCRATCH.ptr_on(CpuId::new(0)))[0], (*SCRATCH.ptr_on(CpuId::new(1)))[0]] };
    assert_eq!(copies, [7, 9], "each CPU's local copy is its own");
    assert_eq!(COUNTER.read_on(CpuId::new(0)), 4);
}
