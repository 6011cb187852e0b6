// `crate = path` says where percpu-rt is for a crate that reaches it through a re-export (a
// kernel's `kernel::percpu`), and every path of the expansion goes through it: a path that
// does not lead to percpu-rt is an error at the path the user wrote.

mod kernel {
    pub mod percpu {}
}

#[percpu_rt::percpu(crate = crate::kernel::percpu)]
static TICKS: u64 = 0;

fn main() {
    TICKS.inc();
}
