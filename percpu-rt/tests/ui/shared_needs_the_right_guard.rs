use core::cell::Cell;
use percpu_rt::{CpuId, PreemptGuard, percpu};

#[percpu]
static SCRATCH: Cell<u32> = Cell::new(0);

fn main() {
    // `Cell` is not `Sync`: an interrupt handler could use it meanwhile, so a preemption guard
    // is not enough (an IrqGuard is) ...
    let guard = PreemptGuard::new();
    SCRATCH.get(&guard).set(1);
    // ... and no other CPU may look at it.
    let _ = SCRATCH.remote(CpuId::new(1));
}
