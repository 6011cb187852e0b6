// A box's mode is part of its type, and the value does not say which one is meant: a `u64`
// fits all three. The error names the mode parameter and the modes to choose from.
use percpu_rt::PerCpuBox;

fn main() {
    let _hits = PerCpuBox::new(0u64);
}
