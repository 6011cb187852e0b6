use percpu_rt::percpu;

// One placement class per static.
#[percpu(hot, read_mostly)]
static TWO: u64 = 0;

// `shared_aligned` is for data other CPUs touch; a `local` static is only its own CPU's.
#[percpu(local, shared_aligned)]
static MINE: [u64; 2] = [0; 2];

// Fine: a class with `local` or `init`.
#[percpu(local, hot)]
static FAST: [u32; 2] = [0; 2];
#[percpu(page_aligned, init = |_| [0; 512])]
static PAGE: [u64; 512] = [0; 512];

fn main() {}
