//! Bringing the other CPUs up, and making all CPUs run the checks at the same time.
//!
//! Every CPU moves through [`CpuState`]s that the boot CPU watches: it starts one CPU at a
//! time and waits for it to report [`CpuState::Online`] (its base register loaded), then
//! releases all CPUs at once with [`release`] and waits for each to report
//! [`CpuState::Done`].

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU8, Ordering};

use percpu_rt::CpuId;

/// Where a CPU is in the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum CpuState {
    /// Not started.
    Offline = 0,
    /// Running kernel code, per-CPU base register loaded.
    Online = 1,
    /// Finished its share of the concurrent work.
    Done = 2,
}

static STATES: spin::Once<Box<[AtomicU8]>> = spin::Once::new();
static GO: AtomicBool = AtomicBool::new(false);

/// How long [`wait_for`] spins before giving up (about seconds under QEMU's emulation).
const WAIT_SPINS: u64 = 1 << 31;

/// Sets up the state of `nr_cpus` CPUs (boot CPU, once).
pub fn init(nr_cpus: usize) {
    STATES.call_once(|| (0..nr_cpus).map(|_| AtomicU8::new(CpuState::Offline as u8)).collect());
}

fn states() -> &'static [AtomicU8] {
    STATES.get().expect("smp::init runs before any CPU starts")
}

/// Records that this CPU (`cpu`) reached `state`.
pub fn set(cpu: CpuId, state: CpuState) {
    states()[cpu.as_usize()].store(state as u8, Ordering::Release);
}

/// Waits until CPU `cpu` reached `state` (or a later one); `false` after about
/// [`WAIT_SPINS`] spins.
pub fn wait_for(cpu: CpuId, state: CpuState) -> bool {
    let s = &states()[cpu.as_usize()];
    for _ in 0..WAIT_SPINS {
        if s.load(Ordering::Acquire) >= state as u8 {
            return true;
        }
        core::hint::spin_loop();
    }
    false
}

/// The CPUs that have not reached `state`.
pub fn lagging(state: CpuState) -> Vec<usize> {
    states()
        .iter()
        .enumerate()
        .filter(|(_, s)| s.load(Ordering::Acquire) < state as u8)
        .map(|(i, _)| i)
        .collect()
}

/// Lets every CPU waiting in [`wait_for_release`] go.
pub fn release() {
    GO.store(true, Ordering::Release);
}

/// Waits for [`release`].
pub fn wait_for_release() {
    while !GO.load(Ordering::Acquire) {
        core::hint::spin_loop();
    }
}
