use percpu_rt::percpu;

#[percpu]
static BYTES: [u8] = *b"abc";

#[percpu]
static NAME: str = *"cpu";

#[percpu]
static SHOW: dyn core::fmt::Debug = 0;

fn main() {}
