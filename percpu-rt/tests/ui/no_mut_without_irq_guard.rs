use percpu_rt::{PreemptGuard, percpu};

struct RunQueue {
    len: usize,
}

#[percpu(local)]
static RQ: RunQueue = RunQueue { len: 0 };

#[percpu]
static SHARED_RQ: RunQueue = RunQueue { len: 0 };

fn main() {
    let mut pin = PreemptGuard::new();
    RQ.get_mut(&mut pin).len += 1;
    // Shared variables never hand out `&mut`.
    let _ = SHARED_RQ.get_mut(&mut pin);
}
