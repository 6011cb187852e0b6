//! Bringing the other CPUs up, and making all online CPUs run the checks at the same time.
//!
//! Every CPU moves through [`CpuState`]s that the boot CPU watches: the boot CPU starts the
//! CPUs to bring online, waits for each to report [`CpuState::Online`] (its base register
//! loaded), then releases them all at once with [`release`] and waits for each to report
//! [`CpuState::Done`]. Possible CPUs that are not brought online stay [`CpuState::Offline`].
//!
//! A CPU waiting for the release idles ([`Arch::idle`]: `hlt` on x86_64, woken by an NMI), and
//! a CPU whose work is done parks ([`Arch::park`]): under QEMU's emulation, spinning CPUs would
//! take host time from the ones still working (64 emulated CPUs on two host cores).

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU8, Ordering};

use percpu_rt::CpuId;

use crate::arch::arch;

/// Where a CPU is in the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum CpuState {
    /// Not started (possible CPUs that are not present, or beyond `maxcpus=`, stay here).
    Offline = 0,
    /// Running kernel code, per-CPU base register loaded.
    Online = 1,
    /// Released: doing its share of the concurrent work.
    Running = 2,
    /// Finished its share of the concurrent work.
    Done = 3,
}

static STATES: spin::Once<Box<[AtomicU8]>> = spin::Once::new();
static GO: AtomicBool = AtomicBool::new(false);

/// How long [`wait_for`] spins before giving up (about seconds under QEMU's emulation).
const WAIT_SPINS: u64 = 1 << 31;
/// Spins between two rounds of wake-ups for the CPUs that have not reacted to the release.
const WAKE_INTERVAL_SPINS: u64 = 1 << 14;
/// Rounds of wake-ups before [`release`] gives up (together about [`WAIT_SPINS`]).
const WAKE_ATTEMPTS: u64 = 1 << 17;

/// Sets up the state of `nr_cpus` (possible) CPUs (boot CPU, once).
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

/// Whether CPU `cpu` reached `state` (or a later one).
fn reached(cpu: CpuId, state: CpuState) -> bool {
    states()[cpu.as_usize()].load(Ordering::Acquire) >= state as u8
}

/// Waits until CPU `cpu` reached `state` (or a later one); `false` after about
/// [`WAIT_SPINS`] spins.
pub fn wait_for(cpu: CpuId, state: CpuState) -> bool {
    for _ in 0..WAIT_SPINS {
        if reached(cpu, state) {
            return true;
        }
        core::hint::spin_loop();
    }
    false
}

/// The CPUs among `cpus` that have not reached `state`.
pub fn lagging(cpus: &[CpuId], state: CpuState) -> Vec<CpuId> {
    cpus.iter().copied().filter(|&cpu| !reached(cpu, state)).collect()
}

/// Lets every CPU waiting in [`wait_for_release`] go: the CPUs of `online` (logical id, hardware
/// id) other than the caller are woken until each reports [`CpuState::Running`]. Returns the
/// CPUs that never did.
pub fn release(online: &[(CpuId, u64)]) -> Result<(), Vec<CpuId>> {
    GO.store(true, Ordering::Release);
    let me = CpuId::current();
    let mut waiting: Vec<(CpuId, u64)> =
        online.iter().copied().filter(|&(cpu, _)| cpu != me).collect();
    // A wake-up can arrive between a CPU's check of the flag and its idle instruction and be
    // lost: wake the CPUs that have not reacted again, round after round.
    for _ in 0..WAKE_ATTEMPTS {
        waiting.retain(|&(cpu, _)| !reached(cpu, CpuState::Running));
        if waiting.is_empty() {
            return Ok(());
        }
        for &(_, hw_id) in &waiting {
            arch().wake(hw_id);
        }
        for _ in 0..WAKE_INTERVAL_SPINS {
            core::hint::spin_loop();
        }
    }
    waiting.retain(|&(cpu, _)| !reached(cpu, CpuState::Running));
    if waiting.is_empty() { Ok(()) } else { Err(waiting.into_iter().map(|(cpu, _)| cpu).collect()) }
}

/// Idles until [`release`], then records that `cpu` (the caller) is running.
pub fn wait_for_release(cpu: CpuId) {
    while !GO.load(Ordering::Acquire) {
        arch().idle();
    }
    set(cpu, CpuState::Running);
}
