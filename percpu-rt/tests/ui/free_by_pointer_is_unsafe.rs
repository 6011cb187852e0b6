// Freeing by pointer cannot tell a live owner from a stranger, so it is `unsafe`.
use percpu_rt::allocator::{self, PerCpuBox};
use percpu_rt::mode::Local;

fn main() {
    let b = PerCpuBox::<Vec<u64>, Local>::new(Vec::new()).unwrap();
    allocator::free_raw(b.as_per_cpu_ptr()).unwrap();
}
