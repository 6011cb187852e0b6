use percpu_rt::percpu;

#[percpu]
static mut COUNTER: u64 = 0;

fn main() {}
