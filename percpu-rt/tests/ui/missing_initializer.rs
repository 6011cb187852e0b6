use percpu_rt::percpu;

#[percpu]
static COUNTER: u64;

fn main() {}
