// A static's initial value and offset exist; a dynamic object has neither. And a shared
// variable cannot be reset: other code may hold `&T` to its copy.
use core::sync::atomic::AtomicU64;
use percpu_rt::mode::ByValue;
use percpu_rt::{PerCpuBox, percpu};

#[percpu]
static SEEN: AtomicU64 = AtomicU64::new(0);

fn main() {
    let counter = PerCpuBox::<u64, ByValue>::new(0).unwrap();
    counter.reset_to_init();
    let _ = counter.offset();
    SEEN.reset_to_init();
}
