//! Links the per-CPU template section into the benchmark (percpu-build's configuration-driven
//! build step; no `percpu.toml` here, so Linux's defaults for this target).
fn main() {
    percpu_build::configure();
}
