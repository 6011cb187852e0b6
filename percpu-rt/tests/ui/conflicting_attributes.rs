use percpu_rt::percpu;

#[percpu]
#[unsafe(link_section = ".data.mine")]
static PLACED: u64 = 0;

#[percpu]
#[unsafe(no_mangle)]
static EXPORTED: u64 = 0;

#[percpu]
#[used]
static KEPT: u64 = 0;

fn main() {}
