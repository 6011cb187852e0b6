use percpu_rt::percpu;

#[percpu]
static ANY: _ = 5u32;

#[percpu]
static OPAQUE: impl Copy = 5u32;

fn main() {}
