//! A library with per-CPU statics of its own: linked into any executable, they land in the same
//! `.percpu` template as the executable's, and show up in the same registry.

use percpu_rt::{CpuId, percpu};

/// Events handled on each CPU.
#[percpu]
pub static EVENTS: u64 = 0;

/// Each CPU's own number, written by a per-CPU initialiser at setup.
#[percpu(init = |cpu: CpuId| cpu.as_u32() * 100)]
pub static CPU_TAG: u32 = 7;

/// Counts one event on the current CPU.
pub fn record_event() {
    EVENTS.inc();
}
