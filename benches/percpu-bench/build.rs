//! Links the per-CPU template section into the benchmark (percpu-build's configuration-driven
//! build step): its `percpu.toml` keeps Linux's defaults but for `max_cpus` (4096, the largest
//! machine the benchmark sets up).
fn main() {
    percpu_build::configure();
}
