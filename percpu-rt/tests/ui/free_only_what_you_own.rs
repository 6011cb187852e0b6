// Safe code frees only areas it owns: the raw `free` takes an owned `PerCpuArea`, not a
// pointer (here a live box's, which the box would free again).
use percpu_rt::allocator::{self, PerCpuBox};
use percpu_rt::mode::Local;

fn main() {
    let b = PerCpuBox::<Vec<u64>, Local>::new(Vec::new()).unwrap();
    allocator::free(b.as_per_cpu_ptr()).unwrap();
}
