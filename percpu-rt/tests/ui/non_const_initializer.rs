// The initializer is the template every CPU's copy starts from: a constant. The error says the
// call is not allowed "in constants" (not rustc's advice for ordinary statics, a `LazyLock`); a
// value known only at run time goes in with `#[percpu(init = |cpu| ..)]`.
use percpu_rt::percpu;

fn boot_time() -> u64 {
    7
}

#[percpu]
static STAMP: u64 = boot_time();

fn main() {}
