use core::sync::atomic::AtomicU32;
use percpu_rt::{PreemptGuard, percpu};

#[percpu]
static LOAD: AtomicU32 = AtomicU32::new(0);

fn main() {
    let r = {
        let guard = PreemptGuard::new();
        LOAD.get(&guard)
    };
    let _ = r;
}
