use percpu_rt::{PreemptGuard, percpu};

#[percpu]
static HITS: u64 = 0;

fn main() {
    // A scalar copy may change under an interrupt handler's `add`: no `&u64` to it.
    let guard = PreemptGuard::new();
    let _r: &u64 = HITS.get(&guard);
}
