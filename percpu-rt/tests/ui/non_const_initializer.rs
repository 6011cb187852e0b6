use percpu_rt::percpu;

fn boot_time() -> u64 {
    7
}

#[percpu]
static STAMP: u64 = boot_time();

fn main() {}
