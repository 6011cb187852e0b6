use percpu_rt::percpu;

#[percpu(shared)]
static A: u64 = 0;

#[percpu(local, local)]
static B: u64 = 0;

#[percpu(init)]
static C: u64 = 0;

fn main() {}
