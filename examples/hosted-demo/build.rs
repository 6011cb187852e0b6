//! Links the per-CPU template section into the demo (and its tests).
fn main() {
    percpu_build::hosted();
}
