use percpu_rt::{IrqGuard, percpu};

#[percpu(local)]
static SLOTS: [u64; 4] = [0; 4];

fn main() {
    let mut guard = IrqGuard::new();
    let a = SLOTS.get_mut(&mut guard);
    let b = SLOTS.get_mut(&mut guard);
    a[0] = b[0];
}
